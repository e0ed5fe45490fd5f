"""Find a recorded sweep's tracking store, and say whether a live driver is running it.

``status``, ``analyze`` and ``measure`` start from here: they work from what the tracking store
holds (a copied ``mlflow.db``, a tracking server), on a read-only runs dir or database copy."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tune_app.paths import RunsLayout
from tune_app.store_peek import SweepPeek, peek
from tune_app.tracking import check_reachable, resolve_tracking_uri


def _sweep_uri(sweep: str, mlflow_uri: str | None, paths: RunsLayout) -> str:
    """The tracking URI a sweep was recorded in: flag, else its record, else the default."""
    if mlflow_uri:
        return resolve_tracking_uri(mlflow_uri, paths.runs_dir)
    record = paths.sweep_file(sweep)
    if record.is_file():
        return json.loads(record.read_text())["tracking_uri"]
    return resolve_tracking_uri(None, paths.runs_dir)


def driver_line(seen: SweepPeek | None) -> str | None:
    """``running: driven by ...`` when a live driver holds the sweep, else None."""
    if seen is None or not seen.sweep_run_id:
        return None
    from tune_app.lease import live_owner

    owner = live_owner(seen.params, seen.tags)
    return f"driven by {owner.describe()}" if owner is not None else None


def known_sweep_uri(sweep: str, mlflow_uri: str | None, paths: RunsLayout,
                    timeout_s: float) -> str:
    """The reachable tracking URI of a sweep this runs dir (or ``--mlflow-uri``) knows; a user
    error otherwise. Reading needs no write access (a read-only copy of a runs dir works)."""
    uri = _sweep_uri(sweep, mlflow_uri, paths)
    _known_or_fail(sweep, mlflow_uri, paths, uri)
    check_reachable(uri, timeout_s, write=False)
    return uri


def _known_or_fail(sweep: str, mlflow_uri: str | None, paths: RunsLayout, uri: str) -> None:
    """Fail fast (before importing MLflow) for a sweep that neither this runs dir's records
    nor its default store know."""
    if mlflow_uri or os.environ.get("MLFLOW_TRACKING_URI") or paths.sweep_file(sweep).is_file():
        return
    seen = peek(uri, sweep) if uri.startswith("sqlite:///") and \
        Path(uri[len("sqlite:///"):]).is_file() else None
    if seen is not None and seen.experiment_id is not None:
        return
    from tune_app.records import no_such_sweep

    raise no_such_sweep(paths, sweep, "; another store: --mlflow-uri")
