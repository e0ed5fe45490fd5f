"""The latency protocol (docs/definitions.md): models timed in one process, in rotating order,
after warm-up, with a fixed thread count, in several blocks; the median over blocks is the
figure and the spread over blocks is logged beside it. Ratios (speedups) are taken per block,
so drifts that hit every model of a block alike cancel. A null test (a model against a copy of
itself) shows how far a ratio moves when nothing differs."""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from pruning.measure import count_macs, inference_form


@dataclass(frozen=True)
class TimingPlan:
    """How to time: ``blocks`` blocks of ``repeats`` forwards per model after ``warmup`` calls,
    at batch 1 and at ``throughput_batch``, on ``device`` with ``threads`` CPU threads (0: leave
    torch's setting, which is every core of the machine)."""

    warmup: int = 3
    repeats: int = 10
    blocks: int = 5
    throughput_batch: int = 64
    threads: int = 0
    device: str = "cpu"


@dataclass(frozen=True)
class Ratio:
    """Per-block ratios of a base time over another model's time: median, min and max."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, base: Sequence[float], other: Sequence[float]) -> Ratio:
        """Ratios ``base[i] / other[i]`` block by block."""
        ratios = [b / o for b, o in zip(base, other, strict=True)]
        return cls(statistics.median(ratios), min(ratios), max(ratios))

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies within the spread over blocks."""
        return self.low <= value <= self.high


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def time_blocks(models: Sequence[nn.Module], input_shape: tuple[int, ...], batch_size: int,
                plan: TimingPlan) -> list[list[float]]:
    """Median milliseconds per forward of each model (already in the form to time) in each
    block; the order rotates from block to block so no model always runs first."""
    device = torch.device(plan.device)
    x = torch.randn(batch_size, *input_shape, device=device)
    if x.dim() == 4:
        x = x.to(memory_format=torch.channels_last)
    for _ in range(max(1, plan.warmup)):
        for m in models:
            m(x)
    _sync(device)
    out: list[list[float]] = [[] for _ in models]
    for block in range(max(1, plan.blocks)):
        shift = block % len(models)
        for i in list(range(len(models)))[shift:] + list(range(len(models)))[:shift]:
            times = []
            for _ in range(max(1, plan.repeats)):
                _sync(device)
                start = time.perf_counter()
                models[i](x)
                _sync(device)
                times.append((time.perf_counter() - start) * 1000.0)
            out[i].append(statistics.median(times))
    return out


class ThreadCount:
    """Context manager fixing torch's intra-op thread count (0 leaves it as it is)."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.before = torch.get_num_threads()

    def __enter__(self) -> int:
        if self.threads > 0:
            torch.set_num_threads(self.threads)
        return torch.get_num_threads()

    def __exit__(self, *exc: object) -> None:
        torch.set_num_threads(self.before)


def _timed(prefix: str, blocks: list[float], batch: int) -> dict[str, float]:
    median = statistics.median(blocks)
    spread = max(blocks) - min(blocks)
    if prefix == "latency_ms_b1":
        return {"latency_ms_b1": median, "latency_ms_b1_spread": spread}
    # Images per second from each block's time, so the spread is in the figure's own unit.
    per_s = [batch / (ms / 1000.0) for ms in blocks]
    return {prefix: statistics.median(per_s), f"{prefix}_spread": max(per_s) - min(per_s)}


def _rename(metrics: dict[str, float], suffix: str) -> dict[str, float]:
    """``latency_ms_b1`` -> ``latency_ms_b1<suffix>``, ``..._spread`` -> ``...<suffix>_spread``."""
    return {k.removesuffix("_spread") + suffix + ("_spread" if k.endswith("_spread") else ""): v
            for k, v in metrics.items()}


def time_pruned(dense: nn.Module, pruned: nn.Module, input_shape: tuple[int, ...],
                plan: TimingPlan, sparse: dict[int, nn.Module] | None = None
                ) -> dict[str, float]:
    """Dense and pruned, both in their deploy form (``inference_form``), timed together at
    batch 1 and at the throughput batch: ``latency_ms_b1`` (+ ``_spread``, ``_dense``),
    ``throughput`` (+ ``_spread``, ``_dense``), ``speedup_b1`` and ``speedup_throughput`` with
    ``_min``/``_max`` over blocks. ``sparse`` maps a batch size to the masked model on sparse
    kernels (``pruning.deploy.sparse_exec.sparse_inference``), timed in the same blocks:
    ``latency_ms_b1_sparse``, ``throughput_sparse``, ``sparse_ratio_b1`` and
    ``sparse_ratio_throughput`` (+ ``_min``/``_max``), and ``speedup_sparse`` /
    ``speedup_sparse_throughput`` only where sparse kernels were faster in every block."""
    device = torch.device(plan.device)
    forms = [inference_form(m, device) for m in (dense, pruned)]
    out: dict[str, float] = {}
    for batch, key in ((1, "b1"), (plan.throughput_batch, "throughput")):
        models = list(forms) + ([sparse[batch]] if sparse and batch in sparse else [])
        blocks = time_blocks(models, input_shape, batch, plan)
        name = "latency_ms_b1" if key == "b1" else "throughput"
        out.update(_timed(name, blocks[1], batch))
        out.update(_rename(_timed(name, blocks[0], batch), "_dense"))
        speed = Ratio.of(blocks[0], blocks[1])
        out.update({f"speedup_{key}": speed.median, f"speedup_{key}_min": speed.low,
                    f"speedup_{key}_max": speed.high})
        if len(blocks) == 3:
            out.update(_rename(_timed(name, blocks[2], batch), "_sparse"))
            fast = Ratio.of(blocks[0], blocks[2])
            out.update({f"sparse_ratio_{key}": fast.median, f"sparse_ratio_{key}_min": fast.low,
                        f"sparse_ratio_{key}_max": fast.high})
            if fast.low > 1.0:
                out["speedup_sparse" if key == "b1" else "speedup_sparse_throughput"] = \
                    fast.median
    return out


def null_test(model: nn.Module, input_shape: tuple[int, ...], plan: TimingPlan
              ) -> dict[str, float]:
    """``model`` against a copy of itself, timed exactly like ``time_pruned``: the ratio the
    protocol reads when nothing differs (``null_ratio_b1`` and ``null_ratio_throughput``, with
    ``_min``/``_max``); 1.00 should lie within the spread."""
    device = torch.device(plan.device)
    forms = [inference_form(model, device), inference_form(copy.deepcopy(model), device)]
    out: dict[str, float] = {}
    for batch, key in ((1, "b1"), (plan.throughput_batch, "throughput")):
        blocks = time_blocks(forms, input_shape, batch, plan)
        r = Ratio.of(blocks[0], blocks[1])
        out.update({f"null_ratio_{key}": r.median, f"null_ratio_{key}_min": r.low,
                    f"null_ratio_{key}_max": r.high})
    return out


def measure_efficiency(dense: nn.Module, pruned: nn.Module, input_shape: tuple[int, int, int],
                       *, device: torch.device | str = "cpu", warmup: int = 3,
                       repeats: int = 10, blocks: int = 5, throughput_batch: int = 64
                       ) -> dict[str, float]:
    """``time_pruned`` plus MACs (dense and pruned) and the theoretical speedup."""
    plan = TimingPlan(warmup, repeats, blocks, throughput_batch, 0, str(device))
    out = time_pruned(dense, pruned, input_shape, plan)
    example = torch.zeros(1, *input_shape)
    macs, macs_dense = count_macs(pruned, example), count_macs(dense, example)
    return {**out, "macs": macs, "macs_dense": macs_dense,
            "theoretical_speedup": macs_dense / max(1, macs)}
