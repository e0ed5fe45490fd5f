"""Rounds of iterative methods (IMP) in the shared cache: ``<storage>/rounds/<chain>-rNNN/``.

A round's trained weights and masks depend only on the dense baseline, the method and its
parameters, and the retraining recipe, not on the final target: a trial at 0.9 continues from
the rounds a trial at 0.5 of the same seed already trained (Frankle & Carbin 2019 train one
chain of levels too; open_lth caches each level under its own path)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pruning.methods.base import Method
from trainables.cache_entry import CacheEntry
from trainables.config import DenseConfig, Recipe, config_hash, to_dict
from trainables.shared_storage import SharedStorage


@dataclass(frozen=True)
class RoundChain:
    """What a chain of rounds depends on; parameters at their defaults are left out, so
    spelling a default out does not start a new chain."""

    dense: DenseConfig
    method: str
    method_params: tuple[tuple[str, Any], ...]
    retrain: Recipe

    @classmethod
    def of(cls, dense: DenseConfig, method: Method, retrain: Recipe) -> RoundChain:
        """The chain ``method`` runs on ``dense`` with ``retrain``."""
        defaults = dict(type(method.params)().items())
        changed = tuple((k, v) for k, v in method.params.items() if defaults.get(k) != v)
        return cls(dense, method.name, changed, retrain)


class RoundCache(CacheEntry):
    """Round ``index`` (0-based) of a chain: ``weights`` (the trained state dict), ``masks``
    and the round's metrics."""

    def __init__(self, storage: SharedStorage | str | Path, chain: RoundChain,
                 index: int) -> None:
        key = f"{config_hash(chain)}-r{index + 1:03d}"
        super().__init__(storage, "rounds", key,
                         {**to_dict(chain), "round": index + 1})
        self.index = index

