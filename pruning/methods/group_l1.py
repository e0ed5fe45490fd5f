"""``group_l1``: group-magnitude channel pruning (the criterion of earlier ``structured``)."""

from __future__ import annotations

from pruning.methods import register
from pruning.methods._channel import ChannelMethod


@register("group_l1")
class GroupL1(ChannelMethod):
    """Channels ranked by torch-pruning's group magnitude (Fang et al. 2023, "DepGraph"): the
    mean over every tensor slice a channel owns (its filters, the next layers' input slices,
    the BatchNorm |gamma|) of the slice's L1 norm, normalized by its layer's mean; the lowest
    are removed, then the network is fine-tuned."""

    score = "group_l1"
