"""``magnitude``: global magnitude pruning, one shot, then fine-tuning."""

from __future__ import annotations

from typing import Any

from pruning.methods import register
from pruning.methods.base import Method, MethodContext, PruneResult


@register("magnitude")
class Magnitude(Method):
    """Zero the globally smallest |w| over every Conv2d and Linear weight of the trained dense
    model at once, then fine-tune with the mask fixed (Han et al. 2015, "Learning both Weights
    and Connections for Efficient Neural Networks"; the global L1 method of the ResNet18 /
    CIFAR-10 comparison this project started from)."""

    def begin_round(self, r: int, model: Any, masks: dict[str, Any] | None,
                    ctx: MethodContext) -> PruneResult:
        from pruning import scores
        from pruning.allocation import global_masks
        from pruning.masks import apply_masks

        new = global_masks(scores.magnitude(model), self.round_sparsity(r), alive=masks)
        apply_masks(model, new)
        return PruneResult(model, new, structured=False)
