"""Calibration batches for data-aware scores (SNIP, Taylor): training images, normalized as
the training loop normalizes them, without augmentation, in an order drawn from a stream of
their own, so the same trial seed always scores on the same batches and methods that never
ask for them see the same random numbers as before."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from pruning.methods.base import Calibration
from trainables.augment import iterate_batches
from trainables.data import DataSplits

# Offsets the calibration stream from the seed's other streams (model init, data order).
_STREAM = 0x5EED_CA1B


def calibration_source(splits: DataSplits, batch_size: int, seed: int,
                       device: torch.device) -> Calibration:
    """``calibration(k)``: the first ``k`` batches of one seeded shuffle of the training
    split, on ``device``; asking again restarts the same sequence."""

    def batches(k: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if k < 1:
            raise ValueError(f"calibration needs at least one batch, got {k}")
        generator = torch.Generator().manual_seed(_STREAM + int(seed))
        stream = iterate_batches(splits.train_x, splits.train_y, batch_size, shuffle=True,
                                 generator=generator, augment=False, mean=splits.mean,
                                 std=splits.std, device=device)
        for _, batch in zip(range(k), stream, strict=False):
            yield batch

    return batches
