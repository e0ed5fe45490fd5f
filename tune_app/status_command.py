"""``prune-sweep status`` and ``prune-sweep analyze``: read a sweep back from MLflow."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from tune_app.errors import UserError
from tune_app.paths import RunsLayout, layout
from tune_app.tracking import check_reachable, resolve_tracking_uri


def _sweep_uri(args: argparse.Namespace, paths: RunsLayout) -> str:
    """The tracking URI a sweep was recorded in: flag, else its record, else the default."""
    if args.mlflow_uri:
        return resolve_tracking_uri(args.mlflow_uri, paths.runs_dir)
    record = paths.sweep_file(args.sweep)
    if record.is_file():
        return json.loads(record.read_text())["tracking_uri"]
    return resolve_tracking_uri(None, paths.runs_dir)


def status_command(args: argparse.Namespace) -> int:
    """Print the dense baselines and every cell of the sweep's grid with its state."""
    paths = layout(args.runs_dir, create=False)
    _known_or_fail(args, paths)
    uri = _sweep_uri(args, paths)
    check_reachable(uri, args.timeout_s)
    from tune_app.records import read_sweep_record

    found = read_sweep_record(paths, args.sweep)
    if found is None:
        return _status_from_runs(args, uri)
    from mlflow import MlflowClient

    from tune_app.sweep_state import cell_states, format_cells
    from tune_app.tracking import find_experiment

    spec = found[1]
    client = MlflowClient(tracking_uri=uri)
    experiment_id = find_experiment(client, args.sweep)
    print(f"sweep {args.sweep} ({uri})")
    if experiment_id is None:
        print("no runs recorded yet")
        return 0
    dense = client.search_runs([experiment_id], "tags.role = 'dense'", max_results=1000)
    n_dense = sum(r.info.status == "FINISHED" for r in dense)
    print(f"dense baselines: {n_dense} finished of {len(spec.seeds)}")
    cells = cell_states(client, experiment_id, spec)
    print(format_cells(cells))
    return 0


def known_sweep_uri(args: argparse.Namespace, paths: RunsLayout) -> str:
    """The reachable tracking URI of a sweep this runs dir (or ``--mlflow-uri``) knows; a user
    error otherwise."""
    _known_or_fail(args, paths)
    uri = _sweep_uri(args, paths)
    check_reachable(uri, args.timeout_s)
    return uri


def _known_or_fail(args: argparse.Namespace, paths: RunsLayout) -> None:
    """Fail fast (before importing MLflow) for a sweep that is not in this runs dir: with the
    default store, every sweep recorded there has a record (written when it starts)."""
    uri = args.mlflow_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if uri or paths.sweep_file(args.sweep).is_file():
        return
    from tune_app.records import no_such_sweep

    raise no_such_sweep(paths, args.sweep, "; another store: --mlflow-uri")


def _status_from_runs(args: argparse.Namespace, uri: str) -> int:
    """A sweep without a record (another machine's runs dir): counts from its runs alone."""
    from analysis import load_runs
    from analysis.load import SweepNotFoundError
    from analysis.progress import cell_progress, format_progress

    try:
        df = load_runs(args.sweep, tracking_uri=uri)
    except SweepNotFoundError as exc:
        raise UserError(str(exc).splitlines()[0]) from None
    trials = df[df["role"] == "trial"] if len(df) else df
    dense = df[df["role"] == "dense"] if len(df) else df
    counts = trials["status"].value_counts().to_dict() if len(trials) else {}
    print(f"sweep {args.sweep} ({uri})")
    print(f"dense baselines: {int((dense['status'] == 'FINISHED').sum()) if len(dense) else 0} "
          f"finished of {len(dense)}")
    print(f"trials: {counts.get('FINISHED', 0)} finished, {counts.get('RUNNING', 0)} "
          f"running, {counts.get('FAILED', 0)} failed (no sweep record here: cells that never "
          "started are not listed)")
    if len(trials):
        print(format_progress(cell_progress(df)))
    return 0


def analyze_command(args: argparse.Namespace) -> int:
    """Build the sweep's report from its MLflow runs."""
    from analysis.command import run_analyze
    from analysis.load import SweepNotFoundError
    from analysis.stats import DuplicateSeedError

    names = [args.sweep, *args.compare]
    if len(set(names)) != len(names):
        raise UserError(f"--compare: each sweep once, got {' '.join(names)}")
    paths = layout(args.runs_dir, create=False)
    uri = known_sweep_uri(args, paths)
    out = Path(args.out).resolve() if args.out else None
    try:
        return run_analyze(args.sweep, uri, paths.reports_dir, out, list(args.compare),
                           args.measurement)
    except (SweepNotFoundError, DuplicateSeedError) as exc:
        raise UserError(str(exc).splitlines()[0]) from None
