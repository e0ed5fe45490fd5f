"""``lr_rewind``: one-shot magnitude pruning retrained with learning-rate rewinding."""

from __future__ import annotations

from pruning.methods import register
from pruning.methods.base import Budget, MethodParams, Traits
from pruning.methods.magnitude import Magnitude


@register("lr_rewind")
class LrRewind(Magnitude):
    """Learning-rate rewinding (Renda et al. 2020, "Comparing Rewinding and Fine-tuning in
    Neural Network Pruning"): one-shot global magnitude pruning of the trained dense model, the
    final weights kept, and the dense run's learning-rate schedule over its last E epochs
    replayed (E = the retraining epochs)."""

    traits = Traits(retraining="lr_rewind")

    @classmethod
    def check(cls, params: MethodParams, budget: Budget) -> None:
        super().check(params, budget)
        if budget.retrain_epochs > budget.dense_epochs:
            raise ValueError(f"lr_rewind: {budget.retrain_epochs} retraining epochs, but the "
                             f"dense schedule has only {budget.dense_epochs} to replay")
