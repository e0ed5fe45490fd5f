"""User plugins: modules named in ``PRUNE_SWEEP_PLUGINS`` register extra methods, models or
data sets at import time (one new file per method, outside this repository if need be).

The CLI imports them before validating a space, and every trial imports them before it looks a
name up, so a plugin's names work in Ray workers on any node that can import the module."""

from __future__ import annotations

import importlib
import os

ENV = "PRUNE_SWEEP_PLUGINS"


class PluginError(ImportError):
    """A plugin module named in the environment that cannot be imported."""


def load_plugins(spec: str | None = None) -> list[str]:
    """Import the comma-separated modules in ``spec`` (default: ``$PRUNE_SWEEP_PLUGINS``)."""
    names = [n.strip() for n in (spec if spec is not None else os.environ.get(ENV, "")).split(",")]
    loaded = []
    for name in filter(None, names):
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise PluginError(f"{ENV}: cannot import plugin {name!r} ({exc})") from None
        loaded.append(name)
    return loaded
