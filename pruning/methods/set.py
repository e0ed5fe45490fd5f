"""``set``: Sparse Evolutionary Training."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pruning.dynamic_method import DynamicParams, DynamicSparseMethod
from pruning.methods import register


@dataclass(frozen=True)
class SetParams(DynamicParams):
    """SET's zeta = ``drop_fraction`` (0.3), ERK allocation (the convolutional form of the
    paper's Erdős–Rényi), one update per epoch."""


@register("set")
class Set(DynamicSparseMethod):
    """Sparse Evolutionary Training (Mocanu et al. 2018, "Scalable training of artificial
    neural networks with adaptive sparse connectivity inspired by network science"): every
    update (once per epoch by default) each layer drops the fraction zeta of its active
    connections closest to zero (the smallest positive and largest negative weights, i.e. the
    smallest magnitudes) and regrows as many at random inactive positions, starting at zero.
    Per-layer counts never change."""

    Params = SetParams
    paper_interval = None

    def update(self, step: int, model: Any, masks: dict[str, Any]) -> Any:
        from pruning.regrowth import combine, drop_lowest, grow_random

        counts = self.drop_counts(masks, self.params.drop_fraction)
        weights = self.weights(model, list(masks))
        after = drop_lowest({n: w.abs() for n, w in weights.items()}, masks, counts)
        return combine(after, grow_random(after, counts, self.generator))
