"""Test plugin: ``pooling_only``, a model without any Conv2d or Linear layer (class scores
from channel means through a bare parameter), for the check that refuses to sparsify it."""

from __future__ import annotations

import torch
from torch import nn

from trainables.models import MODELS


class PoolingOnly(nn.Module):
    """Logits = channel means @ a parameter matrix: learnable, but nothing to prune."""

    def __init__(self, num_classes: int, in_channels: int) -> None:
        super().__init__()
        self.scores = nn.Parameter(torch.randn(in_channels, num_classes) * 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3)) @ self.scores


@MODELS.register("pooling_only")
def pooling_only(num_classes: int = 10, width: float = 1.0, in_channels: int = 3) -> nn.Module:
    """The model above; ``width`` is ignored."""
    return PoolingOnly(num_classes, in_channels)
