"""``lamp``: Layer-Adaptive Magnitude-based Pruning, one shot, then fine-tuning."""

from __future__ import annotations

from pruning.methods import register
from pruning.methods._oneshot import OneShotMethod


@register("lamp")
class Lamp(OneShotMethod):
    """LAMP (Lee et al. 2021, "Layer-adaptive sparsity for the magnitude-based pruning",
    ICLR): every weight of the trained dense model scored by its squared magnitude over the sum
    of the squares of the weights of its layer at least as large, the globally lowest scores
    pruned at once, then fine-tuning with the mask fixed, as ``magnitude``. Every layer's
    largest weight scores 1, so no layer is emptied. Score ``lamp``, allocation ``global``."""

    score = "lamp"
    allocation = "global"
