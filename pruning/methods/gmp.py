"""``gmp``: gradual magnitude pruning during retraining."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pruning.methods import register
from pruning.methods.base import Method, MethodContext, MethodParams, PruneResult
from pruning.schedules import cubic

if TYPE_CHECKING:
    from pruning.masks import MaskUpdate


@dataclass(frozen=True)
class GmpParams(MethodParams):
    """``start`` and ``end``: fractions of the retraining steps between which sparsity ramps
    from 0 to the target; ``update_every``: steps between mask updates (default: a tenth of
    the ramp)."""

    start: float = 0.0
    end: float = 0.5
    update_every: int | None = None

    def check(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}: must be within [0, 1], got {value:g}")
        if self.end <= self.start:
            raise ValueError(f"end: must come after start ({self.start:g}), got {self.end:g}")
        if self.update_every is not None and self.update_every < 1:
            raise ValueError(f"update_every: must be at least 1, got {self.update_every}")


@register("gmp")
class Gmp(Method):
    """Gradual magnitude pruning (Zhu & Gupta 2017, "To prune, or not to prune"): starting
    from the trained dense model, sparsity follows the cubic schedule
    s_t = s_f (1 - (1 - (t - t_0) / (t_1 - t_0))^3) from 0 at step t_0 to the target s_f at
    t_1, masks recomputed by global magnitude every ``update_every`` steps (pruned weights stay
    pruned), then retraining continues at the target. Only steps at the target may supply the
    best checkpoint. Score ``magnitude``, allocation ``global``, the cubic schedule."""

    Params = GmpParams
    score = "magnitude"
    allocation = "global"

    def setup(self, r: int, ctx: MethodContext) -> None:
        total = ctx.total_steps
        self.begin = round(self.params.start * total)
        self.end = max(self.begin + 1, round(self.params.end * total))
        self.every = self.params.update_every or max(1, (self.end - self.begin) // 10)
        self.current = 0.0

    def begin_round(self, r: int, model: Any, masks: dict[str, Any] | None,
                    ctx: MethodContext) -> PruneResult:
        import torch

        from pruning.measure import prunable_weights

        # Everything kept: the Masks object exists from the first step and is narrowed later.
        ones = {n: torch.ones_like(p, dtype=torch.bool) for n, p in prunable_weights(model)}
        return PruneResult(model, ones, structured=False)

    def target_at(self, step: int) -> float:
        """The schedule's sparsity after ``step`` optimizer steps."""
        return cubic(step, self.begin, self.end, self.sparsity)

    def after_step(self, step: int, model: Any, optimizer: Any,
                   masks: dict[str, Any] | None) -> MaskUpdate | None:
        due = step >= self.end or (step >= self.begin and (step - self.begin) % self.every == 0)
        target = self.target_at(step)
        if not due or target <= self.current:
            return None
        from pruning.allocation import ALLOCATIONS
        from pruning.masks import MaskUpdate
        from pruning.scores import score

        self.current = target
        new = ALLOCATIONS.get(self.allocation)(score(self.score)(model, None), target, masks)
        return MaskUpdate(new)

    def selectable(self, step: int) -> bool:
        return step >= self.end

    def state_dict(self) -> dict[str, Any]:
        return {"current": self.current}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.current = float(state["current"])
