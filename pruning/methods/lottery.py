"""``lottery``: a lottery ticket with weight and learning-rate rewinding."""

from __future__ import annotations

from typing import Any

from pruning.methods import register
from pruning.methods.base import Method, MethodContext, PruneResult


@register("lottery")
class Lottery(Method):
    """Lottery ticket with rewinding (Frankle & Carbin 2019; Frankle et al. 2020, "Linear Mode
    Connectivity and the Lottery Ticket Hypothesis"): a global magnitude mask from the trained
    dense model, every weight (BatchNorm included) rewound to theta_k, the dense weights after
    ``rewind_epoch`` epochs, and retraining with the mask fixed along the dense learning-rate
    schedule from epoch k: T - k epochs, or the space's retraining epochs when it asks for
    equal budgets. k = 0 is the original lottery ticket."""

    retraining = "weight_rewind"

    def begin_round(self, r: int, model: Any, masks: dict[str, Any] | None,
                    ctx: MethodContext) -> PruneResult:
        from pruning import scores
        from pruning.allocation import global_masks
        from pruning.masks import apply_masks

        new = global_masks(scores.magnitude(model), self.round_sparsity(r), alive=masks)
        model.load_state_dict(ctx.dense_weights("rewind"))
        apply_masks(model, new)
        return PruneResult(model, new, structured=False)
