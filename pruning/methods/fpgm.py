"""``fpgm``: filter pruning via geometric median, one shot, then fine-tuning."""

from __future__ import annotations

from pruning.methods import register
from pruning.methods._channel import ChannelMethod


@register("fpgm")
class Fpgm(ChannelMethod):
    """Filter Pruning via Geometric Median (He et al. 2019): in each layer, the filters whose
    summed Euclidean distance to the layer's other filters is smallest lie nearest the
    geometric median, so the others can stand in for them; those are removed first, whatever
    their norm. One shot on the trained model, then fine-tuning (the paper also prunes softly
    during training; ``sfp`` is that schedule with a norm criterion)."""

    score = "fpgm"
