"""Pruning methods, masks, measurements and compact storage, on a width-1/8 ResNet18."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from pruning.allocation import global_masks
from pruning.deploy.latency import measure_efficiency
from pruning.deploy.storage import decode_sparse, load_compact, save_compact, save_sparse
from pruning.masks import Masks
from pruning.measure import (
    count_macs,
    count_prunable,
    measured_sparsity,
    params_total,
    state_dict_bytes,
)
from pruning.methods import METHODS, Budget, make_method, method_class
from pruning.methods.base import MethodContext
from pruning.registry import UnknownNameError
from pruning.scores import score
from trainables.models import build_model

X = torch.zeros(1, 3, 32, 32)


def _model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model("resnet18", width=0.125)


def _prune(method: str, sparsity: float, rewind: dict | None = None, model=None):
    """One-shot pruning of a fresh (or the given) model by a method's first round."""
    model = _model() if model is None else model
    ctx = MethodContext(sparsity, X, [model.fc], lambda which: rewind, torch.Generator(), 1, 1)
    return make_method(method, {}, sparsity).begin_round(0, model, None, ctx)


def test_full_resnet18_has_the_reference_parameter_count() -> None:
    assert params_total(build_model("resnet18")) == 11_173_962


@pytest.mark.parametrize("method", ["magnitude", "lottery", "random"])
@pytest.mark.parametrize("sparsity", [0.5, 0.9])
def test_unstructured_sparsity_is_measured_on_target(method: str, sparsity: float) -> None:
    rewind = _model(seed=1).state_dict()
    result = _prune(method, sparsity, rewind)
    dense = count_prunable(_model())
    assert abs(measured_sparsity(result.model, dense) - sparsity) <= 0.005
    assert result.masks is not None and not result.structured
    kept = sum(int(m.sum()) for m in result.masks.values())
    assert kept == dense - round(sparsity * dense)


@pytest.mark.parametrize("sparsity", [0.3, 0.5, 0.9, 0.95])
def test_structured_removes_channels_to_the_parameter_target(sparsity: float) -> None:
    result = _prune("structured", sparsity)
    dense_model = _model()
    reached = measured_sparsity(result.model, count_prunable(dense_model))
    assert abs(reached - sparsity) <= 0.005
    assert result.structured and result.masks is None
    assert 0 < result.info["channel_ratio"] < 1
    # Physically smaller, still a working classifier, no zeroed filters left behind.
    assert params_total(result.model) < params_total(dense_model)
    assert result.model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert result.model.fc.out_features == 10


def test_structured_macs_fall_with_sparsity() -> None:
    macs = [count_macs(_prune("structured", s).model, X) for s in (0.3, 0.5, 0.9)]
    assert count_macs(_model(), X) > macs[0] > macs[1] > macs[2]


def test_masks_hold_through_sgd_with_momentum_and_weight_decay() -> None:
    result = _prune("magnitude", 0.9)
    model, masks = result.model, result.masks
    keeper = Masks(model, masks)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    model.train()
    for _ in range(5):
        loss = model(torch.randn(8, 3, 32, 32)).square().mean()
        opt.zero_grad()
        loss.backward()
        keeper.mask_grads()
        opt.step()
        keeper.apply()
    params = dict(model.named_parameters())
    for name, mask in masks.items():
        assert torch.count_nonzero(params[name][~mask]) == 0, name
    # And training did move the surviving weights.
    assert any(torch.count_nonzero(params[n][m]) > 0 for n, m in masks.items())


def test_lottery_survivors_equal_rewind_weights() -> None:
    trained = _model(seed=0)
    rewind = _model(seed=7).state_dict()
    expected_masks = global_masks(score("magnitude")(copy.deepcopy(trained)), 0.8)
    result = _prune("lottery", 0.8, rewind, model=trained)
    params = dict(result.model.named_parameters())
    for name, mask in result.masks.items():
        assert torch.equal(mask, expected_masks[name])
        assert torch.equal(params[name][mask], rewind[name][mask])
        assert torch.count_nonzero(params[name][~mask]) == 0
    # Non-prunable tensors (BatchNorm) are rewound too.
    assert torch.equal(result.model.bn1.weight, rewind["bn1.weight"])


def test_unknown_method_lists_the_known_ones() -> None:
    with pytest.raises(UnknownNameError, match=r"known: dsr, fpgm, gmp, group_l1, group_norm, "
                                               r"imp, lamp, lottery, lr_rewind, magnitude, nm, "
                                               r"random, rigl, set, sfp, snip, static, "
                                               r"structured, taylor, unpruned"):
        method_class("obd")
    assert {"magnitude", "structured", "lottery"} <= set(METHODS.names())


@pytest.mark.parametrize("sparsity", [1.0, -0.1, 1.5])
def test_sparsity_out_of_range(sparsity: float) -> None:
    cls = method_class("magnitude")
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        cls.check(cls.Params(), Budget(sparsity, 2, 1, 2))


def test_only_the_unpruned_control_runs_at_sparsity_zero() -> None:
    magnitude, unpruned = method_class("magnitude"), method_class("unpruned")
    with pytest.raises(ValueError, match="only the unpruned control runs at sparsity 0"):
        magnitude.check(magnitude.Params(), Budget(0.0, 2, 1, 2))
    unpruned.check(unpruned.Params(), Budget(0.0, 2, 1, 2))
    with pytest.raises(ValueError, match="its sparsity is 0"):
        unpruned.check(unpruned.Params(), Budget(0.5, 2, 1, 2))


def test_sparse_storage_round_trip_and_size(tmp_path: Path) -> None:
    result = _prune("magnitude", 0.9)
    state = result.model.state_dict()
    size = save_sparse(state, tmp_path / "m.pt")
    loaded = decode_sparse(torch.load(tmp_path / "m.pt", weights_only=True))  # no pickled objects
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    ratio = state_dict_bytes(result.model) / size
    assert ratio > 4.5, ratio  # bitmask + fp32 values: ~7.6x on the prunable tensors


@pytest.mark.parametrize("method", ["structured", "magnitude"])
def test_compact_model_reloads_identically(method: str, tmp_path: Path) -> None:
    result = _prune(method, 0.7)
    model = result.model.eval()
    save_compact(model, tmp_path / "c.pt", structured=result.structured)
    loaded = load_compact(tmp_path / "c.pt", _model)
    x = torch.randn(4, 3, 32, 32)
    assert torch.equal(loaded(x), model(x))


def test_efficiency_measurement_keys_and_ratios() -> None:
    dense = _model().eval()
    pruned = _prune("structured", 0.9).model.eval()
    m = measure_efficiency(dense, pruned, (3, 32, 32), warmup=1, repeats=3, blocks=3,
                           throughput_batch=16)
    for key in ("latency_ms_b1", "latency_ms_b1_dense", "speedup_b1", "throughput",
                "throughput_dense", "speedup_throughput", "macs", "macs_dense",
                "theoretical_speedup"):
        assert m[key] > 0, key
    assert m["theoretical_speedup"] > 5
    # The speedup is the median of per-block ratios, inside its own spread.
    for key in ("b1", "throughput"):
        assert m[f"speedup_{key}_min"] <= m[f"speedup_{key}"] <= m[f"speedup_{key}_max"]
    assert m["latency_ms_b1_spread"] >= 0 and m["throughput_dense_spread"] >= 0
