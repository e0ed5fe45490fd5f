"""Validate a loaded sweep before anything starts: every problem is a ``SpaceError`` of one
line naming the key."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from pruning.methods import METHODS, method_class, parse_params
from pruning.methods.base import Budget
from search_spaces.loader import SpaceError
from search_spaces.spec import SweepSpec
from trainables.config import SAVE_FORMATS, SAVE_VALUES


def validate(spec: SweepSpec, known_methods: Iterable[str], known_datasets: Iterable[str],
             known_models: Iterable[str] | None = None) -> None:
    """Raise SpaceError (one line, naming the key) for anything a sweep cannot run with."""
    known_m, known_d = sorted(known_methods), sorted(known_datasets)
    if not spec.methods:
        raise SpaceError("methods: at least one method is needed")
    for m in (*spec.methods, *(m for m, _ in spec.method_recipes)):
        if m not in known_m:
            raise SpaceError(f"methods: unknown method {m!r} (known: {', '.join(known_m)})")
    if spec.reference not in known_m:
        raise SpaceError(f"reference: unknown method {spec.reference!r} "
                         f"(known: {', '.join(known_m)})")
    if not spec.sparsities:
        raise SpaceError("sparsities: at least one sparsity is needed")
    for s in spec.sparsities:
        if not (math.isfinite(s) and 0.0 <= s < 1.0) or (s == 0 and not _only_controls(spec)):
            raise SpaceError(f"sparsities: {s!r} is outside (0, 1)" + (
                " (only the unpruned control runs at sparsity 0; it adds its own cell)"
                if s == 0 else _as_fractions(spec.sparsities)))
    if len(set(spec.sparsities)) != len(spec.sparsities):
        raise SpaceError("sparsities: duplicate values")
    if not spec.seeds:
        raise SpaceError("seeds: at least one seed is needed")
    for seed in spec.seeds:
        if seed < 0 or seed >= 2**31:
            raise SpaceError(f"seeds: {seed} is not in [0, 2^31)")
    if len(set(spec.seeds)) != len(spec.seeds):
        raise SpaceError("seeds: duplicate values")
    if spec.data.name not in known_d:
        raise SpaceError(
            f"data.name: unknown dataset {spec.data.name!r} (known: {', '.join(known_d)})"
        )
    if known_models is not None and spec.model.name not in set(known_models):
        raise SpaceError(f"model.name: unknown model {spec.model.name!r} "
                         f"(known: {', '.join(sorted(known_models))})")
    if spec.model.width <= 0:
        raise SpaceError("model.width: must be positive")
    for key in ("train_size", "val_size", "test_size"):
        size = getattr(spec.data, key)
        if size is not None and size <= 0:
            raise SpaceError(f"data.{key}: must be a positive integer")
    for where, recipe in [("dense", spec.dense), ("finetune", spec.finetune)] + [
        (f"method_recipes.{m}", spec.finetune_for(m)) for m, _ in spec.method_recipes
    ]:
        _check_recipe(where, recipe)
    if not 0 <= spec.rewind_epoch <= spec.dense.epochs:
        raise SpaceError(f"rewind_epoch: must be within 0..dense.epochs ({spec.dense.epochs})")
    _check_methods(spec)
    _check_save(spec)


def _as_fractions(sparsities: tuple[float, ...]) -> str:
    """`` (sparsities are fractions: did you mean 0.5,0.9?)`` when every value reads as a
    percentage."""
    if all(math.isfinite(s) and 1.0 <= s < 100.0 for s in sparsities):
        return (" (sparsities are fractions: did you mean "
                f"{','.join(f'{s / 100:g}' for s in sparsities)}?)")
    return ""


def _only_controls(spec: SweepSpec) -> bool:
    return all(method_class(m).traits.fixed_sparsity == 0 for m in spec.methods)


def _check_methods(spec: SweepSpec) -> None:
    """Method parameters parse and every (method, sparsity) can run with its budget."""
    for method, _ in spec.method_params:
        if method not in METHODS:
            raise SpaceError(f"method_params: unknown method {method!r} "
                             f"(known: {', '.join(METHODS.names())})")
    for method, sparsity in spec.method_sparsities():
        cls = method_class(method)
        try:
            params = parse_params(cls, dict(spec.params_for(method)))
            budget = Budget(sparsity, spec.dense.epochs, spec.rewind_epoch,
                            spec.finetune_for(method).epochs)
            cls.check(params, budget)
        except ValueError as exc:
            raise SpaceError(str(exc)) from None


def _check_save(spec: SweepSpec) -> None:
    """A known format and value type; CSR only where every method leaves a masked model."""
    if spec.save.format not in SAVE_FORMATS:
        raise SpaceError(f"save.format: must be one of {', '.join(SAVE_FORMATS)}, got "
                         f"{spec.save.format!r}")
    if spec.save.values not in SAVE_VALUES:
        raise SpaceError(f"save.values: must be one of {', '.join(SAVE_VALUES)}, got "
                         f"{spec.save.values!r}")
    if spec.save.format == "csr":
        structured = [m for m in spec.methods if method_class(m).traits.structured]
        if structured:
            raise SpaceError(f"save.format: csr stores masked weights, but {', '.join(structured)} "
                             "remove channels and save a smaller dense network; use format auto "
                             "(CSR or bitmask for masked models, whichever is smaller)")


def _check_recipe(where: str, recipe: Any) -> None:
    if recipe.epochs < 1:
        raise SpaceError(f"{where}.epochs: must be at least 1")
    if not recipe.lr > 0:
        raise SpaceError(f"{where}.lr: must be positive")
    if recipe.batch_size < 1 or recipe.eval_batch_size < 1:
        raise SpaceError(f"{where}.batch_size: must be at least 1")
    if recipe.weight_decay < 0 or not 0 <= recipe.momentum < 1:
        raise SpaceError(f"{where}: weight_decay must be >= 0 and momentum in [0, 1)")
    if not 0 <= recipe.label_smoothing < 1:
        raise SpaceError(f"{where}.label_smoothing: must be in [0, 1)")
    if recipe.patience < 0:
        raise SpaceError(f"{where}.patience: must be >= 0 (0 disables early stopping)")
