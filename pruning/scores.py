"""Importance scores of prunable weights: plain functions, larger = more important."""

from __future__ import annotations

import torch
from torch import nn

from pruning.masks import split_flat
from pruning.measure import prunable_weights


def magnitude(model: nn.Module) -> dict[str, torch.Tensor]:
    """|w| of every prunable weight (Han et al. 2015; the criterion of global magnitude,
    lottery tickets, IMP and GMP)."""
    return {name: p.detach().abs() for name, p in prunable_weights(model)}


def random(model: nn.Module, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Random scores: the ranks of one uniform permutation over all prunable weights, so the
    lowest-k are a uniformly random subset (the control any criterion must beat)."""
    params = prunable_weights(model)
    total = sum(p.numel() for _, p in params)
    ranks = torch.empty(total)
    ranks[torch.randperm(total, generator=generator)] = torch.arange(total, dtype=torch.float)
    return split_flat(ranks, [(n, p) for n, p in params])
