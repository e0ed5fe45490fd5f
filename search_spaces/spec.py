"""SweepSpec: a named sweep as plain data (methods x sparsities x seeds, plus recipes)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from trainables.config import (
    DataConfig,
    DenseConfig,
    MeasureConfig,
    ModelConfig,
    Recipe,
    TrialConfig,
    replace_dotted,
)


@dataclass(frozen=True)
class Cell:
    """One stage-2 trial's coordinates."""

    method: str
    sparsity: float
    seed: int

    @property
    def label(self) -> str:
        return f"{self.method}-s{self.sparsity:g}-seed{self.seed}"


@dataclass(frozen=True)
class SweepSpec:
    """Everything a sweep needs besides where it runs.

    ``method_recipes`` holds per-method fine-tuning overrides as sorted (method, ((key, value),
    ...)) pairs, e.g. lottery retrains from early weights and so needs the dense learning rate.
    """

    name: str
    description: str = ""
    methods: tuple[str, ...] = ("magnitude", "structured", "lottery")
    sparsities: tuple[float, ...] = (0.5, 0.9)
    seeds: tuple[int, ...] = (0,)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    dense: Recipe = field(default_factory=Recipe)
    rewind_epoch: int = 1
    finetune: Recipe = field(default_factory=lambda: Recipe(epochs=100, lr=0.01, patience=10))
    method_recipes: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()
    measure: MeasureConfig = field(default_factory=MeasureConfig)

    def cells(self) -> list[Cell]:
        """Every (method, sparsity, seed), methods outermost, in the spec's order."""
        return [
            Cell(m, s, seed) for m in self.methods for s in self.sparsities for seed in self.seeds
        ]

    def dense_config(self, seed: int) -> DenseConfig:
        """The dense baseline that every trial of ``seed`` starts from."""
        return DenseConfig(
            data=self.data, model=self.model, recipe=self.dense, seed=seed,
            rewind_epoch=self.rewind_epoch,
        )

    def finetune_for(self, method: str) -> Recipe:
        """The fine-tuning recipe of ``method``: the shared one plus its overrides."""
        overrides = dict(dict(self.method_recipes).get(method, ()))
        return dataclasses.replace(self.finetune, **overrides) if overrides else self.finetune

    def trial_config(self, cell: Cell) -> TrialConfig:
        """The resolved config of one stage-2 trial."""
        return TrialConfig(
            dense=self.dense_config(cell.seed), method=cell.method, sparsity=cell.sparsity,
            finetune=self.finetune_for(cell.method), measure=self.measure,
        )

    def with_overrides(self, overrides: dict[str, Any]) -> SweepSpec:
        """Apply dotted-key overrides (``finetune.lr``, ``data.name``, ``methods``)."""
        return replace_dotted(self, overrides)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (JSON/YAML friendly)."""
        data = dataclasses.asdict(self)
        data["method_recipes"] = {m: dict(kv) for m, kv in self.method_recipes}
        return data

    def describe(self) -> str:
        """Resolved spec as indented JSON, for ``spaces --show``."""
        return json.dumps(self.to_dict(), indent=2)


def method_recipes(mapping: dict[str, dict[str, Any]]) -> tuple[tuple[str, tuple], ...]:
    """Freeze a {method: {field: value}} mapping into SweepSpec.method_recipes form."""
    return tuple(sorted((m, tuple(sorted(kv.items()))) for m, kv in mapping.items()))
