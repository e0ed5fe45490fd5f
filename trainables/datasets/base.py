"""What a data set loader returns, and the one error it raises for data that cannot be had."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


class DataUnavailableError(RuntimeError):
    """Data that cannot be had (missing offline, corrupted): its message is one line."""


@dataclass(frozen=True)
class RawData:
    """A data set as loaded: uint8 NCHW images and int64 labels, plus normalization stats."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    mean: tuple[float, ...]
    std: tuple[float, ...]
    class_names: tuple[str, ...]
    val_fraction: float = 0.1


def from_cifar_like(train: Any, test: Any, mean: tuple[float, ...], std: tuple[float, ...]
                    ) -> RawData:
    """RawData from two torchvision CIFAR-style data sets (HWC uint8 ``data``, ``targets``)."""
    import numpy as np
    import torch

    def convert(ds: Any) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.from_numpy(np.ascontiguousarray(ds.data.transpose(0, 3, 1, 2)))
        return x, torch.tensor(ds.targets, dtype=torch.int64)

    tx, ty = convert(train)
    vx, vy = convert(test)
    return RawData(tx, ty, vx, vy, mean, std, tuple(train.classes))
