"""Trials resumed mid-schedule (GMP mid-ramp, IMP in a prior round and in the last) end
bit-identical to uninterrupted ones (CPU, one thread, fixed seed)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.trial_setup import (
    Interrupted,
    StopAfter,
    cfg_for,
    fresh_env,
    rewind_recipe,
    weights,
)
from trainables.config import Recipe
from trainables.reporter import LocalReporter
from trainables.runtime import TrialEnv
from trainables.trial import run_trial

# Trial-flow fixtures (tests/conftest.py): one torch thread, a dense baseline trained once.
pytestmark = pytest.mark.usefixtures("one_thread")


def test_gmp_resumed_mid_schedule_ends_bit_identical(trial_env: TrialEnv, tmp_path: Path) -> None:
    cfg = cfg_for("gmp", 0.8, Recipe(epochs=3, lr=0.02, batch_size=64, patience=0),
               start=0.0, end=0.6, update_every=2)
    whole = LocalReporter(verbose=False, artifacts_dir=tmp_path / "whole")
    expected = run_trial(cfg, trial_env, whole)
    with pytest.raises(Interrupted):
        run_trial(cfg, trial_env, StopAfter(1, tmp_path / "ckpt"))  # mid-ramp: after epoch 1 of 3
    resumed = LocalReporter(tmp_path / "ckpt", verbose=False, artifacts_dir=tmp_path / "again")
    got = run_trial(cfg, trial_env, resumed)
    assert got["test_loss"] == expected["test_loss"] and got["test_acc"] == expected["test_acc"]
    a, b = weights(tmp_path / "whole"), weights(tmp_path / "again")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [s for s, _ in resumed.history["val_acc"]] == [2, 3]  # only the epochs it ran


def test_imp_resumed_in_a_prior_round_and_in_the_last_ends_bit_identical(
    trial_env: TrialEnv, tmp_path: Path
) -> None:
    cfg = cfg_for("imp", 0.36, rewind_recipe(2), rate=0.2)  # two rounds of two epochs each
    whole = LocalReporter(verbose=False, artifacts_dir=tmp_path / "whole")
    expected = run_trial(cfg, fresh_env(trial_env, tmp_path / "a"), whole)
    env_b = fresh_env(trial_env, tmp_path / "b")
    ckpt = tmp_path / "ckpt"
    with pytest.raises(Interrupted):
        run_trial(cfg, env_b, StopAfter(1, ckpt))  # epoch 1 of round 1
    with pytest.raises(Interrupted):
        run_trial(cfg, env_b, StopAfter(2, ckpt))  # round 1 done and cached, epoch 1 of round 2
    again = LocalReporter(ckpt, verbose=False, artifacts_dir=tmp_path / "again")
    got = run_trial(cfg, env_b, again)
    assert got["test_loss"] == expected["test_loss"]
    assert got["epochs_trained"] == expected["epochs_trained"] == 4
    a, b = weights(tmp_path / "whole"), weights(tmp_path / "again")
    assert all(torch.equal(a[k], b[k]) for k in a)
