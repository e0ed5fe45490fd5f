"""What every structured (channel-removing) method shares: its options and its one-shot round.

A structured method is a channel criterion (``pruning.channels.scores``), an allocation across
layers (``pruning.channels.allocation``) and surgery (``pruning.channels.surgery``); its parameters
choose the allocation, channel counts in multiples of ``round_to``, a protected minimum per
layer, and layers whose filters all stay. Torch-free at import (see ``pruning.methods.base``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from pruning.channels import CHANNEL_ALLOCATIONS
from pruning.methods.base import Method, MethodContext, MethodParams, PruneResult, Traits


@dataclass(frozen=True)
class ChannelParams(MethodParams):
    """``allocation``: ``uniform`` (the same channel ratio in every layer) or ``global`` (one
    threshold on per-layer-normalized scores); ``round_to``: kept channel counts are multiples
    of it (8 suits most CPU and GPU kernels); ``min_keep``: fraction of every layer's channels
    that always stays; ``exclude``: layer names (shell patterns, ``layer1.*.conv1``) whose
    filters are never removed, e.g. those ``prune-sweep sensitivity`` marks sensitive."""

    allocation: str = "uniform"
    round_to: int = 1
    min_keep: float = 0.1
    exclude: tuple[str, ...] = ()

    def check(self) -> None:
        if self.allocation not in CHANNEL_ALLOCATIONS:
            raise ValueError(f"allocation: must be one of {', '.join(CHANNEL_ALLOCATIONS)}, "
                             f"got "
                             f"{self.allocation!r}")
        if self.round_to < 1:
            raise ValueError(f"round_to: must be at least 1, got {self.round_to}")
        if not 0.0 <= self.min_keep < 1.0:
            raise ValueError(f"min_keep: must be within [0, 1), got {self.min_keep:g}")
        for pattern in self.exclude:
            if not pattern.strip():
                raise ValueError("exclude: empty layer name")


class ChannelMethod(Method):
    """One-shot structured pruning: score channels, allocate, remove them, retrain.

    Subclasses name their criterion in ``score``."""

    Params: ClassVar[type[MethodParams]] = ChannelParams
    traits: ClassVar[Traits] = Traits(structured=True, resized_in_training=True)
    score: ClassVar[str] = "l1_filter"

    def options(self, score: str | None = None) -> Any:
        """The surgery options these parameters ask for."""
        from pruning.channels.surgery import ChannelOptions

        p = self.params
        return ChannelOptions(score=score or self.score, allocation=p.allocation,
                              round_to=p.round_to, min_keep=p.min_keep,
                              exclude=tuple(p.exclude))

    def check_model(self, model: Any, example_input: Any, ignored: list[Any]) -> None:
        """Raise ValueError (one line) when this model cannot be pruned to the target with
        these parameters: an exclusion naming no layer, or a sparsity out of reach."""
        from pruning.channels.groups import unmatched_patterns
        from pruning.channels.surgery import plan_channels

        unknown = unmatched_patterns(model, self.params.exclude)
        if unknown:
            raise ValueError(f"{self.name}: exclude: {', '.join(map(repr, unknown))} names no "
                             "Conv2d or Linear layer of the model")
        try:
            plan_channels(model, self.sparsity, example_input, ignored, self.options())
        except ValueError as exc:
            raise ValueError(f"{self.name}: {exc}") from None

    def begin_round(self, r: int, model: Any, masks: dict[str, Any] | None,
                    ctx: MethodContext) -> PruneResult:
        from pruning.channels.surgery import prune_to_sparsity

        pruned, info, _ = prune_to_sparsity(model, self.sparsity, ctx.example_input,
                                            ctx.ignored_layers, self.options())
        return PruneResult(pruned, None, structured=True, info=info)
