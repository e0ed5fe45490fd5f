"""Data: a registered data set (``trainables.datasets``) held in memory as uint8 tensors, cut
into train / validation / test splits fixed by the seed."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

import torch

from trainables.config import DataConfig
from trainables.datasets import DATASETS, DataUnavailableError, Loader
from trainables.datasets.base import RawData

__all__ = ["DATASETS", "DataSplits", "DataUnavailableError", "Loader", "RawData", "load_splits"]


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


def _pick(n: int, size: int | None, generator: torch.Generator, what: str, pool: int
          ) -> torch.Tensor:
    if size is None:
        return torch.randperm(n, generator=generator)
    if size > pool:
        raise ValueError(f"data.{what}: {size} asked for, only {pool} available")
    return torch.randperm(n, generator=generator)[:size]


def _load_raw(name: str, data_dir: Path, download: bool, quiet: bool) -> RawData:
    """The registered loader's data. ``quiet`` (trials: the driver prepared the data before
    they started) reads what is there without downloading, and only where it is missing (a
    node without the driver's data directory) and ``download`` allows, downloads it with the
    loader's output (torchvision's progress bars) swallowed, saying so in one line."""
    loader = DATASETS.get(name)
    if not quiet:
        return loader(data_dir, download)
    try:
        return loader(data_dir, False)
    except DataUnavailableError:
        if not download:
            raise
    from filelock import FileLock

    data_dir.mkdir(parents=True, exist_ok=True)
    # One download per node: trials starting together wait for the first one's.
    with FileLock(str(data_dir / f".{name}.download.lock")):
        try:
            return loader(data_dir, False)
        except DataUnavailableError:
            pass
        print(f"data {name}: not in {data_dir} on this node; downloading it there", flush=True)
        with contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            return loader(data_dir, True)


def load_splits(cfg: DataConfig, seed: int, data_dir: str | Path, download: bool = True,
                quiet: bool = False) -> DataSplits:
    """Load ``cfg.name`` and cut a validation split and subsets, all fixed by ``seed``.

    The validation split is held out of the training set: ``val_size`` images, by default 10%
    of the training pool (5,000 for CIFAR-10), or 10% of ``train_size`` when a subset is used.
    ``quiet`` is for trials, which never print a download progress bar: the data is read
    without downloading, and fetched silently only where it is missing (``_load_raw``).
    """
    raw = _load_raw(cfg.name, Path(data_dir), download, quiet)
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
