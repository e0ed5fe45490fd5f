"""How the user invoked this program, so that printed hints can be pasted back as they are."""

from __future__ import annotations

import os
import shlex
import shutil
import sys


def command_name(argv0: str | None = None, executable: str | None = None) -> str:
    """``prune-sweep`` when that name runs this program from the shell's PATH; otherwise the
    path the user typed (``.venv/bin/prune-sweep``) or ``python -m tune_app``."""
    argv0 = sys.argv[0] if argv0 is None else argv0
    base = os.path.basename(argv0)
    if base in ("__main__.py", "-m", "-c") or base.endswith(".py"):
        python = executable or sys.executable
        found = shutil.which("python")
        same = found is not None and _same(found, python)
        return f"{'python' if same else shlex.quote(python)} -m tune_app"
    if base != "prune-sweep":
        return "prune-sweep"
    found = shutil.which("prune-sweep")
    if found is not None and _same(found, argv0):
        return "prune-sweep"
    return shlex.quote(argv0)


def _same(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def hint(*words: str) -> str:
    """A command line to print for the user, ready to paste: this program as invoked, then
    ``words`` each shell-quoted (a runs dir with spaces stays one argument)."""
    return " ".join([command_name(), *(shlex.quote(str(w)) for w in words)])
