"""``prune-sweep measure SWEEP``: time a finished sweep's saved models again on the machine it
runs on (the deployment-hardware question) and record them as a new measurement set."""

from __future__ import annotations

import argparse
import dataclasses

from tune_app.arguments import check_name, load_user_plugins
from tune_app.commands import options_from
from tune_app.errors import UserError
from tune_app.invocation import hint
from tune_app.options import MeasureOptions
from tune_app.paths import layout
from tune_app.sweep_guard import refuse_if_driven
from tune_app.sweep_lookup import known_sweep_uri

DEVICES = ("cpu", "cuda")


def _check(opts: MeasureOptions) -> None:
    if opts.device not in DEVICES and not opts.device.startswith("cuda:"):
        raise UserError(f"--device: {opts.device!r} is not one of cpu, cuda, cuda:N")
    for flag, value, low in (("--threads", opts.threads, 0), ("--blocks", opts.blocks, 1),
                             ("--repeats", opts.repeats, 1)):
        if value is not None and value < low:
            raise UserError(f"{flag}: must be at least {low}, got {value}")


def measure_command(args: argparse.Namespace) -> int:
    """Time every finished grid trial of the sweep; exit 1 if none could be timed. Timing
    writes to the sweep's runs, so it holds the sweep's lease like a sweep's driver."""
    opts = options_from(MeasureOptions, args)
    _check(opts)
    check_name(opts.sweep, what=f"sweep {opts.sweep!r}")
    paths = layout(opts.runs_dir, create=False)
    uri = known_sweep_uri(opts.sweep, opts.mlflow_uri, paths, opts.timeout_s)
    seen = refuse_if_driven(uri, opts.sweep, paths.runs_dir, opts.timeout_s)
    from tune_app.records import read_sweep_record

    found = read_sweep_record(paths, opts.sweep, seen.tags if seen is not None else None)
    storage = opts.storage or (found[0].get("storage") if found else None) \
        or paths.storage.location
    measure = found[1].measure if found else None
    load_user_plugins()
    import torch
    from mlflow import MlflowClient

    from trainables.config import MeasureConfig
    from tune_app.measure_stage import new_set_name, record_set, time_runs, timing_plan, trial_runs
    from tune_app.sweep_guard import claim
    from tune_app.tracking import find_experiment, sweep_runs

    if opts.device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {opts.device}: no CUDA device is visible on this machine")
    client = MlflowClient(tracking_uri=uri)
    experiment_id = find_experiment(client, opts.sweep)
    if experiment_id is None:
        raise UserError(f"no MLflow experiment named {opts.sweep!r} at {uri}")
    runs = trial_runs(client, experiment_id, missing_only=False)
    if not runs:
        raise UserError(f"sweep {opts.sweep!r} has no finished trial to time")
    parents = sweep_runs(client, experiment_id)
    parent = parents[0].info.run_id if parents else None
    lease = claim(client, experiment_id, parent, False, opts.sweep, "measure",
                  paths.runs_dir) if parent else None
    try:
        measure = measure or MeasureConfig()
        changes = {k: v for k, v in (("blocks", opts.blocks), ("repeats", opts.repeats))
                   if v is not None}
        # The sweep's own thread count unless told otherwise: the same question, asked again.
        plan = dataclasses.replace(timing_plan(measure, opts.device, opts.threads), **changes)
        threads = f"{plan.threads} thread(s)" if plan.threads else "one thread per core"
        print(f"timing {len(runs)} trial(s) of sweep {opts.sweep} on {opts.device} with "
              f"{threads}", flush=True)
        name = new_set_name(opts.device)
        rows, null = time_runs(client, runs, storage, plan, measure.sparse_kernels,
                               write_trials=False, say=lambda line: print(line, flush=True))
        run_id = record_set(client, experiment_id, parent, name, plan, rows, null)
    finally:
        if lease is not None:
            lease.release()
    use = hint("analyze", opts.sweep, "--runs-dir", str(paths.runs_dir), "--measurement", name)
    print(f"measurement set {name}: {len(rows)} trial(s), MLflow run {run_id}\n"
          f"report with it: {use}", flush=True)
    return 0
