"""How many channels each group keeps so that the *parameter* sparsity hits a target.

Two allocations, both solved on the closed-form parameter count (``ParamCounter``):

* ``uniform``: the same channel ratio in every group (Li et al. 2017, He et al. 2018/2019);
* ``global``: one threshold on scores normalized by their group's mean, every group keeping at
  least ``min_keep`` of its channels.

Either way, channel counts are multiples of ``round_to`` (a group narrower than ``round_to``
is left whole), and a greedy top-up removes the least important remaining channels one step
at a time until the parameter sparsity is within ``tolerance`` of the target: narrow models
have coarse steps (one of 8 channels is 12.5%) that no single ratio hits."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch

from pruning.channels import CHANNEL_ALLOCATIONS
from pruning.channels.groups import ChannelGroup, ParamCounter

TOLERANCE = 0.005  # half a percentage point of parameter sparsity
_BISECTIONS = 60


class UnreachableError(ValueError):
    """The target sparsity cannot be reached with the given exclusions and limits."""


@dataclass(frozen=True)
class Allocation:
    """Channels kept per group, and the channels removed (lowest scores first)."""

    kept: dict[str, int]
    removed: dict[str, list[int]]
    sparsity: float
    topped_up: int


def _levels(size: int, round_to: int, floor: int) -> list[int]:
    """Allowed kept counts of a group, largest first: all of it, then multiples of
    ``round_to`` not below ``floor``."""
    if size <= round_to:
        return [size]
    levels = [size] + [m for m in range((size - 1) // round_to * round_to, 0, -round_to)
                       if m >= floor]
    return levels


def _nearest_level(levels: list[int], want: float, up: bool) -> int:
    """The allowed count closest to ``want`` (or the smallest one at least ``want``)."""
    if up:
        fitting = [v for v in levels if v >= want - 1e-9]
        return min(fitting) if fitting else levels[0]
    return min(levels, key=lambda v: (abs(v - want), -v))


def allocate(
    groups: Sequence[ChannelGroup],
    counter: ParamCounter,
    scores: Mapping[str, torch.Tensor],
    target: float,
    *,
    allocation: str = "uniform",
    round_to: int = 1,
    min_keep: float = 0.0,
    excluded: set[str] | frozenset[str] = frozenset(),
    tolerance: float = TOLERANCE,
) -> Allocation:
    """Kept channels per group reaching parameter sparsity ``target`` within ``tolerance``;
    raises ``UnreachableError`` (one line) when no allocation gets there."""
    if allocation not in CHANNEL_ALLOCATIONS:
        raise ValueError(f"allocation must be one of {', '.join(CHANNEL_ALLOCATIONS)}, got "
                         f"{allocation!r}")
    live = [g for g in groups if g.name not in excluded]
    floor = {g.name: max(1, round_to, math.ceil(min_keep * g.size)) for g in live}
    levels = {g.name: _levels(g.size, round_to, min(floor[g.name], g.size)) for g in live}
    norm = {g.name: scores[g.name] / scores[g.name].abs().mean().clamp_min(1e-12)
            for g in live}
    order = {n: torch.sort(s, stable=True).indices.tolist() for n, s in norm.items()}

    def sparsity(kept: Mapping[str, int]) -> float:
        return 1.0 - counter.count(kept) / counter.dense

    most = sparsity({n: lv[-1] for n, lv in levels.items()})
    if target > most + tolerance:
        why = f"{len(groups) - len(live)} group(s) excluded, " if excluded else ""
        raise UnreachableError(
            f"sparsity {target:g} cannot be reached by removing channels ({why}round_to "
            f"{round_to}, min_keep {min_keep:g}): at most {most:.4f}")

    family = _uniform if allocation == "uniform" else _global
    kept = family(live, levels, norm, order, sparsity, target + tolerance / 2)
    kept, topped = _top_up(kept, levels, norm, order, sparsity, target, tolerance)
    reached = sparsity(kept)
    if abs(reached - target) > tolerance:
        raise UnreachableError(
            f"sparsity {target:g} cannot be reached within {tolerance:g} with channel steps of "
            f"round_to {round_to} (closest {reached:.4f})")
    removed = {n: sorted(order[n][: g_size - kept[n]])
               for n, g_size in ((g.name, g.size) for g in live) if kept[n] < g_size}
    return Allocation(kept, removed, reached, topped)


def lowest(scores: Mapping[str, torch.Tensor], kept: Mapping[str, int]) -> dict[str, list[int]]:
    """The channels each group loses when it keeps its ``kept`` highest-scoring ones (ties
    broken by position), sorted."""
    out = {}
    for name, n in kept.items():
        s = scores[name]
        if n < s.numel():
            out[name] = sorted(torch.sort(s, stable=True).indices[: s.numel() - n].tolist())
    return out


def _uniform(live, levels, norm, order, sparsity, cap: float) -> dict[str, int]:
    """The largest common channel ratio whose sparsity stays at or below ``cap``."""

    def kept_at(ratio: float) -> dict[str, int]:
        return {g.name: _nearest_level(levels[g.name], g.size * (1.0 - ratio), up=False)
                for g in live}

    lo, hi = 0.0, 1.0
    best = kept_at(0.0)
    for _ in range(_BISECTIONS):
        mid = (lo + hi) / 2
        kept = kept_at(mid)
        if sparsity(kept) <= cap:
            best, lo = kept, mid
        else:
            hi = mid
    return best


def _global(live, levels, norm, order, sparsity, cap: float) -> dict[str, int]:
    """The highest threshold on normalized scores whose sparsity stays at or below ``cap``;
    each group keeps its channels above it, rounded up to an allowed count."""
    values = torch.sort(torch.cat([norm[g.name] for g in live])).values.tolist()

    def kept_at(index: int) -> dict[str, int]:
        # Channels scoring at most values[index] go (index -1: none).
        t = values[index] if index >= 0 else -math.inf
        return {g.name: _nearest_level(levels[g.name], int((norm[g.name] > t).sum()), up=True)
                for g in live}

    lo, hi = -1, len(values) - 1  # sparsity(kept_at(lo)) <= cap holds at -1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if sparsity(kept_at(mid)) <= cap:
            lo = mid
        else:
            hi = mid - 1
    return kept_at(lo)


def _top_up(kept, levels, norm, order, sparsity: Callable, target: float, tolerance: float
            ) -> tuple[dict[str, int], int]:
    """Step single groups down to their next allowed count, least important channels first,
    while short of the target (never past ``target + tolerance``)."""
    kept = dict(kept)
    steps = 0
    blocked: set[str] = set()
    while sparsity(kept) < target - tolerance / 2:
        best: tuple[float, str, int] | None = None
        for name, now in kept.items():
            lv = levels[name]
            i = lv.index(now)
            if name in blocked or i + 1 >= len(lv):
                continue
            nxt = lv[i + 1]
            size = len(order[name])
            going = order[name][size - now: size - nxt]  # the lowest channels still kept
            cost = float(norm[name][going].mean())
            if best is None or cost < best[0]:
                best = (cost, name, nxt)
        if best is None:
            break
        _, name, nxt = best
        trial = {**kept, name: nxt}
        if sparsity(trial) > target + tolerance:
            blocked.add(name)
            continue
        kept, steps = trial, steps + 1
        blocked = set()
    return kept, steps
