"""The latency protocol: rotating order, blocks, spreads, fixed threads, the null test."""

from __future__ import annotations

import torch
from torch import nn

from pruning.latency import Ratio, ThreadCount, TimingPlan, null_test, time_blocks, time_pruned
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
