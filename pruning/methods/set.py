"""``set``: Sparse Evolutionary Training."""

from __future__ import annotations

from dataclasses import dataclass

from pruning.methods import register
from pruning.methods._dynamic import DynamicParams, DynamicSparseMethod


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
    Per-layer counts never change. Grow score ``random``, drop schedule ``constant``."""

    Params = SetParams
    paper_interval = None
    grow_score = "random"
    drop_schedule = "constant"
