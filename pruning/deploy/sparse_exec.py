"""Sparse execution on CPU: a masked model whose Conv2d and Linear layers run with CSR sparse
kernels where that is faster than the dense kernel.

A Linear layer is one CSR x dense product, W (out x in) @ x^T. A convolution is the same
product over the unfolded input (im2col): W (out x in*kh*kw) @ unfold(x) per image, no unfold
for 1x1 convolutions. Whether CSR beats oneDNN's dense convolution depends on the layer's
shape, sparsity and the batch (at batch 1 the deep layers of ResNet18 gain several times at
95% sparsity, the wide early ones lose), so ``sparse_inference`` times both kernels on each
layer's real input and keeps the faster (``autotune``); ``docs/benchmarks.md`` has the
numbers. Outputs equal the dense model's within float rounding."""

from __future__ import annotations

import copy
import statistics
import time
import warnings
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn


def _csr(weight: torch.Tensor) -> torch.Tensor:
    with warnings.catch_warnings():  # "sparse CSR support is in beta"
        warnings.simplefilter("ignore", UserWarning)
        return weight.detach().reshape(weight.shape[0], -1).to_sparse_csr()


class CsrLinear(nn.Module):
    """A Linear layer computing W @ x^T with W in CSR form."""

    def __init__(self, layer: nn.Linear) -> None:
        super().__init__()
        self.weight = _csr(layer.weight)
        self.bias = None if layer.bias is None else layer.bias.detach().clone()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1])
        y = torch.sparse.mm(self.weight, flat.t()).t()
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*x.shape[:-1], y.shape[-1])


class CsrConv2d(nn.Module):
    """A (groups = 1) Conv2d computing W @ unfold(x) with W in CSR form."""

    def __init__(self, layer: nn.Conv2d) -> None:
        super().__init__()
        if layer.groups != 1 or layer.padding_mode != "zeros":
            raise ValueError("CSR execution supports groups=1, zero-padded convolutions")
        self.weight = _csr(layer.weight)
        self.bias = None if layer.bias is None else layer.bias.detach().clone()
        self.out_channels = layer.out_channels
        self.kernel_size, self.stride = layer.kernel_size, layer.stride
        self.padding, self.dilation = layer.padding, layer.dilation
        self.pointwise = (self.kernel_size == (1, 1) and self.stride == (1, 1)
                          and self.padding in ((0, 0), "valid"))

    def _out_size(self, h: int, w: int) -> tuple[int, int]:
        (kh, kw), (sh, sw), (dh, dw) = self.kernel_size, self.stride, self.dilation
        ph, pw = self.padding if isinstance(self.padding, tuple) else (0, 0)
        return ((h + 2 * ph - dh * (kh - 1) - 1) // sh + 1,
                (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous()
        b, _, h, w = x.shape
        ho, wo = self._out_size(h, w)
        if self.pointwise:
            cols = x.reshape(b, x.shape[1], h * w)
        else:
            cols = F.unfold(x, self.kernel_size, self.dilation, self.padding, self.stride)
        # One product per image: cheaper than transposing the unfolded batch into one matrix.
        y = torch.stack([torch.sparse.mm(self.weight, cols[i]) for i in range(b)])
        y = y.view(b, self.out_channels, ho, wo)
        if self.bias is not None:
            y = y + self.bias.view(1, -1, 1, 1)
        # Back to the layout the dense layers around it run fastest in.
        return y.contiguous(memory_format=torch.channels_last)


@dataclass
class SparsePlan:
    """Which layers run on CSR kernels, and the per-layer timings that decided it."""

    csr: list[str] = field(default_factory=list)
    dense: list[str] = field(default_factory=list)
    timings_ms: dict[str, tuple[float, float]] = field(default_factory=dict)  # (dense, csr)


def _median_ms(fn, x: torch.Tensor, repeats: int) -> float:  # noqa: ANN001
    fn(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(x)
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def _fold_batchnorm(model: nn.Module) -> nn.Module:
    try:
        from torch.fx.experimental.optimization import fuse

        return fuse(model)
    except Exception:  # noqa: BLE001 - untraceable models keep their BatchNorm layers
        return model


@torch.no_grad()
def sparse_inference(model: nn.Module, input_shape: tuple[int, ...], batch_size: int = 1, *,
                     autotune: bool = True, min_sparsity: float = 0.5, repeats: int = 5
                     ) -> tuple[nn.Module, SparsePlan]:
    """A CPU inference copy of ``model`` (BatchNorm folded, channels-last) whose Conv2d /
    Linear layers of at least ``min_sparsity`` run on CSR kernels; with ``autotune`` only those
    where CSR timed faster than the dense kernel on the layer's own input at ``batch_size``."""
    model = _fold_batchnorm(copy.deepcopy(model).cpu().float().eval())
    # The deploy form's channels-last layout throughout: CSR convolutions read it as it is and
    # hand channels-last back, so autotuning times each layer on the input it will really get.
    model = model.to(memory_format=torch.channels_last)
    candidates = {n: m for n, m in model.named_modules()
                  if (isinstance(m, nn.Linear) or (isinstance(m, nn.Conv2d) and m.groups == 1
                                                   and m.padding_mode == "zeros"))
                  and 1.0 - float(torch.count_nonzero(m.weight)) / m.weight.numel()
                  >= min_sparsity}
    plan = SparsePlan()
    inputs: dict[str, torch.Tensor] = {}
    if autotune and candidates:
        hooks = [m.register_forward_pre_hook(
            lambda mod, args, name=n: inputs.__setitem__(name, args[0]))
            for n, m in candidates.items()]
        model(torch.randn(batch_size, *input_shape).to(memory_format=torch.channels_last))
        for h in hooks:
            h.remove()
    for name, layer in candidates.items():
        fast = CsrConv2d(layer) if isinstance(layer, nn.Conv2d) else CsrLinear(layer)
        if autotune:
            x = inputs[name]
            timing = (_median_ms(layer, x, repeats), _median_ms(fast, x, repeats))
            plan.timings_ms[name] = timing
            if timing[1] >= timing[0]:
                plan.dense.append(name)
                continue
        parent, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, child, fast)
        plan.csr.append(name)
    return model.eval(), plan
