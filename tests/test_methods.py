"""Methods as training-time algorithms: schedules on numbers, hooks that change masks, and
the registry that checks names and parameters without loading torch."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import torch

from pruning.masks import MaskUpdate, mask_sparsity
from pruning.methods import make_method
from pruning.methods.base import Method, MethodContext, PruneResult
from pruning.methods.gmp import Gmp, GmpParams
from pruning.schedules import cubic, geometric_rounds
from tests.conftest import REPO
from trainables.config import Recipe
from trainables.data import DataSplits
from trainables.engine import TrainingLoop
from trainables.models import build_model

X = torch.zeros(1, 3, 32, 32)


def _splits(n: int = 64) -> DataSplits:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    return DataSplits(x, y, x[:16], y[:16], x[:16], y[:16], (0.5,) * 3, (0.25,) * 3, 10, 3,
                      tuple(str(i) for i in range(10)))


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("resnet18", width=0.0625)


def _ctx(model: torch.nn.Module, sparsity: float, steps: int, epochs: int) -> MethodContext:
    return MethodContext(sparsity, X, [model.fc], lambda w: {}, torch.Generator(), steps, epochs)


def test_cubic_schedule_is_monotone_and_exact_at_its_ends() -> None:
    values = [cubic(t, 10, 50, 0.9) for t in range(0, 70)]
    assert values[10] == 0.0 and values[50] == 0.9 and values[69] == 0.9
    assert all(b >= a for a, b in zip(values, values[1:], strict=False))
    # Zhu & Gupta's formula at the midpoint: s_f (1 - (1/2)^3).
    assert cubic(30, 10, 50, 0.9) == pytest.approx(0.9 * (1 - 0.5 ** 3))


@pytest.mark.parametrize(("target", "rounds"), [(0.2, 1), (0.5, 4), (0.9, 11), (0.95, 14)])
def test_imp_round_count_at_rate_0_2(target: float, rounds: int) -> None:
    schedule = geometric_rounds(target, 0.2)
    assert len(schedule) == rounds and schedule[-1] == target
    assert schedule[:-1] == pytest.approx([1 - 0.8 ** r for r in range(1, rounds)])
    assert make_method("imp", {"rate": 0.2}, target).rounds() == rounds


def test_gmp_masks_follow_the_cubic_schedule_and_only_final_steps_are_selectable() -> None:
    class Recording(Gmp):
        seen: list[tuple[int, float]] = []

        def after_step(self, step: int, model: Any, optimizer: Any,
                       masks: dict | None) -> MaskUpdate | None:
            self.seen.append((step, mask_sparsity(masks)))  # masks in force during `step`
            return super().after_step(step, model, optimizer, masks)

    model, splits = _model(), _splits(64)  # batch 8: 8 steps per epoch
    method = Recording(GmpParams(start=0.0, end=0.5, update_every=3), 0.8)
    ctx = _ctx(model, 0.8, steps=8, epochs=4)
    method.setup(0, ctx)
    start = method.begin_round(0, model, None, ctx)
    loop = TrainingLoop(start.model, splits, Recipe(epochs=4, lr=0.05, batch_size=8), 0,
                        torch.device("cpu"), method=method, masks=start.masks)
    while not loop.done:
        loop.run_epoch()
    total = sum(m.numel() for m in start.masks.values())
    updates = [3, 6, 9, 12, 15, 16]  # every 3 steps on the ramp, and its end (step 16 of 32)
    for step, sparsity in Recording.seen[1:]:
        last = max([u for u in updates if u < step], default=0)
        assert abs(sparsity - cubic(last, 0, 16, 0.8)) <= 1 / total, (step, sparsity)
    sparsities = [s for _, s in Recording.seen]
    assert all(b >= a for a, b in zip(sparsities, sparsities[1:], strict=False))
    assert abs(mask_sparsity(loop.masks.cpu()) - 0.8) <= 1 / total
    assert loop.best_epoch >= 2  # epoch 1 ended at step 8, before the target was reached


class Swap(Method):
    """conv1 keeps even positions, then at step 2 odd ones: half pruned, half regrown."""

    name = "swap"

    def begin_round(self, r: int, model: Any, masks: dict | None,
                    ctx: MethodContext) -> PruneResult:
        w = model.conv1.weight
        even = (torch.arange(w.numel()) % 2 == 0).view_as(w)
        self.even, self.checks = even, {}
        return PruneResult(model, {"conv1.weight": even}, structured=False)

    def after_backward(self, step: int, model: Any) -> None:
        if step == 3:  # new masks in force, before the optimizer step that follows them
            w = model.conv1.weight.detach()
            buf = self.optimizer.state[model.conv1.weight]["momentum_buffer"]
            self.checks["weights_zero"] = bool((w == 0).all())
            self.checks["momentum_zero"] = bool((buf == 0).all())

    def after_step(self, step: int, model: Any, optimizer: Any,
                   masks: dict | None) -> MaskUpdate | None:
        self.optimizer = optimizer
        if step == 3:
            w = model.conv1.weight.detach()
            self.checks["pruned_stay_zero"] = bool((w[self.even] == 0).all())
            self.checks["regrown_trained"] = bool((w[~self.even] != 0).any())
        return MaskUpdate({"conv1.weight": ~self.even}) if step == 2 else None


def test_a_mask_changed_by_a_hook_is_respected_by_the_next_optimizer_step() -> None:
    model, splits = _model(), _splits(32)
    method = Swap(make_method("magnitude", {}, 0.5).params, 0.5)
    start = method.begin_round(0, model, None, _ctx(model, 0.5, 4, 1))
    loop = TrainingLoop(start.model, splits, Recipe(epochs=1, lr=0.1, batch_size=8,
                                                    weight_decay=5e-4), 0, torch.device("cpu"),
                        method=method, masks=start.masks)
    loop.run_epoch()
    # Step 3 starts from zero everywhere in conv1: newly pruned weights were zeroed and
    # regrown ones start at zero, with their momentum reset.
    assert method.checks == {"weights_zero": True, "momentum_zero": True,
                             "pruned_stay_zero": True, "regrown_trained": True}
    half = model.conv1.weight.numel() // 2
    assert loop.mask_changes == {"pruned": half, "regrown": half, "updates": 1}


def test_names_and_parameters_check_without_importing_torch() -> None:
    code = ("import sys\n"
            "from pruning.methods import METHODS, make_method\n"
            "assert 'gmp' in METHODS.names() and 'imp' in METHODS\n"
            "m = make_method('imp', {'rate': 0.3}, 0.9)\n"
            "assert m.rounds() == 7, m.rounds()\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_the_augment_switch_of_the_data_config_is_honoured() -> None:
    losses = {}
    for augment in (True, False):
        loop = TrainingLoop(_model(), _splits(32), Recipe(epochs=1, lr=0.05, batch_size=8), 0,
                            torch.device("cpu"), augment=augment)
        losses[augment] = loop.run_epoch().train_loss
    assert losses[True] != losses[False]


def test_long_epochs_send_heartbeats_and_epochs_report_their_speed() -> None:
    beats: list[dict] = []
    recipe = Recipe(epochs=1, batch_size=16, lr=0.01, patience=0)
    loop = TrainingLoop(_model(), _splits(64), recipe, 0, torch.device("cpu"), augment=False,
                        heartbeat=beats.append, heartbeat_s=0.0)
    result = loop.run_epoch()
    # heartbeat_s=0: a beat after every batch but none before the first; 4 batches of 16.
    assert [round(b["fraction"], 2) for b in beats] == [0.25, 0.5, 0.75, 1.0]
    assert all(b["epoch"] == 1 and b["images_per_s"] > 0 for b in beats)
    speed = result.speed()
    assert result.images == 64 and speed["images_per_s"] > 0
    assert speed["epoch_time_s"] >= result.train_seconds > 0
    quiet = TrainingLoop(_model(), _splits(64), recipe, 0, torch.device("cpu"), augment=False,
                         heartbeat=beats.append, heartbeat_s=3600.0)
    quiet.run_epoch()
    assert len(beats) == 4  # short epochs stay silent
