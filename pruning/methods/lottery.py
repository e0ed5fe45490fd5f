"""``lottery``: a lottery ticket with weight and learning-rate rewinding."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pruning.methods import register
from pruning.methods._oneshot import OneShotMethod
from pruning.methods.base import MethodContext, Traits

if TYPE_CHECKING:
    from torch import nn


@register("lottery")
class Lottery(OneShotMethod):
    """Lottery ticket with rewinding (Frankle & Carbin 2019; Frankle et al. 2020, "Linear Mode
    Connectivity and the Lottery Ticket Hypothesis"): a global magnitude mask from the trained
    dense model, every weight (BatchNorm included) rewound to theta_k, the dense weights after
    ``rewind_epoch`` epochs, and retraining with the mask fixed along the dense learning-rate
    schedule from epoch k: T - k epochs, or the space's retraining epochs when it asks for
    equal budgets. k = 0 is the original lottery ticket."""

    traits = Traits(retraining="weight_rewind")
    score = "magnitude"
    allocation = "global"

    def restart(self, model: nn.Module, ctx: MethodContext) -> None:
        model.load_state_dict(ctx.dense_weights("rewind"))
