"""``sfp``: soft filter pruning during retraining, filters removed for good at the end."""

from __future__ import annotations

import dataclasses
from typing import Any

from pruning.channel_method import ChannelMethod
from pruning.methods import register
from pruning.methods.base import MethodContext, PruneResult


@register("sfp")
class Sfp(ChannelMethod):
    """Soft Filter Pruning (He et al. 2018, "Soft Filter Pruning for Accelerating Deep
    Convolutional Neural Networks"): how many filters each layer loses is fixed once (the
    allocation that reaches the parameter target); at the start and after every epoch the
    layer's lowest-L2-norm filters of the moment are set to zero but stay in the network, so
    gradient steps may revive them and a different set can be zeroed next epoch. After
    retraining, the zeroed filters of the selected checkpoint are removed physically and the
    reported accuracy is that of the smaller network.

    Adapted to BatchNorm networks: the norm is that of the filter with its BatchNorm folded
    in (``l2_folded``, the plain L2 norm where no BatchNorm follows): a zeroed filter sees a
    batch variance of 0, BatchNorm scales its first gradient by 1/sqrt(eps), and its raw norm
    would rank it the most important filter at the next epoch's end. Zeroing also resets the
    BatchNorm running mean, so a zeroed channel outputs its BatchNorm shift in evaluation as
    in training. Removal drops that constant, which is why the removed network is tested
    again rather than assumed equal (``prune.val_acc_finalized`` beside ``best_val_acc``)."""

    score = "l2_folded"
    # Trains at full size (zeroed filters); finalize returns the physically smaller network.
    structured = False

    def __init__(self, params: Any, sparsity: float) -> None:
        super().__init__(params, sparsity)
        self.groups: list[Any] = []
        self.kept: dict[str, int] = {}
        self.zeroed: dict[str, list[int]] = {}
        self.switches = 0  # channels newly zeroed at an epoch's end (others revived)

    def _zero(self, model: Any) -> dict[str, list[int]]:
        from pruning.channel_allocation import lowest
        from pruning.channel_groups import soft_zero
        from pruning.channel_scores import CHANNEL_SCORES

        score = CHANNEL_SCORES[self.score]
        scores = {g.name: score(model, g) for g in self.groups if g.name in self.kept}
        chosen = lowest(scores, self.kept)
        soft_zero(model, self.groups, chosen)
        return chosen

    def begin_round(self, r: int, model: Any, masks: dict[str, Any] | None,
                    ctx: MethodContext) -> PruneResult:
        from pruning.surgery import plan_channels

        plan = plan_channels(model, self.sparsity, ctx.example_input, ctx.ignored_layers,
                             self.options())
        self.groups = plan.groups
        self.kept = {k: v for k, v in plan.allocation.kept.items()
                     if v < next(g.size for g in plan.groups if g.name == k)}
        self.zeroed = self._zero(model)
        info = {"channel_ratio": plan.info({})["channel_ratio"], "solve_s": plan.seconds,
                "groups_excluded": float(len(plan.excluded))}
        return PruneResult(model, None, structured=False, info=info)

    def end_epoch(self, epoch: int, model: Any, masks: dict[str, Any] | None
                  ) -> dict[str, Any] | None:
        chosen = self._zero(model)
        self.switches += sum(len(set(v) - set(self.zeroed.get(k, ()))) for k, v in chosen.items())
        self.zeroed = chosen
        return None

    def finalize(self, model: Any, masks: dict[str, Any] | None,
                 ctx: MethodContext) -> PruneResult:
        """Remove, physically, the filters zeroed in the selected checkpoint."""
        from pruning.channel_groups import layer_widths, remove_channels

        device = next(model.parameters()).device
        model = model.cpu().eval()
        chosen = self._zero(model)  # those zeroed at that epoch's end: their norm is 0
        remove_channels(model, ctx.example_input.cpu(), self.groups, chosen)
        info = {"filters_switched": float(self.switches)}
        info.update({f"width.{k}": float(v)
                     for k, v in layer_widths(model, self.groups).items()})
        return PruneResult(model.to(device), None, structured=True, info=info)

    def state_dict(self) -> dict[str, Any]:
        return {"groups": [dataclasses.asdict(g) for g in self.groups], "kept": dict(self.kept),
                "zeroed": {k: list(v) for k, v in self.zeroed.items()},
                "switches": self.switches}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        from pruning.channel_groups import ChannelGroup

        self.groups = [ChannelGroup.from_dict(g) for g in state["groups"]]
        self.kept = dict(state["kept"])
        self.zeroed = {k: list(v) for k, v in state["zeroed"].items()}
        self.switches = int(state["switches"])
