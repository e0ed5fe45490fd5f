"""Keep-masks (True = keep) of prunable weights, and ``Masks``, the one object that holds them
while a model trains (the training loop owns the masks; methods only propose new ones)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class MaskUpdate:
    """New masks proposed by a method mid-training, and the positions that (re)start from
    zero with fresh optimizer state: by default (``grown`` None) those newly kept; dynamic
    sparse training names them, because it may regrow a connection in the update that dropped
    it (it restarts at zero, as in RigL's code)."""

    masks: dict[str, torch.Tensor]
    grown: dict[str, torch.Tensor] | None = None


def split_flat(
    keep: torch.Tensor, params: list[tuple[str, torch.Tensor]]
) -> dict[str, torch.Tensor]:
    """Cut one flat keep-vector over ``params`` (in order) into per-parameter masks."""
    masks, offset = {}, 0
    for name, p in params:
        masks[name] = keep[offset : offset + p.numel()].view(p.shape)
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


def mask_sparsity(masks: dict[str, torch.Tensor]) -> float:
    """Fraction of masked-out entries over all masks."""
    total = sum(m.numel() for m in masks.values())
    kept = sum(int(m.sum()) for m in masks.values())
    return 1.0 - kept / max(1, total)


class Masks:
    """The masks of one model while it trains.

    ``mask_grads`` before each optimizer step zeroes pruned weights' gradients, so momentum
    never builds up behind them; ``apply`` after the step re-zeroes the weights, because weight
    decay inside the step can still move them. ``replace`` swaps in new masks mid-training
    (gradual and dynamic methods): weights whose mask changed are set to zero and their
    optimizer state (momentum) is reset, so regrown weights start from zero."""

    def __init__(self, model: nn.Module, masks: dict[str, torch.Tensor]) -> None:
        params = dict(model.named_parameters())
        self.names = list(masks)
        self._params = [params[n] for n in self.names]
        self._keep = [masks[n].to(p.device, torch.bool) for n, p in zip(self.names, self._params,
                                                                         strict=True)]
        # Float copies in the parameters' own layout (channels_last on GPU) for fused multiplies.
        self._keep_f = [torch.empty_like(p).copy_(k) for p, k in zip(self._params, self._keep,
                                                                      strict=True)]

    def as_dict(self) -> dict[str, torch.Tensor]:
        """Current masks by parameter name (on the parameters' device)."""
        return dict(zip(self.names, self._keep, strict=True))

    def cpu(self) -> dict[str, torch.Tensor]:
        """Current masks on the CPU (for checkpoints)."""
        return {n: k.detach().cpu().clone() for n, k in zip(self.names, self._keep, strict=True)}

    @torch.no_grad()
    def apply(self) -> None:
        """Zero every masked-out weight."""
        torch._foreach_mul_(self._params, self._keep_f)

    @torch.no_grad()
    def mask_grads(self) -> None:
        """Zero the gradients of masked-out weights (call between backward and step)."""
        pairs = [(p.grad, k) for p, k in zip(self._params, self._keep_f, strict=True)
                 if p.grad is not None]
        if pairs:
            torch._foreach_mul_([g for g, _ in pairs], [k for _, k in pairs])

    @torch.no_grad()
    def replace(self, new: dict[str, torch.Tensor],
                optimizer: torch.optim.Optimizer | None = None,
                grown: dict[str, torch.Tensor] | None = None) -> tuple[int, int]:
        """Install ``new`` masks; returns (weights newly pruned, weights regrown).

        ``grown`` names the positions that restart from zero (default: those newly kept); a
        position in it that was kept before counts as pruned and regrown (dynamic sparse
        training may regrow a connection in the update that dropped it)."""
        pruned = regrown = 0
        for i, (name, param) in enumerate(zip(self.names, self._params, strict=True)):
            keep = new[name].to(param.device, torch.bool)
            fresh = keep & ~self._keep[i] if grown is None else \
                grown[name].to(param.device, torch.bool) & keep
            reset = (keep ^ self._keep[i]) | fresh
            if not bool(reset.any()):
                continue
            pruned += int((self._keep[i] & ~keep).sum()) + int((self._keep[i] & fresh).sum())
            regrown += int(fresh.sum())
            param[reset] = 0
            state = optimizer.state.get(param, {}) if optimizer is not None else {}
            for value in state.values():
                if torch.is_tensor(value) and value.shape == param.shape:
                    value[reset] = 0  # momentum (and any per-weight state) starts afresh
            self._keep[i] = keep
            self._keep_f[i] = torch.empty_like(param).copy_(keep)
        return pruned, regrown
