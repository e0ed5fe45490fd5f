"""``random``: a random unstructured mask at the target sparsity, the control any criterion
must beat."""

from __future__ import annotations

from dataclasses import dataclass

from pruning.methods import register
from pruning.methods._oneshot import AllocationParams, OneShotMethod


@dataclass(frozen=True)
class RandomParams(AllocationParams):
    """``allocation``: ``global`` by default (a uniformly random subset of all weights);
    ``matched`` keeps each layer at the sparsity global magnitude pruning gives it, so that
    "the criterion mattered" can be told apart from "the layer-wise sparsities mattered";
    ``uniform`` and ``erk`` are the rules sparse training starts from."""


@register("random")
class Random(OneShotMethod):
    """The global allocation of ``magnitude`` with random scores: a uniformly random subset of
    all prunable weights, then fine-tuning (Blalock et al. 2020, "What is the State of Neural
    Network Pruning?": a criterion that does not beat random did not matter). Score
    ``random``, allocation ``global`` (or the ``allocation`` parameter's)."""

    Params = RandomParams
    score = "random"
    allocation = "global"
