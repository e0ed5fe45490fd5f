"""Dynamic sparse training (DSR, SET, RigL) on numbers: allocations, the drop-fraction
schedule, sparsity held at the target through every update, regrowth from zero with fresh
momentum, DSR's per-layer shares and threshold, RigL's gradient criterion, CSR storage and
sparse CPU execution."""

from __future__ import annotations

import io
import math
from typing import Any

import pytest
import torch
from torch import nn

from pruning.allocation import erk_densities, layer_counts, random_masks
from pruning.deploy.sparse_exec import sparse_inference
from pruning.deploy.storage import decode_csr, encode_csr, save_model
from pruning.dynamic.regrowth import proportional_counts
from pruning.measure import prunable_weights, state_dict_bytes
from pruning.methods import make_method
from pruning.methods.base import MethodContext
from pruning.schedules import cosine_decay
from trainables.config import Recipe
from trainables.data import DataSplits
from trainables.engine import TrainingLoop
from trainables.models import build_model

X = torch.zeros(1, 3, 32, 32)
DYNAMIC = ("dsr", "set", "rigl")


def _splits(n: int = 64) -> DataSplits:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    return DataSplits(x, y, x[:16], y[:16], x[:16], y[:16], (0.5,) * 3, (0.25,) * 3, 10, 3,
                      tuple(str(i) for i in range(10)))


def _model(width: float = 0.0625) -> nn.Module:
    torch.manual_seed(0)
    return build_model("resnet18", width=width)


def _ctx(model: nn.Module, sparsity: float, steps: int, epochs: int) -> MethodContext:
    return MethodContext(sparsity, X, [model.fc], lambda w: {},
                         torch.Generator().manual_seed(1), steps, epochs)


def _shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    return {n: tuple(p.shape) for n, p in prunable_weights(model)}


# -- allocation and schedule ------------------------------------------------------------------
def test_erk_is_denser_for_small_layers_and_meets_the_budget_exactly() -> None:
    shapes = _shapes(_model(0.25))
    dens = erk_densities(shapes, 0.1)
    total = sum(math.prod(s) for s in shapes.values())
    kept = sum(dens[n] * math.prod(s) for n, s in shapes.items())
    assert kept == pytest.approx(0.1 * total, rel=1e-9)
    assert all(0 < d <= 1 for d in dens.values())
    # Density follows sum(shape) / prod(shape): the 3-channel stem and the classifier are far
    # denser than the widest 3x3 convolution.
    assert dens["conv1.weight"] > 5 * dens["layer4.1.conv2.weight"]
    assert dens["fc.weight"] > dens["layer4.1.conv2.weight"]
    # At low sparsity the small layers saturate at 1 and the rest is solved again.
    full = erk_densities(shapes, 0.8)
    assert full["conv1.weight"] == 1.0
    for allocation in ("uniform", "erk"):
        counts = layer_counts(shapes, 0.9, allocation)
        assert sum(counts.values()) == round(0.1 * total)
    with pytest.raises(ValueError, match="at least one prunable layer"):
        erk_densities({}, 0.1)


def test_rigl_drop_fraction_follows_the_cosine_of_the_paper() -> None:
    assert cosine_decay(0, 1000, 0.3) == pytest.approx(0.3)
    assert cosine_decay(500, 1000, 0.3) == pytest.approx(0.15)
    assert cosine_decay(250, 1000, 0.3) == pytest.approx(0.15 * (1 + math.cos(math.pi / 4)))
    assert cosine_decay(1000, 1000, 0.3) == 0.0 and cosine_decay(1200, 1000, 0.3) == 0.0


def test_proportional_counts_split_by_share_and_respect_capacity() -> None:
    assert proportional_counts(100, {"a": 300, "b": 100}, {"a": 1000, "b": 1000}) == \
        {"a": 75, "b": 25}
    # A full layer's share goes to the others; the total is kept while there is room.
    assert proportional_counts(100, {"a": 300, "b": 100}, {"a": 10, "b": 1000}) == \
        {"a": 10, "b": 90}
    assert sum(proportional_counts(7, {"a": 1, "b": 1, "c": 1},
                                   {"a": 9, "b": 9, "c": 9}).values()) == 7


# -- training with updates --------------------------------------------------------------------
class _Spy:
    """Wraps a method's after_step: the masks in force and the weights at every step."""

    def __init__(self, method: Any) -> None:
        self.method, self.kept, self.nonzero_outside = method, [], 0
        self.inner = method.after_step
        method.after_step = self

    def __call__(self, step: int, model: nn.Module, optimizer: Any, masks: dict) -> Any:
        self.kept.append({n: int(k.sum()) for n, k in masks.items()})
        params = dict(model.named_parameters())
        self.nonzero_outside += sum(int((params[n].detach()[~k] != 0).sum())
                                    for n, k in masks.items())
        return self.inner(step, model, optimizer, masks)


@pytest.mark.parametrize("name", DYNAMIC)
def test_sparsity_stays_at_the_target_through_every_update(name: str) -> None:
    model, splits = _model(), _splits(64)  # batch 8: 8 steps per epoch
    method = make_method(name, {"update_every": 2, "end": 1.0}, 0.9)
    ctx = _ctx(model, 0.9, steps=8, epochs=3)
    method.setup(0, ctx)
    start = method.begin_round(0, model, None, ctx)
    first = {n: k.clone() for n, k in start.masks.items()}
    spy = _Spy(method)
    loop = TrainingLoop(start.model, splits, Recipe(epochs=3, lr=0.05, batch_size=8,
                                                    weight_decay=5e-4), 0,
                        torch.device("cpu"), method=method, masks=start.masks)
    updates = []
    while not loop.done:
        loop.run_epoch()
        updates += loop.take_updates()
    total = sum(p.numel() for _, p in prunable_weights(model))
    target = round(0.1 * total)
    assert len(updates) == 11  # steps 2, 4, ..., 22 (the last step, 24, is the end)
    for kept in spy.kept:  # counted from the mask tensors in force at every step
        assert sum(kept.values()) == target
    if name != "dsr":  # SET and RigL keep each layer's count; DSR moves them
        assert all(k == spy.kept[0] for k in spy.kept)
    assert spy.nonzero_outside == 0  # no weight outside the mask was ever nonzero
    nonzero = sum(int(torch.count_nonzero(p)) for _, p in prunable_weights(model))
    assert nonzero <= target
    assert sum(r for _, _, r in updates) == loop.mask_changes["regrown"] > 0
    assert all(p == r for _, p, r in updates)  # as many regrown as pruned
    changed = sum(int((first[n].cpu() ^ k.cpu()).sum()) for n, k in loop.masks.as_dict().items())
    assert changed > 0  # the connectivity moved


def test_regrown_weights_start_at_zero_with_zero_momentum() -> None:
    model, splits = _model(), _splits(64)
    method = make_method("set", {"update_every": 10_000}, 0.8)
    ctx = _ctx(model, 0.8, steps=8, epochs=2)
    method.setup(0, ctx)
    start = method.begin_round(0, model, None, ctx)
    loop = TrainingLoop(start.model, splits, Recipe(epochs=2, lr=0.05, batch_size=8), 0,
                        torch.device("cpu"), method=method, masks=start.masks)
    loop.run_epoch()  # momentum now nonzero on every active weight
    before = {n: k.clone() for n, k in loop.masks.as_dict().items()}
    update = method.update(8, loop.model, loop.masks.as_dict())
    loop._install(update)
    params = dict(loop.model.named_parameters())
    grown_any = 0
    for n, grown in update.grown.items():
        p = params[n]  # grown may include positions just dropped: they restart at zero too
        buf = loop.optimizer.state[p]["momentum_buffer"]
        assert bool((p.detach()[grown] == 0).all()) and bool((buf[grown] == 0).all())
        dropped = before[n] & ~update.masks[n]
        assert bool((p.detach()[dropped] == 0).all()) and bool((buf[dropped] == 0).all())
        grown_any += int(grown.sum())
    assert grown_any == loop.mask_changes["regrown"] > 0


def test_set_drops_each_layers_smallest_magnitudes() -> None:
    model = _model()
    method = make_method("set", {"drop_fraction": 0.25, "update_every": 1}, 0.5)
    ctx = _ctx(model, 0.5, steps=4, epochs=1)
    method.setup(0, ctx)
    start = method.begin_round(0, model, None, ctx)
    update = method.update(1, model, start.masks)
    params = dict(model.named_parameters())
    for n, keep in start.masks.items():
        w = params[n].detach().abs()
        dropped = keep & ~update.masks[n] | (update.grown[n] & keep)
        k = round(0.25 * int(keep.sum()))
        assert int(dropped.sum()) == k
        survivors = w[keep & ~dropped]
        if k and survivors.numel():
            assert float(w[dropped].max()) <= float(survivors.min())


def test_dsr_regrows_in_proportion_to_surviving_weights_and_moves_its_threshold() -> None:
    net = nn.Sequential(nn.Linear(100, 100, bias=False), nn.Linear(100, 100, bias=False))
    with torch.no_grad():
        net[0].weight.fill_(1.0)
        net[1].weight.fill_(1.0)
        # Layer 0: 300 active weights, 100 of them tiny; layer 1: 600 active, 100 tiny.
        net[0].weight.view(-1)[:100] = 1e-4
        net[1].weight.view(-1)[:100] = 1e-4
    masks = {"0.weight": torch.zeros(100, 100, dtype=torch.bool),
             "1.weight": torch.zeros(100, 100, dtype=torch.bool)}
    masks["0.weight"].view(-1)[:300] = True
    masks["1.weight"].view(-1)[:600] = True
    method = make_method("dsr", {"drop_fraction": 0.5, "threshold": 1e-3}, 0.5)
    method.setup(0, MethodContext(0.5, None, [], lambda w: {}, torch.Generator(), 10, 10))
    update = method.update(1, net, masks)
    survivors = {"0.weight": 200, "1.weight": 500}
    grown = {n: int(g.sum()) for n, g in update.grown.items()}
    assert grown == proportional_counts(200, survivors, {"0.weight": 9800, "1.weight": 9500})
    assert grown == {"0.weight": 57, "1.weight": 143}  # 200 x 2/7 and 200 x 5/7
    assert sum(int(m.sum()) for m in update.masks.values()) == 900
    assert all(not bool((net[i].weight.detach().view(-1)[:100][
        update.masks[f"{i}.weight"].view(-1)[:100] & ~update.grown[f"{i}.weight"].view(-1)[:100]
    ]).any()) for i in (0, 1))  # every weight below H was pruned
    # 200 pruned against a target of 0.5 x 900 = 450: too few, so H doubles; too many halves.
    assert method.threshold == pytest.approx(2e-3)
    assert method.next_threshold(900, 450) == pytest.approx(1e-3)
    assert method.next_threshold(450, 450) == pytest.approx(2e-3)


def test_rigl_regrows_where_the_dense_gradient_is_largest() -> None:
    net = nn.Sequential(nn.Linear(4, 4, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.arange(1.0, 17.0).view(4, 4))
    keep = torch.zeros(4, 4, dtype=torch.bool)
    keep.view(-1)[8:] = True  # the eight largest weights are active
    net[0].weight.data.mul_(keep)
    net[0].weight.grad = torch.zeros(4, 4)
    net[0].weight.grad.view(-1)[[0, 3, 5, 6]] = torch.tensor([0.1, -5.0, 3.0, 0.2])
    method = make_method("rigl", {"drop_fraction": 0.5, "update_every": 1, "end": 1.0}, 0.5)
    method.setup(0, MethodContext(0.5, None, [], lambda w: {}, torch.Generator(), 10, 10))
    method.after_backward(1, net)  # update steps read |grad| here
    update = method.update(1, net, {"0.weight": keep})
    # Steps 10 x 10 = 100, f(1) = 0.25 (1 + cos(pi / 100)) = 0.4999: 4 of 8 active dropped
    # (the smallest, at positions 8..11), and 4 grown at the largest |grad| among the rest:
    # positions 3, 5, 6 and 0 (|grad| 5, 3, 0.2, 0.1).
    assert method.drop_fraction(1) == pytest.approx(0.25 * (1 + math.cos(math.pi / 100)))
    grown = update.grown["0.weight"].view(-1).nonzero().flatten().tolist()
    assert grown == [0, 3, 5, 6]
    kept = update.masks["0.weight"].view(-1).nonzero().flatten().tolist()
    assert kept == [0, 3, 5, 6, 12, 13, 14, 15]


@pytest.mark.parametrize(("params", "message"), [
    ({"drop_fraction": 1.0}, "drop_fraction: must be in \\(0, 1\\)"),
    ({"drop_fraction": 0}, "drop_fraction: must be in \\(0, 1\\)"),
    ({"update_every": 0}, "update_every: must be at least 1"),
    ({"allocation": "global"}, "allocation: must be one of uniform, erk"),
])
@pytest.mark.parametrize("name", DYNAMIC)
def test_bad_parameters_are_refused(name: str, params: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_method(name, params, 0.9)


def test_a_model_without_prunable_layers_is_refused() -> None:
    method = make_method("rigl", {}, 0.9)
    with pytest.raises(ValueError, match="no prunable"):
        method.check_model(nn.Sequential(nn.Flatten(), nn.BatchNorm1d(3)), X, [])


# -- storage, execution ----------------------------------------------------------------------
def _masked(width: float, sparsity: float) -> nn.Module:
    model = _model(width).eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):  # non-trivial statistics, so folding is exercised
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    masks = random_masks(prunable_weights(model),
                         layer_counts(_shapes(model), sparsity, "uniform"),
                         torch.Generator().manual_seed(0))
    with torch.no_grad():
        for n, p in prunable_weights(model):
            p.mul_(masks[n])
    return model


def test_csr_storage_round_trips_exactly_in_fp32_and_within_rounding_in_fp16(tmp_path) -> None:
    model = _masked(0.125, 0.9)
    state = model.state_dict()
    back = decode_csr(encode_csr(state, "fp32"))
    assert all(torch.equal(back[k], v) for k, v in state.items())
    half = decode_csr(encode_csr(state, "fp16"))
    for k, v in state.items():
        if v.is_floating_point():
            assert torch.allclose(half[k], v, rtol=2 ** -10, atol=1e-7)
    sizes, kind = save_model(model, tmp_path / "m.pt", False, "auto", "fp16")
    assert sizes["size_bytes_compact"] == min(sizes["size_bytes_bitmask"],
                                              sizes["size_bytes_csr"])
    assert (tmp_path / "m.pt").stat().st_size == sizes["size_bytes_compact"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]  # nothing half-written left
    sizes, kind = save_model(model, tmp_path / "c.pt", False, "csr", "fp32")
    assert kind == "csr"
    with pytest.raises(ValueError, match="structured"):
        save_model(model, tmp_path / "s.pt", True, "csr")


def test_csr_fp16_at_95_percent_is_12x_smaller_than_the_dense_state_dict() -> None:
    model = _masked(1.0, 0.95)  # full-width ResNet18
    buf = io.BytesIO()
    torch.save(encode_csr(model.state_dict(), "fp16"), buf)
    ratio = state_dict_bytes(model) / buf.getbuffer().nbytes
    assert ratio >= 12, ratio


@pytest.mark.parametrize("autotune", [False, True])
def test_sparse_execution_equals_dense_outputs(autotune: bool) -> None:
    model = _masked(0.25, 0.9)
    x = torch.randn(3, 3, 32, 32)
    fast, plan = sparse_inference(model, (3, 32, 32), batch_size=3, autotune=autotune,
                                  repeats=2)
    with torch.no_grad():
        assert torch.allclose(fast(x), model(x), atol=1e-5, rtol=1e-5)
        assert torch.allclose(fast(x[:1]), model(x[:1]), atol=1e-5, rtol=1e-5)
    if not autotune:
        assert len(plan.csr) == 21 and not plan.dense  # every conv and the classifier
    else:
        assert sorted(plan.csr + plan.dense) == sorted(plan.timings_ms)
