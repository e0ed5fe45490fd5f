"""Dynamic sparse layers: ``SparseConv2d`` and ``SparseLinear`` carry their keep-mask as a
buffer whose sparsity may change at any time (``set_mask``), and compute with the masked
weight. ``to_sparse(model)`` turns a plain model's Conv2d and Linear layers into them (masks
from a dict or from the weights' zeros), ``to_dense(model)`` folds the masks back into plain
layers. The training loop keeps its masks in ``pruning.masks.Masks`` instead (one fused
multiply per step instead of one per layer and forward); both hold the same masks under the
same names, so a trained model converts either way exactly."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _Masked:
    """The mask buffer and what the two layers share."""

    weight: nn.Parameter
    mask: torch.Tensor

    def set_mask(self, mask: torch.Tensor) -> None:
        """Install a new keep-mask (any sparsity) and zero the weights it drops."""
        mask = mask.to(self.weight.device, torch.bool)
        if mask.shape != self.weight.shape:
            raise ValueError(f"mask of shape {tuple(mask.shape)} for a weight of shape "
                             f"{tuple(self.weight.shape)}")
        self.mask = mask
        with torch.no_grad():
            self.weight.mul_(mask)

    @property
    def sparsity(self) -> float:
        """Fraction of masked-out weights."""
        return 1.0 - float(self.mask.sum()) / self.mask.numel()

    def masked_weight(self) -> torch.Tensor:
        """The weight with masked-out entries zero (differentiable)."""
        return self.weight * self.mask


class SparseLinear(_Masked, nn.Linear):
    """A Linear layer computing with ``weight * mask``."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 device: torch.device | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__(in_features, out_features, bias, device, dtype)
        self.register_buffer("mask", torch.ones_like(self.weight, dtype=torch.bool))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.masked_weight(), self.bias)


class SparseConv2d(_Masked, nn.Conv2d):
    """A Conv2d layer computing with ``weight * mask``."""

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003 - Conv2d's signature
        super().__init__(*args, **kwargs)
        self.register_buffer("mask", torch.ones_like(self.weight, dtype=torch.bool))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.masked_weight(), self.bias)


def _sparse_copy(layer: nn.Module, mask: torch.Tensor | None) -> nn.Module:
    w = layer.weight
    if isinstance(layer, nn.Conv2d):
        new = SparseConv2d(layer.in_channels, layer.out_channels, layer.kernel_size,
                           layer.stride, layer.padding, layer.dilation, layer.groups,
                           layer.bias is not None, layer.padding_mode, w.device, w.dtype)
    else:
        new = SparseLinear(layer.in_features, layer.out_features, layer.bias is not None,
                           w.device, w.dtype)
    new.load_state_dict(layer.state_dict(), strict=False)
    new.train(layer.training)
    new.set_mask(mask if mask is not None else w.detach() != 0)
    return new


def _dense_copy(layer: _Masked) -> nn.Module:
    w = layer.weight
    if isinstance(layer, nn.Conv2d):
        new = nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size,
                        layer.stride, layer.padding, layer.dilation, layer.groups,
                        layer.bias is not None, layer.padding_mode, w.device, w.dtype)
    else:
        new = nn.Linear(layer.in_features, layer.out_features, layer.bias is not None,
                        w.device, w.dtype)
    with torch.no_grad():
        new.weight.copy_(layer.masked_weight())
        if layer.bias is not None:
            new.bias.copy_(layer.bias)
    new.train(layer.training)
    return new


def _replace(model: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, new)


def to_sparse(model: nn.Module, masks: dict[str, torch.Tensor] | None = None) -> nn.Module:
    """Replace every Conv2d and Linear of ``model`` (in place) by its sparse layer, masked by
    ``masks[<layer>.weight]`` where given, else by the weight's nonzeros; returns ``model``."""
    layers = [(n, m) for n, m in model.named_modules()
              if isinstance(m, nn.Conv2d | nn.Linear) and not isinstance(m, _Masked)]
    if not layers:
        raise ValueError("the model has no Conv2d or Linear layer to make sparse")
    for name, layer in layers:
        mask = None if masks is None else masks.get(f"{name}.weight")
        _replace(model, name, _sparse_copy(layer, mask))
    return model


def to_dense(model: nn.Module) -> nn.Module:
    """Replace every sparse layer of ``model`` (in place) by a plain one holding its masked
    weight; returns ``model``."""
    for name, layer in [(n, m) for n, m in model.named_modules() if isinstance(m, _Masked)]:
        _replace(model, name, _dense_copy(layer))
    return model


def masks_of(model: nn.Module) -> dict[str, torch.Tensor]:
    """The masks of a model's sparse layers, by weight name (``pruning.masks`` form)."""
    return {f"{n}.weight": m.mask for n, m in model.named_modules() if isinstance(m, _Masked)}
