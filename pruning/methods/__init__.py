"""The method registry: every public module of this package (but ``base``) is one method,
registered under the module's name; ``_private`` modules are the family bases methods are
assembled from. Modules are imported when first asked for, so listing and checking methods
costs no torch import. Plugins register more (``trainables.plugins``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pruning.methods.base import Budget, Method, MethodParams, PruneResult, Traits, parse_params
from pruning.registry import Registry

METHODS: Registry[type[Method]] = Registry.package("pruning method", __name__, __file__,
                                                   exclude={"base"})


def register(name: str):  # noqa: ANN201 - a class decorator
    """Register a Method subclass as ``name`` (and set its ``name``)."""

    def deco(cls: type[Method]) -> type[Method]:
        cls.name = name
        return METHODS.register(name)(cls)

    return deco


def method_class(name: str) -> type[Method]:
    """The Method subclass registered as ``name``; unknown names list the known ones."""
    return METHODS.get(name)


def make_method(name: str, params: Mapping[str, Any] | None, sparsity: float) -> Method:
    """A ready method instance with checked parameters."""
    cls = method_class(name)
    return cls(parse_params(cls, params), sparsity)


__all__ = ["METHODS", "Budget", "Method", "MethodParams", "PruneResult", "Traits",
           "make_method", "method_class", "parse_params", "register"]
