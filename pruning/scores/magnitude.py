"""``magnitude``: |w|."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from pruning.measure import prunable_weights
from pruning.scores import SCORES


@SCORES.register("magnitude")
def magnitude(model: nn.Module, ctx: Any = None) -> dict[str, torch.Tensor]:
    """|w| of every prunable weight (Han et al. 2015; the criterion of global magnitude,
    lottery tickets, IMP, GMP, and the drop criterion of dynamic sparse training)."""
    return {name: p.detach().abs() for name, p in prunable_weights(model)}
