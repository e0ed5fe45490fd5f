"""Plain values (from YAML or the command line) checked against simple type hints.

Shared by method parameters and space files; torch-free, so it runs before heavy imports."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def coerce(value: Any, hint: Any, where: str, error: type[Exception] = ValueError) -> Any:
    """``value`` checked against ``hint``; ints are accepted where floats are."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return coerce(value, inner[0], where, error)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise error(f"{where}: expected a list, got {type(value).__name__}")
        return tuple(coerce(v, args[0], f"{where}[{i}]", error) for i, v in enumerate(value))
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise error(f"{where}: expected a number, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise error(f"{where}: expected an integer, got {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise error(f"{where}: expected true or false, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise error(f"{where}: expected a string, got {value!r}")
        return value
    raise error(f"{where}: unsupported value {value!r}")


def build(cls: type[T], raw: Mapping[str, Any], where: str,
          error: type[Exception] = ValueError) -> T:
    """An instance of the dataclass ``cls`` from a mapping; unknown keys and wrong types fail
    with one line naming ``where.key`` and the known keys."""
    hints = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    values = {}
    for key, value in raw.items():
        if key not in known:
            listed = ", ".join(known) or "none"
            raise error(f"{where}: unknown parameter {key!r} (known: {listed})")
        values[key] = coerce(value, hints[key], f"{where}.{key}", error)
    return cls(**values)
