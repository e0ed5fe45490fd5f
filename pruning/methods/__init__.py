"""The method registry: every module of this package (but ``base``) is one method, registered
under the module's name. Modules are imported when first asked for, so listing and checking
methods costs no torch import. Plugins register more (``trainables.plugins``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pruning.methods.base import Budget, Method, MethodParams, PruneResult, parse_params
from pruning.registry import Registry

METHODS: Registry[type[Method]] = Registry.package("pruning method", __name__, __file__,
                                                   exclude={"base"})
PRUNERS = METHODS  # the name earlier releases documented for plugins


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


__all__ = ["METHODS", "PRUNERS", "Budget", "Method", "MethodParams", "PruneResult",
           "make_method", "method_class", "parse_params", "register"]
