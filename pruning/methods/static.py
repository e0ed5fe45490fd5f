"""``static``: static sparse training, a fixed random mask from theta_0 (the control of
dynamic sparse training)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from pruning.allocation import DENSITIES
from pruning.methods import register
from pruning.methods._dynamic import DynamicSparseMethod
from pruning.methods.base import MethodContext, MethodParams, PruneResult, Traits


@dataclass(frozen=True)
class StaticParams(MethodParams):
    """``allocation``: per-layer counts of the random mask, ``erk`` (Erdős–Rényi-Kernel,
    denser small layers; the default, as RigL's Static baseline) or ``uniform``."""

    allocation: str = "erk"

    def check(self) -> None:
        if self.allocation not in DENSITIES:
            raise ValueError(f"allocation: must be one of {', '.join(DENSITIES)}, got "
                             f"{self.allocation!r}")


@register("static")
class Static(DynamicSparseMethod):
    """Static sparse training, the control every dynamic sparse training paper compares
    against ("Static" in Evci et al. 2020, "Rigging the Lottery: Making All Tickets Winners"):
    the random mask with the allocation's per-layer counts on theta_0 that ``set`` and
    ``rigl`` start from (the same mask for the same seed and allocation), trained with the
    dense recipe and never updated. Not dynamic: it logs no ``dst.*`` metrics."""

    Params: ClassVar[type[MethodParams]] = StaticParams
    traits: ClassVar[Traits] = Traits(start_from="init", retraining="from_init")

    def setup(self, r: int, ctx: MethodContext) -> None:
        self.every, self.end_step, self.grads = 0, 0, None
        self.seed_stream(ctx)  # the stream set and rigl draw their start mask from

    def begin_round(self, r: int, model: Any, masks: dict[str, Any] | None,
                    ctx: MethodContext) -> PruneResult:
        result = super().begin_round(r, model, masks, ctx)
        result.info = {}  # no update interval or end step to report
        return result

    def due(self, step: int) -> bool:
        return False  # never updated: no gradient is read, no mask replaced
