"""Checks of command-line values shared by the commands (names, comma-separated lists)."""

from __future__ import annotations

import re
import time

from tune_app.errors import UserError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def parse_list(text: str | None, kind: type, flag: str) -> tuple | None:
    """Parse ``a,b,c`` for a list flag, one clear error per bad item."""
    if text is None:
        return None
    items = [t.strip() for t in text.split(",")]
    if not all(items):
        raise UserError(f"{flag}: empty item in {text!r}")
    out = []
    for item in items:
        try:
            out.append(kind(item))
        except ValueError:
            what = {float: "a number", int: "an integer"}.get(kind, kind.__name__)
            raise UserError(f"{flag}: {item!r} is not {what}") from None
    if len(set(out)) != len(out):
        raise UserError(f"{flag}: duplicate values in {text!r}")
    return tuple(out)


def check_name(name: str, what: str | None = None) -> str:
    """Sweep names become experiment names, run names and file names: keep them plain.
    ``what`` names where the name came from (default: ``--name``)."""
    if not _NAME.match(name):
        where = what or f"--name {name!r}"
        raise UserError(f"{where}: a sweep name uses letters, digits, '.', '_' or '-', starts "
                        "with a letter or digit (at most 100 characters)")
    return name


def default_name(space_name: str) -> str:
    """``<space name>-<timestamp>``."""
    return f"{space_name}-{time.strftime('%Y%m%d-%H%M%S')}"


def load_user_plugins() -> None:
    """Import ``$PRUNE_SWEEP_PLUGINS`` before a command looks up a method, model or data set
    name; a plugin that cannot be imported is one line and exit 2."""
    from trainables.plugins import PluginError, load_plugins

    try:
        load_plugins()
    except PluginError as exc:
        raise UserError(str(exc)) from None
