"""Channel surgery to a parameter sparsity: score, allocate, remove, in one pass.

The channel groups are traced once, scored once, the allocation is solved on the closed-form
parameter count (``pruning.channels.allocation``), and torch-pruning removes the chosen channels
once, from one copy. Earlier releases bisected on the channel ratio by pruning a fresh deep
copy per step (about 23 s at width 1/8); this takes well under a second (docs/benchmarks.md)."""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from pruning.channels.allocation import TOLERANCE, Allocation, allocate
from pruning.channels.groups import (
    ChannelGroup,
    ParamCounter,
    dependency_graph,
    excluded_groups,
    find_groups,
    layer_widths,
    remove_channels,
)
from pruning.channels.scores import CHANNEL_SCORES
from pruning.measure import count_prunable

__all__ = ["TOLERANCE", "ChannelOptions", "ChannelPlan", "plan_channels", "prune_to_sparsity"]


@dataclass(frozen=True)
class ChannelOptions:
    """How a structured method chooses channels: the criterion (a ``CHANNEL_SCORES`` name),
    the allocation across groups, channel counts in multiples of ``round_to``, the fraction of
    each group that always stays, and layers (shell patterns) whose filters all stay."""

    score: str = "l1_filter"
    allocation: str = "uniform"
    round_to: int = 1
    min_keep: float = 0.0
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChannelPlan:
    """The groups of a model and the channels an allocation removes from each."""

    groups: list[ChannelGroup]
    allocation: Allocation
    excluded: frozenset[str]
    dense_params: int
    seconds: float

    @property
    def removed(self) -> dict[str, list[int]]:
        """Channel indices removed per group name."""
        return self.allocation.removed

    def info(self, widths: dict[str, int]) -> dict[str, float]:
        """Facts worth logging: channel ratio, per-group widths, solver facts."""
        live = [g for g in self.groups if g.name not in self.excluded]
        total = sum(g.size for g in live)
        gone = sum(len(v) for v in self.removed.values())
        out = {"channel_ratio": gone / max(1, total),
               "extra_filters_removed": float(self.allocation.topped_up),
               "target_gap": 0.0, "solve_s": self.seconds,
               "groups_excluded": float(len(self.excluded))}
        out.update({f"width.{name}": float(w) for name, w in widths.items()})
        return out


def plan_channels(
    model: nn.Module,
    target: float,
    example_input: torch.Tensor,
    ignored: Sequence[nn.Module],
    options: ChannelOptions,
    scores: Mapping[str, torch.Tensor] | None = None,
) -> ChannelPlan:
    """Which channels of ``model`` to remove so its parameter sparsity is within 0.5 points of
    ``target`` (``UnreachableError`` when it cannot be). ``scores``: the importance of every
    group's channels by group name, computed beforehand (data-aware criteria such as
    ``taylor``, whose gradients the method computes at its round start); the criterion named
    in ``options`` is then not called."""
    started = time.perf_counter()
    model = model.cpu().eval()
    x = example_input[:1].cpu()
    groups = find_groups(model, x, ignored, graph=dependency_graph(model, x))
    counter = ParamCounter(model, groups)
    excluded = frozenset(excluded_groups(groups, options.exclude))
    if scores is None:
        score = CHANNEL_SCORES[options.score]
        scores = {g.name: score(model, g) for g in groups if g.name not in excluded}
    alloc = allocate(groups, counter, scores, target, allocation=options.allocation,
                     round_to=options.round_to, min_keep=options.min_keep, excluded=excluded)
    return ChannelPlan(groups, alloc, excluded, counter.dense, time.perf_counter() - started)


def prune_to_sparsity(
    model: nn.Module,
    target: float,
    example_input: torch.Tensor,
    ignored: Sequence[nn.Module],
    options: ChannelOptions | None = None,
    scores: Mapping[str, torch.Tensor] | None = None,
) -> tuple[nn.Module, dict[str, float], ChannelPlan]:
    """A copy of ``model`` with channels physically removed to parameter sparsity ``target``
    (within 0.5 points), the facts to log, and the plan it followed (``scores``: see
    ``plan_channels``)."""
    started = time.perf_counter()
    plan = plan_channels(model, target, example_input, ignored, options or ChannelOptions(),
                         scores)
    pruned = apply_plan(model, plan, example_input)
    info = plan.info(layer_widths(pruned, plan.groups))
    reached = 1.0 - count_prunable(pruned) / plan.dense_params
    info["target_gap"] = reached - target
    info["prune_s"] = time.perf_counter() - started
    return pruned, info, plan


def apply_plan(model: nn.Module, plan: ChannelPlan, example_input: torch.Tensor) -> nn.Module:
    """A copy of ``model`` (same architecture the plan was made on) with the plan's channels
    removed; checks the parameter count the allocation predicted."""
    pruned = copy.deepcopy(model).cpu().eval()
    remove_channels(pruned, example_input[:1].cpu(), plan.groups, plan.removed)
    expected = round((1.0 - plan.allocation.sparsity) * plan.dense_params)
    if abs(count_prunable(pruned) - expected) > 1:
        raise RuntimeError(f"channel surgery left {count_prunable(pruned)} prunable weights, "
                           f"the allocation predicted {expected}")
    return pruned
