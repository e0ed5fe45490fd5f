"""A small name -> object registry that fails fast on unknown names, listing the known ones."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """Raised for a name that is not registered; its message lists the known names."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class Registry(Generic[T]):
    """Maps names to objects. Registration happens at import time.

    ``discover`` lists names that exist but whose modules are not imported yet, and ``load``
    imports the module that registers one of them: a name can then be checked without paying
    for its module's imports (torch), and is loaded only when it is used."""

    def __init__(
        self,
        kind: str,
        discover: Callable[[], Iterable[str]] | None = None,
        load: Callable[[str], None] | None = None,
    ) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._discover = discover
        self._load = load

    @classmethod
    def package(cls, kind: str, package: str, path: str | Path,
                exclude: Collection[str] = ()) -> Registry:
        """A registry whose built-in entries are the modules of ``package`` (one file per name,
        registered under the module's name; ``exclude`` and ``_private`` modules are not
        entries). Listing names reads the directory only; a module is imported when its name is
        first looked up."""
        directory = str(Path(path).parent if Path(path).is_file() else path)

        def discover() -> list[str]:
            return [m.name for m in pkgutil.iter_modules([directory])
                    if m.name not in exclude and not m.name.startswith("_")]

        def load(name: str) -> None:
            importlib.import_module(f"{package}.{name}")

        return cls(kind, discover=discover, load=load)

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering an object under ``name``; duplicate names are a bug."""

        def deco(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._items[name] = obj
            return obj

        return deco

    def get(self, name: str) -> T:
        """The object registered as ``name`` (importing its module first if need be)."""
        if name not in self._items and self._load is not None and name in self:
            self._load(name)
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(self.names()) or "none"
            raise UnknownNameError(f"unknown {self.kind} {name!r} (known: {known})") from None

    def names(self) -> list[str]:
        """Registered and discoverable names, sorted."""
        found = set(self._discover()) if self._discover is not None else set()
        return sorted(found | set(self._items))

    def __contains__(self, name: object) -> bool:
        return name in self._items or (
            self._discover is not None and name in set(self._discover()))

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
