"""``nm``: N:M semi-structured magnitude sparsity, one shot, then fine-tuning."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pruning.methods import register
from pruning.methods._oneshot import OneShotMethod
from pruning.methods.base import Budget, MethodParams

MAX_M = 64


@dataclass(frozen=True)
class NmParams(MethodParams):
    """``n`` of every ``m`` consecutive input weights kept: 2:4 (the default) is what sparse
    tensor cores (NVIDIA Ampere and later) execute."""

    n: int = 2
    m: int = 4

    def check(self) -> None:
        if not 2 <= self.m <= MAX_M:
            raise ValueError(f"m: must be within 2..{MAX_M}, got {self.m}")
        if not 0 < self.n < self.m:
            raise ValueError(f"n: must be within 1..{self.m - 1} (below m = {self.m}), "
                             f"got {self.n}")

    @property
    def sparsity(self) -> float:
        """The one sparsity N:M gives: 1 - n/m."""
        return 1.0 - self.n / self.m


@register("nm")
class Nm(OneShotMethod):
    """N:M semi-structured sparsity (Mishra et al. 2021, "Accelerating Sparse Deep Neural
    Networks"; NVIDIA's ASP recipe): in every group of ``m`` consecutive input weights of a
    layer of the trained dense model (a convolution's input channels at the same output
    channel and kernel position) the ``n`` largest |w| are kept, then fine-tuning with the mask
    fixed. Layers whose input width is not a multiple of ``m`` stay dense (logged as
    ``prune.nm_layers_dense``), so the measured sparsity is a little below 1 - n/m. Score
    ``magnitude``, sparsity type ``n:m``; the sweep's sparsity must be 1 - n/m."""

    Params = NmParams
    score = "magnitude"
    sparsity_type = "n:m"

    @classmethod
    def check(cls, params: MethodParams, budget: Budget) -> None:
        params.check()
        assert isinstance(params, NmParams)
        want = params.sparsity
        if abs(budget.sparsity - want) > 1e-9:
            raise ValueError(f"{cls.name}: sparsity {budget.sparsity:g}: {params.n}:{params.m} "
                             f"sparsity is {want:g}; set sparsities to {want:g} for "
                             f"{cls.name}")
        super().check(params, budget)

    def check_model(self, model: Any, example_input: Any, ignored: list[Any]) -> None:
        """Refuse a model none of whose layers can be grouped by ``m``."""
        from pruning.measure import prunable_weights

        params = prunable_weights(model)
        if not any(p.dim() in (2, 4) and p.shape[1] % self.params.m == 0 for _, p in params):
            raise ValueError(f"{self.name}: {self.params.n}:{self.params.m}: no Conv2d or "
                             f"Linear layer has an input width divisible by {self.params.m}")
