"""One (method, sparsity, seed) trial as a plain function: plan, run, finish.

``run_trial`` plans the trial (``trainables.trial_plan``: rounds, schedules, budgets), loads
the seed's dense baseline from the cache, runs the rounds before the last
(``trainables.trial_rounds``: from or to the shared round cache), retrains the last round with
per-epoch checkpoints and selects the best validation checkpoint, then finishes
(``trainables.trial_finish``: finalize, test once, count, save). Timing is a separate step
with the cores to itself (``trainables.measurement``). It needs no Ray and no MLflow: records
go to a ``Reporter``. A notebook::

    from trainables.runtime import TrialEnv
    from trainables.trial import run_trial
    from trainables.dense import ensure_dense
    from trainables.reporter import LocalReporter
    from trainables.measurement import load_saved_trial, measure_saved_trial
    from pruning.deploy.latency import TimingPlan
    env = TrialEnv(storage="runs/storage", data_dir="runs/data")
    ensure_dense(cfg.dense, env)           # trains the baseline unless it is cached
    metrics = run_trial(cfg, env, LocalReporter(artifacts_dir="out"))
    timing = measure_saved_trial(load_saved_trial(Path("out"), env.storage), TimingPlan())
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch

from pruning.deploy.storage import load_structured, save_structured
from pruning.masks import mask_sparsity
from pruning.measure import count_prunable, measured_sparsity
from pruning.methods import Method, make_method
from pruning.methods.base import MethodContext
from trainables.calibration import calibration_source
from trainables.config import TrialConfig, flatten
from trainables.data import load_splits
from trainables.dense import build_dense_model
from trainables.dense_cache import DenseCache
from trainables.engine import TrainingLoop
from trainables.evaluation import evaluate, pick_device
from trainables.models import classifier_head
from trainables.reporter import LocalReporter, Reporter, heartbeat_printer
from trainables.runtime import TrialEnv
from trainables.trial_finish import MODEL_FILE, TrialResult, finish_trial
from trainables.trial_plan import RoundPlan, plan_trial
from trainables.trial_rounds import ROUND_WAIT_ENV, ROUND_WAIT_S, run_earlier_rounds

__all__ = ["MODEL_FILE", "ROUND_WAIT_ENV", "ROUND_WAIT_S", "TrialResult", "TrialRun",
           "run_trial", "trial_params"]


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
    return TrialRun(cfg, env, reporter if reporter is not None else LocalReporter()).run().metrics


class TrialRun:
    """One trial being run: its plan, data, dense baseline, method, and the pieces the
    rounds share (contexts, training loops)."""

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
        # The method's random stream continues the seed's stream after the model's init, so a
        # seed gives `random` the same mask whatever else changes in the flow.
        self.generator = torch.Generator()
        self.generator.set_state(torch.get_rng_state())
        self.dense.load_state_dict(self.cache.weights("final"))
        self.dense.eval()
        self.dense_prunable = count_prunable(self.dense)
        self.plan = plan_trial(cfg, self.method, len(self.splits.train_y))
        self.example = torch.zeros(1, self.splits.in_channels, 32, 32)
        self.calibration = calibration_source(self.splits, cfg.finetune.batch_size, cfg.seed,
                                              self.device)
        self.rounds: list[dict[str, float]] = []  # metrics of the rounds before the last
        self.counts = {"rounds_cached": 0, "rounds_trained": 0}

    # -- pieces the rounds share ---------------------------------------------------------------
    def fresh_model(self) -> torch.nn.Module:
        """A newly built model of the trial's architecture (weights to be loaded)."""
        return build_dense_model(self.cfg.dense, self.splits)

    def start_model(self) -> torch.nn.Module:
        """The dense weights the method's first round starts from (``traits.start_from``)."""
        start = self.method.traits.start_from
        if start == "final":
            return copy.deepcopy(self.dense)
        model = self.fresh_model()
        model.load_state_dict(self.cache.weights(start))
        return model

    def context(self, rp: RoundPlan, model: torch.nn.Module) -> MethodContext:
        """What the method may use in round ``rp``."""
        return MethodContext(
            sparsity=rp.sparsity, example_input=self.example,
            ignored_layers=classifier_head(model), dense_weights=self.cache.weights,
            generator=self.generator, steps_per_epoch=self.plan.steps_per_epoch,
            epochs=rp.epochs, calibration=self.calibration,
        )

    def loop(self, model: torch.nn.Module, masks: dict | None, rp: RoundPlan) -> TrainingLoop:
        """The training loop of round ``rp``."""
        return TrainingLoop(model, self.splits, rp.recipe, self.cfg.seed, self.device,
                            schedule=rp.schedule, method=self.method, masks=masks,
                            augment=self.cfg.dense.data.augment,
                            heartbeat=heartbeat_printer(self.reporter))

    def log_round(self, index: int, metrics: dict[str, float]) -> None:
        """The round's sparsity and best validation accuracy, at step ``index + 1``."""
        self.reporter.log_metrics({"round.sparsity": metrics["sparsity"],
                                   "round.best_val_acc": metrics["best_val_acc"]}, step=index + 1)

    def _load_extra(self, directory: Path) -> torch.nn.Module | None:
        if not self.method.traits.resized_in_training or not (directory / MODEL_FILE).is_file():
            return None
        return load_structured(directory / MODEL_FILE, self.fresh_model)

    # -- the flow --------------------------------------------------------------------------------
    def run(self) -> TrialResult:
        """Run (or resume) every round, then finish."""
        state, restored = self.reporter.restore(self._load_extra)
        last = self.plan.last
        # `prune-sweep status` shows "epoch k of n" from this (an upper bound: early stopping).
        self.reporter.set_tags({"epochs_planned": self.plan.epochs_planned})
        if state is not None:
            self.rounds = list(state.get("rounds", []))
        if state is None or state.get("phase") == "round":
            model, masks = run_earlier_rounds(self, state)
            loop, info = self._begin_last_round(last, model, masks)
        else:
            self.method.setup(last.index, self.context(last, self.dense))
            model = restored if restored is not None else self.fresh_model()
            loop = self.loop(model, None, last)
            loop.load_state_dict(state["loop"])
            info = dict(state["info"])
        self._train_last_round(last, loop, info)
        return finish_trial(self, loop, info)

    def _begin_last_round(self, rp: RoundPlan, model: torch.nn.Module, masks: dict | None
                          ) -> tuple[TrainingLoop, dict[str, float]]:
        ctx = self.context(rp, model)
        self.method.setup(rp.index, ctx)
        result = self.method.begin_round(rp.index, model, masks, ctx)
        loop = self.loop(result.model, result.masks, rp)
        info = dict(result.info)
        info["sparsity_at_prune"] = measured_sparsity(loop.model, self.dense_prunable)
        self.reporter.log_metrics({f"prune.{k}": v for k, v in info.items()})
        # Step 0 of the curve: the model as pruned, before any retraining.
        val_loss, val_acc = evaluate(loop.model, self.splits.val_x, self.splits.val_y,
                                     self.splits, self.device, self.cfg.finetune.eval_batch_size)
        self.reporter.log_epoch(0, {"val_acc": val_acc, "val_loss": val_loss})
        if self.method.traits.retraining == "from_init":
            what = (f"sparse at {100 * info['sparsity_at_prune']:.1f}% from theta_0; training "
                    f"up to {loop.epochs} epoch(s) on {self.device}")
        else:
            what = (f"pruned to {100 * info['sparsity_at_prune']:.1f}% (val_acc "
                    f"{100 * val_acc:.1f}% before retraining); retraining up to {loop.epochs} "
                    f"epoch(s) on {self.device}")
        self.reporter.progress(what)
        return loop, info

    def _train_last_round(self, rp: RoundPlan, loop: TrainingLoop,
                          info: dict[str, float]) -> None:
        extra = (lambda d: save_structured(loop.model, d / MODEL_FILE)) \
            if self.method.traits.resized_in_training else None
        while not loop.done:
            res = loop.run_epoch()
            self.reporter.log_epoch(res.epoch, {**res.metrics(), **self._mask_metrics(loop)},
                                    self._update_series(loop))
            self.reporter.checkpoint(
                {**res.metrics(), **res.speed(), "epoch": res.epoch,
                 "epochs_left": loop.epochs - loop.epoch},
                {"phase": "final", "round": rp.index, "loop": loop.state_dict(), "info": info,
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
        if not self.method.traits.dynamic:
            return []
        return [(step, {"dst.pruned": pruned, "dst.regrown": regrown})
                for step, pruned, regrown in updates]
