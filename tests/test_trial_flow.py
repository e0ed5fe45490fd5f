"""The trial flow as a plain function (no Ray, no MLflow): the previous release's numbers,
budgets, lottery's schedule and IMP rounds from the shared cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.trial_setup import (
    DENSE,
    cfg_for,
    fresh_env,
    rewind_recipe,
)
from trainables.models import build_model
from trainables.reporter import LocalReporter
from trainables.retraining import LRSchedule
from trainables.runtime import TrialEnv
from trainables.trial import run_trial

# Trial-flow fixtures (tests/conftest.py): one torch thread, a dense baseline trained once.
pytestmark = pytest.mark.usefixtures("one_thread")

# Measured with the code before the method interface (commit ca0f97d) on this configuration,
# one thread: prune at 0.5, fine-tune 2 epochs; (test_acc, test_loss, train_loss per epoch).
# `structured` left this table when it became Li et al.'s filter L1 with a closed-form
# allocation; its old criterion lives on as `group_l1` (tests/test_channel_pruning.py checks
# it ranks channels exactly as torch-pruning's group magnitude does).
PREVIOUS_RELEASE = {
    "magnitude": (0.73046875, 0.6827325224876404, [0.9548170417547226, 0.7589363008737564]),
    "random": (0.26953125, 1.6471071243286133, [1.47792249917984, 1.0837131589651108]),
}


@pytest.mark.parametrize("method", sorted(PREVIOUS_RELEASE))
def test_ported_methods_give_the_previous_release_numbers(trial_env: TrialEnv, method: str) -> None:
    reporter = LocalReporter(verbose=False)
    out = run_trial(cfg_for(method), trial_env, reporter)
    acc, loss, train_losses = PREVIOUS_RELEASE[method]
    assert out["test_acc"] == acc
    assert out["test_loss"] == pytest.approx(loss, rel=1e-5)
    assert [v for _, v in reporter.history["train_loss"]] == pytest.approx(train_losses, rel=1e-5)
    assert abs(out["sparsity"] - 0.5) <= 0.005


def test_budgets_are_logged(trial_env: TrialEnv) -> None:
    out = run_trial(cfg_for("magnitude"), trial_env, LocalReporter(verbose=False))
    assert out["epochs_trained"] == 2
    assert out["optimizer_steps"] == 2 * 8  # 512 images / batch 64
    assert out["epochs_total"] == DENSE.recipe.epochs + 2
    assert out["stopped_lr"] == pytest.approx(LRSchedule.cosine(0.02, 2).lr(1))
    control = run_trial(cfg_for("unpruned", 0.0), trial_env, LocalReporter(verbose=False))
    assert control["sparsity"] == 0.0 and control["epochs_trained"] == 2


def test_lottery_retrains_along_the_dense_schedule_from_the_rewind_epoch(
    trial_env: TrialEnv,
) -> None:
    reporter = LocalReporter(verbose=False)
    out = run_trial(cfg_for("lottery", finetune=rewind_recipe()), trial_env, reporter)
    dense_schedule = LRSchedule.cosine(DENSE.recipe.lr, DENSE.recipe.epochs)
    first_lr = reporter.history["lr"][0][1]
    assert first_lr == pytest.approx(dense_schedule.lr(DENSE.rewind_epoch))
    # By default the rest of the dense schedule: T - k epochs.
    assert out["epochs_trained"] == DENSE.recipe.epochs - DENSE.rewind_epoch


def test_imp_rounds_follow_the_geometric_schedule_and_are_shared(
    trial_env: TrialEnv, tmp_path: Path
) -> None:
    trial_env = fresh_env(trial_env, tmp_path)
    first = LocalReporter(verbose=False)
    out = run_trial(cfg_for("imp", 0.5, rewind_recipe(1), rate=0.2), trial_env, first)
    rounds = first.history["round.sparsity"]
    assert [step for step, _ in rounds] == [1, 2, 3, 4]
    # 1 - 0.8^r for the rounds before the last; the last stops exactly at the target.
    total = sum(p.numel() for n, p in build_model("resnet18", 10, 0.125).named_parameters()
                if p.dim() > 1)
    for (r, sparsity), expected in zip(rounds, [0.2, 0.36, 0.488, 0.5], strict=True):
        assert abs(sparsity - (1 - 0.8 ** r if r < 4 else expected)) <= 1 / total
    assert out["rounds"] == 4 and out["rounds_trained"] == 3 and out["rounds_cached"] == 0
    assert out["epochs_trained"] == 4 and abs(out["sparsity"] - 0.5) <= 0.005
    # A later trial of the same seed at a higher target continues from the cached rounds.
    second = run_trial(cfg_for("imp", 0.6, rewind_recipe(1), rate=0.2), trial_env,
                       LocalReporter(verbose=False))
    assert second["rounds"] == 5 and second["rounds_cached"] == 3
    assert second["rounds_trained"] == 1
    assert abs(second["sparsity"] - 0.6) <= 0.005


