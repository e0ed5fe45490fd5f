"""Drop and grow: the mask updates of dynamic sparse training, as plain functions over
per-layer tensors (DSR, SET and RigL differ only in how they pick and how many).

A mask is a bool keep-tensor per layer. ``drop_lowest`` removes the lowest-scored active
positions of each layer, ``grow_highest`` and ``grow_random`` activate inactive ones;
regrown weights start at zero, which the training loop's ``Masks.replace`` enforces."""

from __future__ import annotations

import math

import torch

from pruning.masks import MaskUpdate


def drop_lowest(scores: dict[str, torch.Tensor], masks: dict[str, torch.Tensor],
                counts: dict[str, int]) -> dict[str, torch.Tensor]:
    """Masks with ``counts[name]`` lowest-scored active positions of each layer removed."""
    out = {}
    for name, keep in masks.items():
        active = keep.flatten().nonzero().flatten()
        k = min(int(counts.get(name, 0)), active.numel())
        new = keep.clone()
        if k > 0:
            # A partial selection among the active positions only: a full sort of the layer
            # made an update step cost twice a training step (benchmarks/dst_step.py).
            values = scores[name].detach().flatten()[active].float()
            new.view(-1)[active[torch.topk(values, k, largest=False, sorted=False).indices]] = \
                False
        out[name] = new
    return out


def grow_highest(scores: dict[str, torch.Tensor], masks: dict[str, torch.Tensor],
                 counts: dict[str, int]) -> dict[str, torch.Tensor]:
    """Per layer, the ``counts[name]`` inactive positions with the highest scores (RigL:
    gradient magnitude); returns the grown positions."""
    out = {}
    for name, keep in masks.items():
        grown = torch.zeros_like(keep)
        k = min(int(counts.get(name, 0)), int((~keep).sum()))
        if k > 0:
            flat = scores[name].detach().flatten().float().masked_fill(keep.flatten(),
                                                                         -math.inf)
            grown.view(-1)[torch.topk(flat, k, sorted=False).indices] = True
        out[name] = grown
    return out


def grow_random(masks: dict[str, torch.Tensor], counts: dict[str, int],
                generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Per layer, ``counts[name]`` inactive positions drawn uniformly at random (SET, DSR);
    returns the grown positions."""
    out = {}
    for name, keep in masks.items():
        grown = torch.zeros_like(keep)
        free = (~keep).flatten().nonzero().flatten()
        k = min(int(counts.get(name, 0)), free.numel())
        if k > 0:
            pick = torch.randperm(free.numel(), generator=generator)[:k].to(free.device)
            grown.view(-1)[free[pick]] = True
        out[name] = grown
    return out


def proportional_counts(total: int, shares: dict[str, int],
                        capacity: dict[str, int]) -> dict[str, int]:
    """Split ``total`` over layers in proportion to ``shares`` (DSR: each layer's surviving
    weights), never beyond a layer's ``capacity`` (its inactive positions); largest
    remainders round, and what a full layer cannot take goes to the others."""
    counts = dict.fromkeys(shares, 0)
    left = min(total, sum(capacity.values()))
    open_ = {n for n in shares if capacity[n] > 0}
    while left > 0 and open_:
        weight = sum(max(0, shares[n]) for n in open_)
        if weight <= 0:
            weight, use = len(open_), dict.fromkeys(open_, 1)
        else:
            use = {n: max(0, shares[n]) for n in open_}
        exact = {n: left * use[n] / weight for n in open_}
        step = {n: min(capacity[n] - counts[n], math.floor(exact[n])) for n in open_}
        rest = left - sum(step.values())
        for n in sorted(open_, key=lambda n: (exact[n] - math.floor(exact[n]), n),
                        reverse=True):
            if rest <= 0:
                break
            if counts[n] + step[n] < capacity[n]:
                step[n] += 1
                rest -= 1
        for n, k in step.items():
            counts[n] += k
        left -= sum(step.values())
        open_ = {n for n in open_ if counts[n] < capacity[n]}
    return counts


def combine(after_drop: dict[str, torch.Tensor], grown: dict[str, torch.Tensor]
            ) -> MaskUpdate:
    """The update that keeps ``after_drop`` and adds ``grown``."""
    return MaskUpdate({n: after_drop[n] | grown[n] for n in after_drop}, grown)
