"""What every dynamic sparse training method shares: it trains a sparse network from the
dense run's initial weights (theta_0) for the dense run's budget, at a fixed parameter count,
and every ``update_every`` optimizer steps drops connections and regrows as many elsewhere
(``pruning.dynamic.regrowth``). Torch-free at import (see ``pruning.methods.base``).

A method names its parts: ``grow_score`` (``random`` or ``gradient``) and ``drop_schedule``
(``constant`` or ``cosine``); connections are dropped by smallest magnitude. SET is
(random, constant), RigL is (gradient, cosine). A method whose drop rule is not a fraction
(DSR's adaptive threshold) overrides ``update``. ``static`` is the same start with no update
at all."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from pruning.allocation import DENSITIES
from pruning.methods.base import Method, MethodContext, MethodParams, PruneResult, Traits

if TYPE_CHECKING:
    from pruning.masks import MaskUpdate


@dataclass(frozen=True)
class DynamicParams(MethodParams):
    """``allocation``: how the parameter budget is spread over layers at the start
    (``uniform``: the same sparsity everywhere; ``erk``: Erdős–Rényi-Kernel, denser small
    layers); ``drop_fraction``: the fraction of a layer's active connections an update drops
    (the start of RigL's cosine decay; DSR's target for its adaptive threshold);
    ``update_every``: optimizer steps between updates (default: the paper's, see each
    method); ``end``: fraction of training after which the connectivity is fixed."""

    allocation: str = "erk"
    drop_fraction: float = 0.3
    update_every: int | None = None
    end: float = 1.0

    def check(self) -> None:
        if self.allocation not in DENSITIES:
            raise ValueError(f"allocation: must be one of {', '.join(DENSITIES)}, got "
                             f"{self.allocation!r}")
        if not 0.0 < self.drop_fraction < 1.0:
            raise ValueError(f"drop_fraction: must be in (0, 1), got {self.drop_fraction:g}")
        if self.update_every is not None and self.update_every < 1:
            raise ValueError(f"update_every: must be at least 1 step, got {self.update_every}")
        if not 0.0 < self.end <= 1.0:
            raise ValueError(f"end: must be within (0, 1], got {self.end:g}")


class DynamicSparseMethod(Method):
    """Sparse from the first step: a random mask with the allocation's per-layer counts on
    theta_0, then drop-and-grow updates until ``end`` of training. Always at its target
    sparsity, so every epoch may supply the best checkpoint."""

    Params: ClassVar[type[MethodParams]] = DynamicParams
    traits: ClassVar[Traits] = Traits(start_from="init", retraining="from_init", dynamic=True)
    grow_score: ClassVar[str] = "random"
    drop_schedule: ClassVar[str] = "constant"
    # The paper's interval between updates, in optimizer steps (None: once per epoch).
    paper_interval: ClassVar[int | None] = 100

    def check_model(self, model: Any, example_input: Any, ignored: list[Any]) -> None:
        """Raise ValueError (one line) for a model these parameters cannot sparsify."""
        from pruning.measure import prunable_weights

        if not prunable_weights(model):
            raise ValueError(f"{self.name}: allocation {self.params.allocation}: the model has "
                             "no prunable (Conv2d or Linear) layers")

    def interval(self, ctx: MethodContext) -> int:
        """Steps between updates: ``update_every``, else the paper's interval, shortened for
        short runs so that at least about 20 updates happen (a smoke run of 30 steps would
        otherwise never update), or one epoch for methods that update per epoch."""
        if self.params.update_every is not None:
            return self.params.update_every
        if self.paper_interval is None:
            return max(1, ctx.steps_per_epoch)
        return max(1, min(self.paper_interval, ctx.total_steps // 20))

    def setup(self, r: int, ctx: MethodContext) -> None:
        self.every = self.interval(ctx)
        self.end_step = math.floor(self.params.end * ctx.total_steps)
        self.grads: dict[str, Any] | None = None
        self.seed_stream(ctx)

    def seed_stream(self, ctx: MethodContext) -> None:
        """The method's own random stream (saved in the checkpoint), seeded from the trial's:
        the random start mask, then random regrowth."""
        import torch

        self.generator = torch.Generator().manual_seed(
            int(torch.randint(0, 2**62, (1,), generator=ctx.generator)))

    def begin_round(self, r: int, model: Any, masks: dict[str, Any] | None,
                    ctx: MethodContext) -> PruneResult:
        from pruning.allocation import layer_counts, random_masks
        from pruning.masks import apply_masks
        from pruning.measure import prunable_weights

        params = prunable_weights(model)
        counts = layer_counts({n: tuple(p.shape) for n, p in params}, self.sparsity,
                              self.params.allocation)
        new = random_masks(params, counts, self.generator)
        apply_masks(model, new)
        return PruneResult(model, new, structured=False,
                           info={"update_every": self.every, "mask_end_step": self.end_step})

    def due(self, step: int) -> bool:
        """Whether the connectivity is updated after optimizer step ``step``."""
        return step < self.end_step and step % self.every == 0

    def drop_fraction(self, step: int) -> float:
        """The fraction of each layer's active connections the update at ``step`` drops."""
        if self.drop_schedule == "cosine":
            from pruning.schedules import cosine_decay

            return cosine_decay(step, self.end_step, self.params.drop_fraction)
        return self.params.drop_fraction

    def after_backward(self, step: int, model: Any) -> None:
        # The dense gradient is read only on update steps, right after backward (before
        # pruned gradients are masked), so other steps cost what a masked step costs.
        if self.grow_score != "gradient" or not self.due(step):
            return
        from pruning.measure import prunable_weights

        self.grads = {n: p.grad.detach().abs().clone() for n, p in prunable_weights(model)
                      if p.grad is not None}

    def after_step(self, step: int, model: Any, optimizer: Any,
                   masks: dict[str, Any] | None) -> MaskUpdate | None:
        if masks is None or not self.due(step):
            return None
        return self.update(step, model, masks)

    def update(self, step: int, model: Any, masks: dict[str, Any]) -> MaskUpdate | None:
        """The update after step ``step``: drop ``drop_fraction(step)`` of each layer's active
        connections with the smallest magnitude, regrow as many by ``grow_score``."""
        from pruning.dynamic.regrowth import combine, drop_lowest, grow_highest, grow_random

        if self.grow_score == "gradient":
            grads, self.grads = self.grads, None
            if grads is None:
                return None
        counts = self.drop_counts(masks, self.drop_fraction(step))
        weights = self.weights(model, list(masks))
        after = drop_lowest({n: w.abs() for n, w in weights.items()}, masks, counts)
        if self.grow_score == "gradient":
            return combine(after, grow_highest(grads, after, counts))
        return combine(after, grow_random(after, counts, self.generator))

    @staticmethod
    def weights(model: Any, names: list[str]) -> dict[str, Any]:
        """The current values of the masked parameters."""
        params = dict(model.named_parameters())
        return {n: params[n].detach() for n in names}

    @staticmethod
    def drop_counts(masks: dict[str, Any], fraction: float) -> dict[str, int]:
        """``fraction`` of each layer's active connections, rounded."""
        return {n: round(fraction * int(k.sum())) for n, k in masks.items()}

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "generator" in state:
            self.generator.set_state(state["generator"])
