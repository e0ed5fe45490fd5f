"""Concise progress lines for the driver's terminal (Ray's tables are too noisy for sweeps)."""

from __future__ import annotations

import sys
import time
from typing import Any

from ray.tune import Callback


def trial_label(config: dict[str, Any]) -> str:
    """Human label of a trial from its config: ``magnitude s=0.9 seed=0`` or ``dense seed=0``."""
    if "trial" in config:
        t = config["trial"]
        return f"{t['method']} s={t['sparsity']:g} seed={t['dense']['seed']}"
    if "dense" in config:
        return f"dense seed={config['dense']['seed']}"
    return "trial"


class ProgressPrinter(Callback):
    """Prints a line per epoch and per trial end, with a running count of finished trials."""

    def __init__(self, total: int, stage: str, stream: Any = None) -> None:
        self.total = total
        self.stage = stage
        self.done = 0
        self.failed = 0
        self.stream = stream or sys.stdout
        self.started = time.monotonic()

    def setup(self, **info: Any) -> None:
        # A restored Tuner brings back this callback as pickled: time from this start instead.
        self.started = time.monotonic()

    def _print(self, text: str) -> None:
        elapsed = time.monotonic() - self.started
        print(f"[{self.stage} {self.done}/{self.total} {elapsed:6.0f}s] {text}", file=self.stream,
              flush=True)

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._print(f"{trial_label(trial.config)}: started")

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any
                        ) -> None:
        if result.get("warning"):
            self._print(f"{trial_label(trial.config)}: warning: {result['warning']}")
        if result.get("done_flag") or result.get("done") is True:
            return
        if "val_acc" in result and "epoch" in result:
            phase = f"{result['phase']} " if result.get("phase") else ""
            self._print(
                f"{trial_label(trial.config)}: {phase}epoch {result['epoch']} "
                f"train_loss {result.get('train_loss', float('nan')):.3f} "
                f"val_acc {100 * result['val_acc']:.1f}%"
            )

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.done += 1
        r = trial.last_result or {}
        parts = [f"test_acc {100 * r['test_acc']:.1f}%"] if "test_acc" in r else []
        if "sparsity" in r:
            parts.append(f"sparsity {100 * r['sparsity']:.1f}%")
        if "speedup_b1" in r:
            parts.append(f"speedup {r['speedup_b1']:.2f}x")
        if "compression_ratio" in r:
            parts.append(f"compression {r['compression_ratio']:.1f}x")
        self._print(f"{trial_label(trial.config)}: finished " + ", ".join(parts))

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.done += 1
        self.failed += 1
        self._print(f"{trial_label(trial.config)}: FAILED (error log: {trial.error_file})")
