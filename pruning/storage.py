"""Compact on-disk formats, all loadable with ``torch.load(..., weights_only=True)``.

* sparse (unstructured): per tensor, a packed keep-bitmask plus the nonzero values, or the
  plain tensor when that is smaller (BatchNorm, dense layers);
* structured: the smaller dense network's state dict plus every layer's shape, rebuilt by
  resizing a fresh model's layers (never by unpickling a module).

Files are written to a temporary name and renamed into place."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

FORMAT_KEY = "__format__"


def _atomic_save(obj: Any, path: str | Path) -> int:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)
    return path.stat().st_size


def encode_sparse(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Bitmask + values per tensor where that is smaller than the dense tensor."""
    out: dict[str, Any] = {FORMAT_KEY: "sparse-v1", "tensors": {}}
    for name, t in state.items():
        t = t.detach().cpu()
        nnz = int(torch.count_nonzero(t)) if t.is_floating_point() else t.numel()
        sparse_bytes = (t.numel() + 7) // 8 + nnz * t.element_size()
        if t.is_floating_point() and t.numel() > 0 and sparse_bytes < t.numel() * t.element_size():
            keep = (t != 0).flatten().numpy()
            out["tensors"][name] = {
                "shape": list(t.shape),
                "bits": torch.from_numpy(np.packbits(keep)),
                "values": t.flatten()[torch.from_numpy(keep)].clone(),
            }
        else:
            out["tensors"][name] = {"dense": t.clone()}
    return out


def decode_sparse(data: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Inverse of ``encode_sparse``: an exact state dict."""
    state = {}
    for name, entry in data["tensors"].items():
        if "dense" in entry:
            state[name] = entry["dense"]
            continue
        numel = int(np.prod(entry["shape"])) if entry["shape"] else 1
        keep = torch.from_numpy(np.unpackbits(entry["bits"].numpy(), count=numel).astype(bool))
        flat = torch.zeros(numel, dtype=entry["values"].dtype)
        flat[keep] = entry["values"]
        state[name] = flat.view(entry["shape"])
    return state


def save_sparse(state: dict[str, torch.Tensor], path: str | Path) -> int:
    """Write a state dict in the sparse format; returns the file's size in bytes."""
    return _atomic_save(encode_sparse(state), path)


def load_sparse(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a sparse-format file back into a state dict."""
    return decode_sparse(torch.load(path, map_location="cpu", weights_only=True))


def layer_shapes(model: nn.Module) -> dict[str, list[int]]:
    """Per layer: Conv2d [in, out], BatchNorm [features], Linear [in, out]."""
    shapes = {}
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            shapes[name] = [m.in_channels, m.out_channels]
        elif isinstance(m, nn.BatchNorm2d):
            shapes[name] = [m.num_features]
        elif isinstance(m, nn.Linear):
            shapes[name] = [m.in_features, m.out_features]
    return shapes


def resize_layers(model: nn.Module, shapes: dict[str, list[int]]) -> nn.Module:
    """Give a fresh model's layers the recorded (pruned) shapes; weights are loaded after."""
    modules = dict(model.named_modules())
    for name, shape in shapes.items():
        m = modules.get(name)
        if isinstance(m, nn.Conv2d):
            m.in_channels, m.out_channels = shape
            k = m.kernel_size
            m.weight = nn.Parameter(torch.empty(shape[1], shape[0] // m.groups, *k))
            if m.bias is not None:
                m.bias = nn.Parameter(torch.empty(shape[1]))
        elif isinstance(m, nn.BatchNorm2d):
            (n,) = shape
            m.num_features = n
            m.weight = nn.Parameter(torch.empty(n))
            m.bias = nn.Parameter(torch.empty(n))
            m.register_buffer("running_mean", torch.zeros(n))
            m.register_buffer("running_var", torch.ones(n))
        elif isinstance(m, nn.Linear):
            m.in_features, m.out_features = shape
            m.weight = nn.Parameter(torch.empty(shape[1], shape[0]))
            if m.bias is not None:
                m.bias = nn.Parameter(torch.empty(shape[1]))
        else:
            raise ValueError(f"saved shapes name layer {name!r}, which the model lacks")
    return model


def save_structured(model: nn.Module, path: str | Path) -> int:
    """Write a physically pruned model as shapes + state dict; returns bytes written."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return _atomic_save({FORMAT_KEY: "structured-v1", "shapes": layer_shapes(model),
                         "state_dict": state}, path)


def load_structured(path: str | Path, build_fresh: Callable[[], nn.Module]) -> nn.Module:
    """Rebuild a structured-pruned model from a fresh (dense) one and the saved shapes."""
    data = torch.load(path, map_location="cpu", weights_only=True)
    return _rebuild(data, build_fresh)


def _rebuild(data: dict[str, Any], build_fresh: Callable[[], nn.Module]) -> nn.Module:
    model = resize_layers(build_fresh(), data["shapes"])
    model.load_state_dict(data["state_dict"], strict=True)
    return model.eval()


def save_compact(model: nn.Module, path: str | Path, structured: bool) -> int:
    """The compact format of a pruned model: structured shapes, or the sparse encoding."""
    if structured:
        return save_structured(model, path)
    return save_sparse(model.state_dict(), path)


def load_compact(path: str | Path, build_fresh: Callable[[], nn.Module]) -> nn.Module:
    """Load either compact format (the file says which) into a model ready for inference."""
    data = torch.load(path, map_location="cpu", weights_only=True)
    kind = data.get(FORMAT_KEY) if isinstance(data, dict) else None
    if kind == "structured-v1":
        return _rebuild(data, build_fresh)
    if kind == "sparse-v1":
        model = build_fresh()
        model.load_state_dict(decode_sparse(data), strict=True)
        return model.eval()
    raise ValueError(f"{path}: not a prune-sweep compact model file")
