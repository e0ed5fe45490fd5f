"""``dsr``: Dynamic Sparse Reparameterization."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pruning.methods import register
from pruning.methods._dynamic import DynamicParams, DynamicSparseMethod


@dataclass(frozen=True)
class DsrParams(DynamicParams):
    """``drop_fraction``: the target share of active connections each reallocation prunes
    (N_p; 0.1); ``tolerance``: how far the pruned count may stray from it before the threshold
    moves (delta, 0.1); ``threshold``: the initial magnitude threshold H (0.001). Uniform
    initial allocation, reallocation every 100 steps, as in the paper."""

    allocation: str = "uniform"
    drop_fraction: float = 0.1
    tolerance: float = 0.1
    threshold: float = 1e-3

    def check(self) -> None:
        super().check()
        if not 0.0 <= self.tolerance < 1.0:
            raise ValueError(f"tolerance: must be within [0, 1), got {self.tolerance:g}")
        if not self.threshold > 0.0:
            raise ValueError(f"threshold: must be positive, got {self.threshold:g}")


@register("dsr")
class Dsr(DynamicSparseMethod):
    """Dynamic Sparse Reparameterization (Mostafa & Wang 2019, "Parameter Efficient Training of
    Deep Convolutional Neural Networks by Dynamic Sparse Reparameterization"): a random sparse
    mask on theta_0; every reallocation prunes the active weights whose magnitude is below one
    global threshold H, then moves H so the next prune lands near the target count N_p (doubled
    when fewer than N_p (1 - delta) were pruned, halved when more than N_p (1 + delta)), and
    regrows as many connections as were pruned, spread over layers in proportion to each
    layer's surviving weights, at random inactive positions, starting at zero. The total
    stays at the target; the per-layer split moves to where weights survive."""

    Params = DsrParams

    def setup(self, r: int, ctx: Any) -> None:
        super().setup(r, ctx)
        self.threshold = float(self.params.threshold)

    def update(self, step: int, model: Any, masks: dict[str, Any]) -> Any:
        from pruning.dynamic.regrowth import combine, grow_random, proportional_counts

        weights = self.weights(model, list(masks))
        active = sum(int(k.sum()) for k in masks.values())
        after = {n: k & ~(weights[n].abs() < self.threshold) for n, k in masks.items()}
        pruned = active - sum(int(k.sum()) for k in after.values())
        self.threshold = self.next_threshold(pruned, self.params.drop_fraction * active)
        counts = proportional_counts(
            pruned, {n: int(k.sum()) for n, k in after.items()},
            {n: int((~k).sum()) for n, k in after.items()})
        return combine(after, grow_random(after, counts, self.generator))

    def next_threshold(self, pruned: int, target: float) -> float:
        """H after a prune of ``pruned`` weights against the target N_p."""
        tolerance = self.params.tolerance
        if pruned < target * (1.0 - tolerance):
            return self.threshold * 2.0
        if pruned > target * (1.0 + tolerance):
            return self.threshold / 2.0
        return self.threshold

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "threshold": self.threshold}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.threshold = float(state.get("threshold", self.threshold))
