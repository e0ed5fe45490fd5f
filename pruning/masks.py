"""Unstructured masks: global magnitude ranking, applying, keeping pruned weights at zero."""

from __future__ import annotations

import torch
from torch import nn

from pruning.measure import prunable_weights


def global_magnitude_masks(
    model: nn.Module, sparsity: float, exclude: tuple[str, ...] = ()
) -> dict[str, torch.Tensor]:
    """Keep-masks (True = keep) pruning exactly round(sparsity * total) of the smallest |w|
    over every Conv2d and Linear weight together; ties broken by position (deterministic)."""
    params = [(n, p) for n, p in prunable_weights(model) if n not in exclude]
    flat = torch.cat([p.detach().abs().flatten().float().cpu() for _, p in params])
    k = int(round(sparsity * flat.numel()))
    keep = torch.ones(flat.numel(), dtype=torch.bool)
    if k > 0:
        # A stable sort ranks equal magnitudes by position, so exactly k weights go.
        order = torch.sort(flat, stable=True).indices
        keep[order[:k]] = False
    return split_flat(keep, params)


def split_flat(
    keep: torch.Tensor, params: list[tuple[str, torch.Tensor]]
) -> dict[str, torch.Tensor]:
    """Cut one flat keep-vector over ``params`` (in order) into per-parameter masks."""
    masks, offset = {}, 0
    for name, p in params:
        masks[name] = keep[offset : offset + p.numel()].view_as(p).to(p.device)
        offset += p.numel()
    return masks


def apply_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> None:
    """Zero every masked-out weight in place."""
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, mask in masks.items():
            params[name].mul_(mask.to(params[name].device, params[name].dtype))


def fold_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> nn.Module:
    """Apply the masks for good (before saving) and return the model."""
    apply_masks(model, masks)
    return model


class MaskKeeper:
    """Keeps pruned weights exactly zero while training.

    Gradient hooks zero masked gradients (so momentum never builds up behind them) and
    ``after_step`` re-applies the masks, because weight decay inside the optimizer step can
    still move a zero weight."""

    def __init__(self, model: nn.Module, masks: dict[str, torch.Tensor]) -> None:
        self.model = model
        self.masks = masks
        self._handles: list = []

    def attach(self) -> MaskKeeper:
        """Register the gradient hooks (idempotent) and zero the masked weights now."""
        if not self._handles:
            params = dict(self.model.named_parameters())
            for name, mask in self.masks.items():
                param = params[name]
                keep = mask.to(param.device, param.dtype)
                self._handles.append(param.register_hook(lambda g, keep=keep: g * keep))
        apply_masks(self.model, self.masks)
        return self

    def after_step(self) -> None:
        """Re-apply the masks; call after every optimizer step."""
        apply_masks(self.model, self.masks)

    def detach(self) -> None:
        """Remove the hooks."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
