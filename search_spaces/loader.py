"""Load a sweep by name or from a YAML file (``search_spaces.validation`` checks it before
anything starts)."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any

import yaml

from pruning.typed import coerce
from search_spaces.named import SPACES
from search_spaces.spec import (
    DISTRIBUTIONS,
    SEARCHABLE,
    SearchParam,
    SearchSpec,
    SweepSpec,
    method_recipes,
)


class SpaceError(ValueError):
    """A space that cannot be used; the message is one line naming the offending key."""


def space_names() -> list[str]:
    """Names of the built-in spaces."""
    return SPACES.names()


def load(name_or_path: str) -> SweepSpec:
    """A built-in space by name, or a YAML space file (``extends`` inherits from either)."""
    return _load(name_or_path, seen=())


def _load(ref: str, seen: tuple[str, ...]) -> SweepSpec:
    if ref in SPACES:
        return SPACES.get(ref)()
    path = Path(ref)
    if not (ref.endswith((".yaml", ".yml")) or path.exists()):
        known = ", ".join(SPACES.names())
        raise SpaceError(f"unknown space {ref!r} (known: {known}; or pass a .yaml file)")
    if not path.is_file():
        raise SpaceError(f"space file {ref} does not exist")
    key = str(path.resolve())
    if key in seen:
        raise SpaceError(f"space file {ref}: 'extends' forms a cycle")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SpaceError(_yaml_error(ref, exc)) from None
    if not isinstance(raw, dict):
        raise SpaceError(f"space file {ref}: expected a mapping of keys at the top level")
    parent_ref = raw.pop("extends", None)
    if parent_ref is None:
        base = SweepSpec(name=str(raw.get("name", path.stem)))
    else:
        if not isinstance(parent_ref, str):
            raise SpaceError(f"space file {ref}: 'extends' must be a space name or a file path")
        parent_path = path.parent / parent_ref
        if parent_ref not in SPACES and parent_path.exists():
            parent_ref = str(parent_path)
        try:
            base = _load(parent_ref, seen + (key,))
        except SpaceError as exc:
            raise SpaceError(f"space file {ref}: extends: {exc}") from None
    raw.setdefault("name", path.stem)
    try:
        return apply_mapping(base, raw)
    except SpaceError as exc:
        raise SpaceError(f"space file {ref}: {exc}") from None


def apply_mapping(base: SweepSpec, raw: dict[str, Any]) -> SweepSpec:
    """Overlay a plain mapping (as read from YAML) onto ``base``, type-checking every key."""
    changes: dict[str, Any] = {}
    hints = typing.get_type_hints(SweepSpec)
    for key, value in raw.items():
        if key not in hints:
            known = ", ".join(["extends", *sorted(hints)])
            raise SpaceError(f"unknown key {key!r} (known: {known})")
        if key == "method_recipes":
            changes[key] = _method_recipes(value, base)
        elif key == "method_params":
            changes[key] = _method_params(value, base)
        elif key == "search":
            changes[key] = None if value is None else _search(value)
        elif key == "cell_recipes":
            changes[key] = _cell_recipes(value, base)
        elif dataclasses.is_dataclass(hints[key]):
            changes[key] = _overlay(getattr(base, key), value, key)
        else:
            changes[key] = _coerce(value, hints[key], key)
    return dataclasses.replace(base, **changes)


def _method_recipes(value: Any, base: SweepSpec) -> tuple:
    if not isinstance(value, dict):
        raise SpaceError("method_recipes: expected a mapping of method -> {recipe field: value}")
    merged = {m: dict(kv) for m, kv in base.method_recipes}
    for method, overrides in value.items():
        recipe = _overlay(base.finetune, overrides, f"method_recipes.{method}")
        merged[str(method)] = {
            k: getattr(recipe, k) for k in (overrides or {})
        }
    return method_recipes(merged)


def _method_params(value: Any, base: SweepSpec) -> tuple:
    """Per-method parameters, merged over the parent's; checked in ``validate``."""
    if not isinstance(value, dict) or not all(isinstance(v, dict | None) for v in value.values()):
        raise SpaceError("method_params: expected a mapping of method -> {parameter: value}")
    merged = {m: dict(kv) for m, kv in base.method_params}
    for method, params in value.items():
        merged.setdefault(str(method), {}).update(params or {})
    return method_recipes(merged)


def _cell_recipes(value: Any, base: SweepSpec) -> tuple:
    if not isinstance(value, list):
        raise SpaceError("cell_recipes: expected a list of [method, sparsity, {field: value}]")
    out = []
    for i, item in enumerate(value):
        if not (isinstance(item, list | tuple) and len(item) == 3):
            raise SpaceError(f"cell_recipes[{i}]: expected [method, sparsity, {{field: value}}]")
        method, sparsity, overrides = item
        recipe = _overlay(base.finetune, overrides, f"cell_recipes[{i}]")
        kv = tuple(sorted((k, getattr(recipe, k)) for k in overrides))
        out.append((str(method), _coerce(sparsity, float, f"cell_recipes[{i}]"), kv))
    return tuple(out)


def _search(value: Any) -> SearchSpec:
    """Parse and check a ``search:`` block."""
    if not isinstance(value, dict):
        raise SpaceError("search: expected a mapping")
    known = {"algorithm", "num_samples", "scheduler", "params"}
    for key in value:
        if key not in known:
            raise SpaceError(f"unknown key 'search.{key}' (known: {', '.join(sorted(known))})")
    algorithm = value.get("algorithm", "optuna")
    if algorithm != "optuna":
        raise SpaceError(f"search.algorithm: {algorithm!r} is not supported (known: optuna)")
    samples = _coerce(value.get("num_samples", 8), int, "search.num_samples")
    if samples < 1:
        raise SpaceError("search.num_samples: must be at least 1")
    scheduler = value.get("scheduler", "none")
    if scheduler not in ("none", "asha"):
        raise SpaceError(f"search.scheduler: {scheduler!r} is not supported (known: asha, none)")
    raw = value.get("params")
    if not isinstance(raw, dict) or not raw:
        raise SpaceError("search.params: expected a mapping of finetune.<field> -> distribution")
    params = []
    for key, dist in raw.items():
        where = f"search.params.{key}"
        head, _, name = str(key).partition(".")
        if head != "finetune" or name not in SEARCHABLE:
            raise SpaceError(f"{where}: only finetune.<field> can be searched "
                             f"(fields: {', '.join(SEARCHABLE)})")
        if not (isinstance(dist, dict) and len(dist) == 1):
            raise SpaceError(f"{where}: expected one of {{{', '.join(DISTRIBUTIONS)}: [...]}}")
        (kind, values), = dist.items()
        if kind not in DISTRIBUTIONS:
            raise SpaceError(f"{where}: unknown distribution {kind!r} "
                             f"(known: {', '.join(DISTRIBUTIONS)})")
        if not isinstance(values, list) or not values:
            raise SpaceError(f"{where}.{kind}: expected a non-empty list")
        if kind in ("loguniform", "uniform", "randint"):
            if len(values) != 2 or not all(isinstance(v, int | float) for v in values):
                raise SpaceError(f"{where}.{kind}: expected [low, high]")
            if not values[0] < values[1] or (kind == "loguniform" and values[0] <= 0):
                raise SpaceError(f"{where}.{kind}: need 0 < low < high" if kind == "loguniform"
                                 else f"{where}.{kind}: need low < high")
        params.append(SearchParam(str(key), kind, tuple(values)))
    kinds = {p.kind for p in params}
    if "grid" in kinds and kinds != {"grid"}:
        raise SpaceError("search.params: grid dimensions cannot be mixed with sampled ones "
                         "(Optuna's GridSampler takes only grids)")
    return SearchSpec(algorithm, samples, scheduler, tuple(params))


def _overlay(obj: Any, value: Any, where: str) -> Any:
    if not isinstance(value, dict):
        raise SpaceError(f"{where}: expected a mapping, got {type(value).__name__}")
    hints = typing.get_type_hints(type(obj))
    changes = {}
    for key, sub in value.items():
        if key not in hints:
            raise SpaceError(f"unknown key '{where}.{key}' (known: {', '.join(hints)})")
        changes[key] = _coerce(sub, hints[key], f"{where}.{key}")
    return dataclasses.replace(obj, **changes)


def _coerce(value: Any, hint: Any, where: str) -> Any:
    return coerce(value, hint, where, SpaceError)


def _yaml_error(ref: str, exc: Exception) -> str:
    """``space file F: not valid YAML at line L, column C: <problem>`` (1-based, as editors
    count)."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or (str(exc).splitlines() or ["invalid YAML"])[0]
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"space file {ref}: not valid YAML{where}: {problem}"
