"""Allocations: how many weights each layer keeps, given scores and a target sparsity."""

from __future__ import annotations

import torch

from pruning.masks import split_flat


def global_masks(
    scores: dict[str, torch.Tensor],
    sparsity: float,
    alive: dict[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """Keep-masks pruning exactly ``round(sparsity * total)`` of the lowest scores over all
    layers together. Weights already dead in ``alive`` stay dead (pruned first), so repeated
    calls at rising sparsity are monotone. Ties are broken by position (deterministic)."""
    names = list(scores)
    flat = torch.cat([scores[n].detach().flatten().float() for n in names])
    if alive is not None:
        dead = ~torch.cat([alive[n].flatten().to(flat.device, torch.bool) for n in names])
        flat = flat.masked_fill(dead, float("-inf"))
    k = int(round(sparsity * flat.numel()))
    keep = torch.ones(flat.numel(), dtype=torch.bool, device=flat.device)
    if k > 0:
        # A stable sort ranks equal scores by position, so exactly k weights go.
        keep[torch.sort(flat, stable=True).indices[:k]] = False
    return split_flat(keep, [(n, scores[n]) for n in names])
