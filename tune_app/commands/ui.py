"""``prune-sweep ui``: the MLflow UI for the runs directory's store, on 127.0.0.1 by default
(``tune_app.ui_server`` starts, watches and stops it)."""

from __future__ import annotations

import argparse

from tune_app.commands import options_from
from tune_app.options import UiOptions


def ui_command(args: argparse.Namespace) -> int:
    """Serve the store until Ctrl-C or SIGTERM; 0 then, 2 (one line) when the UI cannot start."""
    from tune_app.ui_server import serve

    return serve(options_from(UiOptions, args))
