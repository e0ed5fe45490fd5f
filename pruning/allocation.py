"""Allocations: how many weights each layer keeps, given scores and a target sparsity, or
by a rule over layer shapes (uniform, ERK) for methods that start sparse."""

from __future__ import annotations

import math

import torch

from pruning.masks import split_flat


def global_masks(
    scores: dict[str, torch.Tensor],
    sparsity: float,
    alive: dict[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """Keep-masks pruning exactly ``round(sparsity * total)`` of the lowest scores over all
    layers together. Weights already dead in ``alive`` stay dead (pruned first), so repeated
    calls at rising sparsity are monotone. Ties are broken by position (deterministic)."""
    names = list(scores)
    flat = torch.cat([scores[n].detach().flatten().float() for n in names])
    if alive is not None:
        dead = ~torch.cat([alive[n].flatten().to(flat.device, torch.bool) for n in names])
        flat = flat.masked_fill(dead, float("-inf"))
    k = int(round(sparsity * flat.numel()))
    keep = torch.ones(flat.numel(), dtype=torch.bool, device=flat.device)
    if k > 0:
        # A stable sort ranks equal scores by position, so exactly k weights go.
        keep[torch.sort(flat, stable=True).indices[:k]] = False
    return split_flat(keep, [(n, scores[n]) for n in names])


def uniform_densities(shapes: dict[str, tuple[int, ...]], density: float) -> dict[str, float]:
    """The same density in every layer."""
    return {name: density for name in shapes}


def erk_densities(shapes: dict[str, tuple[int, ...]], density: float) -> dict[str, float]:
    """Erdős–Rényi-Kernel densities (Evci et al. 2020, after Mocanu et al. 2018's
    Erdős–Rényi): layer l keeps a fraction proportional to sum(shape) / prod(shape), so wide,
    large layers are sparser and small ones denser, scaled so the kept total equals
    ``density`` of all weights. A layer the scale would make denser than 1 is kept whole and
    the scale is solved again over the rest (RigL's ``sparse_utils``)."""
    if not shapes:
        raise ValueError("ERK allocation needs at least one prunable layer")
    sizes = {n: math.prod(s) for n, s in shapes.items()}
    raw = {n: sum(s) / sizes[n] for n, s in shapes.items()}
    target = density * sum(sizes.values())
    dense: set[str] = set()
    while True:
        rest = [n for n in shapes if n not in dense]
        budget = target - sum(sizes[n] for n in dense)
        scale = budget / sum(raw[n] * sizes[n] for n in rest) if rest else 0.0
        over = [n for n in rest if raw[n] * scale > 1.0]
        if not over:
            break
        dense.update(over)
    return {n: 1.0 if n in dense else raw[n] * scale for n in shapes}


DENSITIES = {"uniform": uniform_densities, "erk": erk_densities}


def layer_counts(shapes: dict[str, tuple[int, ...]], sparsity: float,
                 allocation: str) -> dict[str, int]:
    """Weights each layer keeps under ``allocation`` (``uniform`` or ``erk``), the total
    matching ``round((1 - sparsity) * all weights)`` exactly (remainders go to the layers
    with the largest fractional parts, never beyond a layer's size)."""
    densities = DENSITIES[allocation](shapes, 1.0 - sparsity)
    sizes = {n: math.prod(s) for n, s in shapes.items()}
    exact = {n: min(1.0, densities[n]) * sizes[n] for n in shapes}
    counts = {n: min(sizes[n], math.floor(v)) for n, v in exact.items()}
    short = round((1.0 - sparsity) * sum(sizes.values())) - sum(counts.values())
    for n in sorted(shapes, key=lambda n: exact[n] - counts[n], reverse=True):
        if short <= 0:
            break
        if counts[n] < sizes[n]:
            counts[n] += 1
            short -= 1
    return counts


def random_masks(params: list[tuple[str, torch.Tensor]], counts: dict[str, int],
                 generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Per layer, ``counts[name]`` kept positions drawn uniformly at random."""
    masks = {}
    for name, p in params:
        keep = torch.zeros(p.numel(), dtype=torch.bool)
        keep[torch.randperm(p.numel(), generator=generator)[: counts[name]]] = True
        masks[name] = keep.view(p.shape).to(p.device)
    return masks
