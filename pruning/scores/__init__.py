"""Importance scores of prunable weights (unstructured): larger = more important.

Every module of this package is one score, registered under the module's name: a function
``score(model, ctx) -> {param name: tensor shaped like the weight}`` over every prunable
weight (``pruning.measure.prunable_weights``). ``ctx`` is the round's ``MethodContext``: its
``generator`` (random scores) and ``calibration`` batches (data-aware scores); scores that
need neither accept None. Listing names costs no torch import: a score's module is imported
when the score is first asked for. Channel criteria live in ``pruning.channels.scores``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pruning.registry import Registry

if TYPE_CHECKING:
    import torch
    from torch import nn

    ScoreFn = Callable[[nn.Module, Any], dict[str, torch.Tensor]]

SCORES: Registry[ScoreFn] = Registry.package("unstructured score", __name__, __file__)


def score(name: str) -> ScoreFn:
    """The score function registered as ``name``; unknown names list the known ones."""
    return SCORES.get(name)


__all__ = ["SCORES", "score"]
