"""Structured methods through the trial flow (no Ray, no MLflow): SFP removes its zeroed
filters at the end, group norm regularizes in a cached round first, and both resume exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.trial_setup import Interrupted, StopAfter, cfg_for, fresh_env, weights
from trainables.config import Recipe
from trainables.reporter import LocalReporter
from trainables.runtime import TrialEnv
from trainables.trial import run_trial

pytestmark = pytest.mark.usefixtures("one_thread")

THREE = Recipe(epochs=3, lr=0.05, batch_size=64, patience=0)


def _dense_shapes() -> dict[str, torch.Size]:
    from tests.trial_setup import DENSE
    from trainables.models import build_model

    model = build_model("resnet18", 10, DENSE.model.width, 3)
    return {k: v.shape for k, v in model.state_dict().items()}


def test_structured_trial_logs_widths_and_saves_the_smaller_network(
    trial_env: TrialEnv, tmp_path: Path
) -> None:
    reporter = LocalReporter(verbose=False, artifacts_dir=tmp_path / "art")
    # Three epochs at a higher rate: with two at 0.02 a 70%-narrower network ends near chance
    # on some CPUs' kernels, which says nothing about what is tested here.
    out = run_trial(cfg_for("structured", 0.7, THREE, round_to=2), trial_env, reporter)
    assert abs(out["sparsity"] - 0.7) <= 0.005
    widths = {k: v for k, v in out.items() if k.startswith("prune.width.")}
    assert len(widths) == 12 and all(v % 2 == 0 for v in widths.values())
    assert 0 < out["prune.channel_ratio"] < 1 and out["prune.prune_s"] < 60
    saved = weights(tmp_path / "art")
    assert saved["layer1.0.conv1.weight"].shape[0] == widths["prune.width.layer1.0.conv1"]
    assert out["test_acc"] > 0.2  # 10 classes: chance is 0.1


def test_sfp_trial_removes_the_zeroed_filters_and_resumes_exactly(
    trial_env: TrialEnv, tmp_path: Path
) -> None:
    cfg = cfg_for("sfp", 0.5, THREE)
    whole = LocalReporter(verbose=False, artifacts_dir=tmp_path / "whole")
    expected = run_trial(cfg, trial_env, whole)
    assert abs(expected["sparsity"] - 0.5) <= 0.005
    dense = _dense_shapes()
    saved = weights(tmp_path / "whole")
    assert any(saved[k].shape != dense[k] for k in saved)  # physically smaller
    assert all(float(saved[k].abs().flatten(1).sum(1).min()) > 0
               for k in saved if k.endswith("conv1.weight"))  # no zeroed filter left
    # Soft: during retraining the zeroed filters were not masked, so sparsity while training
    # stayed below the final one (readers of a zeroed channel keep their weights).
    assert expected["prune.sparsity_at_prune"] < 0.5
    with pytest.raises(Interrupted):
        run_trial(cfg, trial_env, StopAfter(1, tmp_path / "ckpt"))
    again = LocalReporter(tmp_path / "ckpt", verbose=False, artifacts_dir=tmp_path / "again")
    got = run_trial(cfg, trial_env, again)
    assert got["test_loss"] == expected["test_loss"]
    assert got["prune.filters_switched"] == expected["prune.filters_switched"]
    b = weights(tmp_path / "again")
    assert all(torch.equal(saved[k], b[k]) for k in saved)


def test_group_norm_regularizes_in_a_shared_round_then_prunes(
    trial_env: TrialEnv, tmp_path: Path
) -> None:
    env = fresh_env(trial_env, tmp_path / "env")
    params = {"reg_epochs": 2, "reg": 1e-3}
    first = run_trial(cfg_for("group_norm", 0.5, **params), env, LocalReporter(verbose=False))
    assert abs(first["sparsity"] - 0.5) <= 0.005
    assert first["epochs_trained"] == 2 + 2 and first["rounds"] == 2
    assert first["rounds_trained"] == 1 and first["rounds_cached"] == 0
    # Another target of the same seed continues from the cached regularized round.
    second = run_trial(cfg_for("group_norm", 0.9, **params), env, LocalReporter(verbose=False))
    assert second["rounds_cached"] == 1 and second["rounds_trained"] == 0
    assert abs(second["sparsity"] - 0.9) <= 0.005
    # Interrupted inside the regularized round, it ends where an uninterrupted run does.
    ckpt = tmp_path / "ckpt"
    env_b = fresh_env(trial_env, tmp_path / "b")
    with pytest.raises(Interrupted):
        run_trial(cfg_for("group_norm", 0.5, **params), env_b, StopAfter(1, ckpt))
    again = run_trial(cfg_for("group_norm", 0.5, **params), env_b,
                      LocalReporter(ckpt, verbose=False))
    assert again["test_loss"] == first["test_loss"]


def test_group_norm_penalty_shrinks_weak_channels(trial_env: TrialEnv, tmp_path: Path) -> None:
    from pruning.methods import make_method
    from tests.trial_setup import DENSE, FINETUNE
    from trainables.round_cache import RoundCache, RoundChain

    env = fresh_env(trial_env, tmp_path / "env")
    spread = {}
    for reg in (5e-2, 1e-12):  # the penalty against (practically) none, same training
        params = {"reg_epochs": 2, "reg": reg}
        run_trial(cfg_for("group_norm", 0.5, **params), env, LocalReporter(verbose=False))
        chain = RoundChain.of(DENSE, make_method("group_norm", params, 0.5), FINETUNE)
        w = RoundCache(env.storage, chain, 0).load("weights")["layer3.0.conv1.weight"]
        norms = w.flatten(1).norm(dim=1)
        spread[reg] = float(norms.min() / norms.max())
    # Weak filters are pushed toward zero harder than strong ones.
    assert spread[5e-2] < 0.5 * spread[1e-12]
