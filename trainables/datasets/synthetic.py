"""A generated, learnable data set in CIFAR-10's on-disk format (tests, smoke sweeps)."""

from __future__ import annotations

from pathlib import Path

from trainables.datasets import DATASETS
from trainables.datasets.base import DataUnavailableError, RawData, from_cifar_like


@DATASETS.register("synthetic")
def synthetic(data_dir: Path, download: bool) -> RawData:
    """The generated CIFAR-format set (see ``trainables.synthetic``), read by torchvision."""
    from trainables.synthetic import SyntheticCIFAR10, ensure_synthetic

    root = ensure_synthetic(data_dir)
    try:
        train = SyntheticCIFAR10(str(root), train=True, download=False)
        test = SyntheticCIFAR10(str(root), train=False, download=False)
    except (OSError, RuntimeError, ValueError, KeyError) as exc:
        raise DataUnavailableError(f"synthetic data in {root} is unreadable ({exc}); "
                                   "delete that folder to regenerate it") from None
    mean = tuple(float(m) for m in (train.data / 255.0).mean(axis=(0, 1, 2)))
    std = tuple(float(s) for s in (train.data / 255.0).std(axis=(0, 1, 2)))
    return from_cifar_like(train, test, mean, std)
