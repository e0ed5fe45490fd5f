"""The trial flow as a plain function (no Ray, no MLflow): numbers, budgets, IMP rounds from
the shared cache, and resumes that end bit-identical to uninterrupted trials."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from pruning.storage import load_compact
from trainables.config import (
    DataConfig,
    DenseConfig,
    MeasureConfig,
    ModelConfig,
    Recipe,
    TrialConfig,
)
from trainables.dense import ensure_dense
from trainables.models import build_model
from trainables.reporter import LocalReporter
from trainables.retraining import LRSchedule, retraining_recipe
from trainables.runtime import TrialEnv
from trainables.trial import run_trial

# Under xdist one worker runs the module: its module-scoped fixtures are built once.
pytestmark = pytest.mark.xdist_group("trial_flow")

DATA = DataConfig(name="synthetic", train_size=512, val_size=128, test_size=256)
DENSE = DenseConfig(data=DATA, model=ModelConfig(width=0.125),
                    recipe=Recipe(epochs=2, lr=0.1, batch_size=64), seed=0, rewind_epoch=1)
FINETUNE = Recipe(epochs=2, lr=0.02, batch_size=64, patience=0)
QUICK_MEASURE = MeasureConfig(warmup=1, repeats=2, throughput_batch=8)

# Measured with the code before the method interface (commit ca0f97d) on this configuration,
# one thread: prune at 0.5, fine-tune 2 epochs; (test_acc, test_loss, train_loss per epoch).
PREVIOUS_RELEASE = {
    "magnitude": (0.73046875, 0.6827325224876404, [0.9548170417547226, 0.7589363008737564]),
    "structured": (0.35546875, 1.579530119895935, [1.8639790713787079, 1.5108720809221268]),
    "random": (0.26953125, 1.6471071243286133, [1.47792249917984, 1.0837131589651108]),
}


class Interrupted(Exception):
    """Stands in for a crash right after a checkpoint was written."""


class StopAfter(LocalReporter):
    """A LocalReporter that 'crashes' after its ``n``-th checkpoint."""

    def __init__(self, n: int, checkpoint_dir: Path) -> None:
        super().__init__(checkpoint_dir, verbose=False)
        self.n, self.count = n, 0

    def checkpoint(self, metrics, state, write_extra=None) -> None:  # noqa: ANN001
        super().checkpoint(metrics, state, write_extra)
        self.count += 1
        if self.count == self.n:
            raise Interrupted


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    # CPU kernels reduce in a thread-count-dependent order; one thread makes runs repeatable.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> TrialEnv:
    env = TrialEnv(storage=str(tmp_path_factory.mktemp("storage")), data_dir=str(data_dir))
    ensure_dense(DENSE, env, LocalReporter(verbose=False))
    return env


def _fresh_env(env: TrialEnv, where: Path) -> TrialEnv:
    """The same dense baseline in new storage (no round cache shared with other tests)."""
    shutil.copytree(Path(env.storage) / "dense", where / "dense")
    return TrialEnv(storage=str(where), data_dir=env.data_dir)


def _cfg(method: str, sparsity: float = 0.5, finetune: Recipe = FINETUNE,
         **params: float) -> TrialConfig:
    return TrialConfig(dense=DENSE, method=method, sparsity=sparsity, finetune=finetune,
                       measure=QUICK_MEASURE, method_params=tuple(sorted(params.items())))


def _rewind(epochs_budget: int | None = None) -> Recipe:
    equal = epochs_budget is not None
    ft = Recipe(epochs=epochs_budget or 1, lr=0.02, batch_size=64, patience=0)
    return retraining_recipe(DENSE.recipe, ft, "weight_rewind", DENSE.rewind_epoch, equal)


def _weights(artifacts: Path) -> dict[str, torch.Tensor]:
    model = load_compact(artifacts / "model" / "model.pt", lambda: build_model(
        "resnet18", 10, DENSE.model.width, 3))
    return model.state_dict()


@pytest.mark.parametrize("method", sorted(PREVIOUS_RELEASE))
def test_ported_methods_give_the_previous_release_numbers(env: TrialEnv, method: str) -> None:
    reporter = LocalReporter(verbose=False)
    out = run_trial(_cfg(method), env, reporter)
    acc, loss, train_losses = PREVIOUS_RELEASE[method]
    assert out["test_acc"] == acc
    assert out["test_loss"] == pytest.approx(loss, rel=1e-5)
    assert [v for _, v in reporter.history["train_loss"]] == pytest.approx(train_losses, rel=1e-5)
    assert abs(out["sparsity"] - 0.5) <= 0.005


def test_budgets_are_logged(env: TrialEnv) -> None:
    out = run_trial(_cfg("magnitude"), env, LocalReporter(verbose=False))
    assert out["epochs_trained"] == 2
    assert out["optimizer_steps"] == 2 * 8  # 512 images / batch 64
    assert out["epochs_total"] == DENSE.recipe.epochs + 2
    assert out["stopped_lr"] == pytest.approx(LRSchedule.cosine(0.02, 2).lr(1))
    control = run_trial(_cfg("unpruned", 0.0), env, LocalReporter(verbose=False))
    assert control["sparsity"] == 0.0 and control["epochs_trained"] == 2


def test_lottery_retrains_along_the_dense_schedule_from_the_rewind_epoch(env: TrialEnv) -> None:
    reporter = LocalReporter(verbose=False)
    out = run_trial(_cfg("lottery", finetune=_rewind()), env, reporter)
    dense_schedule = LRSchedule.cosine(DENSE.recipe.lr, DENSE.recipe.epochs)
    first_lr = reporter.history["lr"][0][1]
    assert first_lr == pytest.approx(dense_schedule.lr(DENSE.rewind_epoch))
    # By default the rest of the dense schedule: T - k epochs.
    assert out["epochs_trained"] == DENSE.recipe.epochs - DENSE.rewind_epoch


def test_imp_rounds_follow_the_geometric_schedule_and_are_shared(
    env: TrialEnv, tmp_path: Path
) -> None:
    env = _fresh_env(env, tmp_path)
    first = LocalReporter(verbose=False)
    out = run_trial(_cfg("imp", 0.5, _rewind(1), rate=0.2), env, first)
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
    second = run_trial(_cfg("imp", 0.6, _rewind(1), rate=0.2), env, LocalReporter(verbose=False))
    assert second["rounds"] == 5 and second["rounds_cached"] == 3
    assert second["rounds_trained"] == 1
    assert abs(second["sparsity"] - 0.6) <= 0.005


def test_gmp_resumed_mid_schedule_ends_bit_identical(env: TrialEnv, tmp_path: Path) -> None:
    cfg = _cfg("gmp", 0.8, Recipe(epochs=3, lr=0.02, batch_size=64, patience=0),
               start=0.0, end=0.6, update_every=2)
    whole = LocalReporter(verbose=False, artifacts_dir=tmp_path / "whole")
    expected = run_trial(cfg, env, whole)
    with pytest.raises(Interrupted):
        run_trial(cfg, env, StopAfter(1, tmp_path / "ckpt"))  # mid-ramp: after epoch 1 of 3
    resumed = LocalReporter(tmp_path / "ckpt", verbose=False, artifacts_dir=tmp_path / "again")
    got = run_trial(cfg, env, resumed)
    assert got["test_loss"] == expected["test_loss"] and got["test_acc"] == expected["test_acc"]
    a, b = _weights(tmp_path / "whole"), _weights(tmp_path / "again")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [s for s, _ in resumed.history["val_acc"]] == [2, 3]  # only the epochs it ran


def test_imp_resumed_in_a_prior_round_and_in_the_last_ends_bit_identical(
    env: TrialEnv, tmp_path: Path
) -> None:
    cfg = _cfg("imp", 0.36, _rewind(2), rate=0.2)  # two rounds of two epochs each
    whole = LocalReporter(verbose=False, artifacts_dir=tmp_path / "whole")
    expected = run_trial(cfg, _fresh_env(env, tmp_path / "a"), whole)
    env_b = _fresh_env(env, tmp_path / "b")
    ckpt = tmp_path / "ckpt"
    with pytest.raises(Interrupted):
        run_trial(cfg, env_b, StopAfter(1, ckpt))  # epoch 1 of round 1
    with pytest.raises(Interrupted):
        run_trial(cfg, env_b, StopAfter(2, ckpt))  # round 1 done and cached, epoch 1 of round 2
    again = LocalReporter(ckpt, verbose=False, artifacts_dir=tmp_path / "again")
    got = run_trial(cfg, env_b, again)
    assert got["test_loss"] == expected["test_loss"]
    assert got["epochs_trained"] == expected["epochs_trained"] == 4
    a, b = _weights(tmp_path / "whole"), _weights(tmp_path / "again")
    assert all(torch.equal(a[k], b[k]) for k in a)
