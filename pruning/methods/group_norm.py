"""``group_norm``: group-level sparse regularization, then pruning by group norm."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pruning.methods import register
from pruning.methods._channel import ChannelMethod, ChannelParams
from pruning.methods.base import MethodContext, PruneResult, Traits


@dataclass(frozen=True)
class GroupNormParams(ChannelParams):
    """``reg``: the penalty's strength lambda; ``alpha``: how much harder the weakest channel
    of a group is pushed than the strongest; ``reg_epochs``: epochs of regularized training
    before pruning (default: the retraining epochs)."""

    reg: float = 1e-4
    alpha: float = 16.0
    reg_epochs: int | None = None

    def check(self) -> None:
        super().check()
        if not self.reg > 0:
            raise ValueError(f"reg: must be > 0, got {self.reg:g}")
        if not self.alpha >= 1:
            raise ValueError(f"alpha: must be at least 1, got {self.alpha:g}")
        if self.reg_epochs is not None and self.reg_epochs < 1:
            raise ValueError(f"reg_epochs: must be at least 1, got {self.reg_epochs}")


@register("group_norm")
class GroupNorm(ChannelMethod):
    """Group-norm pruning (Fang et al. 2023, "DepGraph"; torch-pruning's ``GroupNormPruner``):
    round 1 trains the dense model for ``reg_epochs`` with the group sparsity penalty (see
    ``pruning.channels.regularizer``), which drives whole channel groups toward zero; round 2
    removes the channels with the smallest group L2 norm to the parameter target and
    fine-tunes. The regularized round does not depend on the target, so it is cached and
    shared by every sparsity of a seed, like IMP's rounds; its epochs count in the budget."""

    Params = GroupNormParams
    score = "group_norm"
    traits = Traits(structured=True, resized_in_training=True, cache_rounds=True)

    def __init__(self, params: Any, sparsity: float) -> None:
        super().__init__(params, sparsity)
        self.round = 0
        self.groups: list[Any] = []

    def rounds(self) -> int:
        return 2

    def round_sparsity(self, r: int) -> float:
        return 0.0 if r == 0 else self.sparsity

    def round_epochs(self, r: int, planned: int) -> int:
        if r == 0 and self.params.reg_epochs is not None:
            return self.params.reg_epochs
        return planned

    def setup(self, r: int, ctx: MethodContext) -> None:
        self.round = r

    def begin_round(self, r: int, model: Any, masks: dict[str, Any] | None,
                    ctx: MethodContext) -> PruneResult:
        if r > 0:
            return super().begin_round(r, model, masks, ctx)
        from pruning.channels.groups import find_groups

        self.groups = find_groups(model, ctx.example_input.cpu(), ctx.ignored_layers)
        return PruneResult(model, None, structured=False)

    def after_backward(self, step: int, model: Any) -> None:
        if self.round == 0 and self.groups:
            from pruning.channels.regularizer import add_group_penalty

            add_group_penalty(model, self.groups, self.params.reg, self.params.alpha)

    def state_dict(self) -> dict[str, Any]:
        import dataclasses

        return {"groups": [dataclasses.asdict(g) for g in self.groups or []]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        from pruning.channels.groups import ChannelGroup

        self.groups = [ChannelGroup.from_dict(g) for g in state.get("groups", [])]
