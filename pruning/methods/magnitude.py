"""``magnitude``: global magnitude pruning, one shot, then fine-tuning."""

from __future__ import annotations

from pruning.methods import register
from pruning.methods._oneshot import OneShotMethod


@register("magnitude")
class Magnitude(OneShotMethod):
    """Zero the globally smallest |w| over every Conv2d and Linear weight of the trained dense
    model at once, then fine-tune with the mask fixed (Han et al. 2015, "Learning both Weights
    and Connections for Efficient Neural Networks"; the global L1 method of the ResNet18 /
    CIFAR-10 comparison this project started from). Score ``magnitude``, allocation
    ``global``."""

    score = "magnitude"
    allocation = "global"
