"""Group-level sparse regularization (Fang et al. 2023, "DepGraph: Towards Any Structural
Pruning", section 3.3), applied to gradients after ``loss.backward()``.

The penalty is lambda/2 * sum_g gamma_g * ||w_g||^2 over each channel g of each group, where
w_g is every parameter slice of the channel (filters, input slices of the readers, BatchNorm
scales) and gamma_g = alpha ** ((max - n_g) / (max - min)) grows from 1 for the group's largest
norm n_g to alpha for its smallest, so weak channels are pushed to zero harder than strong
ones (torch-pruning's ``GroupNormPruner.regularize`` uses the same form)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from pruning.channels.groups import ChannelGroup
from pruning.channels.scores import group_norm


@torch.no_grad()
def add_group_penalty(model: nn.Module, groups: Sequence[ChannelGroup], reg: float,
                      alpha: float) -> None:
    """Add the gradient of the group penalty to every parameter's ``.grad``, in place."""
    modules = dict(model.named_modules())
    for g in groups:
        norms = group_norm(model, g)
        spread = (norms.max() - norms.min()).clamp_min(1e-12)
        gamma = alpha ** ((norms.max() - norms) / spread)
        for name in g.producers:
            w = modules[name].weight
            if w.grad is not None:
                w.grad.add_(w * (reg * gamma.to(w.device)).view(-1, *([1] * (w.dim() - 1))))
        for name in g.consumers:
            w = modules[name].weight
            if w.grad is None:
                continue
            per = w.shape[1] // g.size  # inputs per channel (a Linear after a flatten)
            scale = (reg * gamma.to(w.device)).repeat_interleave(per)
            w.grad.add_(w * scale.view(1, -1, *([1] * (w.dim() - 2))))
        for name in g.norms:
            w = modules[name].weight
            if w is not None and w.grad is not None:
                w.grad.add_(w * reg * gamma.to(w.device))
