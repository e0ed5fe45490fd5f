"""``prune-sweep status``: read a sweep's progress back from MLflow.

Works from what the tracking store holds (a copied ``mlflow.db``, a tracking server), on a
read-only runs dir or database copy, and says when a live driver is still running the sweep.
It does not take the sweep's lease."""

from __future__ import annotations

import argparse

from tune_app.arguments import check_name
from tune_app.commands import options_from
from tune_app.errors import UserError
from tune_app.options import StatusOptions
from tune_app.paths import layout
from tune_app.store_peek import peek
from tune_app.sweep_lookup import driver_line, known_sweep_uri


def status_command(args: argparse.Namespace) -> int:
    """Print the dense baselines and every cell of the sweep's grid with its state."""
    opts = options_from(StatusOptions, args)
    check_name(opts.sweep, what=f"sweep {opts.sweep!r}")
    paths = layout(opts.runs_dir, create=False)
    uri = known_sweep_uri(opts.sweep, opts.mlflow_uri, paths, opts.timeout_s)
    seen = peek(uri, opts.sweep, opts.timeout_s)
    from tune_app.records import read_sweep_record

    found = read_sweep_record(paths, opts.sweep, seen.tags if seen is not None else None)
    if found is None and seen is None:
        found = read_sweep_record(paths, opts.sweep, _parent_tags(uri, opts.sweep))
    if found is None:
        return _status_from_runs(opts.sweep, uri, driver_line(seen))
    from mlflow import MlflowClient

    from tune_app.sweep_state import cell_states, format_cells
    from tune_app.tracking import find_experiment

    spec = found[1]
    client = MlflowClient(tracking_uri=uri)
    experiment_id = find_experiment(client, opts.sweep)
    print(f"sweep {opts.sweep} ({uri})")
    if experiment_id is None:
        print("no runs recorded yet")
        return 0
    dense = client.search_runs([experiment_id], "tags.role = 'dense'", max_results=1000)
    n_dense = sum(r.info.status == "FINISHED" for r in dense)
    cells = cell_states(client, experiment_id, spec)
    driver = driver_line(seen)
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


def _status_from_runs(sweep: str, uri: str, driver: str | None) -> int:
    """A sweep without a record (one started before records were kept in MLflow, on another
    machine's runs dir): counts from its runs alone."""
    from analysis import load_runs
    from analysis.load import SweepNotFoundError
    from analysis.progress import cell_progress, format_progress

    try:
        df = load_runs(sweep, tracking_uri=uri)
    except SweepNotFoundError as exc:
        raise UserError(str(exc).splitlines()[0]) from None
    trials = df[df["role"] == "trial"] if len(df) else df
    dense = df[df["role"] == "dense"] if len(df) else df
    counts = trials["status"].value_counts().to_dict() if len(trials) else {}
    print(f"sweep {sweep} ({uri})")
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
