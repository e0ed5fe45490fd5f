"""``structured``: L1-norm filter pruning with channels physically removed."""

from __future__ import annotations

from typing import Any

from pruning.methods import register
from pruning.methods.base import Method, MethodContext, PruneResult


@register("structured")
class Structured(Method):
    """Remove the filters with the smallest L1 norms, the same channel ratio in every layer,
    solved so the *parameter* sparsity hits the target (Li et al. 2017, "Pruning Filters for
    Efficient ConvNets"); torch-pruning removes coupled channels (BatchNorm, next layers'
    inputs, residual sums) together, leaving a smaller dense network that is really faster."""

    structured = True

    def begin_round(self, r: int, model: Any, masks: dict[str, Any] | None,
                    ctx: MethodContext) -> PruneResult:
        from pruning.surgery import prune_to_sparsity

        pruned, info = prune_to_sparsity(model, self.sparsity, ctx.example_input,
                                         ctx.ignored_layers)
        return PruneResult(pruned, None, structured=True, info=info)
