"""``unpruned``: the control, the dense model retrained without pruning."""

from __future__ import annotations

from pruning.methods import register
from pruning.methods.base import Method, Traits


@register("unpruned")
class Unpruned(Method):
    """The dense model retrained for the same epochs as the pruned ones, at sparsity 0, so that
    "pruning beat dense" can be told apart from "more training helped" (Blalock et al. 2020;
    Renda et al. 2020). A sweep adds one such cell per seed whatever its sparsities."""

    traits = Traits(fixed_sparsity=0.0)
