"""Where a trial's records go. ``run_trial`` and ``train_dense`` talk to a ``Reporter``: the
Tune trainables pass one backed by MLflow and Tune checkpoints
(``trainables.adapters.tune_reporter``); a notebook, a script or a test passes a
``LocalReporter`` (memory, printed progress, and optionally checkpoints in a directory so an
interrupted call continues)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Protocol

from trainables.checkpoint_files import first_readable, write_checkpoint_dir


class Reporter(Protocol):
    """What the plain training flows need from their caller."""

    def restore(self, load_extra: Callable[[Path], Any] | None = None
                ) -> tuple[dict | None, Any]:
        """The newest readable checkpoint's state and what ``load_extra`` read beside it."""

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record the resolved configuration."""

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Record facts about the run (device...)."""

    def log_epoch(self, step: int, metrics: Mapping[str, float],
                  series: Sequence[tuple[int, Mapping[str, float]]] = ()) -> None:
        """Per-epoch curve point, with ``series``: (step, metrics) recorded in the same epoch
        at steps of their own (mask updates); an epoch already recorded (a resumed run) is
        skipped."""

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        """Record metrics at ``step``."""

    def checkpoint(self, metrics: Mapping[str, Any], state: dict[str, Any],
                   write_extra: Callable[[Path], None] | None = None) -> None:
        """End of an epoch: save ``state`` (and extra files) and show progress."""

    def log_artifacts(self, directory: Path) -> None:
        """Keep the files of ``directory`` (model, config, metrics)."""

    def progress(self, text: str) -> None:
        """A progress line for whoever watches (what the trial is doing between epochs, and a
        heartbeat within long epochs); never a record."""


def heartbeat_printer(reporter: Reporter) -> Callable[[Mapping[str, float]], None]:
    """The ``TrainingLoop`` heartbeat that reports through ``reporter.progress``."""

    def beat(info: Mapping[str, float]) -> None:
        reporter.progress(f"epoch {int(info['epoch'])}: {100 * info['fraction']:.0f}% "
                          f"({info['images_per_s']:.0f} images/s)")

    return beat


class LocalReporter:
    """A reporter without Ray or MLflow: records in memory, progress lines on stdout, and
    per-epoch checkpoints under ``checkpoint_dir`` (the newest ``keep``) when one is given, so
    calling the flow again with the same directory resumes it."""

    def __init__(self, checkpoint_dir: str | Path | None = None, *, verbose: bool = True,
                 keep: int = 2, artifacts_dir: str | Path | None = None) -> None:
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self.artifacts_dir = Path(artifacts_dir) if artifacts_dir is not None else None
        self.verbose = verbose
        self.keep = keep
        self.params: dict[str, Any] = {}
        self.tags: dict[str, Any] = {}
        self.history: dict[str, list[tuple[int, float]]] = {}
        self.last_step = -1
        self._saved = 0

    def _checkpoints(self) -> list[Path]:
        if self.checkpoint_dir is None or not self.checkpoint_dir.is_dir():
            return []
        return sorted(self.checkpoint_dir.glob("checkpoint_*"), reverse=True)

    def restore(self, load_extra: Callable[[Path], Any] | None = None
                ) -> tuple[dict | None, Any]:
        found = self._checkpoints()
        if found:
            self._saved = int(found[0].name.split("_")[-1]) + 1
        state, extra, _ = first_readable(
            [(str(p), lambda p=p: nullcontext(str(p))) for p in found], load_extra)
        if state is not None and "last_step" in state:
            self.last_step = int(state["last_step"])
        return state, extra

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.params.update(params)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self.tags.update(tags)

    def log_epoch(self, step: int, metrics: Mapping[str, float],
                  series: Sequence[tuple[int, Mapping[str, float]]] = ()) -> None:
        if step <= self.last_step:
            return
        for at, values in series:
            self.log_metrics(values, at)
        self.log_metrics(metrics, step)
        self.last_step = step

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        for key, value in metrics.items():
            if value is not None:
                self.history.setdefault(key, []).append((step, float(value)))

    def latest(self, key: str) -> float:
        """The last value recorded for ``key``."""
        return self.history[key][-1][1]

    def checkpoint(self, metrics: Mapping[str, Any], state: dict[str, Any],
                   write_extra: Callable[[Path], None] | None = None) -> None:
        if self.verbose:
            shown = " ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                             for k, v in metrics.items())
            print(shown, flush=True)
        if self.checkpoint_dir is None:
            return
        path = self.checkpoint_dir / f"checkpoint_{self._saved:06d}"
        self._saved += 1
        write_checkpoint_dir(path, {**state, "last_step": self.last_step}, write_extra)
        for old in self._checkpoints()[self.keep:]:
            shutil.rmtree(old, ignore_errors=True)

    def progress(self, text: str) -> None:
        if self.verbose:
            print(text, flush=True)

    def log_artifacts(self, directory: Path) -> None:
        if self.artifacts_dir is not None:
            shutil.copytree(directory, self.artifacts_dir, dirs_exist_ok=True)
