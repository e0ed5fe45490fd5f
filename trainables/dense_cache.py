"""The shared dense-baseline cache: ``<storage>/dense/<config hash>/``.

Holds theta_0 (init), theta_k (rewind) and the best-validation weights (final), plus metrics
and a checksum manifest (see ``trainables.cache_entry``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from trainables.cache_entry import MIRROR_ENV, CacheEntry, CorruptCacheError
from trainables.config import DenseConfig, config_hash, to_dict
from trainables.shared_storage import SharedStorage

WEIGHTS = ("init", "rewind", "final")

__all__ = ["MIRROR_ENV", "WEIGHTS", "CorruptCacheError", "DenseCache"]


class DenseCache(CacheEntry):
    """One dense baseline's cache entry, named by the hash of its DenseConfig."""

    def __init__(self, storage: SharedStorage | str | Path, cfg: DenseConfig) -> None:
        super().__init__(storage, "dense", config_hash(cfg), to_dict(cfg))
        self.cfg = cfg

    def weights(self, which: str) -> dict[str, torch.Tensor]:
        """Load ``init``, ``rewind`` or ``final`` weights."""
        if which not in WEIGHTS:
            raise ValueError(f"unknown dense weights {which!r} (known: {', '.join(WEIGHTS)})")
        return self.load(which)

    def write(self, tensors: dict[str, Any], metrics: dict[str, Any],
              info: dict[str, Any] | None = None) -> bool:
        """Publish the three weight sets and the metrics (False if a valid entry existed)."""
        missing = set(WEIGHTS) - set(tensors)
        if missing:
            raise ValueError(f"dense cache write lacks {sorted(missing)}")
        return super().write(tensors, metrics, info)
