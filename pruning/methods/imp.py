"""``imp``: iterative magnitude pruning with rewinding."""

from __future__ import annotations

from dataclasses import dataclass

from pruning.methods import register
from pruning.methods.base import MethodParams, Traits
from pruning.methods.lottery import Lottery
from pruning.schedules import geometric_rounds


@dataclass(frozen=True)
class ImpParams(MethodParams):
    """``rate``: the fraction of the remaining weights each round prunes."""

    rate: float = 0.2

    def check(self) -> None:
        if not 0.0 < self.rate < 1.0:
            raise ValueError(f"rate: must be in (0, 1), got {self.rate:g}")


@register("imp")
class Imp(Lottery):
    """Iterative magnitude pruning (Frankle & Carbin 2019, "The Lottery Ticket Hypothesis";
    with rewinding, Frankle et al. 2020): each round prunes ``rate`` of the remaining weights by
    global magnitude, rewinds the survivors to theta_k and retrains along the dense schedule from
    epoch k, until the target (0.9 takes 11 rounds at rate 0.2; the last round stops exactly at
    the target). Rounds before the last are cached in shared storage, so a trial at 0.9
    continues from the rounds a trial at 0.5 of the same seed already trained."""

    Params = ImpParams
    traits = Traits(retraining="weight_rewind", cache_rounds=True)

    def rounds(self) -> int:
        return len(geometric_rounds(self.sparsity, self.params.rate))

    def round_sparsity(self, r: int) -> float:
        return geometric_rounds(self.sparsity, self.params.rate)[r]
