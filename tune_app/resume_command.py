"""``prune-sweep resume``: read the sweep's record and runs, say exactly what will run, and
start Ray only when something is left to do."""

from __future__ import annotations

import argparse
from collections import Counter

from tune_app.arguments import check_name
from tune_app.errors import UserError
from tune_app.invocation import command_name
from tune_app.paths import layout
from tune_app.records import no_such_sweep, read_sweep_record
from tune_app.tracking import check_reachable


def resume_command(args: argparse.Namespace) -> int:
    """Continue an interrupted sweep; a finished one answers without starting Ray."""
    name = check_name(args.sweep)
    paths = layout(args.runs_dir, create=False)
    found = read_sweep_record(paths, name)
    if found is None:
        raise no_such_sweep(paths, name)
    if args.max_failures is not None and args.max_failures < 0:
        raise UserError("--max-failures must be >= 0")
    record, spec = found
    uri = args.mlflow_uri or record["tracking_uri"]
    check_reachable(uri, args.timeout_s)
    from mlflow import MlflowClient

    from tune_app.sweep_state import cell_states
    from tune_app.tracking import find_experiment

    client = MlflowClient(tracking_uri=uri)
    experiment_id = find_experiment(client, name)
    if experiment_id is None:
        raise UserError(f"sweep {name!r} has no MLflow experiment at {uri}")
    cells = cell_states(client, experiment_id, spec)
    states = Counter(c.state for c in cells)
    cmd = command_name()
    searched = spec.search is None or (paths.reports_dir / name / "best_hparams.json").is_file()
    if states["finished"] == len(cells) and searched:
        print(f"nothing to resume: {len(cells)} of {len(cells)} "
              f"{'cells' if spec.search else 'trials'} of sweep {name} finished\n"
              f"next: {cmd} analyze {name} --runs-dir {paths.runs_dir}", flush=True)
        return 0
    again = states["interrupted"] + states["failed"] + states["running"]
    # A run still RUNNING here lost its driver without being closed (a SIGKILL, a crash).
    labels = {"interrupted": "interrupted", "failed": "failed", "running": "cut off"}
    how = ", ".join(f"{states[k]} {v}" for k, v in labels.items() if states[k])
    parts = [f"{again} from their last checkpoint ({how})" if again else "",
             f"{states['pending']} from the start" if states["pending"] else ""]
    what = ", ".join(p for p in parts if p) or "only the search's summary"
    unit = "cells" if spec.search else "trials"
    print(f"resuming sweep {name}: {states['finished']} of {len(cells)} {unit} finished (kept); "
          f"to run: {what}", flush=True)
    from tune_app.execute import resume_sweep

    return resume_sweep(spec, record, paths, uri, experiment_id, args)
