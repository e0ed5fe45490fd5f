"""Data sets (registry), held in memory as uint8 tensors, with a seeded validation split."""

from __future__ import annotations

import gzip
import shutil
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pruning.registry import Registry
from trainables.config import DataConfig


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


@dataclass(frozen=True)
class DataSplits:
    """Train / validation / test splits of one seed, uint8 NCHW images, int64 labels."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    mean: tuple[float, ...]
    std: tuple[float, ...]
    num_classes: int
    in_channels: int
    class_names: tuple[str, ...]


Loader = Callable[[Path, bool], RawData]
DATASETS: Registry[Loader] = Registry("dataset")
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def _from_cifar_like(train, test, mean, std) -> RawData:  # noqa: ANN001 - torchvision datasets
    def convert(ds) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: ANN001
        x = torch.from_numpy(np.ascontiguousarray(ds.data.transpose(0, 3, 1, 2)))
        return x, torch.tensor(ds.targets, dtype=torch.int64)

    tx, ty = convert(train)
    vx, vy = convert(test)
    return RawData(tx, ty, vx, vy, mean, std, tuple(train.classes))


@DATASETS.register("cifar10")
def cifar10(data_dir: Path, download: bool) -> RawData:
    """CIFAR-10 via torchvision (downloaded into ``data_dir`` when missing and allowed)."""
    from torchvision.datasets import CIFAR10

    hint = (f"CIFAR-10 not found in {data_dir} and could not be downloaded; put "
            f"cifar-10-python.tar.gz or the extracted cifar-10-batches-py/ folder there")
    try:
        train = CIFAR10(str(data_dir), train=True, download=download)
        test = CIFAR10(str(data_dir), train=False, download=False)
    except (urllib.error.URLError, OSError, RuntimeError) as exc:
        detail = "offline?" if isinstance(exc, urllib.error.URLError | OSError) else "missing"
        raise DataUnavailableError(f"{hint} ({detail})") from None
    return _from_cifar_like(train, test, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))


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
    return _from_cifar_like(train, test, mean, std)


@DATASETS.register("fashion_mnist")
def fashion_mnist(data_dir: Path, download: bool) -> RawData:
    """Fashion-MNIST via torchvision, from Debian's copy when installed; padded to 32x32 and
    replicated to 3 channels (a model built with ``in_channels=1`` could take one channel)."""
    from torchvision.datasets import FashionMNIST

    raw = data_dir / "FashionMNIST" / "raw"
    names = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte")
    if DEBIAN_FASHION_MNIST.is_dir() and not all((raw / n).is_file() for n in names):
        raw.mkdir(parents=True, exist_ok=True)
        for name in names:
            src = DEBIAN_FASHION_MNIST / f"{name}.gz"
            if src.is_file():
                with gzip.open(src, "rb") as fin, (raw / name).open("wb") as fout:
                    shutil.copyfileobj(fin, fout)
    try:
        train = FashionMNIST(str(data_dir), train=True, download=download)
        test = FashionMNIST(str(data_dir), train=False, download=False)
    except (urllib.error.URLError, OSError, RuntimeError):
        raise DataUnavailableError(
            f"Fashion-MNIST not found in {data_dir} or {DEBIAN_FASHION_MNIST} and could not be "
            "downloaded; install Debian's dataset-fashion-mnist or put the idx files in "
            f"{raw}") from None

    def convert(ds) -> torch.Tensor:  # noqa: ANN001
        x = torch.nn.functional.pad(ds.data, (2, 2, 2, 2))  # 28x28 -> 32x32, zero border
        return x[:, None].expand(-1, 3, -1, -1).contiguous()

    return RawData(convert(train), train.targets.long(), convert(test), test.targets.long(),
                   (0.2860,) * 3, (0.3530,) * 3, tuple(train.classes))


def _pick(n: int, size: int | None, generator: torch.Generator, what: str, pool: int
          ) -> torch.Tensor:
    if size is None:
        return torch.randperm(n, generator=generator)
    if size > pool:
        raise ValueError(f"data.{what}: {size} asked for, only {pool} available")
    return torch.randperm(n, generator=generator)[:size]


def load_splits(cfg: DataConfig, seed: int, data_dir: str | Path, download: bool = True
                ) -> DataSplits:
    """Load ``cfg.name`` and cut a validation split and subsets, all fixed by ``seed``.

    The validation split is held out of the training set: ``val_size`` images, by default 10%
    of the training pool (5,000 for CIFAR-10), or 10% of ``train_size`` when a subset is used.
    """
    raw = DATASETS.get(cfg.name)(Path(data_dir), download)
    g = torch.Generator().manual_seed(seed)
    n = len(raw.train_y)
    order = torch.randperm(n, generator=g)
    if cfg.val_size is not None:
        n_val = cfg.val_size
    elif cfg.train_size is not None:
        n_val = max(1, round(cfg.train_size * raw.val_fraction))
    else:
        n_val = round(n * raw.val_fraction)
    if n_val >= n:
        raise ValueError(f"data.val_size: {n_val} leaves no training images (of {n})")
    val_idx, pool = order[:n_val], order[n_val:]
    if cfg.train_size is not None:
        if cfg.train_size > len(pool):
            raise ValueError(f"data.train_size: {cfg.train_size} asked for, only {len(pool)} "
                             f"available after the validation split")
        pool = pool[: cfg.train_size]
    test_idx = _pick(len(raw.test_y), cfg.test_size, g, "test_size", len(raw.test_y))
    return DataSplits(
        raw.train_x[pool], raw.train_y[pool], raw.train_x[val_idx], raw.train_y[val_idx],
        raw.test_x[test_idx], raw.test_y[test_idx], raw.mean, raw.std,
        num_classes=len(raw.class_names), in_channels=raw.train_x.shape[1],
        class_names=raw.class_names,
    )
