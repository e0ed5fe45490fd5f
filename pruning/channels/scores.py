"""Importance of channels (filters), per channel group: larger = more important.

Each criterion is a plain function of the model and one ``ChannelGroup``; structured methods
pick one by name (``CHANNEL_SCORES``). In a residual-coupled group the "filters" of a channel
are those of every producing layer; criteria defined on one layer's filters use the group's
first producer, which is the layer itself in a group without couplings."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from pruning.channels.groups import ChannelGroup


def _filters(model: nn.Module, layer: str) -> torch.Tensor:
    """The layer's filters, one row per output channel."""
    w = dict(model.named_modules())[layer].weight.detach()
    return w.flatten(1).float()


def l1_filter(model: nn.Module, group: ChannelGroup) -> torch.Tensor:
    """Li et al. 2017 ("Pruning Filters for Efficient ConvNets"): the sum of absolute kernel
    weights of each filter of the layer that produces the channel."""
    return _filters(model, group.producers[0]).abs().sum(1)


def l2_filter(model: nn.Module, group: ChannelGroup) -> torch.Tensor:
    """He et al. 2018 (soft filter pruning, "SFP"): the L2 norm of each filter."""
    return _filters(model, group.producers[0]).norm(p=2, dim=1)


def l2_folded(model: nn.Module, group: ChannelGroup) -> torch.Tensor:
    """The L2 norm of each filter with its BatchNorm folded in (the filter a deployed network
    runs): ``||w|| * |gamma| / sqrt(running_var + eps)``; the plain L2 norm where no
    BatchNorm follows. BatchNorm makes a filter's own scale meaningless, and hands a filter
    zeroed by soft pruning a very large first gradient (its batch variance is 0), which
    the plain norm would mistake for importance."""
    producer = group.producers[0]
    norm = _filters(model, producer).norm(p=2, dim=1)
    bn = next((b for p, b in group.normalized_by if p == producer), None)
    if bn is None:
        return norm
    layer = dict(model.named_modules())[bn]
    scale = layer.weight.detach().abs().float() if layer.weight is not None else 1.0
    return (norm * scale / torch.sqrt(layer.running_var.float() + layer.eps)).cpu()


def fpgm(model: nn.Module, group: ChannelGroup) -> torch.Tensor:
    """He et al. 2019 ("Filter Pruning via Geometric Median"): each filter's summed Euclidean
    distance to the layer's other filters. Filters near the geometric median (small sums) are
    the most replaceable by the others and go first. Coupled producers add their sums."""
    total = torch.zeros(group.size)
    for layer in group.producers:
        f = _filters(model, layer)
        total += torch.cdist(f[None], f[None], p=2)[0].sum(1).cpu()
    return total


def _slices(model: nn.Module, group: ChannelGroup) -> list[tuple[str, torch.Tensor]]:
    """(role, per-channel slice rows) of every parameter tensor in the group."""
    modules = dict(model.named_modules())
    out = []
    for name in group.producers:
        out.append(("out", modules[name].weight.detach().flatten(1).float()))
    for name in group.consumers:
        w = modules[name].weight.detach().float()
        # Rows per channel; a Linear after a flatten reads several inputs per channel.
        w = w.transpose(0, 1).reshape(group.size, -1)
        out.append(("in", w))
    for name in group.norms:
        out.append(("norm", modules[name].weight.detach().float()[:, None]))
    return out


def group_l1(model: nn.Module, group: ChannelGroup) -> torch.Tensor:
    """torch-pruning's group magnitude (``GroupMagnitudeImportance(p=1)``, the criterion of
    earlier releases of ``structured``): the mean over the group's tensors of each channel's L1
    (the producers' filters, the readers' input slices and the BatchNorm |gamma|), divided by
    its mean over the channels."""
    parts = [rows.abs().sum(1).cpu() for _, rows in _slices(model, group)]
    score = torch.stack(parts).mean(0)
    return score / score.mean().clamp_min(1e-12)


def group_norm(model: nn.Module, group: ChannelGroup) -> torch.Tensor:
    """Fang et al. 2023 (DepGraph): the L2 norm of all parameters of a channel across the
    group (producers' filters, readers' input slices, BatchNorm scales)."""
    parts = [rows.pow(2).sum(1).cpu() for _, rows in _slices(model, group)]
    return torch.stack(parts).sum(0).sqrt()


def taylor(model: nn.Module, group: ChannelGroup) -> torch.Tensor:
    """Molchanov et al. 2019 ("Importance Estimation for Neural Network Pruning"), first-order
    Taylor importance on the gradients the model's parameters hold (one minibatch's
    ``loss.backward()``): ``(sum of g * w)^2`` over the parameters that write the channel, the
    producers' filter weights and biases and the BatchNorm gamma and beta: the squared
    first-order change of the loss when they are all zeroed, which silences the channel. The
    readers' input slices are left out: they read a channel that is already zero, so counting
    them would count one removal twice. The ``taylor`` method averages this over calibration
    batches (``pruning.channels.taylor``); without gradients it raises ValueError."""
    modules = dict(model.named_modules())
    total = None
    for layer in (*group.producers, *group.norms):
        for attr in ("weight", "bias"):
            p = getattr(modules[layer], attr, None)
            if p is None:
                continue
            if p.grad is None:
                raise ValueError(f"taylor: {layer}.{attr} has no gradient: the criterion reads "
                                 "those of a backward pass (the taylor method's calibration)")
            part = (p.grad.detach() * p.detach()).float().reshape(group.size, -1).sum(1)
            total = part if total is None else total + part
    if total is None:
        raise ValueError(f"taylor: group {group.name!r} has no parameters")
    return total.pow(2).cpu()


CHANNEL_SCORES: dict[str, Callable[[nn.Module, ChannelGroup], torch.Tensor]] = {
    "l1_filter": l1_filter,
    "l2_filter": l2_filter,
    "l2_folded": l2_folded,
    "fpgm": fpgm,
    "group_l1": group_l1,
    "group_norm": group_norm,
    "taylor": taylor,
}
