"""``magnitude``: global L1 unstructured pruning over all Conv2d and Linear weights."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from pruning.base import Pruner, PruneResult, check_sparsity
from pruning.masks import apply_masks, global_magnitude_masks
from pruning.methods import PRUNERS


@PRUNERS.register("magnitude")
class MagnitudePruner(Pruner):
    """Zero the globally smallest |w|; a mask keeps them zero through fine-tuning."""

    name = "magnitude"

    def prune(
        self,
        model: nn.Module,
        sparsity: float,
        *,
        example_input: torch.Tensor,
        rewind_state: dict[str, torch.Tensor] | None = None,
        ignored_layers: Sequence[nn.Module] = (),
    ) -> PruneResult:
        masks = global_magnitude_masks(model, check_sparsity(sparsity))
        apply_masks(model, masks)
        return PruneResult(model, masks, structured=False)
