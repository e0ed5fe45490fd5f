"""``prune-sweep status`` and ``prune-sweep analyze``: read a sweep back from MLflow."""

from __future__ import annotations

import argparse
import json
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
    """Print run counts and the per-cell progress table of a sweep."""
    from analysis import load_runs
    from analysis.load import SweepNotFoundError
    from analysis.progress import cell_progress, format_progress

    paths = layout(args.runs_dir, create=False)
    uri = _sweep_uri(args, paths)
    check_reachable(uri)
    try:
        df = load_runs(args.sweep, tracking_uri=uri)
    except SweepNotFoundError as exc:
        raise UserError(str(exc).splitlines()[0]) from None
    from tune_app.records import read_sweep_record

    found = read_sweep_record(paths, args.sweep)
    expected = found[1].trial_count() if found is not None else None
    trials = df[df["role"] == "trial"] if len(df) else df
    dense = df[df["role"] == "dense"] if len(df) else df
    counts = trials["status"].value_counts().to_dict() if len(trials) else {}
    total = f" of {expected}" if expected is not None else ""
    print(f"sweep {args.sweep} ({uri})")
    print(f"dense baselines: {int((dense['status'] == 'FINISHED').sum()) if len(dense) else 0} "
          f"finished of {len(dense)}")
    print(f"trials: {counts.get('FINISHED', 0)} finished{total}, {counts.get('RUNNING', 0)} "
          f"running, {counts.get('FAILED', 0)} failed")
    if len(trials):
        print(format_progress(cell_progress(df)))
    return 0


def analyze_command(args: argparse.Namespace) -> int:
    """Build the sweep's report from its MLflow runs."""
    from analysis.command import run_analyze
    from analysis.load import SweepNotFoundError

    paths = layout(args.runs_dir, create=False)
    uri = _sweep_uri(args, paths)
    check_reachable(uri)
    out = Path(args.out).resolve() if args.out else None
    try:
        return run_analyze(args.sweep, uri, paths.reports_dir, out, list(args.compare))
    except SweepNotFoundError as exc:
        raise UserError(str(exc).splitlines()[0]) from None
