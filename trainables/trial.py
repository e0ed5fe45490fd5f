"""One (method, sparsity, seed) trial as a plain function that drives the method's hooks.

``run_trial`` loads the seed's dense baseline from the cache, runs the method's rounds
(rounds before the last come from, or go to, the shared round cache), retrains the last round
with per-epoch checkpoints, selects the best validation checkpoint, finalizes, tests once,
counts (sparsity, MACs, bytes) and saves. Timing is a separate step with the cores to itself
(``trainables.measurement``). It needs no Ray and no MLflow: records go to a ``Reporter``. A
notebook::

    from trainables.runtime import TrialEnv
    from trainables.trial import run_trial
    from trainables.dense import ensure_dense
    from trainables.reporter import LocalReporter
    from trainables.measurement import load_saved_trial, measure_saved_trial
    from pruning.latency import TimingPlan
    env = TrialEnv(storage="runs/storage", data_dir="runs/data")
    ensure_dense(cfg.dense, env)           # trains the baseline unless it is cached
    metrics = run_trial(cfg, env, LocalReporter(artifacts_dir="out"))
    timing = measure_saved_trial(load_saved_trial(Path("out"), env.storage), TimingPlan())
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from filelock import FileLock, Timeout

from pruning.masks import mask_sparsity
from pruning.measure import (
    count_macs,
    count_prunable,
    measured_sparsity,
    params_nonzero,
    params_total,
    state_dict_bytes,
)
from pruning.methods import Method, make_method
from pruning.methods.base import MethodContext
from pruning.storage import load_structured, save_model, save_structured
from trainables.config import Recipe, TrialConfig, flatten, to_dict
from trainables.data import load_splits
from trainables.dense import build_dense_model
from trainables.dense_cache import DenseCache
from trainables.engine import TrainingLoop, evaluate, pick_device
from trainables.models import classifier_head
from trainables.reporter import LocalReporter, Reporter, heartbeat_printer
from trainables.retraining import LRSchedule, retraining_schedule
from trainables.round_cache import RoundCache, RoundChain
from trainables.runtime import TrialEnv

MODEL_FILE = "model.pt"
# How long a trial waits for another trial that is training a round it needs, before it
# trains that round itself (a bound, not an expectation: rounds of a big model take hours).
ROUND_WAIT_ENV = "PRUNE_SWEEP_ROUND_WAIT_S"
ROUND_WAIT_S = 6 * 3600.0


def trial_params(cfg: TrialConfig, method: Method) -> dict[str, Any]:
    """The run's params: the flattened config, method parameters as ``method.<name>``."""
    flat = flatten(cfg)
    flat.pop("method_params", None)
    flat.update({f"method.{k}": v for k, v in method.params.items()})
    return flat


def run_trial(cfg: TrialConfig, env: TrialEnv, reporter: Reporter | None = None
              ) -> dict[str, float]:
    """Run one trial to its end (resuming from the reporter's newest checkpoint, if any) and
    return its final metrics."""
    return _Trial(cfg, env, reporter if reporter is not None else LocalReporter()).run()


@contextmanager
def _training_lock(entry: RoundCache) -> Iterator[None]:
    """Held while training a round, so concurrent trials wait for it instead of training it
    twice (a file lock: released by the OS if its holder dies; on an object store it only
    covers this node, and a duplicate round is harmless: the first write wins)."""
    wait = float(os.environ.get(ROUND_WAIT_ENV, ROUND_WAIT_S))
    entry.root.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(entry.root / f"{entry.key}.training.lock"), timeout=wait)
    try:
        lock.acquire()
    except Timeout:
        warnings.warn(f"round {entry.location} is still being trained elsewhere after "
                      f"{wait:.0f}s; training it here too", stacklevel=3)
        yield
        return
    try:
        yield
    finally:
        lock.release()


class _Trial:
    """The state shared by the phases of one trial."""

    def __init__(self, cfg: TrialConfig, env: TrialEnv, reporter: Reporter) -> None:
        self.cfg, self.env, self.reporter = cfg, env, reporter
        self.method = make_method(cfg.method, dict(cfg.method_params), cfg.sparsity)
        reporter.log_params(trial_params(cfg, self.method))
        self.cache = DenseCache(env.storage, cfg.dense)
        self.cache.verify()
        self.splits = load_splits(cfg.dense.data, cfg.seed, env.data_dir, download=env.download,
                                  quiet=True)
        self.device = pick_device(env.device)
        self.dense = build_dense_model(cfg.dense, self.splits)
        # The method's random stream continues the seed's stream after the model's init, where
        # earlier releases drew `random`'s mask: a seed gives the same mask as before.
        self.generator = torch.Generator()
        self.generator.set_state(torch.get_rng_state())
        self.dense.load_state_dict(self.cache.weights("final"))
        self.dense.eval()
        self.dense_prunable = count_prunable(self.dense)
        self.schedule = retraining_schedule(cfg, self.method.retraining)
        self.example = torch.zeros(1, self.splits.in_channels, 32, 32)
        self.steps_per_epoch = math.ceil(len(self.splits.train_y) / cfg.finetune.batch_size)
        self.rounds: list[dict[str, float]] = []  # metrics of the rounds before the last
        self.counts = {"rounds_cached": 0, "rounds_trained": 0}

    # -- pieces ------------------------------------------------------------------------------
    def _fresh(self) -> torch.nn.Module:
        return build_dense_model(self.cfg.dense, self.splits)

    def _start_model(self) -> torch.nn.Module:
        if self.method.start_from == "final":
            return copy.deepcopy(self.dense)
        model = self._fresh()
        model.load_state_dict(self.cache.weights(self.method.start_from))
        return model

    def _ctx(self, r: int, model: torch.nn.Module) -> MethodContext:
        return MethodContext(
            sparsity=self.method.round_sparsity(r), example_input=self.example,
            ignored_layers=classifier_head(model), dense_weights=self.cache.weights,
            generator=self.generator, steps_per_epoch=self.steps_per_epoch,
            epochs=self._schedule(r).epochs,
        )

    def _schedule(self, r: int) -> LRSchedule:
        """Round ``r``'s schedule: the retraining schedule, or a cosine of the method's own
        length for rounds that train differently (group_norm's regularized round)."""
        epochs = self.method.round_epochs(r, self.schedule.epochs)
        if epochs == self.schedule.epochs:
            return self.schedule
        return LRSchedule.cosine(self.schedule.peak, epochs)

    def _loop(self, model: torch.nn.Module, masks: dict | None, recipe: Recipe,
              r: int) -> TrainingLoop:
        return TrainingLoop(model, self.splits, recipe, self.cfg.seed, self.device,
                            schedule=self._schedule(r), method=self.method, masks=masks,
                            augment=self.cfg.dense.data.augment,
                            heartbeat=heartbeat_printer(self.reporter))

    def _load_extra(self, directory: Path) -> torch.nn.Module | None:
        if not self.method.structured or not (directory / MODEL_FILE).is_file():
            return None
        return load_structured(directory / MODEL_FILE, self._fresh)

    def _log_round(self, index: int, metrics: dict[str, float]) -> None:
        self.reporter.log_metrics({"round.sparsity": metrics["sparsity"],
                                   "round.best_val_acc": metrics["best_val_acc"]}, step=index + 1)

    # -- phases ------------------------------------------------------------------------------
    def run(self) -> dict[str, float]:
        state, restored = self.reporter.restore(self._load_extra)
        n_rounds = self.method.rounds()
        # `prune-sweep status` shows "epoch k of n" from this (an upper bound: early stopping).
        self.reporter.set_tags({"epochs_planned": sum(
            self.method.round_epochs(r, self.schedule.epochs) for r in range(n_rounds))})
        if state is not None:
            self.rounds = list(state.get("rounds", []))
        if state is None or state.get("phase") == "round":
            model, masks = self._prior_rounds(n_rounds, state)
            loop, info = self._begin_last_round(n_rounds - 1, model, masks)
        else:
            self.method.setup(n_rounds - 1, self._ctx(n_rounds - 1, self.dense))
            model = restored if restored is not None else self._fresh()
            loop = self._loop(model, None, self.cfg.finetune, n_rounds - 1)
            loop.load_state_dict(state["loop"])
            info = dict(state["info"])
        self._train_last_round(n_rounds - 1, loop, info)
        return self._finish(loop, info)

    def _prior_rounds(self, n_rounds: int, state: dict | None
                      ) -> tuple[torch.nn.Module, dict | None]:
        """Rounds 0 .. n-2 from the round cache, training (and publishing) those missing."""
        if n_rounds == 1:
            return self._start_model(), None
        chain = RoundChain.of(self.cfg.dense, self.method, self.cfg.finetune)
        entries = [RoundCache(self.env.storage, chain, r) for r in range(n_rounds - 1)]
        for r, entry in enumerate(entries):
            if entry.valid():
                self.counts["rounds_cached"] += 1
            else:
                with _training_lock(entry):
                    if entry.valid():  # trained by another trial while this one waited
                        self.counts["rounds_cached"] += 1
                    else:
                        model, masks = self._round_output(entries[r - 1] if r else None)
                        resume = state if state is not None and state["round"] == r else None
                        self._train_round(r, n_rounds, model, masks, resume, entry)
                        self.counts["rounds_trained"] += 1
            if r >= len(self.rounds):
                self.rounds.append(entry.metrics())
                self._log_round(r, self.rounds[r])
        return self._round_output(entries[-1])

    def _round_output(self, entry: RoundCache | None) -> tuple[torch.nn.Module, dict | None]:
        if entry is None:
            return self._start_model(), None
        model = self._fresh()
        model.load_state_dict(entry.load("weights"))
        return model, entry.load("masks")

    def _train_round(self, r: int, n_rounds: int, model: torch.nn.Module, masks: dict | None,
                     resume: dict | None, entry: RoundCache) -> None:
        """Train a round before the last for its whole budget and publish its final weights
        (Frankle & Carbin 2019 prune each round from the trained, not the best, weights)."""
        ctx = self._ctx(r, model)
        self.method.setup(r, ctx)
        recipe = dataclasses.replace(self.cfg.finetune, patience=0)
        if resume is not None:
            loop = self._loop(self._fresh(), None, recipe, r)
            loop.load_state_dict(resume["loop"])
        else:
            result = self.method.begin_round(r, model, masks, ctx)
            loop = self._loop(result.model, result.masks, recipe, r)
        self.reporter.progress(f"round {r + 1}/{n_rounds}: training at "
                               f"{100 * self.method.round_sparsity(r):.1f}% sparsity")
        while not loop.done:
            res = loop.run_epoch()
            left = loop.epochs - loop.epoch + (n_rounds - 1 - r) * loop.epochs
            self.reporter.checkpoint(
                {"phase": f"round {r + 1}/{n_rounds}", "epoch": res.epoch,
                 "train_loss": res.train_loss, "val_acc": res.val_acc, **res.speed(),
                 "epochs_left": left},
                {"phase": "round", "round": r, "loop": loop.state_dict(), "rounds": self.rounds})
        weights = {k: v.detach().cpu().contiguous() for k, v in loop.model.state_dict().items()}
        kept = loop.masks.cpu() if loop.masks is not None else {}
        entry.write({"weights": weights, "masks": kept},
                    {"round": r + 1, "sparsity": mask_sparsity(kept),
                     "best_val_acc": loop.best_acc, "epochs": loop.epoch, "steps": loop.step})

    def _begin_last_round(self, r: int, model: torch.nn.Module, masks: dict | None
                          ) -> tuple[TrainingLoop, dict[str, float]]:
        ctx = self._ctx(r, model)
        self.method.setup(r, ctx)
        result = self.method.begin_round(r, model, masks, ctx)
        loop = self._loop(result.model, result.masks, self.cfg.finetune, r)
        info = dict(result.info)
        info["sparsity_at_prune"] = measured_sparsity(loop.model, self.dense_prunable)
        self.reporter.log_metrics({f"prune.{k}": v for k, v in info.items()})
        # Step 0 of the curve: the model as pruned, before any retraining.
        val_loss, val_acc = evaluate(loop.model, self.splits.val_x, self.splits.val_y,
                                     self.splits, self.device, self.cfg.finetune.eval_batch_size)
        self.reporter.log_epoch(0, {"val_acc": val_acc, "val_loss": val_loss})
        if self.method.retraining == "from_init":
            what = (f"sparse at {100 * info['sparsity_at_prune']:.1f}% from theta_0; training "
                    f"up to {loop.epochs} epoch(s) on {self.device}")
        else:
            what = (f"pruned to {100 * info['sparsity_at_prune']:.1f}% (val_acc "
                    f"{100 * val_acc:.1f}% before retraining); retraining up to {loop.epochs} "
                    f"epoch(s) on {self.device}")
        self.reporter.progress(what)
        return loop, info

    def _train_last_round(self, r: int, loop: TrainingLoop, info: dict[str, float]) -> None:
        extra = (lambda d: save_structured(loop.model, d / MODEL_FILE)) \
            if self.method.structured else None
        while not loop.done:
            res = loop.run_epoch()
            self.reporter.log_epoch(res.epoch, {**res.metrics(), **self._mask_metrics(loop)},
                                    self._update_series(loop))
            self.reporter.checkpoint(
                {**res.metrics(), **res.speed(), "epoch": res.epoch,
                 "epochs_left": loop.epochs - loop.epoch},
                {"phase": "final", "round": r, "loop": loop.state_dict(), "info": info,
                 "rounds": self.rounds}, extra)

    @staticmethod
    def _mask_metrics(loop: TrainingLoop) -> dict[str, float]:
        """The sparsity schedule as it ran: the masks' sparsity after each epoch."""
        if loop.masks is None:
            return {}
        return {"mask_sparsity": mask_sparsity(loop.masks.as_dict())}

    def _update_series(self, loop: TrainingLoop) -> list[tuple[int, dict[str, float]]]:
        """A dynamic method's mask updates of the epoch, at their optimizer steps."""
        updates = loop.take_updates()
        if not self.method.dynamic:
            return []
        return [(step, {"dst.pruned": pruned, "dst.regrown": regrown})
                for step, pruned, regrown in updates]

    def _budget(self, loop: TrainingLoop) -> dict[str, float]:
        """Training the result cost, after pruning and in total (reported beside accuracy)."""
        epochs = loop.epoch + sum(int(m["epochs"]) for m in self.rounds)
        steps = loop.step + sum(int(m["steps"]) for m in self.rounds)
        dense = self.method.dense_epochs_used(self.cfg.dense.recipe.epochs,
                                              self.cfg.dense.rewind_epoch)
        out = {"epochs_trained": epochs, "optimizer_steps": steps, "epochs_total": dense + epochs,
               "stopped_lr": loop.lr}
        if self.rounds:
            out.update({"rounds": len(self.rounds) + 1, **self.counts})
        if self.method.dynamic:
            out.update({"dst.pruned_total": loop.mask_changes["pruned"],
                        "dst.regrown_total": loop.mask_changes["regrown"],
                        "dst.updates": loop.mask_changes.get("updates", 0)})
        return out

    def _finish(self, loop: TrainingLoop, info: dict[str, float]) -> dict[str, float]:
        """Finalize the selected model, test it once, measure it, save it."""
        model = loop.load_best()
        structured = self.method.structured
        done = self.method.finalize(model, loop.best_masks(),
                                    self._ctx(self.method.rounds() - 1, model))
        if done is not None:
            model, structured = done.model, done.structured
            # What finalizing cost (SFP's removal): the selected model's validation again.
            _, val_after = evaluate(model, self.splits.val_x, self.splits.val_y, self.splits,
                                    self.device, self.cfg.finetune.eval_batch_size)
            info = {**info, **done.info, "val_acc_finalized": val_after}
        if self.rounds:
            self._log_round(len(self.rounds), {
                "sparsity": measured_sparsity(model, self.dense_prunable),
                "best_val_acc": loop.best_acc})
        cfg, splits = self.cfg, self.splits
        test_loss, test_acc = evaluate(model, splits.test_x, splits.test_y, splits, self.device,
                                       cfg.finetune.eval_batch_size)
        model = model.to("cpu", memory_format=torch.contiguous_format).float().eval()
        # Counted here; timed later, in the measurement step, with the node's cores to itself
        # (trainables.measurement): timings taken beside training trials are noise.
        macs, macs_dense = count_macs(model, self.example), count_macs(self.dense, self.example)
        efficiency = {"macs": macs, "macs_dense": macs_dense,
                      "theoretical_speedup": macs_dense / max(1, macs)}
        with tempfile.TemporaryDirectory(prefix="prune-sweep-art-") as tmp:
            out = Path(tmp)
            (out / "model").mkdir()
            sizes, kind = save_model(model, out / "model" / MODEL_FILE, structured,
                                     cfg.save.format, cfg.save.values)
            compact_bytes = sizes["size_bytes_compact"]
            size_dense = state_dict_bytes(self.dense)
            final = {
                "test_acc": test_acc, "test_loss": test_loss, "best_val_acc": loop.best_acc,
                "best_epoch": loop.best_epoch, "stopped_epoch": loop.epoch,
                "sparsity": measured_sparsity(model, self.dense_prunable),
                "params_nonzero": params_nonzero(model), "params_total": params_total(model),
                **efficiency,
                "size_bytes_dense": size_dense, **sizes,
                "compression_ratio": size_dense / compact_bytes,
                **self._budget(loop),
                **{f"prune.{k}": v for k, v in info.items()},
            }
            loader = {
                "format": kind, "file": MODEL_FILE,
                "model": cfg.dense.model.name, "width": cfg.dense.model.width,
                "num_classes": splits.num_classes, "in_channels": splits.in_channels,
                "load_with": "pruning.storage.load_compact(path, build_fresh)",
                "build_fresh": "trainables.models.build_model(model, num_classes, width, "
                               "in_channels)",
            }
            (out / "model" / "loader.json").write_text(json.dumps(loader, indent=2))
            (out / "config.json").write_text(json.dumps(to_dict(cfg), indent=2))
            (out / "metrics.json").write_text(json.dumps(final, indent=2, sort_keys=True))
            self.reporter.log_metrics(final, step=loop.epoch)
            self.reporter.log_artifacts(out)
            # How the result runs at inference (analysis.load.execution_kind reads it).
            self.reporter.set_tags({"device": str(self.device), "model_format":
                                    "dense" if self.method.unpruned else kind})
        return final
