"""The trial's plan (pure: rounds, schedules, budgets from the config) and the one place it
decides whether earlier rounds are shared through the round cache (``traits.cache_rounds``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import trainables.trial as trial_module
from pruning.methods import make_method
from pruning.methods.imp import Imp
from tests.trial_setup import DENSE, cfg_for, fresh_env, rewind_recipe
from trainables.reporter import LocalReporter
from trainables.retraining import LRSchedule
from trainables.runtime import TrialEnv
from trainables.trial_plan import plan_trial

pytestmark = pytest.mark.usefixtures("one_thread")


def test_imp_plan_has_its_geometric_rounds_all_cached_but_the_last() -> None:
    cfg = cfg_for("imp", 0.5, finetune=rewind_recipe(), rate=0.3)
    method = make_method("imp", {"rate": 0.3}, 0.5)
    plan = plan_trial(cfg, method, 512)
    assert [r.sparsity for r in plan.rounds] == pytest.approx([0.3, 0.5])
    assert [r.cached for r in plan.rounds] == [True, False]
    assert [r.last for r in plan.rounds] == [False, True]
    # Earlier rounds train their whole budget: no early stopping.
    assert plan.rounds[0].recipe.patience == 0
    assert plan.rounds[-1].recipe == cfg.finetune
    assert plan.steps_per_epoch == 512 // 64
    assert plan.epochs_planned == 2 * cfg.finetune.epochs
    assert plan.dense_epochs_used == DENSE.recipe.epochs


def test_group_norm_plan_trains_its_regularized_round_on_its_own_cosine() -> None:
    cfg = cfg_for("group_norm", 0.5, reg_epochs=3)
    plan = plan_trial(cfg, make_method("group_norm", {"reg_epochs": 3}, 0.5), 512)
    first, last = plan.rounds
    assert (first.sparsity, first.epochs, first.cached) == (0.0, 3, True)
    assert first.schedule == LRSchedule.cosine(cfg.finetune.lr, 3)
    assert last.sparsity == 0.5 and last.epochs == cfg.finetune.epochs


def test_sparse_training_from_theta0_counts_no_dense_epochs() -> None:
    for name in ("set", "rigl", "dsr"):
        plan = plan_trial(cfg_for(name, 0.8), make_method(name, {}, 0.8), 512)
        assert plan.dense_epochs_used == 0, name


class _UnsharedImp(Imp):
    """IMP whose rounds must not be shared (as a method whose early rounds depended on the
    target would): every round is trained inside the trial."""

    traits = dataclasses.replace(Imp.traits, cache_rounds=False)


def test_rounds_of_a_method_that_does_not_cache_them_are_trained_in_the_trial(
    trial_env: TrialEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = fresh_env(trial_env, tmp_path / "storage")
    params = make_method("imp", {"rate": 0.3}, 0.5).params
    monkeypatch.setattr(trial_module, "make_method",
                        lambda name, raw, sparsity: _UnsharedImp(params, sparsity))
    reporter = LocalReporter(verbose=False)
    out = trial_module.run_trial(cfg_for("imp", 0.5, finetune=rewind_recipe(), rate=0.3),
                                 env, reporter)
    assert not (Path(env.storage) / "rounds").exists()
    assert out["rounds"] == 2
    assert (out["rounds_cached"], out["rounds_trained"]) == (0, 1)
    assert abs(out["sparsity"] - 0.5) <= 0.005
    # Round 1 really trained at 30% and its epochs count in the budget.
    assert reporter.history["round.sparsity"][0][1] == pytest.approx(0.3, abs=0.005)
    assert out["epochs_trained"] == 2 * rewind_recipe().epochs
