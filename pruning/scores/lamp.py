"""``lamp``: Layer-Adaptive Magnitude-based Pruning scores."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from pruning.measure import prunable_weights
from pruning.scores import SCORES


def lamp_scores(weight: torch.Tensor) -> torch.Tensor:
    """LAMP scores of one layer (Lee et al. 2021, eq. 2): with the weights sorted ascending by
    w^2 (ties by position), score(u) = w_u^2 / sum_{v >= u} w_v^2, the sum over u and every
    weight after it in that order. The layer's largest weight scores 1, so a global threshold
    below 1 never empties a layer. As in the reference code (``_normalize_scores``), tied
    weights get different scores by their place in the order. Computed in float64 (suffix sums
    from the end, not total minus prefix, which cancels badly); a weight whose suffix sum is 0
    (all of the layer's remaining weights are zero) scores 0."""
    sq = weight.detach().double().flatten() ** 2
    ordered, order = torch.sort(sq, stable=True)
    suffix = torch.flip(torch.cumsum(torch.flip(ordered, (0,)), 0), (0,))
    normalized = torch.where(suffix > 0, ordered / suffix.clamp_min(torch.finfo(sq.dtype).tiny),
                             torch.zeros_like(ordered))
    out = torch.empty_like(normalized)
    out[order] = normalized
    return out.view(weight.shape).to(torch.float32)


@SCORES.register("lamp")
def lamp(model: nn.Module, ctx: Any = None) -> dict[str, torch.Tensor]:
    """LAMP scores of every prunable weight: magnitude normalized within its layer by the
    weights at least as large, comparable across layers so that one global threshold gives
    layer-adaptive sparsities (Lee et al. 2021, "Layer-adaptive sparsity for the
    magnitude-based pruning")."""
    return {name: lamp_scores(p) for name, p in prunable_weights(model)}
