"""Dynamic sparse training through the trial flow (no Ray, no MLflow): trained from theta_0
for the dense budget, mask updates logged at their steps, resumed mid-training bit-identical,
saved as CSR when asked and timed on sparse kernels."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from pruning.deploy.latency import TimingPlan
from tests.trial_setup import DENSE, Interrupted, StopAfter, cfg_for, weights
from trainables.config import SaveConfig
from trainables.measurement import load_saved_trial, measure_saved_trial
from trainables.reporter import LocalReporter
from trainables.retraining import retraining_recipe
from trainables.runtime import TrialEnv
from trainables.trial import run_trial

pytestmark = pytest.mark.usefixtures("one_thread")

# What SweepSpec resolves for a from-init method: the dense recipe, all of its epochs.
FROM_INIT = dataclasses.replace(
    retraining_recipe(DENSE.recipe, cfg_for("magnitude").finetune, "from_init",
                      DENSE.rewind_epoch, False), epochs=3)


def test_a_dynamic_trial_logs_its_updates_and_its_budget(trial_env: TrialEnv,
                                                         tmp_path: Path) -> None:
    reporter = LocalReporter(verbose=False, artifacts_dir=tmp_path / "art")
    out = run_trial(cfg_for("rigl", 0.8, FROM_INIT, update_every=2), trial_env, reporter)
    regrown = reporter.history["dst.regrown"]
    pruned = reporter.history["dst.pruned"]
    # 8 steps per epoch, 24 in all, updates every 2 steps until 75% (step 18): 2, 4, ..., 16.
    assert [s for s, _ in regrown] == list(range(2, 18, 2))
    assert [v for _, v in regrown] == [v for _, v in pruned]
    assert regrown[0][1] > regrown[-1][1] > 0  # the cosine decay of the drop fraction
    assert out["dst.regrown_total"] == sum(v for _, v in regrown)
    assert out["dst.updates"] == len(regrown)
    # The sparsity schedule: constant at the target from the first epoch on.
    assert [v for _, v in reporter.history["mask_sparsity"]] == pytest.approx([0.8] * 3,
                                                                              abs=1e-4)
    assert out["sparsity"] >= 0.8 - 1e-4
    # Trained from theta_0 for the dense run's budget, nothing of the dense training used.
    assert out["epochs_trained"] == 3 and out["epochs_total"] == 3
    assert out["prune.update_every"] == 2
    assert out["size_bytes_compact"] == min(out["size_bytes_bitmask"], out["size_bytes_csr"])
    # Timed afterwards from the saved artifacts, on CSR kernels too: a speedup only where
    # they were faster in every block.
    assert "latency_ms_b1" not in out
    saved = load_saved_trial(tmp_path / "art", trial_env.storage)
    assert saved.masked
    timing = measure_saved_trial(saved, TimingPlan(warmup=1, repeats=2, blocks=3,
                                                   throughput_batch=8))
    assert timing["latency_ms_b1_sparse"] > 0 and timing["throughput_sparse"] > 0
    for key in ("b1", "throughput"):
        faster = timing[f"sparse_ratio_{key}_min"] > 1
        name = "speedup_sparse" if key == "b1" else "speedup_sparse_throughput"
        assert (name in timing) == faster
    assert timing["sparse_layers_csr_b1"] >= 0


def test_a_dynamic_trial_resumed_mid_training_ends_bit_identical(trial_env: TrialEnv,
                                                                 tmp_path: Path) -> None:
    cfg = cfg_for("dsr", 0.8, FROM_INIT, update_every=3)
    whole = LocalReporter(verbose=False, artifacts_dir=tmp_path / "whole")
    expected = run_trial(cfg, trial_env, whole)
    with pytest.raises(Interrupted):
        run_trial(cfg, trial_env, StopAfter(1, tmp_path / "ckpt"))
    again = LocalReporter(tmp_path / "ckpt", verbose=False, artifacts_dir=tmp_path / "again")
    got = run_trial(cfg, trial_env, again)
    assert got["test_loss"] == expected["test_loss"]
    assert got["dst.regrown_total"] == expected["dst.regrown_total"]
    a, b = weights(tmp_path / "whole"), weights(tmp_path / "again")
    assert all(torch.equal(a[k], b[k]) for k in a)
    # The resumed run logged only the epochs after the checkpoint, at the same steps.
    assert again.history["dst.regrown"] == [p for p in whole.history["dst.regrown"]
                                            if p[0] > 8]


def test_csr_is_saved_when_asked_and_loads_within_fp16_rounding(trial_env: TrialEnv,
                                                                tmp_path: Path) -> None:
    cfg = dataclasses.replace(cfg_for("set", 0.9, FROM_INIT),
                              save=SaveConfig(format="csr", values="fp16"))
    reporter = LocalReporter(verbose=False, artifacts_dir=tmp_path / "art")
    out = run_trial(cfg, trial_env, reporter)
    loader = json.loads((tmp_path / "art" / "model" / "loader.json").read_text())
    assert loader["format"] == "csr"
    assert out["size_bytes_compact"] == out["size_bytes_csr"]
    assert (tmp_path / "art" / "model" / "model.pt").stat().st_size == out["size_bytes_csr"]
    loaded = weights(tmp_path / "art")
    assert out["sparsity"] >= 0.9 - 1e-4
    conv = loaded["layer1.0.conv1.weight"]
    assert 0 < int(torch.count_nonzero(conv)) < conv.numel()
