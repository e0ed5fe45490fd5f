"""Timing a finished trial's saved model against its dense baseline, as its own step after
training (the latency protocol of ``pruning.deploy.latency``). Plain functions, no Ray and no
MLflow: the sweep's measurement stage and ``prune-sweep measure`` call them with a downloaded
trial directory.

A trial directory holds what a trial logs as artifacts: ``config.json`` (the TrialConfig) and
``model/`` (the compact model and ``loader.json``). The dense model comes from the dense cache
in shared storage, the same weights the trial started from."""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from pruning.deploy.latency import TimingPlan, null_test, time_pruned
from pruning.deploy.storage import load_compact
from trainables.config import TrialConfig, from_dict
from trainables.dense_cache import DenseCache
from trainables.models import build_model
from trainables.plugins import load_plugins

IMAGE_SIZE = 32  # every data set is fed at CIFAR-10's 32x32


@dataclass(frozen=True)
class SavedTrial:
    """A finished trial's models, loaded for timing."""

    dense: nn.Module
    pruned: nn.Module
    masked: bool
    input_shape: tuple[int, int, int]
    config: TrialConfig


def load_saved_trial(directory: Path, storage: str) -> SavedTrial:
    """The pruned model saved in ``directory`` and its dense baseline from ``storage``. Plugin
    models are rebuilt too: this runs in the measurement stage's Ray task and in ``measure``."""
    load_plugins()
    cfg = from_dict(TrialConfig, json.loads((directory / "config.json").read_text()))
    loader = json.loads((directory / "model" / "loader.json").read_text())

    def fresh() -> nn.Module:
        return build_model(loader["model"], num_classes=loader["num_classes"],
                           width=loader["width"], in_channels=loader["in_channels"])

    pruned = load_compact(directory / "model" / loader["file"], fresh)
    dense = fresh()
    dense.load_state_dict(DenseCache(storage, cfg.dense).weights("final"))
    masked = loader["format"] in ("sparse", "csr") and cfg.method != "unpruned"
    shape = (int(loader["in_channels"]), IMAGE_SIZE, IMAGE_SIZE)
    return SavedTrial(dense.eval(), pruned.eval(), masked, shape, cfg)


def measure_saved_trial(trial: SavedTrial, plan: TimingPlan, sparse_kernels: bool = True
                        ) -> dict[str, float]:
    """Latency and throughput of the trial's model against its dense baseline, with spreads
    and per-block speedups (``pruning.deploy.latency.time_pruned``); a masked model on CPU is also
    timed on sparse (CSR) kernels, autotuned per batch size."""
    sparse = None
    extra: dict[str, float] = {}
    if trial.masked and sparse_kernels and torch.device(plan.device).type == "cpu":
        from pruning.deploy.sparse_exec import sparse_inference

        sparse = {}
        for batch, key in ((1, "b1"), (plan.throughput_batch, "throughput")):
            sparse[batch], chosen = sparse_inference(trial.pruned, trial.input_shape, batch)
            extra[f"sparse_layers_csr_{key}"] = len(chosen.csr)
    return {**time_pruned(trial.dense, trial.pruned, trial.input_shape, plan, sparse), **extra}


def null_figure(trial: SavedTrial, plan: TimingPlan) -> dict[str, float]:
    """The null test of a measurement run: the trial's dense model against a copy of itself."""
    return null_test(trial.dense, trial.input_shape, plan)


@dataclass(frozen=True)
class CpuSample:
    """What ``machine_load`` compares: when, the 1-minute load average, and CPU seconds spent
    on this process's cores by every process (``busy``; NaN without /proc/stat) and by this
    one (``own``)."""

    wall: float
    load_1m: float
    cores: int
    busy: float
    own: float


def _cores() -> set[int]:
    try:
        return os.sched_getaffinity(0)
    except (AttributeError, OSError):  # not Linux
        return set(range(os.cpu_count() or 1))


def _busy_seconds(cores: set[int], stat: Path = Path("/proc/stat")) -> float:
    """CPU seconds spent busy (user, nice, system, irq, softirq, steal) on ``cores`` since
    boot, from /proc/stat's per-CPU lines; NaN where it cannot be read."""
    try:
        lines = stat.read_text().splitlines()
    except OSError:
        return float("nan")
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0.0
    for line in lines:
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cores:
            user, nice, system, _idle, _iowait, irq, softirq, steal = (
                int(v) for v in (fields + ["0"] * 8)[:8])
            total += (user + nice + system + irq + softirq + steal) / tick
    return total


def cpu_sample() -> CpuSample:
    """The machine's state now, for ``machine_load``."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        load = float("nan")
    cores = _cores()
    t = os.times()
    return CpuSample(time.monotonic(), load, len(cores), _busy_seconds(cores),
                     t.user + t.system)


def machine_load(before: CpuSample, after: CpuSample) -> dict[str, float]:
    """How loaded the machine was while timing: ``load_avg_1m_before`` / ``_after`` (the
    1-minute load average, every process of the machine), ``load_cores`` (the cores this
    process may run on) and ``load_other_cores`` (how many of those cores other processes
    kept busy on average between the two samples: busy CPU time less this process's, over the
    wall time; NaN without /proc/stat)."""
    wall = after.wall - before.wall
    other = (after.busy - before.busy) - (after.own - before.own)
    share = max(0.0, other / wall) if wall > 0 else float("nan")
    return {"load_avg_1m_before": before.load_1m, "load_avg_1m_after": after.load_1m,
            "load_cores": float(after.cores), "load_other_cores": share}


def hardware(device: str) -> str:
    """The machine timings come from, in words: CPU model and cores, or the GPU's name."""
    if torch.device(device).type == "cuda" and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(torch.device(device))} (CUDA {torch.version.cuda})"
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} logical CPU(s)"
