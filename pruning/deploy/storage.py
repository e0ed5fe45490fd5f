"""Compact on-disk formats, all loadable with ``torch.load(..., weights_only=True)``.

* sparse (unstructured): per tensor, a packed keep-bitmask plus the nonzero values, or the
  plain tensor when that is smaller (BatchNorm, dense layers);
* csr: per Conv2d / Linear weight (viewed as out x in*kh*kw), compressed sparse rows (row
  pointers, column indices, values; ``torch.sparse_csr``'s layout) with fp32 values (exact) or
  fp16 (half the bytes, within fp16 rounding); column indices in int16 where they fit;
  BatchNorm, biases and anything denser as plain tensors;
* structured: the smaller dense network's state dict plus every layer's shape, rebuilt by
  resizing a fresh model's layers (never by unpickling a module).

Files are written to a temporary name and renamed into place."""

from __future__ import annotations

import os
import warnings
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


VALUE_DTYPES = {"fp32": torch.float32, "fp16": torch.float16}


def _narrow(values: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``values`` in ``dtype``; a nonzero that would underflow to zero keeps the smallest
    magnitude of its sign instead, so the stored sparsity pattern stays exact."""
    out = values.to(dtype)
    if dtype == torch.float16:
        lost = (out == 0) & (values != 0)
        if bool(lost.any()):
            tiny = torch.finfo(torch.float16).smallest_normal * 2.0 ** -10  # least subnormal
            out[lost] = (torch.sign(values[lost]) * tiny).to(dtype)
    return out


def encode_csr(state: dict[str, torch.Tensor], values: str = "fp32") -> dict[str, Any]:
    """CSR per weight of two or more dimensions where that is smaller than the dense tensor;
    everything else (and any tensor fp16 cannot hold) dense and exact."""
    if values not in VALUE_DTYPES:
        raise ValueError(f"CSR values must be one of {', '.join(VALUE_DTYPES)}, got {values!r}")
    dtype = VALUE_DTYPES[values]
    out: dict[str, Any] = {FORMAT_KEY: "csr-v1", "values": values, "tensors": {}}
    for name, t in state.items():
        t = t.detach().cpu()
        entry: dict[str, Any] = {"dense": t.clone()}
        if t.is_floating_point() and t.dim() >= 2 and t.numel() > 0:
            rows = t.reshape(t.shape[0], -1)
            with warnings.catch_warnings():  # "sparse CSR support is in beta"
                warnings.simplefilter("ignore", UserWarning)
                csr = rows.to_sparse_csr()
            vals = _narrow(csr.values(), dtype)
            index = torch.int16 if rows.shape[1] <= torch.iinfo(torch.int16).max else torch.int32
            sparse = {"shape": list(t.shape),
                      "crow": csr.crow_indices().to(torch.int32),
                      "col": csr.col_indices().to(index), "values": vals}
            size = sum(v.numel() * v.element_size() for k, v in sparse.items() if k != "shape")
            if bool(torch.isfinite(vals).all()) and size < t.numel() * t.element_size():
                entry = sparse
        out["tensors"][name] = entry
    return out


def decode_csr(data: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Inverse of ``encode_csr``: exact for fp32 values, within fp16 rounding for fp16."""
    state = {}
    for name, entry in data["tensors"].items():
        if "dense" in entry:
            state[name] = entry["dense"]
            continue
        shape = entry["shape"]
        rows, cols = shape[0], int(np.prod(shape[1:]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            csr = torch.sparse_csr_tensor(entry["crow"].long(), entry["col"].long(),
                                          entry["values"].float(), size=(rows, cols))
            state[name] = csr.to_dense().view(shape)
    return state


def save_csr(state: dict[str, torch.Tensor], path: str | Path, values: str = "fp32") -> int:
    """Write a state dict in the CSR format; returns the file's size in bytes."""
    return _atomic_save(encode_csr(state, values), path)


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


def save_model(model: nn.Module, path: str | Path, structured: bool, fmt: str = "auto",
               values: str = "fp32") -> tuple[dict[str, int], str]:
    """Save a pruned model's artifact at ``path``: a structured model as shapes + state dict;
    a masked one as bitmask and as CSR (``values`` fp32 or fp16), keeping ``fmt`` (``auto``:
    the smaller). Returns the sizes (``size_bytes_bitmask``, ``size_bytes_csr``,
    ``size_bytes_compact`` = the file kept) and the format kept (``structured``, ``sparse``
    (bitmask) or ``csr``)."""
    path = Path(path)
    if structured:
        if fmt == "csr":
            raise ValueError("CSR stores masked weights; a structured model is saved as its "
                             "smaller dense network")
        size = save_structured(model, path)
        return {"size_bytes_compact": size}, "structured"
    state = model.state_dict()
    files = {"sparse": path.with_name(f".{path.name}.bitmask"),
             "csr": path.with_name(f".{path.name}.csr")}
    sizes = {"sparse": save_sparse(state, files["sparse"]),
             "csr": save_csr(state, files["csr"], values)}
    kind = {"bitmask": "sparse", "csr": "csr"}.get(fmt) or min(sizes, key=sizes.__getitem__)
    os.replace(files[kind], path)
    for other, f in files.items():
        if other != kind:
            f.unlink()
    return {"size_bytes_bitmask": sizes["sparse"], "size_bytes_csr": sizes["csr"],
            "size_bytes_compact": sizes[kind]}, kind


def load_compact(path: str | Path, build_fresh: Callable[[], nn.Module]) -> nn.Module:
    """Load any compact format (the file says which) into a model ready for inference."""
    data = torch.load(path, map_location="cpu", weights_only=True)
    kind = data.get(FORMAT_KEY) if isinstance(data, dict) else None
    if kind == "structured-v1":
        return _rebuild(data, build_fresh)
    if kind in ("sparse-v1", "csr-v1"):
        model = build_fresh()
        decode = decode_sparse if kind == "sparse-v1" else decode_csr
        model.load_state_dict(decode(data), strict=True)
        return model.eval()
    raise ValueError(f"{path}: not a prune-sweep compact model file")
