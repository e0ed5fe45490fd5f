"""What every one-shot unstructured method shares: a score, an allocation (or the ``n:m``
sparsity type), masks applied at the round's start, then training with the masks fixed.

A method names its parts (``score``, ``allocation``, ``sparsity_type``) and, where it needs
to, the weights the survivors restart from (``restart``: lottery tickets rewind). Torch-free
at import (see ``pruning.methods.base``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from pruning.methods.base import Method, MethodContext, MethodParams, PruneResult

if TYPE_CHECKING:
    import torch
    from torch import nn


@dataclass(frozen=True)
class AllocationParams(MethodParams):
    """``allocation``: how the target is spread over layers (``global``: one threshold over
    all layers; ``uniform``: the same sparsity in every layer; ``erk``: Erdős–Rényi-Kernel;
    ``matched``: the layer-wise sparsities global magnitude pruning would give)."""

    allocation: str = "global"

    def check(self) -> None:
        from pruning.allocation import ALLOCATIONS

        if self.allocation not in ALLOCATIONS:
            raise ValueError(f"allocation: must be one of {', '.join(ALLOCATIONS.names())}, "
                             f"got {self.allocation!r}")


class OneShotMethod(Method):
    """Score the model, allocate the target over layers, mask, train.

    ``score``: a name in ``pruning.scores.SCORES``; ``allocation``: a name in
    ``pruning.allocation.ALLOCATIONS`` (``global``: one threshold over all layers;
    ``uniform``: the same sparsity in every layer; ``erk``: Erdős–Rényi-Kernel per-layer
    sparsities; ``matched``: each layer keeps what global magnitude pruning would keep there);
    a method whose ``Params`` derive from ``AllocationParams`` lets the user choose it.
    ``sparsity_type``: ``unstructured``, or ``n:m`` (the method's params then hold ``n`` and
    ``m``; the allocation is not used)."""

    score: ClassVar[str] = "magnitude"
    allocation: ClassVar[str] = "global"
    sparsity_type: ClassVar[str] = "unstructured"

    def scores(self, model: nn.Module, ctx: MethodContext) -> dict[str, torch.Tensor]:
        """The score of every prunable weight of ``model``."""
        from pruning.scores import score

        return score(self.score)(model, ctx)

    def masks(self, r: int, model: nn.Module, masks: dict[str, torch.Tensor] | None,
              ctx: MethodContext) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
        """Round ``r``'s keep-masks (weights dead in ``masks`` stay dead) and facts to log."""
        from pruning.allocation import ALLOCATIONS, nm_masks
        from pruning.scores import score

        scores = self.scores(model, ctx)
        if self.sparsity_type == "n:m":
            new, skipped = nm_masks(scores, self.params.n, self.params.m)
            return new, {"nm_layers_dense": float(len(skipped))}
        allocation = self.chosen_allocation()
        reference = score("magnitude")(model, ctx) if allocation == "matched" else None
        return ALLOCATIONS.get(allocation)(scores, self.round_sparsity(r), masks, reference), {}

    def chosen_allocation(self) -> str:
        """The allocation the parameters choose, else the method's own."""
        if isinstance(self.params, AllocationParams):
            return self.params.allocation
        return self.allocation

    def restart(self, model: nn.Module, ctx: MethodContext) -> None:
        """Load the weights the survivors train from (default: keep the current ones)."""

    def begin_round(self, r: int, model: nn.Module, masks: dict[str, torch.Tensor] | None,
                    ctx: MethodContext) -> PruneResult:
        from pruning.masks import apply_masks

        new, info = self.masks(r, model, masks, ctx)
        self.restart(model, ctx)
        apply_masks(model, new)
        return PruneResult(model, new, structured=False, info=info)
