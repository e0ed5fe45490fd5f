"""Layer sensitivity to filter pruning (Li et al. 2017, "Pruning Filters for Efficient
ConvNets", section 4.1 and figure 2): each prunable layer alone loses a growing fraction of
its lowest-scoring filters and the network, not retrained, is evaluated. Layers whose accuracy
falls fast are sensitive and are better left unpruned (a structured method's ``exclude``).

Pruning one channel group is simulated by silencing its channels (filters and BatchNorm
affine zeroed), which computes exactly what the physically smaller network computes, without
surgery per point."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from pruning.channels.allocation import lowest
from pruning.channels.groups import ChannelGroup, ParamCounter, find_groups, silence
from pruning.channels.scores import CHANNEL_SCORES

DEFAULT_RATIOS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass(frozen=True)
class SensitivityPoint:
    """One layer pruned alone at one filter ratio: what went and the accuracy left."""

    layer: str
    ratio: float
    filters_removed: int
    filters: int
    params_removed: float  # fraction of the network's prunable parameters
    val_acc: float


def layer_sensitivity(
    model: nn.Module,
    evaluate: Callable[[nn.Module], float],
    example_input: torch.Tensor,
    ignored: Sequence[nn.Module],
    ratios: Sequence[float] = DEFAULT_RATIOS,
    criterion: str = "l1_filter",
    progress: Callable[[str], None] | None = None,
) -> tuple[list[ChannelGroup], list[SensitivityPoint]]:
    """Every channel group of ``model`` pruned alone at every ratio (lowest ``criterion``
    first), each evaluated by ``evaluate`` (validation accuracy) without retraining."""
    model = model.cpu().eval()
    groups = find_groups(model, example_input[:1].cpu(), ignored)
    if not groups:
        raise ValueError("the model has no prunable channel groups (no Conv2d or Linear layer "
                         "whose filters can be removed)")
    counter = ParamCounter(model, groups)
    score = CHANNEL_SCORES[criterion]
    points = []
    for i, g in enumerate(groups, 1):
        scores = {g.name: score(model, g)}
        for ratio in ratios:
            keep = max(1, g.size - int(round(ratio * g.size)))
            gone = lowest(scores, {g.name: keep})
            pruned = silence(copy.deepcopy(model), groups, gone)
            params = 1.0 - counter.count({g.name: keep}) / counter.dense
            points.append(SensitivityPoint(g.name, float(ratio), g.size - keep, g.size, params,
                                           float(evaluate(pruned))))
        if progress is not None:
            progress(f"layer {i}/{len(groups)} {g.name}: " + ", ".join(
                f"{p.ratio:g}->{100 * p.val_acc:.1f}%" for p in points[-len(ratios):]))
    return groups, points


def sensitive_layers(points: Sequence[SensitivityPoint], baseline: float, probe: float,
                     max_drop: float) -> list[str]:
    """Layers whose accuracy with ``probe`` of their filters removed is more than
    ``max_drop`` (a fraction, 0.05 = 5 points) below ``baseline``, in network order."""
    out: list[str] = []
    for p in points:
        if abs(p.ratio - probe) < 1e-9 and baseline - p.val_acc > max_drop and p.layer not in out:
            out.append(p.layer)
    return out
