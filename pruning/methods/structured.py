"""``structured``: Li et al.'s L1-norm filter pruning, channels physically removed."""

from __future__ import annotations

from pruning.methods import register
from pruning.methods._channel import ChannelMethod


@register("structured")
class Structured(ChannelMethod):
    """Pruning Filters for Efficient ConvNets (Li et al. 2017): rank each layer's filters by
    the sum of their absolute kernel weights and remove the smallest, the same fraction in
    every layer by default, then fine-tune. The fraction is solved so that the *parameter*
    sparsity hits the target. torch-pruning removes every coupled slice with a filter (its
    BatchNorm channel, the next layers' input channels, residual-coupled layers), leaving a
    smaller dense network. In a residual-coupled group the criterion reads the group's first
    producing layer; Li et al. left those layers unpruned (``exclude`` does the same).
    Earlier releases ranked by the group magnitude: that criterion is now ``group_l1``."""

    score = "l1_filter"
