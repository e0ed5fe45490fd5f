"""The command layer: one module per ``prune-sweep`` command (``tune_app.cli`` parses the
command line and calls ``<command>_command(args)``). Each turns the parsed arguments into its
typed options (``tune_app.options``) once, checks them, and calls the orchestration in
``tune_app``; nothing below this layer sees an ``argparse.Namespace``."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


def options_from(cls: type[T], args: argparse.Namespace) -> T:
    """``cls`` (a frozen options dataclass) from the parsed arguments: each field from the
    argument of the same name (its default where the parser has none), lists as tuples."""
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        if hasattr(args, field.name):
            value = getattr(args, field.name)
            values[field.name] = tuple(value) if isinstance(value, list) else value
    return cls(**values)
