"""``prune-sweep status`` and ``prune-sweep analyze``: read a sweep back from MLflow.

Both work from what the tracking store holds (a copied ``mlflow.db``, a tracking server), on a
read-only runs dir or database copy, and say when a live driver is still running the sweep.
Neither takes the sweep's lease."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from tune_app.arguments import check_name
from tune_app.errors import UserError
from tune_app.paths import RunsLayout, layout
from tune_app.store_peek import SweepPeek, peek
from tune_app.tracking import check_reachable, resolve_tracking_uri


def _sweep_uri(args: argparse.Namespace, paths: RunsLayout) -> str:
    """The tracking URI a sweep was recorded in: flag, else its record, else the default."""
    if args.mlflow_uri:
        return resolve_tracking_uri(args.mlflow_uri, paths.runs_dir)
    record = paths.sweep_file(args.sweep)
    if record.is_file():
        return json.loads(record.read_text())["tracking_uri"]
    return resolve_tracking_uri(None, paths.runs_dir)


def _driver_line(seen: SweepPeek | None) -> str | None:
    """``running: driven by ...`` when a live driver holds the sweep, else None."""
    if seen is None or not seen.sweep_run_id:
        return None
    from tune_app.lease import live_owner

    owner = live_owner(seen.params, seen.tags)
    return f"driven by {owner.describe()}" if owner is not None else None


def status_command(args: argparse.Namespace) -> int:
    """Print the dense baselines and every cell of the sweep's grid with its state."""
    check_name(args.sweep, what=f"sweep {args.sweep!r}")
    paths = layout(args.runs_dir, create=False)
    uri = known_sweep_uri(args, paths)
    seen = peek(uri, args.sweep, args.timeout_s)
    from tune_app.records import read_sweep_record

    found = read_sweep_record(paths, args.sweep, seen.tags if seen is not None else None)
    if found is None and seen is None:
        found = read_sweep_record(paths, args.sweep, _parent_tags(uri, args.sweep))
    if found is None:
        return _status_from_runs(args, uri, _driver_line(seen))
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
    cells = cell_states(client, experiment_id, spec)
    driver = _driver_line(seen)
    if driver:
        done = sum(c.state == "finished" for c in cells)
        print(f"running: {done} of {len(cells)} {'cells' if spec.search else 'trials'} "
              f"finished; {driver}")
    print(f"dense baselines: {n_dense} finished of {len(spec.seeds)}")
    print(format_cells(cells, live=driver is not None))
    return 0


def _parent_tags(uri: str, sweep: str) -> dict[str, str] | None:
    """The sweep's parent-run tags through MLflow (stores the quick look cannot read)."""
    from mlflow import MlflowClient

    from tune_app.tracking import sweep_runs

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(sweep)
    if exp is None:
        return None
    runs = sweep_runs(client, exp.experiment_id)
    return runs[0].data.tags if runs else None


def known_sweep_uri(args: argparse.Namespace, paths: RunsLayout) -> str:
    """The reachable tracking URI of a sweep this runs dir (or ``--mlflow-uri``) knows; a user
    error otherwise. Reading needs no write access (a read-only copy of a runs dir works)."""
    uri = _sweep_uri(args, paths)
    _known_or_fail(args, paths, uri)
    check_reachable(uri, args.timeout_s, write=False)
    return uri


def _known_or_fail(args: argparse.Namespace, paths: RunsLayout, uri: str) -> None:
    """Fail fast (before importing MLflow) for a sweep that neither this runs dir's records
    nor its default store know."""
    if args.mlflow_uri or os.environ.get("MLFLOW_TRACKING_URI") or \
            paths.sweep_file(args.sweep).is_file():
        return
    seen = peek(uri, args.sweep) if uri.startswith("sqlite:///") and \
        Path(uri[len("sqlite:///"):]).is_file() else None
    if seen is not None and seen.experiment_id is not None:
        return
    from tune_app.records import no_such_sweep

    raise no_such_sweep(paths, args.sweep, "; another store: --mlflow-uri")


def _status_from_runs(args: argparse.Namespace, uri: str, driver: str | None) -> int:
    """A sweep without a record (one started before records were kept in MLflow, on another
    machine's runs dir): counts from its runs alone."""
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
    if driver:
        print(f"running: {counts.get('FINISHED', 0)} trials finished so far; {driver}")
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
    for name in names:
        check_name(name, what=f"sweep {name!r}")
    if len(set(names)) != len(names):
        raise UserError(f"--compare: each sweep once, got {' '.join(names)}")
    paths = layout(args.runs_dir, create=False)
    uri = known_sweep_uri(args, paths)
    out = Path(args.out).resolve() if args.out else paths.reports_dir / args.sweep
    _check_out(out, bool(args.out))
    from tune_app.tracking import store_writable

    seen = peek(uri, args.sweep, args.timeout_s)
    partial = _partial(uri, args.sweep, seen)
    writable = store_writable(uri)
    try:
        return run_analyze(args.sweep, uri, paths.reports_dir, out, list(args.compare),
                           args.measurement, partial=partial, log_run=writable)
    except (SweepNotFoundError, DuplicateSeedError) as exc:
        raise UserError(str(exc).splitlines()[0]) from None


def _partial(uri: str, sweep: str, seen: SweepPeek | None) -> str | None:
    """The sentence a report built while the sweep runs opens with; None when no driver is
    live."""
    driver = _driver_line(seen)
    if driver is None or seen is None:
        return None
    done = seen.trials.get("FINISHED", 0)
    return (f"built while the sweep was still running ({driver}; {done} trial run(s) "
            "finished so far): cells may be missing and numbers will change")


def _check_out(out: Path, given: bool) -> None:
    """The report directory can be written (a read-only runs dir needs ``--out``)."""
    probe = out
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not os.access(probe, os.W_OK):
        hint = "" if given else "; write the report elsewhere with --out DIR"
        raise UserError(f"cannot write the report to {out}: {probe} is not writable{hint}")
