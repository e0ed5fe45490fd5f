"""SweepSpec: a named sweep as plain data (methods x sparsities x seeds, plus recipes)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from pruning.methods import METHODS, method_class
from trainables.config import (
    DataConfig,
    DenseConfig,
    MeasureConfig,
    ModelConfig,
    Recipe,
    SaveConfig,
    TrialConfig,
    replace_dotted,
)
from trainables.retraining import retraining_recipe


@dataclass(frozen=True)
class Cell:
    """One stage-2 trial's coordinates."""

    method: str
    sparsity: float
    seed: int

    @property
    def label(self) -> str:
        return f"{self.method}-s{self.sparsity:g}-seed{self.seed}"


DISTRIBUTIONS = ("loguniform", "uniform", "randint", "choice", "grid")
SEARCHABLE = ("lr", "weight_decay", "momentum", "label_smoothing", "batch_size", "epochs",
              "patience")


@dataclass(frozen=True)
class SearchParam:
    """One searched fine-tuning field: ``finetune.<field>`` drawn from a distribution."""

    key: str
    kind: str
    values: tuple[float | int | str, ...]

    @property
    def field(self) -> str:
        return self.key.split(".", 1)[1]


@dataclass(frozen=True)
class SearchSpec:
    """A hyperparameter search per (method, sparsity) cell, run by Optuna through Ray Tune."""

    algorithm: str = "optuna"
    num_samples: int = 8
    scheduler: str = "none"
    params: tuple[SearchParam, ...] = ()

    @property
    def is_grid(self) -> bool:
        return bool(self.params) and all(p.kind == "grid" for p in self.params)


@dataclass(frozen=True)
class SweepSpec:
    """Everything a sweep needs besides where it runs.

    ``method_recipes`` holds per-method retraining overrides as sorted (method, ((key, value),
    ...)) pairs, applied on top of the recipe the method's retraining starts from (the
    ``finetune`` recipe, or the dense recipe for rewinding methods); ``method_params`` holds
    each method's parameters the same way. ``equal_budget`` gives every method ``finetune.epochs``
    of retraining (weight rewinding otherwise trains the rest of the dense schedule).
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
    save: SaveConfig = field(default_factory=SaveConfig)
    search: SearchSpec | None = None
    # Per (method, sparsity) fine-tuning overrides, e.g. the best values of a search sweep.
    cell_recipes: tuple[tuple[str, float, tuple[tuple[str, Any], ...]], ...] = ()
    recipe_source: str = "default"
    method_params: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()
    equal_budget: bool = False
    # The method every other one is compared with in the report (a comparison declared before
    # any result is read); when it is not in ``methods`` the report falls back to the first
    # method of the grid and says so.
    reference: str = "magnitude"

    def method_sparsities(self) -> list[tuple[str, float]]:
        """(method, sparsity) pairs in the spec's order: every method at every sparsity of the
        grid, except the unpruned control, which runs once at sparsity 0."""
        pairs: list[tuple[str, float]] = []
        for method in self.methods:
            if _is_unpruned(method):
                pairs.append((method, 0.0))
            else:
                pairs.extend((method, s) for s in self.sparsities)
        return pairs

    def cells(self) -> list[Cell]:
        """Every (method, sparsity, seed), methods outermost, in the spec's order."""
        return [Cell(m, s, seed) for m, s in self.method_sparsities() for seed in self.seeds]

    def trial_count(self) -> int:
        """Stage-2 trials this spec starts: grid cells, or samples per (method, sparsity)."""
        if self.search is not None:
            return len(self.method_sparsities()) * self.search.num_samples
        return len(self.cells())

    def dense_config(self, seed: int) -> DenseConfig:
        """The dense baseline that every trial of ``seed`` starts from."""
        return DenseConfig(
            data=self.data, model=self.model, recipe=self.dense, seed=seed,
            rewind_epoch=self.rewind_epoch,
        )

    def finetune_for(self, method: str) -> Recipe:
        """The retraining recipe of ``method``: what its kind of retraining starts from (see
        ``trainables.retraining``) plus the method's overrides."""
        kind = method_class(method).traits.retraining if method in METHODS else "finetune"
        base = retraining_recipe(self.dense, self.finetune, kind, self.rewind_epoch,
                                 self.equal_budget)
        overrides = dict(dict(self.method_recipes).get(method, ()))
        return dataclasses.replace(base, **overrides) if overrides else base

    def params_for(self, method: str) -> tuple[tuple[str, Any], ...]:
        """The parameters set for ``method`` (defaults implied)."""
        return dict(self.method_params).get(method, ())

    def trial_config(self, cell: Cell) -> TrialConfig:
        """The resolved config of one stage-2 trial."""
        finetune = self.finetune_for(cell.method)
        for method, sparsity, overrides in self.cell_recipes:
            if method == cell.method and sparsity == cell.sparsity:
                finetune = dataclasses.replace(finetune, **dict(overrides))
        return TrialConfig(
            dense=self.dense_config(cell.seed), method=cell.method, sparsity=cell.sparsity,
            finetune=finetune, measure=self.measure, save=self.save,
            method_params=self.params_for(cell.method),
        )

    def with_overrides(self, overrides: dict[str, Any]) -> SweepSpec:
        """Apply dotted-key overrides (``finetune.lr``, ``data.name``, ``methods``)."""
        return replace_dotted(self, overrides)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (JSON/YAML friendly)."""
        data = dataclasses.asdict(self)
        data["method_recipes"] = {m: dict(kv) for m, kv in self.method_recipes}
        data["method_params"] = {m: dict(kv) for m, kv in self.method_params}
        data["cell_recipes"] = [[m, s, dict(kv)] for m, s, kv in self.cell_recipes]
        if self.search is not None:
            data["search"] = {
                "algorithm": self.search.algorithm, "num_samples": self.search.num_samples,
                "scheduler": self.search.scheduler,
                "params": {p.key: {p.kind: list(p.values)} for p in self.search.params},
            }
        return data

    def describe(self) -> str:
        """Resolved spec as indented JSON, for ``spaces --show``."""
        return json.dumps(self.to_dict(), indent=2)


def method_recipes(mapping: dict[str, dict[str, Any]]) -> tuple[tuple[str, tuple], ...]:
    """Freeze a {method: {field: value}} mapping into SweepSpec.method_recipes (and
    method_params) form."""
    return tuple(sorted((m, tuple(sorted(kv.items()))) for m, kv in mapping.items()))


def _is_unpruned(method: str) -> bool:
    return method in METHODS and method_class(method).traits.fixed_sparsity == 0
