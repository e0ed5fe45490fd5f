"""What the trial-flow tests share: a small synthetic configuration, its dense baseline trained
once per module, and reporters that stop a trial the way a crash would."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from pruning.deploy.storage import load_compact
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
from trainables.retraining import retraining_recipe
from trainables.runtime import TrialEnv

DATA = DataConfig(name="synthetic", train_size=512, val_size=128, test_size=256)
DENSE = DenseConfig(data=DATA, model=ModelConfig(width=0.125),
                    recipe=Recipe(epochs=2, lr=0.1, batch_size=64), seed=0, rewind_epoch=1)
FINETUNE = Recipe(epochs=2, lr=0.02, batch_size=64, patience=0)
QUICK_MEASURE = MeasureConfig(warmup=1, repeats=2, throughput_batch=8)

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


@contextmanager
def single_thread() -> Iterator[None]:
    """CPU kernels reduce in a thread-count-dependent order; one thread makes runs repeatable."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def make_env(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> TrialEnv:
    """Fresh storage holding the dense baseline of ``DENSE``, trained here."""
    env = TrialEnv(storage=str(tmp_path_factory.mktemp("storage")), data_dir=str(data_dir))
    ensure_dense(DENSE, env, LocalReporter(verbose=False))
    return env


def fresh_env(env: TrialEnv, where: Path) -> TrialEnv:
    """The same dense baseline in new storage (no round cache shared with other tests)."""
    shutil.copytree(Path(env.storage) / "dense", where / "dense")
    return TrialEnv(storage=str(where), data_dir=env.data_dir)


def cfg_for(method: str, sparsity: float = 0.5, finetune: Recipe = FINETUNE,
         **params: float) -> TrialConfig:
    return TrialConfig(dense=DENSE, method=method, sparsity=sparsity, finetune=finetune,
                       measure=QUICK_MEASURE, method_params=tuple(sorted(params.items())))


def rewind_recipe(epochs_budget: int | None = None) -> Recipe:
    equal = epochs_budget is not None
    ft = Recipe(epochs=epochs_budget or 1, lr=0.02, batch_size=64, patience=0)
    return retraining_recipe(DENSE.recipe, ft, "weight_rewind", DENSE.rewind_epoch, equal)


def weights(artifacts: Path) -> dict[str, torch.Tensor]:
    model = load_compact(artifacts / "model" / "model.pt", lambda: build_model(
        "resnet18", 10, DENSE.model.width, 3))
    return model.state_dict()


