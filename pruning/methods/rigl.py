"""``rigl``: Rigged Lottery, gradient-based regrowth."""

from __future__ import annotations

from dataclasses import dataclass

from pruning.methods import register
from pruning.methods._dynamic import DynamicParams, DynamicSparseMethod


@dataclass(frozen=True)
class RiglParams(DynamicParams):
    """The paper's defaults: ERK, alpha = ``drop_fraction`` 0.3, updates every 100 steps
    (``update_every``) until 75% of training (``end``)."""

    end: float = 0.75


@register("rigl")
class Rigl(DynamicSparseMethod):
    """RigL (Evci et al. 2020, "Rigging the Lottery: Making All Tickets Winners"): ERK
    allocation; every Delta-T steps until T_end, each layer drops the
    f(t) = alpha / 2 (1 + cos(pi t / T_end)) fraction of its active connections with the
    smallest magnitude and grows as many where the dense gradient is largest, new connections
    starting at zero. SET with grow score ``gradient`` and drop schedule ``cosine``."""

    Params = RiglParams
    grow_score = "gradient"
    drop_schedule = "cosine"
