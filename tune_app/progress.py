"""Concise progress lines for the driver's terminal (Ray's tables are too noisy for sweeps):
a line per trial start and end, per epoch (with images/s and the stage's ETA), and the lines
trials post between epochs (pruning, heartbeats within long epochs)."""

from __future__ import annotations

import sys
import time
from typing import Any

from ray.tune import Callback

from pruning import schema
from trainables.adapters.progress_board import find_board

POLL_S = 2.0  # how often the driver collects the lines trials posted


def config_label(config: dict[str, Any]) -> str:
    """Human label of a trial from its config: ``magnitude s=0.9 seed=0`` or ``dense seed=0``."""
    if "trial" in config:
        t = config["trial"]
        return schema.trial_label(t["method"], t["sparsity"], t["dense"]["seed"])
    if "dense" in config:
        return schema.dense_label(config["dense"]["seed"])
    return "trial"


def format_duration(seconds: float) -> str:
    """``45s``, ``12m05s``, ``3h20m``."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


class StageEta:
    """Time left in a stage from measured epoch times: the epochs the running trials have
    left (an upper bound: early stopping may end them sooner) and the pending trials' epochs
    (as many as the trials seen so far planned), spread over the trials running at once."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.trials: dict[str, tuple[float, float, float]] = {}  # label: (epoch s, left, planned)
        self.ended: set[str] = set()

    def update(self, label: str, epoch: float, epoch_s: float, left: float) -> None:
        """A trial reported epoch ``epoch`` that took ``epoch_s`` seconds, ``left`` to go."""
        old = self.trials.get(label)
        # Smoothed: the first epoch also pays for warm-up.
        smooth = epoch_s if old is None else 0.5 * old[0] + 0.5 * epoch_s
        self.trials[label] = (smooth, left, epoch + left)

    def forget(self, label: str) -> None:
        """``label`` ended: nothing left of it."""
        self.ended.add(label)
        if label in self.trials:
            t, _, planned = self.trials[label]
            self.trials[label] = (t, 0.0, planned)

    def seconds_left(self, done: int, running: int) -> float | None:
        """Estimated seconds until the stage ends, None before any epoch was measured."""
        if not self.trials:
            return None
        times = [t for t, _, _ in self.trials.values()]
        planned = [p for _, _, p in self.trials.values()]
        mean_t, mean_planned = sum(times) / len(times), sum(planned) / len(planned)
        active = sum(left * t for t, left, _ in self.trials.values())
        # Trials neither measured nor ended here (ended before a resume, or not started yet).
        unseen = max(0, self.total - len(self.trials) - max(0, done - len(
            self.ended & set(self.trials))))
        return (active + unseen * mean_planned * mean_t) / max(1, running)


class ProgressPrinter(Callback):
    """Prints a line per epoch and per trial end, with a running count of finished trials."""

    def __init__(self, total: int, stage: str, stream: Any = None, sweep: str | None = None
                 ) -> None:
        self.total = total
        self.sweep = sweep
        self.stage = stage
        self.ended: set[str] = set()  # labels of trials that finished or failed for good
        self.failed = 0
        self.stream = stream
        self.started = time.monotonic()
        self.eta = StageEta(total)
        self._runtime_state()

    @property
    def done(self) -> int:
        """Trials of this stage that ended (also before an interrupt, when resumed)."""
        return len(self.ended)

    def _runtime_state(self) -> None:
        self._counted = False
        self._running = 1
        self._board: Any = None
        self._pending: Any = None
        self._last_poll = 0.0

    def __getstate__(self) -> dict:
        # Tune pickles callbacks with the experiment; a Ray handle belongs to one session.
        state = dict(self.__dict__)
        for key in ("_board", "_pending", "stream"):
            state[key] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._runtime_state()

    def setup(self, **info: Any) -> None:
        # A restored Tuner brings back this callback as pickled: time from this start instead.
        self.started = time.monotonic()
        self._runtime_state()
        self._board = find_board(self.sweep) if self.sweep else None
        if self._board is not None and self.stage == "trials":
            # A resumed sweep: trials MLflow has as finished count as ended, also when Tune
            # (killed before it saved its state) runs one of them again.
            try:
                import ray

                self.ended |= set(ray.get(self._board.finished.remote(), timeout=10))
            except Exception:  # noqa: BLE001, S110 - the counter then starts from Tune's view
                pass

    def _print(self, text: str) -> None:
        elapsed = time.monotonic() - self.started
        print(f"[{self.stage} {self.done}/{self.total} {elapsed:6.0f}s] {text}",
              file=self.stream or sys.stdout, flush=True)

    def _count(self, trials: list) -> None:
        statuses = [getattr(t, "status", "") for t in trials]
        self._running = max(1, statuses.count("RUNNING"))
        if not self._counted:
            # A resumed stage starts with the trials that finished before the interrupt.
            self.ended |= {config_label(t.config) for t in trials
                           if getattr(t, "status", "") in ("TERMINATED", "ERROR")}
            self._counted = True

    def _poll(self) -> None:
        if self._board is None:
            return
        import ray

        if self._pending is not None:
            ready, _ = ray.wait([self._pending], timeout=0)
            if not ready:
                return
            try:
                lines = ray.get(self._pending)
            except Exception:  # noqa: BLE001 - the board is gone; stop polling it
                self._board = None
                lines = []
            self._pending = None
            for _, label, text in lines:
                self._print(f"{label}: {text}")
        now = time.monotonic()
        if self._board is not None and now - self._last_poll >= POLL_S:
            self._last_poll = now
            self._pending = self._board.drain.remote()

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        self._count(trials)
        self._poll()

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._count(trials)
        self._print(f"{config_label(trial.config)}: started")

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any
                        ) -> None:
        label = config_label(trial.config)
        if result.get("warning"):
            self._print(f"{label}: warning: {result['warning']}")
        if result.get("done_flag") or result.get("done") is True:
            return
        if "val_acc" in result and "epoch" in result:
            phase = f"{result['phase']} " if result.get("phase") else ""
            epoch = int(result["epoch"])
            left = result.get("epochs_left")
            of = f"/{epoch + int(left)}" if left is not None and not phase else ""
            speed = ""
            if result.get("images_per_s"):
                speed = f" {result['images_per_s']:.0f} img/s"
            eta = ""
            if left is not None and result.get("epoch_time_s"):
                self.eta.update(label, epoch, float(result["epoch_time_s"]), float(left))
                remaining = self.eta.seconds_left(self.done, self._running)
                if remaining is not None:
                    eta = f"; {self.stage} eta ~{format_duration(remaining)}"
            self._print(
                f"{label}: {phase}epoch {epoch}{of} "
                f"train_loss {result.get('train_loss', float('nan')):.3f} "
                f"val_acc {100 * result['val_acc']:.1f}%{speed}{eta}"
            )

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._poll()
        label = config_label(trial.config)
        self.ended.add(label)
        self.eta.forget(label)
        r = trial.last_result or {}
        parts = [f"test_acc {100 * r['test_acc']:.1f}%"] if "test_acc" in r else []
        if "sparsity" in r:
            parts.append(f"sparsity {100 * r['sparsity']:.1f}%")
        if "speedup_b1" in r:
            parts.append(f"speedup {r['speedup_b1']:.2f}x")
        if "compression_ratio" in r:
            parts.append(f"compression {r['compression_ratio']:.1f}x")
        self._print(f"{label}: finished " + ", ".join(parts))

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.failed += 1
        label = config_label(trial.config)
        self.ended.add(label)
        self.eta.forget(label)
        self._print(f"{label}: FAILED (error log: {trial.error_file})")
