"""Measurements counted from the model's tensors (sparsity, parameters, MACs, size), and the
deploy form in which ``pruning.deploy.latency`` times models.

Definitions (docs/definitions.md): prunable parameters are the weights of every Conv2d and
Linear; sparsity = 1 - nonzero prunable parameters / prunable parameters of the dense model,
which covers both zeroed (masked) and physically removed weights."""

from __future__ import annotations

import copy
import io

import torch
import torch_pruning as tp
from torch import nn

PRUNABLE = (nn.Conv2d, nn.Linear)


def prunable_weights(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """(name, weight) of every Conv2d and Linear layer, in module order."""
    return [(f"{name}.weight" if name else "weight", m.weight)
            for name, m in model.named_modules() if isinstance(m, PRUNABLE)]


def count_prunable(model: nn.Module) -> int:
    """Number of prunable weights (zeros included)."""
    return sum(p.numel() for _, p in prunable_weights(model))


def count_nonzero_prunable(model: nn.Module) -> int:
    """Number of nonzero prunable weights."""
    return sum(int(torch.count_nonzero(p.detach())) for _, p in prunable_weights(model))


def measured_sparsity(model: nn.Module, dense_prunable: int) -> float:
    """Fraction of the dense model's prunable weights that are zero or gone in ``model``."""
    return 1.0 - count_nonzero_prunable(model) / dense_prunable


def params_total(model: nn.Module) -> int:
    """All parameters, zeros included."""
    return sum(p.numel() for p in model.parameters())


def params_nonzero(model: nn.Module) -> int:
    """All nonzero parameters."""
    return sum(int(torch.count_nonzero(p.detach())) for p in model.parameters())


def count_macs(model: nn.Module, example_input: torch.Tensor) -> int:
    """Per-sample multiply-accumulates, counting only nonzero weights of Conv2d/Linear layers.

    torch-pruning's counter gives the dense total; each conv/linear layer's share is then
    scaled by its weight density, which is exact for masks and a no-op for physically pruned
    (dense) layers."""
    model = copy.deepcopy(model).cpu().float().eval()
    x = example_input[:1].cpu().float()
    total, _ = tp.utils.count_ops_and_params(model, x)
    saved = 0.0
    hooks = []

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal saved
        w = module.weight
        if isinstance(module, nn.Conv2d):
            layer = output.shape[2] * output.shape[3] * w.numel()
        else:
            layer = w.numel()
        density = float(torch.count_nonzero(w)) / w.numel()
        saved += layer * (1.0 - density)

    for m in model.modules():
        if isinstance(m, PRUNABLE):
            hooks.append(m.register_forward_hook(hook))
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return int(round(total - saved))


def state_dict_bytes(model: nn.Module) -> int:
    """Bytes of ``torch.save(model.state_dict())`` (the dense format)."""
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buf)
    return buf.getbuffer().nbytes


def inference_form(model: nn.Module, device: torch.device | str) -> nn.Module:
    """A copy of ``model`` as it would be deployed for inference: evaluation mode, BatchNorm
    folded into the preceding convolutions (torch.fx; left as is when the model cannot be
    traced), channels-last memory format. Dense and pruned models are timed in this same
    form, so their ratio is that of deployable networks, not of training-time modules."""
    model = copy.deepcopy(model).eval()
    try:
        from torch.fx.experimental.optimization import fuse

        model = fuse(model)
    except Exception:  # noqa: BLE001 - untraceable models are timed unfused
        pass
    return model.to(device).to(memory_format=torch.channels_last)
