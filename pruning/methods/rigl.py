"""``rigl``: Rigged Lottery, gradient-based regrowth."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pruning.dynamic_method import DynamicParams, DynamicSparseMethod
from pruning.methods import register


@dataclass(frozen=True)
class RiglParams(DynamicParams):
    """The paper's defaults: ERK, alpha = ``drop_fraction`` 0.3, updates every 100 steps
    (``update_every``) until 75% of training (``end``)."""

    end: float = 0.75


@register("rigl")
class Rigl(DynamicSparseMethod):
    """RigL (Evci et al. 2020, "Rigging the Lottery: Making All Tickets Winners"): ERK
    allocation; every Delta-T steps until T_end, each layer drops the
    f(t) = alpha / 2 (1 + cos(pi t / T_end)) fraction of its active connections with the
    smallest magnitude and grows as many where the dense gradient is largest, new connections
    starting at zero. The dense gradient is read only on update steps, right after backward
    (before pruned gradients are masked), so other steps cost what a masked step costs."""

    Params = RiglParams

    def setup(self, r: int, ctx: Any) -> None:
        super().setup(r, ctx)
        self.grads: dict[str, Any] | None = None

    def drop_fraction(self, step: int) -> float:
        """The cosine-decayed fraction dropped at ``step``."""
        from pruning.schedules import cosine_decay

        return cosine_decay(step, self.end_step, self.params.drop_fraction)

    def after_backward(self, step: int, model: Any) -> None:
        if not self.due(step):
            return
        from pruning.measure import prunable_weights

        self.grads = {n: p.grad.detach().abs().clone() for n, p in prunable_weights(model)
                      if p.grad is not None}

    def update(self, step: int, model: Any, masks: dict[str, Any]) -> Any:
        from pruning.regrowth import combine, drop_lowest, grow_highest

        grads, self.grads = self.grads, None
        if grads is None:
            return None
        counts = self.drop_counts(masks, self.drop_fraction(step))
        weights = self.weights(model, list(masks))
        after = drop_lowest({n: w.abs() for n, w in weights.items()}, masks, counts)
        return combine(after, grow_highest(grads, after, counts))
