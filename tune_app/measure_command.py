"""``prune-sweep measure SWEEP``: time a finished sweep's saved models again on the machine it
runs on (the deployment-hardware question) and record them as a new measurement set."""

from __future__ import annotations

import argparse
import dataclasses

from tune_app.errors import UserError
from tune_app.paths import layout
from tune_app.status_command import known_sweep_uri

DEVICES = ("cpu", "cuda")


def _check(args: argparse.Namespace) -> None:
    if args.device not in DEVICES and not args.device.startswith("cuda:"):
        raise UserError(f"--device: {args.device!r} is not one of cpu, cuda, cuda:N")
    for flag, value, low in (("--threads", args.threads, 0), ("--blocks", args.blocks, 1),
                             ("--repeats", args.repeats, 1)):
        if value is not None and value < low:
            raise UserError(f"{flag}: must be at least {low}, got {value}")


def measure_command(args: argparse.Namespace) -> int:
    """Time every finished grid trial of the sweep; exit 1 if none could be timed."""
    _check(args)
    paths = layout(args.runs_dir, create=False)
    uri = known_sweep_uri(args, paths)
    from tune_app.records import read_sweep_record

    found = read_sweep_record(paths, args.sweep)
    storage = args.storage or (found[0].get("storage") if found else None) \
        or paths.storage.location
    measure = found[1].measure if found else None
    import torch
    from mlflow import MlflowClient

    from trainables.config import MeasureConfig
    from tune_app.measure_stage import new_set_name, record_set, time_runs, timing_plan, trial_runs
    from tune_app.tracking import find_experiment

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {args.device}: no CUDA device is visible on this machine")
    client = MlflowClient(tracking_uri=uri)
    experiment_id = find_experiment(client, args.sweep)
    if experiment_id is None:
        raise UserError(f"no MLflow experiment named {args.sweep!r} at {uri}")
    runs = trial_runs(client, experiment_id, missing_only=False)
    if not runs:
        raise UserError(f"sweep {args.sweep!r} has no finished trial to time")
    measure = measure or MeasureConfig()
    changes = {k: v for k, v in (("blocks", args.blocks), ("repeats", args.repeats))
               if v is not None}
    plan = dataclasses.replace(timing_plan(measure, args.device, args.threads), **changes)
    name = new_set_name(args.device)
    rows, null = time_runs(client, runs, storage, plan, measure.sparse_kernels,
                           write_trials=False, say=lambda line: print(line, flush=True))
    parents = client.search_runs([experiment_id], "tags.role = 'sweep'", max_results=1)
    run_id = record_set(client, experiment_id, parents[0].info.run_id if parents else None,
                        name, plan, rows, null)
    print(f"measurement set {name}: {len(rows)} trial(s), MLflow run {run_id}\n"
          f"report with it: prune-sweep analyze {args.sweep} --measurement {name}", flush=True)
    return 0
