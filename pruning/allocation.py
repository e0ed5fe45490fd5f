"""Allocations: how many weights each layer keeps, given scores and a target sparsity
(``ALLOCATIONS``: ``global``, ``uniform``, ``erk``), by a rule over layer shapes alone
(``DENSITIES``) for methods that start sparse, and the ``n:m`` sparsity type.

Torch is imported inside the functions: methods name their allocation, and parameter checks
list the names, without loading torch."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from pruning.registry import Registry

if TYPE_CHECKING:
    from collections.abc import Callable

    import torch

    # (scores, sparsity, alive, reference) -> keep-masks; ``reference``: the scores whose
    # global allocation ``matched`` copies (the others ignore it).
    Allocate = Callable[..., dict[str, torch.Tensor]]

ALLOCATIONS: Registry[Allocate] = Registry("allocation")
SPARSITY_TYPES = ("unstructured", "n:m")


@ALLOCATIONS.register("global")
def global_masks(
    scores: dict[str, torch.Tensor],
    sparsity: float,
    alive: dict[str, torch.Tensor] | None = None,
    reference: dict[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """Keep-masks pruning exactly ``round(sparsity * total)`` of the lowest scores over all
    layers together. Weights already dead in ``alive`` stay dead (pruned first), so repeated
    calls at rising sparsity are monotone. Ties are broken by position (deterministic)."""
    import torch

    from pruning.masks import split_flat

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
    if density >= 1.0:
        return dict.fromkeys(shapes, 1.0)
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
    import torch

    masks = {}
    for name, p in params:
        keep = torch.zeros(p.numel(), dtype=torch.bool)
        keep[torch.randperm(p.numel(), generator=generator)[: counts[name]]] = True
        masks[name] = keep.view(p.shape).to(p.device)
    return masks


def layer_masks(scores: dict[str, torch.Tensor], counts: dict[str, int],
                alive: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """Per layer, keep the ``counts[name]`` highest scores (weights dead in ``alive`` rank
    lowest; ties broken by position, so the result is deterministic)."""
    import torch

    masks = {}
    for name, score in scores.items():
        flat = score.detach().flatten().float()
        if alive is not None:
            flat = flat.masked_fill(~alive[name].flatten().to(flat.device, torch.bool),
                                    float("-inf"))
        keep = torch.ones(flat.numel(), dtype=torch.bool, device=flat.device)
        drop = flat.numel() - int(counts[name])
        if drop > 0:
            keep[torch.sort(flat, stable=True).indices[:drop]] = False
        masks[name] = keep.view(score.shape)
    return masks


def _by_rule(rule: str) -> Allocate:
    def allocate(scores: dict[str, torch.Tensor], sparsity: float,
                 alive: dict[str, torch.Tensor] | None = None,
                 reference: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        counts = layer_counts({n: tuple(s.shape) for n, s in scores.items()}, sparsity, rule)
        return layer_masks(scores, counts, alive)

    allocate.__doc__ = (f"Keep-masks with each layer's count from the ``{rule}`` rule "
                        "(``layer_counts``), the highest scores of each layer kept.")
    return allocate


ALLOCATIONS.register("uniform")(_by_rule("uniform"))
ALLOCATIONS.register("erk")(_by_rule("erk"))


@ALLOCATIONS.register("matched")
def matched_masks(scores: dict[str, torch.Tensor], sparsity: float,
                  alive: dict[str, torch.Tensor] | None = None,
                  reference: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """Each layer keeps as many weights as the global allocation of ``reference`` scores
    (the model's magnitudes) would keep there, chosen by ``scores`` within the layer: the
    layer-wise sparsities of global magnitude pruning with another criterion inside each
    layer (the layer-wise control of Frankle et al. 2021, "Pruning Neural Networks at
    Initialization: Why Are We Missing the Mark?")."""
    if reference is None:
        raise ValueError("matched allocation needs reference scores")
    counts = {n: int(k.sum()) for n, k in global_masks(reference, sparsity, alive).items()}
    return layer_masks(scores, counts, alive)


def nm_masks(scores: dict[str, torch.Tensor], n: int, m: int) -> tuple[dict[str, torch.Tensor],
                                                                       list[str]]:
    """N:M semi-structured keep-masks (NVIDIA's ASP, Mishra et al. 2021, "Accelerating Sparse
    Deep Neural Networks"): in every group of ``m`` consecutive input weights of a layer
    (for a convolution, ``m`` consecutive input channels at the same output channel and kernel
    position, ASP's layout), the ``n`` highest scores are kept. Layers whose input width is
    not a multiple of ``m`` cannot be grouped and stay dense (ASP skips them too); their names
    are returned beside the masks."""
    import torch

    masks, skipped = {}, []
    for name, score in scores.items():
        inputs = score.shape[1] if score.dim() > 1 else score.shape[0]
        if score.dim() not in (2, 4) or inputs % m:
            masks[name] = torch.ones_like(score, dtype=torch.bool)
            skipped.append(name)
            continue
        # Input weights last: (out, in) or (out, kh, kw, in), then groups of m.
        s = score.detach().float()
        s = s.permute(0, 2, 3, 1) if s.dim() == 4 else s
        groups = s.reshape(-1, m)
        keep = torch.zeros_like(groups, dtype=torch.bool)
        top = torch.argsort(groups, dim=1, descending=True, stable=True)[:, :n]
        keep.scatter_(1, top, True)
        keep = keep.view(s.shape)
        masks[name] = (keep.permute(0, 3, 1, 2) if score.dim() == 4 else keep).contiguous()
    return masks, skipped
