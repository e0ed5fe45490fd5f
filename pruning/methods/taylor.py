"""``taylor``: first-order Taylor channel importance on calibration batches, one shot, then
fine-tuning."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any

from pruning.methods import register
from pruning.methods._channel import ChannelMethod, ChannelParams
from pruning.methods.base import MethodContext, PruneResult


@dataclass(frozen=True)
class TaylorParams(ChannelParams):
    """``batches``: calibration batches (of the fine-tuning batch size) the importance is
    averaged over. 8 by default: one minibatch's squares are a noisy estimate (the paper
    averages over many minibatches), the mean of k of them has 1/k of the variance, and 8
    batches cost about 8 training steps, nothing beside the fine-tuning that follows."""

    batches: int = 8

    def check(self) -> None:
        if self.batches < 1:
            raise ValueError(f"batches: must be at least 1, got {self.batches}")
        super().check()


@register("taylor")
class Taylor(ChannelMethod):
    """First-order Taylor pruning (Molchanov et al. 2019, "Importance Estimation for Neural
    Network Pruning", CVPR): a channel's importance is the squared first-order change of the
    training loss when it is removed, ``(sum of g * w)^2`` over the parameters that write it,
    here the group version: the filter weights (and biases) of every producing layer of the
    channel's coupled group plus their BatchNorm gamma and beta (the paper's full "Taylor-FO"
    on the filters joined with its "Taylor-FO on BN"; on a BatchNorm network in training mode
    a filter is scale-invariant, so its own sum is near zero and gamma and beta carry the
    score). g is the cross-entropy gradient of one calibration minibatch (``ctx.calibration``,
    the same batches for the same seed), the importance averaged over ``batches`` of them, as
    the paper averages it over minibatches; computed on a copy of the trained model, so its
    BatchNorm running statistics stay. Then, as the other structured methods, channels are
    removed to the parameter target in one shot (the paper prunes iteratively during
    fine-tuning) and the network is fine-tuned. ``prune.score_s``: the gradient pass."""

    Params = TaylorParams
    score = "taylor"

    def check_model(self, model: Any, example_input: Any, ignored: list[Any]) -> None:
        # The criterion's gradients exist only at the round's start; whether the target is
        # reachable does not depend on the ranking (only the greedy top-up's order reads it).
        stand_in = copy.copy(self)
        stand_in.score = "l1_filter"
        super(Taylor, stand_in).check_model(model, example_input, ignored)

    def begin_round(self, r: int, model: Any, masks: dict[str, Any] | None,
                    ctx: MethodContext) -> PruneResult:
        from pruning.channels.groups import find_groups
        from pruning.channels.surgery import prune_to_sparsity
        from pruning.channels.taylor import taylor_importance

        started = time.perf_counter()
        model = model.cpu().eval()  # traced in evaluation mode: the running statistics stay
        groups = find_groups(model, ctx.example_input[:1].cpu(), ctx.ignored_layers)
        scores = taylor_importance(model, groups, ctx.calibration(self.params.batches))
        scored = time.perf_counter() - started
        pruned, info, _ = prune_to_sparsity(model, self.sparsity, ctx.example_input,
                                            ctx.ignored_layers, self.options(), scores)
        info["score_s"] = scored
        return PruneResult(pruned, None, structured=True, info=info)
