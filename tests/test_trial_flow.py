"""The trial flow as a plain function (no Ray, no MLflow): masks as torch.prune makes them,
budgets, lottery's schedule and IMP rounds from the shared cache."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.nn.utils import prune

from tests.trial_setup import (
    DENSE,
    cfg_for,
    fresh_env,
    rewind_recipe,
    weights,
)
from trainables.dense_cache import DenseCache
from trainables.models import build_model
from trainables.reporter import LocalReporter
from trainables.retraining import LRSchedule
from trainables.runtime import TrialEnv
from trainables.trial import run_trial

# Trial-flow fixtures (tests/conftest.py): one torch thread, a dense baseline trained once.
pytestmark = pytest.mark.usefixtures("one_thread")

def test_magnitude_keeps_torch_prunes_global_l1_mask_and_beats_random(
    trial_env: TrialEnv, tmp_path: Path
) -> None:
    """Machine-independent where the previous test pinned floats: the trial prunes the cached
    dense baseline exactly as ``torch.nn.utils.prune.global_unstructured`` (L1) does, keeps
    that mask through fine-tuning, and at 50% learns far above chance and above random."""
    dense = build_model("resnet18", 10, DENSE.model.width, 3)
    dense.load_state_dict(DenseCache(trial_env.storage, DENSE).weights("final"))
    layers = {n: m for n, m in dense.named_modules()
              if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)}
    prune.global_unstructured([(m, "weight") for m in layers.values()],
                              pruning_method=prune.L1Unstructured, amount=0.5)
    out = run_trial(cfg_for("magnitude"), trial_env,
                    LocalReporter(verbose=False, artifacts_dir=tmp_path / "magnitude"))
    kept = weights(tmp_path / "magnitude")
    for name, module in layers.items():
        assert torch.equal(kept[f"{name}.weight"] != 0, module.weight_mask.bool()), name
    assert abs(out["sparsity"] - 0.5) <= 0.005

    random = run_trial(cfg_for("random"), trial_env,
                       LocalReporter(verbose=False, artifacts_dir=tmp_path / "random"))
    drawn = weights(tmp_path / "random")
    masks = {f"{n}.weight": drawn[f"{n}.weight"] != 0 for n in layers}
    assert abs(random["sparsity"] - 0.5) <= 0.005
    # Global random pruning keeps about half of every layer (the larger, the closer).
    for name, mask in masks.items():
        if mask.numel() >= 1000:
            assert abs(mask.float().mean().item() - 0.5) < 0.05, name
    assert any(not torch.equal(mask, kept[n] != 0) for n, mask in masks.items())
    # 10 classes (chance 0.1), 256 test images: a standard error of about 0.03.
    assert out["test_acc"] > 0.5 and out["test_acc"] > random["test_acc"] + 0.1


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


