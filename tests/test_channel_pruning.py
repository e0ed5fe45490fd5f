"""The structured family (issue: Li et al. L1, group L1, FPGM, SFP, group norm): criteria on
numbers, allocations to a parameter target, surgery equal to silencing, SFP's soft zeroing and
group norm's penalty."""

from __future__ import annotations

import copy

import pytest
import torch
import torch_pruning as tp
from torch import nn

from pruning.channels.allocation import UnreachableError, allocate
from pruning.channels.groups import (
    ParamCounter,
    dependency_graph,
    find_groups,
    silence,
)
from pruning.channels.regularizer import add_group_penalty
from pruning.channels.scores import fpgm, group_l1, group_norm, l1_filter
from pruning.channels.surgery import ChannelOptions, plan_channels, prune_to_sparsity
from pruning.measure import count_prunable, measured_sparsity
from pruning.methods import make_method
from pruning.methods.base import MethodContext
from trainables.models import build_model

X = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
FAMILY = ("structured", "group_l1", "fpgm", "sfp", "group_norm")


def _model(width: float, seed: int = 0) -> nn.Module:
    """A ResNet18 with random BatchNorm statistics, so a silenced channel differs from a
    merely zeroed filter."""
    torch.manual_seed(seed)
    model = build_model("resnet18", width=width).eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    return model


def _ctx(model: nn.Module, sparsity: float) -> MethodContext:
    return MethodContext(sparsity, X[:1], [model.fc], lambda which: None, torch.Generator(), 1, 1)


def _one_shot(method: str, model: nn.Module, sparsity: float, **params) -> nn.Module:
    """The method's pruned network before retraining: its surgery, or for SFP the soft
    zeroing followed by its final removal; group_norm's pruning round (after regularizing)."""
    m = make_method(method, params, sparsity)
    ctx = _ctx(model, sparsity)
    r = m.rounds() - 1
    m.setup(r, ctx)
    result = m.begin_round(r, model, None, ctx)
    done = m.finalize(result.model, result.masks, ctx)
    return (done or result).model


@pytest.mark.parametrize("sparsity", [0.3, 0.5, 0.9, 0.95])
@pytest.mark.parametrize("width", [0.125, 1.0])
@pytest.mark.parametrize("method", FAMILY)
def test_channels_removed_to_the_target_and_equal_to_silencing(
    method: str, width: float, sparsity: float
) -> None:
    dense = _model(width)
    dense_params = count_prunable(dense)
    pruned = _one_shot(method, copy.deepcopy(dense), sparsity)
    assert abs(measured_sparsity(pruned, dense_params) - sparsity) <= 0.005
    shapes = {n: p.shape for n, p in dense.named_parameters()}
    smaller = [n for n, p in pruned.named_parameters() if p.shape != shapes[n]]
    assert smaller and all(pruned.get_parameter(n).numel() < dense.get_parameter(n).numel()
                           for n in smaller)
    assert pruned.fc.out_features == 10
    # The same channels silenced in the dense network give the same function.
    score = {"structured": "l1_filter", "sfp": "l2_folded"}.get(method, method)
    plan = plan_channels(dense, sparsity, X, [dense.fc], ChannelOptions(score=score))
    silenced = silence(copy.deepcopy(dense), plan.groups, plan.removed)
    with torch.no_grad():
        torch.testing.assert_close(pruned(X), silenced(X), rtol=1e-4, atol=1e-4)


def test_structured_keeps_the_largest_l1_filters_of_an_uncoupled_layer() -> None:
    model = _model(0.25)
    plan = plan_channels(model, 0.5, X, [model.fc], ChannelOptions())
    layer = model.layer2[0].conv1  # its channels feed only layer2.0.conv2: no couplings
    group = next(g for g in plan.groups if g.name == "layer2.0.conv1")
    assert group.producers == ("layer2.0.conv1",)
    l1 = layer.weight.detach().abs().sum(dim=(1, 2, 3))
    gone = len(plan.removed["layer2.0.conv1"])
    assert 0 < gone < layer.out_channels
    assert plan.removed["layer2.0.conv1"] == sorted(torch.argsort(l1)[:gone].tolist())


def _tp_groups(model: nn.Module) -> dict[str, object]:
    graph = dependency_graph(model, X)
    names = {id(m): n for n, m in model.named_modules()}
    return {names[id(g[0].dep.target.module)]: g
            for g in graph.get_all_groups(ignored_layers=[model.fc],
                                          root_module_types=(nn.Conv2d, nn.Linear))}


def test_criteria_match_torch_pruning_importances() -> None:
    model = _model(0.25)
    groups = find_groups(model, X, [model.fc])
    theirs = _tp_groups(model)
    first = tp.importance.GroupMagnitudeImportance(p=1, group_reduction="first", normalizer=None)
    mean = tp.importance.GroupMagnitudeImportance(p=1)
    assert len(groups) == len(theirs) == 12
    for g in groups:
        torch.testing.assert_close(l1_filter(model, g), first(theirs[g.name]))
        torch.testing.assert_close(group_l1(model, g), mean(theirs[g.name]))


def test_fpgm_removes_the_filter_nearest_the_geometric_median_not_the_smallest() -> None:
    # Five 1x1 filters with weights 0, 1, 2, 3, 10: summed distances 16, 13, 12, 13, 34.
    model = nn.Sequential(nn.Conv2d(1, 5, 1, bias=False), nn.ReLU(), nn.Flatten(),
                          nn.Linear(5 * 4 * 4, 2))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([0.0, 1, 2, 3, 10]).view(5, 1, 1, 1))
    x = torch.zeros(1, 1, 4, 4)
    (group,) = find_groups(model, x, [model[3]])
    assert fpgm(model, group).tolist() == [16.0, 13.0, 12.0, 13.0, 34.0]
    assert torch.argmin(fpgm(model, group)) == 2
    assert torch.argmin(l1_filter(model, group)) == 0


@pytest.mark.parametrize("allocation", ["uniform", "global"])
@pytest.mark.parametrize("sparsity", [0.5, 0.9])
def test_round_to_gives_channel_counts_divisible_by_it(allocation: str, sparsity: float) -> None:
    model = _model(1.0)
    pruned, info, plan = prune_to_sparsity(
        model, sparsity, X, [model.fc], ChannelOptions(allocation=allocation, round_to=8))
    widths = [int(v) for k, v in info.items() if k.startswith("width.")]
    assert len(widths) == 12 and all(w % 8 == 0 for w in widths)
    assert all(m.out_channels % 8 == 0 for m in pruned.modules() if isinstance(m, nn.Conv2d))
    assert abs(info["target_gap"]) <= 0.005


def test_global_allocation_differs_from_uniform_and_protects_a_minimum() -> None:
    model = _model(1.0)
    uniform = plan_channels(model, 0.9, X, [model.fc], ChannelOptions())
    glob = plan_channels(model, 0.9, X, [model.fc],
                         ChannelOptions(score="fpgm", allocation="global", min_keep=0.2))
    assert uniform.allocation.kept != glob.allocation.kept
    sizes = {g.name: g.size for g in glob.groups}
    assert all(k >= 0.2 * sizes[n] for n, k in glob.allocation.kept.items())


def test_excluded_layers_keep_their_filters_and_can_make_a_target_unreachable() -> None:
    model = _model(0.125)
    plan = plan_channels(model, 0.5, X, [model.fc],
                         ChannelOptions(exclude=("layer4.*.conv1",)))
    assert {"layer4.0.conv1", "layer4.1.conv1"} <= plan.excluded
    assert not set(plan.removed) & plan.excluded
    with pytest.raises(UnreachableError, match="cannot be reached"):
        plan_channels(model, 0.95, X, [model.fc], ChannelOptions(exclude=("layer4.*",)))


def test_param_counter_predicts_the_surgery_exactly() -> None:
    model = _model(0.5)
    groups = find_groups(model, X, [model.fc])
    counter = ParamCounter(model, groups)
    assert counter.dense == count_prunable(model)
    scores = {g.name: l1_filter(model, g) for g in groups}
    alloc = allocate(groups, counter, scores, 0.7)
    pruned, _, _ = prune_to_sparsity(model, 0.7, X, [model.fc])
    assert count_prunable(pruned) == round(counter.count(alloc.kept))


def test_sfp_zeroes_filters_that_gradients_can_revive_and_reselects_each_epoch() -> None:
    model = _model(0.25).train()
    method = make_method("sfp", {"hard_fraction": 0.0}, 0.5)  # the paper's schedule
    ctx = _ctx(model, 0.5)
    method.setup(0, ctx)
    method.begin_round(0, model, None, ctx)
    first = {k: list(v) for k, v in method.zeroed.items()}
    layer = model.layer2[0].conv1
    gone = first["layer2.0.conv1"]
    assert float(layer.weight[gone].detach().abs().sum()) == 0.0
    # Not masked: one SGD step moves the zeroed filters.
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    model(X).sum().backward()
    opt.step()
    assert float(layer.weight[gone].detach().abs().sum()) > 0.0
    # Revive one zeroed filter strongly and weaken a kept one: the next epoch swaps them.
    kept = [i for i in range(layer.out_channels) if i not in gone]
    with torch.no_grad():
        layer.weight[gone[0]].fill_(1.0)
        layer.weight[kept[0]].mul_(1e-6)
    method.end_epoch(1, model, None)
    now = method.zeroed["layer2.0.conv1"]
    assert gone[0] not in now and kept[0] in now
    assert method.switches >= 1
    expected = layer.out_channels - len(now)
    final = method.finalize(model.eval(), None, ctx)
    assert final.structured
    assert final.model.layer2[0].conv1.out_channels == expected


def test_group_penalty_gradient_is_the_penalty_derivative() -> None:
    model = _model(0.125)
    groups = find_groups(model, X, [model.fc])
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    add_group_penalty(model, groups, reg=0.01, alpha=16.0)
    # lambda/2 * sum gamma_c * ||w_c||^2 with gamma held fixed, differentiated by autograd.
    modules = dict(model.named_modules())
    expected = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    for g in groups:
        norms = group_norm(model, g)
        gamma = 16.0 ** ((norms.max() - norms) / (norms.max() - norms.min()))
        for name in g.producers:
            w = modules[name].weight
            expected[f"{name}.weight"] += 0.01 * gamma.view(-1, 1, 1, 1) * w.detach()
        for name in g.consumers:
            w = modules[name].weight.detach()
            shape = (1, -1, 1, 1) if w.dim() == 4 else (1, -1)
            expected[f"{name}.weight"] += 0.01 * gamma.view(*shape) * w
        for name in g.norms:
            expected[f"{name}.weight"] += 0.01 * gamma * modules[name].weight.detach()
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.grad, expected[n], msg=n)
    assert any(float(p.grad.abs().sum()) > 0 for p in model.parameters())


def test_sfp_hard_phase_fixes_and_silences_the_final_set() -> None:
    model = _model(0.25).train()
    method = make_method("sfp", {"hard_fraction": 0.25}, 0.5)
    ctx = MethodContext(0.5, X[:1], [model.fc], lambda which: None, torch.Generator(), 10, 4)
    method.setup(0, ctx)
    assert method.begin_round(0, model, None, ctx).masks is None  # soft at first
    assert method.end_epoch(1, model, None) is None
    assert method.end_epoch(2, model, None) is None
    assert not method.selectable(30)  # epochs 1-3 are soft or end soft
    masks = method.end_epoch(3, model, None).masks  # the last soft zeroing fixes the set
    gone = method.zeroed["layer2.0.conv1"]
    assert not masks["layer2.0.conv1.weight"][gone].any()
    for key in ("layer2.0.bn1.weight", "layer2.0.bn1.bias"):
        assert not masks[key][gone].any()
    assert masks["layer2.0.conv1.weight"].shape == model.layer2[0].conv1.weight.shape
    assert method.end_epoch(4, model, None) is None and method.selectable(31)
