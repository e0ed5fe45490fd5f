"""``random``: a random unstructured mask at the target sparsity, the sanity baseline any
real criterion must beat (Blalock et al., 2020)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from pruning.base import Pruner, PruneResult, check_sparsity
from pruning.masks import apply_masks, split_flat
from pruning.measure import prunable_weights
from pruning.methods import PRUNERS


@PRUNERS.register("random")
class RandomPruner(Pruner):
    """Prune a uniformly random subset of all prunable weights (seeded by the caller's RNG)."""

    name = "random"

    def prune(
        self,
        model: nn.Module,
        sparsity: float,
        *,
        example_input: torch.Tensor,
        rewind_state: dict[str, torch.Tensor] | None = None,
        ignored_layers: Sequence[nn.Module] = (),
    ) -> PruneResult:
        params = prunable_weights(model)
        total = sum(p.numel() for _, p in params)
        k = int(round(check_sparsity(sparsity) * total))
        keep = torch.ones(total, dtype=torch.bool)
        keep[torch.randperm(total)[:k]] = False
        masks = split_flat(keep, params)
        apply_masks(model, masks)
        return PruneResult(model, masks, structured=False)
