"""``snip``: connection sensitivity |g * w| on calibration batches."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from pruning.measure import prunable_weights
from pruning.scores import SCORES


@SCORES.register("snip")
def snip(model: nn.Module, ctx: Any, batches: int = 1) -> dict[str, torch.Tensor]:
    """SNIP's connection sensitivity (Lee et al. 2019, "SNIP: Single-shot Network Pruning
    based on Connection Sensitivity"): |g * w|, g the gradient of the cross-entropy loss with
    respect to the weight, on ``batches`` calibration batches (``ctx.calibration``; the paper
    uses one minibatch; with more, g is the mean of the batches' gradients). It is |dL/dc| at
    c = 1 for a multiplicative gate c on every connection; the paper's normalization by the
    sum of all scores does not change the ranking and is left out.

    The gradient is taken on a deep copy of ``model`` in training mode (batch statistics, as
    in the training that follows), moved to the batches' device, so the model's weights,
    gradients and BatchNorm running statistics stay as they were. Scores come back on the
    device of the model's parameters."""
    if batches < 1:
        raise ValueError(f"batches: must be at least 1, got {batches}")
    devices = {name: p.device for name, p in prunable_weights(model)}
    probe = copy.deepcopy(model).train()
    seen = 0
    with torch.enable_grad():  # whatever the caller's mode
        for inputs, labels in ctx.calibration(batches):
            if seen == 0:  # the copy goes where the batches are
                probe.to(inputs.device)
                for p in probe.parameters():
                    p.grad = None
                for _, p in prunable_weights(probe):
                    p.requires_grad_(True)
            nn.functional.cross_entropy(probe(inputs).float(), labels).backward()  # adds up
            seen += 1
    if seen == 0:
        raise ValueError("snip: the calibration data gave no batch")
    out = {}
    for name, p in prunable_weights(probe):
        grad = p.grad if p.grad is not None else torch.zeros_like(p)
        out[name] = (grad.detach() / seen * p.detach()).abs().to(devices[name])
    return out
