"""A trial's plan, computed from its config and method alone (no data, no torch): its rounds,
each round's target sparsity and learning-rate schedule, and what its budget will count.

The runner (``trainables.trial``) follows the plan; the plan itself is a pure function, so
tests and ``prune-sweep status`` can ask what a trial will do without running it."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from pruning.methods.base import Method
from trainables.config import Recipe, TrialConfig
from trainables.retraining import LRSchedule, retraining_schedule


@dataclass(frozen=True)
class RoundPlan:
    """Round ``index``: the sparsity it is set up at, how it trains, and whether its output
    goes to the shared round cache (rounds before the last of a method whose rounds do not
    depend on the final target)."""

    index: int
    sparsity: float
    schedule: LRSchedule
    recipe: Recipe
    last: bool
    cached: bool

    @property
    def epochs(self) -> int:
        """Epochs the round trains (at most: the last round may stop early)."""
        return self.schedule.epochs


@dataclass(frozen=True)
class TrialPlan:
    """Every round of one trial, in order, and the facts its budget is counted from."""

    rounds: tuple[RoundPlan, ...]
    steps_per_epoch: int
    dense_epochs_used: int

    @property
    def last(self) -> RoundPlan:
        """The round whose best checkpoint becomes the result."""
        return self.rounds[-1]

    @property
    def earlier(self) -> tuple[RoundPlan, ...]:
        """The rounds before the last, trained for their whole budget."""
        return self.rounds[:-1]

    @property
    def epochs_planned(self) -> int:
        """Epochs of all rounds (an upper bound: the last round may stop early)."""
        return sum(r.epochs for r in self.rounds)


def plan_trial(cfg: TrialConfig, method: Method, train_size: int) -> TrialPlan:
    """The plan of ``method`` under ``cfg`` on a training split of ``train_size`` images.

    Every round trains along the retraining schedule of the method's kind, except rounds of
    their own length (group_norm's regularized round), which follow a cosine of that length.
    Rounds before the last train their whole budget (no early stopping: Frankle & Carbin 2019
    prune each round from the trained, not the best, weights)."""
    base = retraining_schedule(cfg, method.traits.retraining)
    n = method.rounds()
    rounds = []
    for r in range(n):
        epochs = method.round_epochs(r, base.epochs)
        schedule = base if epochs == base.epochs else LRSchedule.cosine(base.peak, epochs)
        last = r == n - 1
        recipe = cfg.finetune if last else dataclasses.replace(cfg.finetune, patience=0)
        rounds.append(RoundPlan(r, method.round_sparsity(r), schedule, recipe, last,
                                cached=not last and method.traits.cache_rounds))
    return TrialPlan(
        rounds=tuple(rounds),
        steps_per_epoch=math.ceil(train_size / cfg.finetune.batch_size),
        dense_epochs_used=method.dense_epochs_used(cfg.dense.recipe.epochs,
                                                   cfg.dense.rewind_epoch),
    )
