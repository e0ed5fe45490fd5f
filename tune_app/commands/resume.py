"""``prune-sweep resume``: read the sweep's record and runs, say exactly what will run, and
start Ray only when something is left to do. Only one driver runs a sweep: a live one is
refused within about a second, a dead one's lease is taken over (see ``tune_app.lease``)."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import Any

from tune_app.arguments import check_name
from tune_app.commands import options_from
from tune_app.errors import UserError
from tune_app.invocation import hint
from tune_app.options import ResumeOptions
from tune_app.paths import RunsLayout, layout
from tune_app.records import no_such_sweep, read_sweep_record
from tune_app.sweep_guard import refuse_if_driven
from tune_app.tracking import check_reachable, resolve_tracking_uri


def resume_command(args: argparse.Namespace) -> int:
    """Continue an interrupted sweep; a finished one answers without starting Ray."""
    opts = options_from(ResumeOptions, args)
    name = check_name(opts.sweep, what=f"sweep {opts.sweep!r}")
    if opts.max_failures is not None and opts.max_failures < 0:
        raise UserError("--max-failures must be >= 0")
    paths = layout(opts.runs_dir, create=False)
    record_file = paths.sweep_file(name)
    if record_file.is_file():
        found = read_sweep_record(paths, name)
        assert found is not None
        uri = opts.mlflow_uri or found[0]["tracking_uri"]
    else:
        uri = resolve_tracking_uri(opts.mlflow_uri, paths.runs_dir)
        if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).is_file():
            raise no_such_sweep(paths, name)
        found = None
    check_reachable(uri, opts.timeout_s)
    seen = refuse_if_driven(uri, name, paths.runs_dir, opts.timeout_s)
    if found is None:
        # No record file here (another machine's runs dir): the parent run keeps a copy.
        found = read_sweep_record(paths, name, seen.tags if seen is not None else None)
        if found is None:
            raise no_such_sweep(paths, name)
    record, spec = found
    from mlflow import MlflowClient

    from tune_app.tracking import find_experiment, open_parent_run

    client = MlflowClient(tracking_uri=uri)
    experiment_id = find_experiment(client, name)
    if experiment_id is None:
        raise UserError(f"sweep {name!r} has no MLflow experiment at {uri}")
    if _nothing_left(client, experiment_id, spec, paths, name):
        return 0
    from tune_app.sweep_guard import claim

    parent, created = open_parent_run(client, experiment_id, name, {})
    lease = claim(client, experiment_id, parent, created, name, "resume", paths.runs_dir)
    try:
        # What is left, read again now that no other driver can change it.
        if _nothing_left(client, experiment_id, spec, paths, name):
            return 0
        _say_plan(client, experiment_id, spec, name)
        from tune_app.execute import resume_sweep

        return resume_sweep(spec, record, paths, uri, experiment_id, parent, opts)
    finally:
        lease.release()


def _cells(client: Any, experiment_id: str, spec: Any) -> tuple[Counter, int]:
    from tune_app.sweep_state import cell_states

    cells = cell_states(client, experiment_id, spec)
    return Counter(c.state for c in cells), len(cells)


def _nothing_left(client: Any, experiment_id: str, spec: Any, paths: RunsLayout,
                  name: str) -> bool:
    """Print the answer and return True when every cell is finished."""
    states, n = _cells(client, experiment_id, spec)
    searched = spec.search is None or (paths.reports_dir / name / "best_hparams.json").is_file()
    if states["finished"] == n and searched:
        print(f"nothing to resume: {n} of {n} {'cells' if spec.search else 'trials'} of sweep "
              f"{name} finished\nnext: {hint('analyze', name, '--runs-dir', str(paths.runs_dir))}",
              flush=True)
        return True
    return False


def _say_plan(client: Any, experiment_id: str, spec: Any, name: str) -> None:
    states, n = _cells(client, experiment_id, spec)
    again = states["interrupted"] + states["failed"] + states["running"]
    # A run still RUNNING here lost its driver without being closed (a SIGKILL, a crash).
    labels = {"interrupted": "interrupted", "failed": "failed", "running": "cut off"}
    how = ", ".join(f"{states[k]} {v}" for k, v in labels.items() if states[k])
    parts = [f"{again} from their last checkpoint ({how})" if again else "",
             f"{states['pending']} from the start" if states["pending"] else ""]
    what = ", ".join(p for p in parts if p) or "only the search's summary"
    unit = "cells" if spec.search else "trials"
    print(f"resuming sweep {name}: {states['finished']} of {n} {unit} finished (kept); "
          f"to run: {what}", flush=True)
