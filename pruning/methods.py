"""The method registry. Importing this module registers every built-in method."""

from __future__ import annotations

import importlib

from pruning.base import Pruner
from pruning.registry import Registry

PRUNERS: Registry[type[Pruner]] = Registry("pruning method")

# One module per method; each registers itself on import.
for _module in ("magnitude", "structured", "lottery", "random_unstructured"):
    importlib.import_module(f"pruning.{_module}")


def get_pruner(name: str) -> Pruner:
    """An instance of the method registered as ``name``."""
    return PRUNERS.get(name)()
