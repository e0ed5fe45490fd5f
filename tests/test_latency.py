"""The latency protocol: rotating order, blocks, spreads, fixed threads, the null test."""

from __future__ import annotations

import math
import os
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn

from pruning.deploy.latency import (
    Ratio,
    ThreadCount,
    TimingPlan,
    null_test,
    time_blocks,
    time_pruned,
)
from trainables.models import build_model


class _Recorder(nn.Module):
    def __init__(self, name: str, calls: list[str]) -> None:
        super().__init__()
        self.name, self.calls = name, calls

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(self.name)
        return x


def test_blocks_rotate_the_order_so_no_model_always_runs_first() -> None:
    calls: list[str] = []
    models = [_Recorder(n, calls) for n in "abc"]
    plan = TimingPlan(warmup=1, repeats=2, blocks=3)
    times = time_blocks(models, (3, 4, 4), 1, plan)
    assert [len(t) for t in times] == [3, 3, 3]
    timed = calls[3:]  # after one warm-up call each
    firsts = [timed[i * 6] for i in range(3)]  # 3 models x 2 repeats per block
    assert firsts == ["a", "b", "c"]


def test_ratio_is_the_median_of_per_block_ratios_with_its_spread() -> None:
    r = Ratio.of([10.0, 12.0, 9.0], [5.0, 4.0, 9.0])
    assert (r.median, r.low, r.high) == (2.0, 1.0, 3.0)
    assert r.contains(1.0) and not r.contains(3.5)


def test_thread_count_is_fixed_while_timing_and_restored() -> None:
    before = torch.get_num_threads()
    with ThreadCount(1) as threads:
        assert threads == 1 == torch.get_num_threads()
    assert torch.get_num_threads() == before


def test_the_null_test_reads_one_within_its_own_spread() -> None:
    # A model against a copy of itself: whatever the machine does, 1.00 must lie within the
    # per-block spread. Eleven blocks make a one-sided spread by chance a 1-in-1000 event.
    model = build_model("resnet18", width=0.125).eval()
    out = null_test(model, (3, 32, 32), TimingPlan(warmup=2, repeats=5, blocks=11,
                                                   throughput_batch=8))
    for key in ("b1", "throughput"):
        assert out[f"null_ratio_{key}_min"] <= 1.0 <= out[f"null_ratio_{key}_max"], out
        assert 0.5 < out[f"null_ratio_{key}"] < 2.0


def test_a_structured_model_is_timed_with_spreads_and_per_block_speedups() -> None:
    dense = build_model("resnet18", width=0.25).eval()
    small = build_model("resnet18", width=0.125).eval()  # a stand-in for a pruned network
    out = time_pruned(dense, small, (3, 32, 32), TimingPlan(warmup=1, repeats=3, blocks=3,
                                                            throughput_batch=8))
    for key in ("latency_ms_b1", "latency_ms_b1_dense", "throughput", "throughput_dense"):
        assert out[key] > 0 and out[f"{key}_spread"] >= 0, key
    for key in ("b1", "throughput"):
        assert out[f"speedup_{key}_min"] <= out[f"speedup_{key}"] <= out[f"speedup_{key}_max"]
    assert "sparse_ratio_b1" not in out  # only a masked model is timed on sparse kernels


def test_machine_load_is_other_processes_cpu_over_the_cores_this_process_may_use(
        tmp_path: Path) -> None:
    from trainables.measurement import CpuSample, _busy_seconds, machine_load

    tick = os.sysconf("SC_CLK_TCK")
    stat = tmp_path / "stat"
    # cpu0 and cpu1: user nice system idle iowait irq softirq steal; cpu2 is not ours.
    stat.write_text(f"cpu  1 1 1 1 1 1 1 1\ncpu0 {tick} 0 {tick} 500 7 0 0 {tick}\n"
                    f"cpu1 {2 * tick} {tick} 0 9 9 0 0 0\ncpu2 {50 * tick} 0 0 0 0 0 0 0\n"
                    "intr 1 2 3\n")
    assert _busy_seconds({0, 1}, stat) == pytest.approx(6.0)
    assert math.isnan(_busy_seconds({0}, tmp_path / "missing"))
    before = CpuSample(wall=100.0, load_1m=0.3, cores=2, busy=50.0, own=10.0)
    after = CpuSample(wall=110.0, load_1m=0.45, cores=2, busy=63.0, own=21.5)
    # 13 busy CPU seconds in 10 s, 11.5 of them this process's: others kept 0.15 cores busy.
    assert machine_load(before, after) == pytest.approx({
        "load_avg_1m_before": 0.3, "load_avg_1m_after": 0.45, "load_cores": 2.0,
        "load_other_cores": 0.15})
    # Tick rounding can make others' share negative: it is never below 0.
    assert machine_load(before, replace(after, own=24.0))["load_other_cores"] == 0.0


NULL = {"null_ratio_b1": 1.004, "null_ratio_b1_min": 0.981, "null_ratio_b1_max": 1.027,
        "load_avg_1m_before": 0.3, "load_avg_1m_after": 0.45, "load_cores": 2.0,
        "load_other_cores": 0.05}


def test_the_stage_line_says_load_flags_an_unreliable_null_test_and_never_prints_nan() -> None:
    from tune_app.measure_stage import outcome_line

    rows = [{"run_id": str(i)} for i in range(7)]
    assert outcome_line(rows, NULL) == (
        "measurement: 7 trial(s) timed; null test b1 1.004x (0.981-1.027); load average 0.30 "
        "before / 0.45 after timing on 2 core(s), other processes busy on 0.05 of them while "
        "timing")
    wide = outcome_line(rows, {**NULL, "null_ratio_b1_min": 0.93})
    assert wide.endswith("; timings unreliable on this machine (the null test should read "
                         "1.00 within ±5%)")
    none = outcome_line([], {"threads": 1}, "the measuring task on node abc found no finished "
                                            "trial without timings")
    assert none == ("measurement: no trial was timed (the measuring task on node abc found no "
                    "finished trial without timings)")
    assert "nan" not in outcome_line([], {})


def test_a_measurement_set_records_the_machine_load_beside_the_null_test(tmp_path: Path) -> None:
    from mlflow import MlflowClient

    from analysis.measurements import find_set
    from tune_app.measure_stage import record_set

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.create_experiment("sweep-x", artifact_location=(tmp_path / "a").as_uri())
    figures = {**NULL, "null_ratio_b1_max": 1.08, "timings_reliable": 0.0, "threads": 1}
    record_set(client, exp, None, "sweep", TimingPlan(threads=1), [{"run_id": "r1"}], figures)
    mset = find_set(client, "sweep-x", None)
    assert {k: mset.null[k] for k in ("load_avg_1m_before", "load_avg_1m_after", "load_cores",
                                      "load_other_cores", "timings_reliable")} == {
        "load_avg_1m_before": 0.3, "load_avg_1m_after": 0.45, "load_cores": 2.0,
        "load_other_cores": 0.05, "timings_reliable": 0.0}
    assert mset.threads == "1" and mset.null["trials_measured"] == 1
    line = mset.describe()
    assert "load average 0.30 before / 0.45 after timing on 2 core(s)" in line
    assert line.endswith("spread 0.981-1.080; timings unreliable on this machine (the null "
                         "test should read 1.00 within ±5%, median and spread)")
