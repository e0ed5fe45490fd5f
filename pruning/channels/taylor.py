"""First-order Taylor channel importance on calibration batches (Molchanov et al. 2019): the
gradient pass that the ``taylor`` criterion (``pruning.channels.scores.taylor``) reads, once per
minibatch, averaged over the minibatches."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence

import torch
from torch import nn

from pruning.channels.groups import ChannelGroup
from pruning.channels.scores import taylor


def taylor_importance(
    model: nn.Module,
    groups: Sequence[ChannelGroup],
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
) -> dict[str, torch.Tensor]:
    """Per group name, each channel's ``taylor`` importance ``(sum of g * w)^2``, g the
    gradient of the cross-entropy loss on one (inputs, labels) batch, averaged over
    ``batches``: the paper's estimate, whose importance is computed per minibatch and averaged
    over minibatches. Averaging the gradients first would not do: a trained model sits near a
    minimum, so the mean gradient shrinks toward zero as batches are added and its square
    would rank what is left of minibatch noise; the mean of the squares keeps each channel's
    sensitivity (an empirical-Fisher estimate of the loss change).

    The gradients are taken on a deep copy of ``model`` in training mode (batch statistics,
    as in the training loss), moved to the batches' device, so the model's weights, gradients,
    BatchNorm running statistics and mode stay as they were. Scores are on the CPU."""
    probe = copy.deepcopy(model).train()
    for p in probe.parameters():
        p.requires_grad_(True)
    totals = {g.name: torch.zeros(g.size) for g in groups}
    seen = 0
    with torch.enable_grad():  # whatever the caller's mode
        for inputs, labels in batches:
            if seen == 0:  # the copy goes where the batches are
                probe.to(inputs.device)
            probe.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(probe(inputs).float(), labels).backward()
            for g in groups:
                totals[g.name] += taylor(probe, g)
            seen += 1
    if seen == 0:
        raise ValueError("taylor: the calibration data gave no batch")
    return {name: total / seen for name, total in totals.items()}
