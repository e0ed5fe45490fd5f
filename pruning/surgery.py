"""Channel surgery: filters physically removed with torch-pruning, to a parameter sparsity.

torch-pruning's dependency graph removes each filter together with its BatchNorm channel, the
next layer's input channel and every residual-coupled channel, so the result is a smaller dense
network. Targets are parameter sparsities: the per-layer channel ratio that reaches one is
found by bisection on the measured parameter count."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
import torch_pruning as tp
from torch import nn

from pruning.measure import count_prunable

TOLERANCE = 0.005  # half a percentage point of parameter sparsity
MAX_ITERATIONS = 30


def prune_channels(
    model: nn.Module, ratio: float, example_input: torch.Tensor, ignored: Sequence[nn.Module]
) -> nn.Module:
    """Remove ``ratio`` of every prunable layer's filters (lowest L1 norm first), in place."""
    if ratio <= 0:
        return model
    pruner = tp.pruner.MagnitudePruner(
        model, example_input, importance=tp.importance.MagnitudeImportance(p=1),
        pruning_ratio=ratio, ignored_layers=list(ignored), global_pruning=False,
    )
    pruner.step()
    return model


def _ignored_in(copy_: nn.Module, original: nn.Module, ignored: Sequence[nn.Module]
                ) -> list[nn.Module]:
    # The same layers in a deep copy, found by their names in the original.
    names = {id(m): n for n, m in original.named_modules()}
    lookup = dict(copy_.named_modules())
    return [lookup[names[id(m)]] for m in ignored]


def prune_to_sparsity(
    model: nn.Module, target: float, example_input: torch.Tensor, ignored: Sequence[nn.Module]
) -> tuple[nn.Module, dict[str, float]]:
    """A copy of ``model`` with filters physically removed (lowest L1 first, the same channel
    ratio in every layer) so that its parameter sparsity is within 0.5 points of ``target``;
    returns it with the solver's facts (channel ratio, iterations, filters topped up)."""
    model = model.cpu().eval()
    x = example_input[:1].cpu()
    dense = count_prunable(model)

    def attempt(ratio: float) -> tuple[nn.Module, float]:
        trial = copy.deepcopy(model)
        prune_channels(trial, ratio, x, _ignored_in(trial, model, ignored))
        return trial, 1.0 - count_prunable(trial) / dense

    lo, hi = 0.0, 0.99
    # Closest attempt that does not overshoot: the base for a top-up if none is in range.
    below: tuple[float, nn.Module, float] = (0.0, copy.deepcopy(model), 0.0)
    ratio, pruned, reached = below
    iterations = 0
    for iterations in range(1, MAX_ITERATIONS + 1):  # noqa: B007 - logged below
        mid = (lo + hi) / 2
        attempt_model, attempt_reached = attempt(mid)
        if attempt_reached <= target + TOLERANCE and attempt_reached >= below[2]:
            below = (mid, attempt_model, attempt_reached)
        if abs(attempt_reached - target) <= TOLERANCE:
            ratio, pruned, reached = mid, attempt_model, attempt_reached
            break
        lo, hi = (mid, hi) if attempt_reached < target else (lo, mid)
    else:
        ratio, pruned, reached = below
    topped_up = 0
    if reached < target - TOLERANCE / 2:
        # Narrow models have coarse per-layer steps (1 of 8 channels is 12.5%): remove the
        # least important remaining filters one at a time until the target is reached.
        pruned, reached, topped_up = _top_up(pruned, x, dense, target, ignored, model)
    if abs(reached - target) > TOLERANCE:
        raise ValueError(
            f"structured pruning cannot reach sparsity {target:g} within {TOLERANCE:g} "
            f"(closest {reached:.4f} at channel ratio {ratio:.4f})"
        )
    return pruned, {"channel_ratio": ratio, "solve_iterations": float(iterations),
                    "extra_filters_removed": float(topped_up), "target_gap": reached - target}


def _top_up(
    model: nn.Module,
    x: torch.Tensor,
    dense: int,
    target: float,
    ignored: Sequence[nn.Module],
    original: nn.Module,
) -> tuple[nn.Module, float, int]:
    """Greedily remove single filters, least L1 importance first (normalized per layer so
    layers compare), skipping any removal that would overshoot the target's tolerance."""
    imp = tp.importance.MagnitudeImportance(p=1)
    removed = 0
    reached = 1.0 - count_prunable(model) / dense
    blocked: set[tuple[str, int]] = set()
    while reached < target - TOLERANCE / 2:  # aim inside the band, not at its edge
        graph = tp.DependencyGraph().build_dependency(model, example_inputs=x)
        names = {id(m): n for n, m in model.named_modules()}
        skip = _ignored_in(model, original, ignored)
        candidates = []
        for group in graph.get_all_groups(ignored_layers=skip,
                                          root_module_types=(nn.Conv2d, nn.Linear)):
            layer = group[0].dep.target.module
            if layer.out_channels <= 1:
                continue  # never empty a layer
            scores = imp(group)
            for idx in torch.argsort(scores).tolist():
                if (names[id(layer)], idx) not in blocked:
                    candidates.append((float(scores[idx]), names[id(layer)], idx))
                    break
        if not candidates:
            break
        _, layer_name, idx = min(candidates)
        trial = copy.deepcopy(model)
        layer = dict(trial.named_modules())[layer_name]
        graph = tp.DependencyGraph().build_dependency(trial, example_inputs=x)
        graph.get_pruning_group(layer, tp.prune_conv_out_channels, idxs=[idx]).prune()
        now = 1.0 - count_prunable(trial) / dense
        if now > target + TOLERANCE:
            blocked.add((layer_name, idx))
            continue
        model, reached, removed = trial, now, removed + 1
        blocked = set()  # indices shift after a removal
    return model, reached, removed
