"""``taylor``: first-order Taylor channel importance (Molchanov et al. 2019) on calibration
batches, checked against autograd by hand; the real model untouched; seeded batches; the
parameter target; bad parameters."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from pruning.channels.groups import find_groups
from pruning.channels.surgery import ChannelOptions, plan_channels
from pruning.channels.taylor import taylor_importance
from pruning.measure import count_prunable, measured_sparsity
from pruning.methods import make_method, method_class, parse_params
from pruning.methods.base import MethodContext
from tests.test_channel_pruning import _model as _resnet
from trainables.calibration import calibration_source
from trainables.data import DataSplits

REPO = Path(__file__).resolve().parents[1]
X = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def _conv_bn_conv() -> nn.Sequential:
    """conv (no bias) -> BatchNorm -> ReLU -> conv (bias, no BatchNorm) -> ReLU -> pool -> fc:
    one group whose score is its BatchNorm's and filter's, one with a filter and a bias."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4),
                        nn.ReLU(), nn.Conv2d(4, 5, 3, padding=1), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(5, 10))
    with torch.no_grad():
        net[1].weight.uniform_(0.5, 1.5)
        net[1].bias.uniform_(-0.5, 0.5)
        net[1].running_mean.uniform_(-1, 1)
        net[1].running_var.uniform_(0.5, 2)
    return net.eval()


def _batch(seed: int, n: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g)


def _by_hand(net: nn.Sequential, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """(sum of g * w over each channel's filter, bias, gamma and beta)^2, autograd on a copy."""
    probe = copy.deepcopy(net).train()
    conv1, bn, conv2 = probe[0], probe[1], probe[3]
    wanted = [conv1.weight, bn.weight, bn.bias, conv2.weight, conv2.bias]
    loss = nn.functional.cross_entropy(probe(x), y)
    g_w1, g_gamma, g_beta, g_w2, g_b2 = torch.autograd.grad(loss, wanted)
    first = (g_w1 * conv1.weight).sum((1, 2, 3)) + g_gamma * bn.weight + g_beta * bn.bias
    second = (g_w2 * conv2.weight).sum((1, 2, 3)) + g_b2 * conv2.bias
    return {"0": first.detach() ** 2, "3": second.detach() ** 2}


def test_importance_is_the_squared_taylor_sum_over_each_channels_parameters() -> None:
    net = _conv_bn_conv()
    groups = find_groups(net, torch.zeros(1, 3, 8, 8), [net[7]])
    assert [(g.name, g.producers, g.norms) for g in groups] == [("0", ("0",), ("1",)),
                                                                ("3", ("3",), ())]
    one = _batch(1)
    got = taylor_importance(net, groups, [one])
    want = _by_hand(net, *one)
    assert set(got) == {"0", "3"}
    for name in got:
        torch.testing.assert_close(got[name], want[name], rtol=1e-5, atol=1e-12)
        assert got[name].gt(0).all()
    # Several batches: the mean of each batch's importance (the paper's average over
    # minibatches), not the square of the mean gradient.
    two = _batch(2)
    got = taylor_importance(net, groups, [one, two])
    other = _by_hand(net, *two)
    for name in got:
        torch.testing.assert_close(got[name], (want[name] + other[name]) / 2,
                                   rtol=1e-5, atol=1e-12)


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_scoring_leaves_the_models_weights_statistics_and_gradients_alone() -> None:
    net = _conv_bn_conv().train()
    before = _state(net)
    groups = find_groups(copy.deepcopy(net).eval(), torch.zeros(1, 3, 8, 8), [net[7]])
    taylor_importance(net, groups, [_batch(1), _batch(2)])
    after = net.state_dict()
    for k, v in before.items():  # BatchNorm running mean, variance and batch count included
        assert torch.equal(after[k], v), k
    assert all(p.grad is None for p in net.parameters())
    assert net.training
    # The method's whole round: the model it is handed keeps its statistics too.
    model = _resnet(0.125)
    before = _state(model)
    _one_shot(model, 0.5, seed=0)
    for k, v in before.items():
        assert torch.equal(model.state_dict()[k], v), k


def _splits(n: int = 48) -> DataSplits:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    return DataSplits(x, y, x[:8], y[:8], x[:8], y[:8], mean=(0.5,) * 3, std=(0.25,) * 3,
                      num_classes=10, in_channels=3, class_names=tuple("abcdefghij"))


def _ctx(model: nn.Module, sparsity: float, seed: int) -> MethodContext:
    calibration = calibration_source(_splits(), 8, seed, torch.device("cpu"))
    return MethodContext(sparsity, X[:1], [model.fc], lambda which: None, torch.Generator(),
                         1, 1, calibration=calibration)


def _one_shot(model: nn.Module, sparsity: float, seed: int, **params) -> nn.Module:
    method = make_method("taylor", {"batches": 2, **params}, sparsity)
    ctx = _ctx(model, sparsity, seed)
    method.setup(0, ctx)
    result = method.begin_round(0, model, None, ctx)
    assert result.structured and result.masks is None and result.info["score_s"] > 0
    return result.model


def test_the_same_seed_gives_the_same_batches_and_the_same_channels() -> None:
    first = list(calibration_source(_splits(), 8, 7, torch.device("cpu"))(3))
    again = list(calibration_source(_splits(), 8, 7, torch.device("cpu"))(3))
    other = list(calibration_source(_splits(), 8, 8, torch.device("cpu"))(3))
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
               for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a[0], b[0]) for a, b in zip(first, other, strict=True))

    model = _resnet(0.125)
    groups = find_groups(model, X[:1], [model.fc])

    def removed(seed: int) -> dict[str, list[int]]:
        scores = taylor_importance(model, groups, _ctx(model, 0.5, seed).calibration(2))
        plan = plan_channels(model, 0.5, X, [model.fc], ChannelOptions(score="taylor"), scores)
        return plan.removed

    assert removed(7) == removed(7)
    a = _one_shot(copy.deepcopy(model), 0.5, seed=7)
    b = _one_shot(copy.deepcopy(model), 0.5, seed=7)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())


@pytest.mark.parametrize("sparsity", [0.3, 0.5, 0.9])
def test_a_tiny_resnet_is_pruned_to_the_parameter_target(sparsity: float) -> None:
    dense = _resnet(0.125)
    dense_params = count_prunable(dense)
    pruned = _one_shot(copy.deepcopy(dense), sparsity, seed=0)
    assert abs(measured_sparsity(pruned, dense_params) - sparsity) <= 0.005
    assert pruned.fc.out_features == 10
    assert pruned(X).shape == (2, 10)
    # In an uncoupled group the channels that go are the lowest-scoring ones.
    groups = find_groups(dense, X[:1], [dense.fc])
    scores = taylor_importance(dense, groups, _ctx(dense, sparsity, 0).calibration(2))
    gone = dense.layer2[0].conv1.out_channels - pruned.layer2[0].conv1.out_channels
    plan = plan_channels(dense, sparsity, X, [dense.fc], ChannelOptions(), scores)
    assert 0 < gone == len(plan.removed["layer2.0.conv1"])
    assert plan.removed["layer2.0.conv1"] == \
        sorted(torch.argsort(scores["layer2.0.conv1"], stable=True)[:gone].tolist())


def test_bad_parameters_are_refused_in_one_line_naming_the_field() -> None:
    with pytest.raises(ValueError) as err:
        parse_params(method_class("taylor"), {"batches": 0})
    assert str(err.value) == "method_params.taylor.batches: must be at least 1, got 0"
    assert parse_params(method_class("taylor"), {}).batches == 8
    with pytest.raises(ValueError, match=r"^method_params\.taylor\.round_to: "):
        parse_params(method_class("taylor"), {"round_to": 0})


def test_the_model_check_needs_no_gradients_and_names_the_method() -> None:
    model = _resnet(0.125)
    make_method("taylor", {}, 0.5).check_model(model, X[:1], [model.fc])
    method = make_method("taylor", {"exclude": ["layer*"]}, 0.95)
    with pytest.raises(ValueError, match=r"^taylor: sparsity 0\.95 cannot be reached"):
        method.check_model(model, X[:1], [model.fc])
    assert make_method("taylor", {}, 0.5).score == "taylor"


def test_the_method_module_imports_no_torch() -> None:
    code = ("import sys\n"
            "from pruning.methods import make_method\n"
            "make_method('taylor', {'batches': 4}, 0.5)\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
