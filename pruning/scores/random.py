"""``random``: a uniformly random order of all prunable weights."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from pruning.masks import split_flat
from pruning.measure import prunable_weights
from pruning.scores import SCORES


@SCORES.register("random")
def random(model: nn.Module, ctx: Any) -> dict[str, torch.Tensor]:
    """Random scores from ``ctx.generator``: the ranks of one uniform permutation over all
    prunable weights, so the lowest k of all, or of any one layer, are a uniformly random
    subset (the control any criterion must beat)."""
    params = prunable_weights(model)
    total = sum(p.numel() for _, p in params)
    ranks = torch.empty(total)
    ranks[torch.randperm(total, generator=ctx.generator)] = torch.arange(total,
                                                                          dtype=torch.float)
    return split_flat(ranks, [(n, p) for n, p in params])
