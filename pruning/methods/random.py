"""``random``: a random unstructured mask at the target sparsity, the control any criterion
must beat."""

from __future__ import annotations

from typing import Any

from pruning.methods import register
from pruning.methods.base import Method, MethodContext, PruneResult


@register("random")
class Random(Method):
    """The global allocation of ``magnitude`` with random scores: a uniformly random subset of
    all prunable weights, then fine-tuning (Blalock et al. 2020, "What is the State of Neural
    Network Pruning?": a criterion that does not beat random did not matter)."""

    def begin_round(self, r: int, model: Any, masks: dict[str, Any] | None,
                    ctx: MethodContext) -> PruneResult:
        from pruning import scores
        from pruning.allocation import global_masks
        from pruning.masks import apply_masks

        new = global_masks(scores.random(model, ctx.generator), self.sparsity)
        apply_masks(model, new)
        return PruneResult(model, new, structured=False)
