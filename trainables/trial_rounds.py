"""The rounds before the last (IMP's levels, group_norm's regularized round): taken from the
shared round cache when another trial of the seed already trained them, otherwise trained for
their whole budget here and published, or, for methods whose rounds must not be shared,
trained inside the trial."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from filelock import FileLock, Timeout

from pruning.masks import mask_sparsity
from trainables.round_cache import RoundCache, RoundChain

if TYPE_CHECKING:
    from torch import nn

    from trainables.engine import TrainingLoop
    from trainables.trial import TrialRun
    from trainables.trial_plan import RoundPlan

# How long a trial waits for another trial that is training a round it needs, before it
# trains that round itself (a bound, not an expectation: rounds of a big model take hours).
ROUND_WAIT_ENV = "PRUNE_SWEEP_ROUND_WAIT_S"
ROUND_WAIT_S = 6 * 3600.0

Masks = dict[str, Any]


@contextmanager
def training_lock(entry: RoundCache) -> Iterator[None]:
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


def run_earlier_rounds(trial: TrialRun, state: dict | None) -> tuple[nn.Module, Masks | None]:
    """The model and masks the last round starts from, after every earlier round."""
    earlier = trial.plan.earlier
    if not earlier:
        return trial.start_model(), None
    if earlier[0].cached:
        return _cached_rounds(trial, state)
    model, masks = trial.start_model(), None
    for rp in earlier:
        resume = state if state is not None and state["round"] == rp.index else None
        if state is not None and state["round"] > rp.index:
            continue  # finished before the interruption; the checkpoint continues from it
        loop = _train_round(trial, rp, model, masks, resume)
        trial.counts["rounds_trained"] += 1
        model, masks = loop.model, loop.masks.cpu() if loop.masks is not None else None
        if rp.index >= len(trial.rounds):
            trial.rounds.append(_round_metrics(rp, loop, masks or {}))
            trial.log_round(rp.index, trial.rounds[rp.index])
    return model, masks


def _cached_rounds(trial: TrialRun, state: dict | None) -> tuple[nn.Module, Masks | None]:
    chain = RoundChain.of(trial.cfg.dense, trial.method, trial.cfg.finetune)
    entries = [RoundCache(trial.env.storage, chain, rp.index) for rp in trial.plan.earlier]
    for rp, entry in zip(trial.plan.earlier, entries, strict=True):
        r = rp.index
        if entry.valid():
            trial.counts["rounds_cached"] += 1
        else:
            with training_lock(entry):
                if entry.valid():  # trained by another trial while this one waited
                    trial.counts["rounds_cached"] += 1
                else:
                    model, masks = _cached_output(trial, entries[r - 1] if r else None)
                    resume = state if state is not None and state["round"] == r else None
                    loop = _train_round(trial, rp, model, masks, resume)
                    _publish(loop, rp, entry)
                    trial.counts["rounds_trained"] += 1
        if r >= len(trial.rounds):
            trial.rounds.append(entry.metrics())
            trial.log_round(r, trial.rounds[r])
    return _cached_output(trial, entries[-1])


def _cached_output(trial: TrialRun, entry: RoundCache | None) -> tuple[nn.Module, Masks | None]:
    if entry is None:
        return trial.start_model(), None
    model = trial.fresh_model()
    model.load_state_dict(entry.load("weights"))
    return model, entry.load("masks")


def _train_round(trial: TrialRun, rp: RoundPlan, model: nn.Module, masks: Masks | None,
                 resume: dict | None) -> TrainingLoop:
    """Train a round before the last for its whole budget (Frankle & Carbin 2019 prune each
    round from the trained, not the best, weights), checkpointing after every epoch."""
    ctx = trial.context(rp, model)
    trial.method.setup(rp.index, ctx)
    if resume is not None:
        loop = trial.loop(trial.fresh_model(), None, rp)
        loop.load_state_dict(resume["loop"])
    else:
        result = trial.method.begin_round(rp.index, model, masks, ctx)
        loop = trial.loop(result.model, result.masks, rp)
    n = len(trial.plan.rounds)
    trial.reporter.progress(f"round {rp.index + 1}/{n}: training at "
                            f"{100 * rp.sparsity:.1f}% sparsity")
    while not loop.done:
        res = loop.run_epoch()
        left = loop.epochs - loop.epoch + (n - 1 - rp.index) * loop.epochs
        trial.reporter.checkpoint(
            {"phase": f"round {rp.index + 1}/{n}", "epoch": res.epoch,
             "train_loss": res.train_loss, "val_acc": res.val_acc, **res.speed(),
             "epochs_left": left},
            {"phase": "round", "round": rp.index, "loop": loop.state_dict(),
             "rounds": trial.rounds})
    return loop


def _round_metrics(rp: RoundPlan, loop: TrainingLoop,
                   kept: Masks | None = None) -> dict[str, float]:
    if kept is None:
        kept = loop.masks.cpu() if loop.masks is not None else {}
    return {"round": rp.index + 1, "sparsity": mask_sparsity(kept),
            "best_val_acc": loop.best_acc, "epochs": loop.epoch, "steps": loop.step}


def _publish(loop: TrainingLoop, rp: RoundPlan, entry: RoundCache) -> None:
    weights = {k: v.detach().cpu().contiguous() for k, v in loop.model.state_dict().items()}
    kept = loop.masks.cpu() if loop.masks is not None else {}
    entry.write({"weights": weights, "masks": kept}, _round_metrics(rp, loop, kept))
