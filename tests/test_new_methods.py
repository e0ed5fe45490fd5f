"""LAMP, SNIP, static sparse training and N:M sparsity on numbers: N:M groups on Linear and
Conv2d layouts, LAMP scores by hand, SNIP's |g * w| against autograd with BatchNorm left alone,
static's ERK counts and a mask that never moves, traits, budgets and parameter checks."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import torch
from torch import nn

from pruning.allocation import layer_counts, nm_masks
from pruning.measure import prunable_weights
from pruning.methods import Budget, make_method, method_class, parse_params
from pruning.methods.base import MethodContext
from pruning.scores import score
from pruning.scores.lamp import lamp_scores
from tests.conftest import REPO
from trainables.config import Recipe
from trainables.data import DataSplits
from trainables.engine import TrainingLoop
from trainables.models import build_model

X = torch.zeros(1, 3, 32, 32)


def _ctx(model: nn.Module, sparsity: float, batches: list | None = None,
         steps: int = 1, epochs: int = 1) -> MethodContext:
    calibration = (lambda k: iter(batches[:k])) if batches is not None else None
    ctx = MethodContext(sparsity, X, [], lambda w: {}, torch.Generator().manual_seed(1),
                        steps, epochs)
    if calibration is not None:
        ctx.calibration = calibration
    return ctx


def _grouped(w: torch.Tensor, m: int) -> torch.Tensor:
    """(groups, m): the input weights of every output (and kernel position) in runs of m."""
    return (w.permute(0, 2, 3, 1) if w.dim() == 4 else w).reshape(-1, m)


class _Net(nn.Module):
    """Stem with 3 inputs and a head with 10 (not multiples of 4), the rest groupable."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.stem = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.conv = nn.Conv2d(8, 12, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(12)
        self.fc1 = nn.Linear(12, 10)
        self.fc2 = nn.Linear(10, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn(self.conv(torch.relu(self.stem(x)))))
        return self.fc2(torch.relu(self.fc1(x.mean((2, 3)))))


# -- N:M ---------------------------------------------------------------------------------------
def test_nm_masks_group_consecutive_inputs_by_hand() -> None:
    lin = torch.tensor([[1.0, 4.0, 2.0, 3.0, 8.0, 7.0, 6.0, 5.0]])
    masks, skipped = nm_masks({"l": lin}, 2, 4)
    assert masks["l"].tolist() == [[False, True, False, True, True, True, False, False]]
    # A convolution groups its input channels at the same (out, kh, kw), not its kernel.
    conv = torch.tensor([[1.0, 9.0], [2.0, 8.0], [3.0, 7.0], [4.0, 6.0]]).view(1, 4, 1, 2)
    masks, skipped = nm_masks({"c": conv, "odd": torch.ones(4, 6)}, 2, 4)
    assert masks["c"].view(4, 2).tolist() == [[False, True], [False, True], [True, False],
                                              [True, False]]
    assert skipped == ["odd"] and bool(masks["odd"].all())


@pytest.mark.parametrize(("n", "m"), [(2, 4), (1, 4), (2, 6)])
def test_nm_keeps_exactly_n_of_every_m_input_weights(n: int, m: int) -> None:
    model = _Net()
    if m == 6:  # 12 inputs group by 6 too
        model.conv = nn.Conv2d(6, 12, 3, padding=1, bias=False)
    dense = {k: p.detach().clone() for k, p in prunable_weights(model)}
    sparsity = 1 - n / m
    result = make_method("nm", {"n": n, "m": m}, sparsity).begin_round(
        0, model, None, _ctx(model, sparsity))
    skipped = {k for k, w in dense.items() if w.shape[1] % m}
    assert result.info["nm_layers_dense"] == len(skipped) >= 2  # the stem and fc2 (m = 4)
    for name, keep in result.masks.items():
        if name in skipped:
            assert bool(keep.all()), name
            continue
        groups, w = _grouped(keep, m), _grouped(dense[name].abs(), m)
        assert bool((groups.sum(1) == n).all()), name
        # The kept ones are the group's largest magnitudes.
        kept_min = w.masked_fill(~groups, float("inf")).min(1).values
        pruned_max = w.masked_fill(groups, float("-inf")).max(1).values
        assert bool((kept_min >= pruned_max).all()), name
        assert bool((dict(model.named_parameters())[name].detach()[~keep] == 0).all())


def test_nm_runs_only_at_its_own_sparsity() -> None:
    cls = method_class("nm")
    params = parse_params(cls, {})
    with pytest.raises(ValueError) as err:
        cls.check(params, Budget(0.7, 4, 1, 2))
    assert str(err.value) == "nm: sparsity 0.7: 2:4 sparsity is 0.5; set sparsities to 0.5 for nm"
    cls.check(params, Budget(0.5, 4, 1, 2))
    cls.check(params, Budget(0.5 + 1e-12, 4, 1, 2))  # float-tolerant
    cls.check(parse_params(cls, {"n": 1, "m": 4}), Budget(0.75, 4, 1, 2))
    with pytest.raises(ValueError, match="1:4 sparsity is 0.75"):
        cls.check(parse_params(cls, {"n": 1}), Budget(0.5, 4, 1, 2))
    with pytest.raises(ValueError, match="input width divisible by 4"):
        make_method("nm", {}, 0.5).check_model(nn.Linear(3, 5), X, [])


# -- LAMP --------------------------------------------------------------------------------------
def test_lamp_scores_by_hand_and_against_the_definition() -> None:
    assert lamp_scores(torch.tensor([1.0, 2.0, 3.0])).tolist() == \
        pytest.approx([1 / 14, 4 / 13, 1.0])
    # Order and sign do not matter: w^2 over the weights at least as large.
    assert lamp_scores(torch.tensor([[-3.0, 1.0], [2.0, 0.0]])).view(-1).tolist() == \
        pytest.approx([1.0, 1 / 14, 4 / 13, 0.0])
    assert lamp_scores(torch.zeros(3)).tolist() == [0.0, 0.0, 0.0]
    w = torch.randn(5, 7, generator=torch.Generator().manual_seed(0))
    sq = w.double().flatten() ** 2
    slow = torch.stack([s / sq[sq >= s].sum() for s in sq])  # no ties in randn
    assert torch.allclose(lamp_scores(w).view(-1).double(), slow, rtol=1e-6)


def test_lamp_never_empties_a_layer_where_global_magnitude_does() -> None:
    def net() -> nn.Module:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 4, bias=False), nn.Linear(4, 16, bias=False))
        with torch.no_grad():
            model[0].weight.mul_(1e-3)  # 16 tiny weights, 64 large ones
        return model

    kept = {}
    for method in ("magnitude", "lamp"):
        model = net()
        result = make_method(method, {}, 0.6).begin_round(0, model, None, _ctx(model, 0.6))
        kept[method] = {n: int(k.sum()) for n, k in result.masks.items()}
        assert sum(kept[method].values()) == 80 - 48
    assert kept["magnitude"]["0.weight"] == 0
    assert kept["lamp"]["0.weight"] > 0 and kept["lamp"]["1.weight"] > 0
    scores = score("lamp")(net(), None)
    assert all(float(s.max()) == 1.0 for s in scores.values())


# -- SNIP --------------------------------------------------------------------------------------
def _batches(k: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(2)
    return [(torch.randn(6, 3, 8, 8, generator=g), torch.randint(0, 10, (6,), generator=g))
            for _ in range(k)]


@pytest.mark.parametrize("batches", [1, 2])
def test_snip_scores_are_g_times_w_and_leave_the_model_alone(batches: int) -> None:
    model, data = _Net(), _batches(2)
    before = copy.deepcopy(model.state_dict())
    ref = copy.deepcopy(model).train()
    weights = [p for _, p in prunable_weights(ref)]
    grads = [torch.zeros_like(w) for w in weights]
    for x, y in data[:batches]:
        for total, g in zip(grads, torch.autograd.grad(
                nn.functional.cross_entropy(ref(x), y), weights), strict=True):
            total += g / batches
    got = score("snip")(model, _ctx(model, 0.5, data), batches=batches)
    for (name, w), g in zip(prunable_weights(model), grads, strict=True):
        assert torch.allclose(got[name], (g * w.detach()).abs(), rtol=1e-5, atol=1e-8), name
    after = model.state_dict()  # BatchNorm running statistics and weights untouched
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert int(after["bn.num_batches_tracked"]) == 0
    assert all(p.grad is None for p in model.parameters())


def test_snip_masks_theta_0_and_trains_from_it() -> None:
    model, data = _Net(), _batches(2)
    method = make_method("snip", {"batches": 2}, 0.8)
    assert (method.traits.start_from, method.traits.retraining) == ("init", "from_init")
    assert method.dense_epochs_used(10, 2) == 0
    expected = score("snip")(copy.deepcopy(model), _ctx(model, 0.8, data), batches=2)
    result = method.begin_round(0, model, None, _ctx(model, 0.8, data))
    total = sum(p.numel() for _, p in prunable_weights(model))
    assert sum(int(k.sum()) for k in result.masks.values()) == total - round(0.8 * total)
    flat = torch.cat([expected[n].flatten() for n in result.masks])
    keep = torch.cat([k.flatten() for k in result.masks.values()])
    assert float(flat[keep].min()) >= float(flat[~keep].max())


# -- static ------------------------------------------------------------------------------------
def _splits(n: int = 32) -> DataSplits:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    return DataSplits(x, y, x[:16], y[:16], x[:16], y[:16], (0.5,) * 3, (0.25,) * 3, 10, 3,
                      tuple(str(i) for i in range(10)))


def _resnet() -> nn.Module:
    torch.manual_seed(0)
    return build_model("resnet18", width=0.0625)


@pytest.mark.parametrize("allocation", ["erk", "uniform"])
def test_static_keeps_the_allocations_counts_and_its_mask_never_moves(allocation: str) -> None:
    model = _resnet()
    method = make_method("static", {"allocation": allocation}, 0.9)
    ctx = _ctx(model, 0.9, steps=4, epochs=2)
    method.setup(0, ctx)
    start = method.begin_round(0, model, None, ctx)
    shapes = {n: tuple(p.shape) for n, p in prunable_weights(model)}
    counts = {n: int(k.sum()) for n, k in start.masks.items()}
    assert counts == layer_counts(shapes, 0.9, allocation)
    assert start.info == {}
    first = {n: k.clone() for n, k in start.masks.items()}
    loop = TrainingLoop(start.model, _splits(), Recipe(epochs=2, lr=0.05, batch_size=8), 0,
                        torch.device("cpu"), method=method, masks=start.masks)
    updates = []
    while not loop.done:
        loop.run_epoch()
        updates += loop.take_updates()
    assert loop.step == 8 and updates == []
    assert loop.mask_changes == {"pruned": 0, "regrown": 0, "updates": 0}
    params = dict(loop.model.named_parameters())
    for n, k in loop.masks.as_dict().items():
        assert torch.equal(k.cpu(), first[n].cpu()), n
        assert bool((params[n].detach()[~k] == 0).all()), n


def test_static_starts_from_set_s_mask_and_is_not_dynamic() -> None:
    masks = {}
    for name in ("static", "set"):
        model = _resnet()
        method = make_method(name, {}, 0.8)
        ctx = _ctx(model, 0.8, steps=4, epochs=1)
        method.setup(0, ctx)
        masks[name] = method.begin_round(0, model, None, ctx).masks
    assert all(torch.equal(masks["static"][n], masks["set"][n]) for n in masks["set"])
    traits = method_class("static").traits
    assert (traits.start_from, traits.retraining, traits.dynamic) == ("init", "from_init", False)
    assert make_method("static", {}, 0.8).dense_epochs_used(10, 2) == 0
    assert [f for f, _ in make_method("static", {}, 0.8).params.items()] == ["allocation"]


# -- parameters --------------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "raw", "message"), [
    ("nm", {"n": 4}, "n: must be within 1..3 (below m = 4), got 4"),
    ("nm", {"n": 0}, "n: must be within 1..3 (below m = 4), got 0"),
    ("nm", {"m": 1}, "m: must be within 2..64, got 1"),
    ("nm", {"m": 128}, "m: must be within 2..64, got 128"),
    ("snip", {"batches": 0}, "batches: must be at least 1, got 0"),
    ("static", {"allocation": "global"}, "allocation: must be one of uniform, erk, got 'global'"),
])
def test_new_methods_reject_bad_parameters_in_one_line(method: str, raw: dict,
                                                       message: str) -> None:
    cls = method_class(method)
    with pytest.raises(ValueError) as err:
        cls.Params(**raw).check()
    assert str(err.value) == message
    with pytest.raises(ValueError) as err:
        parse_params(cls, raw)
    assert str(err.value) == f"method_params.{method}.{message}"


@pytest.mark.parametrize(("method", "key"), [("static", "drop_fraction"),
                                             ("lamp", "allocation"), ("snip", "allocation")])
def test_new_methods_know_only_their_own_parameters(method: str, key: str) -> None:
    with pytest.raises(ValueError, match=f"unknown parameter '{key}'"):
        parse_params(method_class(method), {key: 1})


def test_new_methods_check_without_importing_torch() -> None:
    code = ("import sys\n"
            "from pruning.methods import Budget, make_method, method_class, parse_params\n"
            "for name, s in (('lamp', 0.9), ('snip', 0.9), ('static', 0.9), ('nm', 0.5)):\n"
            "    cls = method_class(name)\n"
            "    cls.check(parse_params(cls, {}), Budget(s, 4, 1, 2))\n"
            "    make_method(name, {}, s)\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
