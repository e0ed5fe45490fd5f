"""Ctrl-C and SIGTERM during a sweep: let Ray Tune save its state, then stop resumably.

Ray Tune catches the first SIGINT itself, ends the run after a last experiment checkpoint and
returns from ``fit()`` as if the stage were complete; the sweep must not carry on with the next
stage or count the stopped trials as failures. Tune puts the previous SIGINT handler back when
it fires, which is how ``fit`` below tells an interrupted stage from a finished one."""

from __future__ import annotations

import logging
import signal
from typing import Any


def _sentinel(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def fit(tuner: Any) -> Any:
    """``tuner.fit()``, raising KeyboardInterrupt when Ctrl-C or SIGTERM ended it early."""
    previous = signal.signal(signal.SIGINT, _sentinel)
    try:
        grid = tuner.fit()
        interrupted = signal.getsignal(signal.SIGINT) is _sentinel
    finally:
        signal.signal(signal.SIGINT, previous)
    if interrupted:
        raise KeyboardInterrupt
    return grid


def forward_sigterm(signum: int, frame: Any) -> None:
    """SIGTERM handler: behave exactly like Ctrl-C (graceful inside Tune, else interrupt)."""
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signal.SIGINT, frame)
    else:
        raise KeyboardInterrupt


class _HideTuneRestoreHint(logging.Filter):
    # Tune's own hint names Tuner.restore(...); users resume with `prune-sweep resume`.
    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return "Tuner.restore" not in text and "Stop signal received" not in text


class _HideUnstartedTrialMetrics(logging.Filter):
    # After an interrupt, Tune lists every trial that never started as a FileNotFoundError
    # (no result file yet); they are simply pending, and `resume` starts them.
    def filter(self, record: logging.LogRecord) -> bool:
        return "Failed to fetch metrics" not in record.getMessage()


class _HideDeletedCheckpointErrors(logging.Filter):
    # A driver killed between a trial's last checkpoint and Tune's next experiment snapshot
    # leaves a snapshot that still lists checkpoints the trial had already deleted (it keeps
    # two). On resume, Tune deletes them again to keep two and logs the missing path as an
    # error with a traceback; nothing is lost, so the message is only noise for the user.
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not (isinstance(exc, FileNotFoundError)
                    and "Error handling checkpoint" in record.getMessage())


def quiet_tune_interrupt_messages() -> None:
    """Drop Tune's interrupt messages; the sweep prints its own, with the resume command."""
    logging.getLogger("ray.tune.tune").addFilter(_HideTuneRestoreHint())
    logging.getLogger("ray.tune.analysis.experiment_analysis").addFilter(
        _HideUnstartedTrialMetrics())
    logging.getLogger("ray.tune.execution.tune_controller").addFilter(
        _HideDeletedCheckpointErrors())
