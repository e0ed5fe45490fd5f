"""Sparsity schedules: how sparse a method is at a given step or round. Plain math, no torch."""

from __future__ import annotations

import math

# Below this a target counts as reached (float noise in 1 - (1 - rate)^r).
_EPS = 1e-9


def cubic(step: int, begin: int, end: int, target: float, initial: float = 0.0) -> float:
    """Gradual pruning (Zhu & Gupta 2017, eq. 1): ``initial`` until ``begin``, then
    s_t = s_f + (s_i - s_f) * (1 - (t - begin) / (end - begin))^3, reaching ``target`` exactly
    at ``end`` and staying there."""
    if step <= begin:
        return initial
    if step >= end:
        return target
    frac = (step - begin) / (end - begin)
    return target + (initial - target) * (1.0 - frac) ** 3


def geometric_rounds(target: float, rate: float) -> list[float]:
    """Sparsity after each round of iterative pruning that removes ``rate`` of the remaining
    weights per round: 1 - (1 - rate)^r, the last round clipped to ``target`` exactly
    (Frankle & Carbin 2019). 0.9 at rate 0.2 takes 11 rounds."""
    if not 0.0 < rate < 1.0:
        raise ValueError(f"rate must be in (0, 1), got {rate!r}")
    if target <= 0:
        return []
    n = max(1, math.ceil(math.log(1.0 - target) / math.log(1.0 - rate) - _EPS))
    return [1.0 - (1.0 - rate) ** r for r in range(1, n)] + [target]


def cosine_decay(step: int, end: int, initial: float) -> float:
    """RigL's drop fraction (Evci et al. 2020, eq. 1): initial / 2 * (1 + cos(pi * t / end))
    from ``initial`` at step 0 down to 0 at ``end``, 0 after it."""
    if step >= end:
        return 0.0
    return initial / 2.0 * (1.0 + math.cos(math.pi * step / end))
