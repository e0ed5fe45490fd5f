"""``lottery``: magnitude mask from the trained dense model, survivors rewound to theta_k."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from pruning.base import Pruner, PruneResult, check_sparsity
from pruning.masks import apply_masks, global_magnitude_masks
from pruning.methods import PRUNERS


@PRUNERS.register("lottery")
class LotteryPruner(Pruner):
    """Lottery ticket with rewinding (Frankle et al.): k = 0 gives the original LTH.

    The mask comes from the trained weights; every weight (BatchNorm included) is then reset
    to the rewind state, and the caller retrains with the mask fixed."""

    name = "lottery"
    needs_rewind = True

    def prune(
        self,
        model: nn.Module,
        sparsity: float,
        *,
        example_input: torch.Tensor,
        rewind_state: dict[str, torch.Tensor] | None = None,
        ignored_layers: Sequence[nn.Module] = (),
    ) -> PruneResult:
        if rewind_state is None:
            raise ValueError("lottery pruning needs the rewind weights (theta_k) of the dense run")
        masks = global_magnitude_masks(model, check_sparsity(sparsity))
        model.load_state_dict(rewind_state)
        apply_masks(model, masks)
        return PruneResult(model, masks, structured=False)
