"""The reporter the Tune trainables give the plain flows: MLflow records through an
exactly-once ``TrackedRun``, per-epoch Tune checkpoints, and the driver's progress lines."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from trainables.adapters.checkpointing import note_fallback, report_epoch, restore_state
from trainables.adapters.progress_board import post_progress
from trainables.adapters.tracking import TrackedRun


class TuneReporter:
    """``trainables.reporter.Reporter`` backed by MLflow and ``tune.report``."""

    def __init__(self, run: TrackedRun, label: str = "trial", sweep: str = "") -> None:
        self.run = run
        self.label = label
        self.sweep = sweep
        self._warning: dict[str, str] = {}

    def restore(self, load_extra: Callable[[Path], Any] | None = None
                ) -> tuple[dict | None, Any]:
        state, extra, notes = restore_state(load_extra)
        # Shown by the driver with the next report, and kept on the run as a tag.
        self._warning = note_fallback(self.run, notes)
        return state, extra

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.run.log_params(params)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self.run.set_tags(tags)

    def log_epoch(self, step: int, metrics: Mapping[str, float],
                  series: Sequence[tuple[int, Mapping[str, float]]] = ()) -> None:
        self.run.log_epoch(step, metrics, series)

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        self.run.log_metrics(metrics, step)

    def checkpoint(self, metrics: Mapping[str, Any], state: dict[str, Any],
                   write_extra: Callable[[Path], None] | None = None) -> None:
        report_epoch({**metrics, "done": False, **self._warning}, state, write_extra)
        self._warning = {}

    def log_artifacts(self, directory: Path) -> None:
        self.run.log_artifact(directory)

    def progress(self, text: str) -> None:
        post_progress(self.sweep, self.label, text)
