"""``sfp``: soft filter pruning during retraining, filters removed for good at the end."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pruning.methods import register
from pruning.methods._channel import ChannelMethod, ChannelParams
from pruning.methods.base import MethodContext, PruneResult, Traits

if TYPE_CHECKING:
    from pruning.masks import MaskUpdate


@dataclass(frozen=True)
class SfpParams(ChannelParams):
    """``hard_fraction``: the last fraction of the retraining epochs (rounded up) in which the
    zeroed set no longer changes and its channels are held at exactly zero, so the network
    adapts to the set it will lose; 0 is the paper's schedule (soft to the end)."""

    hard_fraction: float = 0.25

    def check(self) -> None:
        super().check()
        if not 0.0 <= self.hard_fraction < 1.0:
            raise ValueError(f"hard_fraction: must be within [0, 1), got {self.hard_fraction:g}")


@register("sfp")
class Sfp(ChannelMethod):
    """Soft Filter Pruning (He et al. 2018, "Soft Filter Pruning for Accelerating Deep
    Convolutional Neural Networks"): how many filters each layer loses is fixed once (the
    allocation that reaches the parameter target); at the start and after every epoch the
    layer's lowest-L2-norm filters of the moment are set to zero but stay in the network, so
    gradient steps may revive them and a different set can be zeroed next epoch. After
    retraining, the zeroed filters of the selected checkpoint are removed physically and the
    reported accuracy is that of the smaller network.

    Adapted to BatchNorm networks, with measurements behind each change (docs/methods.md):

    * the norm is that of the filter with its BatchNorm folded in (``l2_folded``; the plain
      L2 norm where no BatchNorm follows): a zeroed filter sees a batch variance of 0,
      BatchNorm scales its first gradient by 1/sqrt(eps), and its raw norm would rank it the
      most important filter at the next epoch's end;
    * zeroing also resets the BatchNorm running mean, so a zeroed channel outputs its
      BatchNorm shift in evaluation as in training;
    * that same normalization revives a zeroed filter at full strength within one step, so a
      network soft-pruned to the end relies on filters it is about to lose, and the paper's
      schedule, evaluated after each epoch's zeroing, fails on short budgets. The last
      ``hard_fraction`` of the epochs therefore keeps the final set fixed and silent (filters
      and BatchNorm scale and shift held at zero) and only those epochs may supply the
      selected checkpoint; ``hard_fraction: 0`` gives the paper's schedule.

    ``prune.val_acc_finalized`` is the validation accuracy after removal, beside
    ``best_val_acc``; ``prune.filters_switched`` counts filters zeroed at an epoch's end that
    were not zeroed before."""

    Params = SfpParams
    score = "l2_folded"
    # Trains at full size (zeroed filters); finalize returns the physically smaller network.
    traits = Traits(structured=True, resized_in_training=False)

    def __init__(self, params: Any, sparsity: float) -> None:
        super().__init__(params, sparsity)
        self.groups: list[Any] = []
        self.kept: dict[str, int] = {}
        self.zeroed: dict[str, list[int]] = {}
        self.switches = 0  # channels newly zeroed at an epoch's end (others revived)
        self.hard_from = 0  # epochs before the hard phase
        self.steps_per_epoch = 1

    def _zero(self, model: Any) -> dict[str, list[int]]:
        from pruning.channels.allocation import lowest
        from pruning.channels.groups import soft_zero
        from pruning.channels.scores import CHANNEL_SCORES

        score = CHANNEL_SCORES[self.score]
        scores = {g.name: score(model, g) for g in self.groups if g.name in self.kept}
        chosen = lowest(scores, self.kept)
        soft_zero(model, self.groups, chosen)
        return chosen

    def setup(self, r: int, ctx: MethodContext) -> None:
        import math

        hard = math.ceil(self.params.hard_fraction * ctx.epochs)
        self.hard_from = ctx.epochs - hard if hard else ctx.epochs
        self.steps_per_epoch = ctx.steps_per_epoch

    def selectable(self, step: int) -> bool:
        """Soft epochs never supply the checkpoint when a hard phase follows them."""
        return self.params.hard_fraction == 0 or step > self.hard_from * self.steps_per_epoch

    def _silencing_masks(self, model: Any, chosen: dict[str, list[int]]) -> dict[str, Any]:
        """Keep-masks holding the chosen channels' filters and BatchNorm affine at zero."""
        import torch

        params = dict(model.named_parameters())
        by_name = {g.name: g for g in self.groups}
        masks = {}
        for name, idxs in chosen.items():
            g = by_name[name]
            for layer in (*g.producers, *g.norms):
                for suffix in ("weight", "bias"):
                    key = f"{layer}.{suffix}"
                    if key not in params:
                        continue
                    keep = masks.get(key)
                    if keep is None:
                        keep = torch.ones(params[key].shape[0], dtype=torch.bool)
                    keep[list(idxs)] = False
                    masks[key] = keep
        return {k: v.view(-1, *([1] * (params[k].dim() - 1))).expand_as(params[k]).clone()
                for k, v in masks.items()}

    def begin_round(self, r: int, model: Any, masks: dict[str, Any] | None,
                    ctx: MethodContext) -> PruneResult:
        from pruning.channels.surgery import plan_channels

        plan = plan_channels(model, self.sparsity, ctx.example_input, ctx.ignored_layers,
                             self.options())
        self.groups = plan.groups
        self.kept = {k: v for k, v in plan.allocation.kept.items()
                     if v < next(g.size for g in plan.groups if g.name == k)}
        self.zeroed = self._zero(model)
        masks = None
        if self.params.hard_fraction > 0 and self.hard_from == 0:  # hard from the start
            from pruning.channels.groups import silence

            silence(model, self.groups, self.zeroed)
            masks = self._silencing_masks(model, self.zeroed)
        info = {"channel_ratio": plan.info({})["channel_ratio"], "solve_s": plan.seconds,
                "groups_excluded": float(len(plan.excluded))}
        return PruneResult(model, masks, structured=False, info=info)

    def end_epoch(self, epoch: int, model: Any, masks: dict[str, Any] | None
                  ) -> MaskUpdate | None:
        if epoch > self.hard_from:
            return None  # hard phase: the set is fixed and the masks hold it
        chosen = self._zero(model)
        self.switches += sum(len(set(v) - set(self.zeroed.get(k, ()))) for k, v in chosen.items())
        self.zeroed = chosen
        if epoch == self.hard_from and self.params.hard_fraction > 0:
            from pruning.masks import MaskUpdate

            return MaskUpdate(self._silencing_masks(model, chosen))
        return None

    def finalize(self, model: Any, masks: dict[str, Any] | None,
                 ctx: MethodContext) -> PruneResult:
        """Remove, physically, the filters zeroed in the selected checkpoint."""
        from pruning.channels.groups import layer_widths, remove_channels

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
                "switches": self.switches}  # hard_from is set again by setup

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        from pruning.channels.groups import ChannelGroup

        self.groups = [ChannelGroup.from_dict(g) for g in state["groups"]]
        self.kept = dict(state["kept"])
        self.zeroed = {k: list(v) for k, v in state["zeroed"].items()}
        self.switches = int(state["switches"])
