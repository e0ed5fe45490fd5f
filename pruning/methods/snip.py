"""``snip``: SNIP, single-shot pruning at initialization, then sparse training from
theta_0."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pruning.methods import register
from pruning.methods._oneshot import OneShotMethod
from pruning.methods.base import MethodContext, MethodParams, Traits

if TYPE_CHECKING:
    import torch
    from torch import nn


@dataclass(frozen=True)
class SnipParams(MethodParams):
    """``batches``: calibration batches (of the fine-tuning batch size) the gradient is
    averaged over; 1, the paper's single minibatch."""

    batches: int = 1

    def check(self) -> None:
        if self.batches < 1:
            raise ValueError(f"batches: must be at least 1, got {self.batches}")


@register("snip")
class Snip(OneShotMethod):
    """SNIP (Lee et al. 2019, "SNIP: Single-shot Network Pruning based on Connection
    Sensitivity", ICLR): at initialization (theta_0 of the dense run), every weight is scored
    by its connection sensitivity |g * w| on calibration batches, the globally lowest pruned,
    and the sparse network trained from theta_0 with the dense recipe (sparse training from
    scratch: none of the dense run's training is used). Score ``snip``, allocation
    ``global``, traits start from ``init``, retraining ``from_init``."""

    Params = SnipParams
    traits = Traits(start_from="init", retraining="from_init")
    score = "snip"
    allocation = "global"

    def scores(self, model: nn.Module, ctx: MethodContext) -> dict[str, torch.Tensor]:
        from pruning.scores import score

        return score(self.score)(model, ctx, batches=self.params.batches)
