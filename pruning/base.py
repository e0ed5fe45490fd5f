"""The pruner interface and what a pruner returns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass
class PruneResult:
    """A pruned model; ``masks`` (param name -> bool keep-mask) for unstructured methods, None
    when channels were physically removed; ``info`` holds method facts worth logging."""

    model: nn.Module
    masks: dict[str, torch.Tensor] | None
    structured: bool
    info: dict[str, float] = field(default_factory=dict)


class Pruner:
    """Base class of pruning methods; subclasses register in ``pruning.methods.PRUNERS``."""

    name: str = "base"
    structured: bool = False
    needs_rewind: bool = False

    def prune(
        self,
        model: nn.Module,
        sparsity: float,
        *,
        example_input: torch.Tensor,
        rewind_state: dict[str, torch.Tensor] | None = None,
        ignored_layers: Sequence[nn.Module] = (),
    ) -> PruneResult:
        """Prune ``model`` (which may be modified in place) to parameter ``sparsity``.

        ``ignored_layers`` are layers whose outputs must keep their width (the classifier)."""
        raise NotImplementedError


def check_sparsity(sparsity: float) -> float:
    """Reject targets outside (0, 1) with a clear message."""
    if not 0.0 < float(sparsity) < 1.0:
        raise ValueError(f"sparsity must be in (0, 1), got {sparsity!r}")
    return float(sparsity)
