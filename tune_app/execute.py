"""Run or resume a validated sweep: MLflow experiment and parent run, Ray, both stages, summary."""

from __future__ import annotations

import argparse
import time

from mlflow import MlflowClient
from mlflow.entities import Param

from search_spaces.spec import SweepSpec
from trainables.config import flatten
from trainables.progress_board import start_board
from trainables.runtime import Runtime
from trainables.shared_storage import SharedStorage
from tune_app import cluster
from tune_app.errors import UserError
from tune_app.invocation import command_name
from tune_app.measure_ray import run_measure_stage
from tune_app.paths import RunsLayout, check_storage, git_sha
from tune_app.records import write_sweep_record
from tune_app.search import run_search_stage
from tune_app.storage_check import check_every_node
from tune_app.sweep import (
    Resources,
    finish_parent,
    format_table,
    merge_timings,
    run_dense_stage,
    run_trial_stage,
    spec_hash,
    summarize_results,
)
from tune_app.sweep_state import finished_trial_labels
from tune_app.tracking import (
    artifact_root,
    close_interrupted_runs,
    existing_trial_runs,
    experiment_page_url,
    find_experiment,
    get_or_create_experiment,
    open_parent_run,
)


def execute_sweep(spec: SweepSpec, paths: RunsLayout, uri: str, args: argparse.Namespace) -> int:
    """Both stages of a new sweep; returns 0 when every trial finished, else 1."""
    client = MlflowClient(tracking_uri=uri)
    existing = find_experiment(client, spec.name)
    if existing is not None and existing_trial_runs(client, existing):
        raise UserError(
            f"sweep {spec.name!r} already has runs in {uri}; continue it with "
            f"`{command_name()} resume {spec.name}` or pick another --name"
        )
    total = cluster.connect(args.address, timeout_s=args.timeout_s)
    res = Resources(cluster.trial_resources(total, args.cpus_per_trial, args.gpus_per_trial),
                    args.max_concurrent, args.max_failures)
    _check_storage_on_nodes(paths.storage, args.address, args.timeout_s)
    experiment_id = get_or_create_experiment(client, spec.name, artifact_root(uri, paths.runs_dir))
    sha = git_sha()
    parent = open_parent_run(client, experiment_id, spec.name,
                             {"space": args.space, "spec_hash": spec_hash(spec), "git_sha": sha})
    _log_params(client, parent, flatten(spec.to_dict()))
    runtime = Runtime(
        sweep=spec.name, runs_dir=str(paths.runs_dir), storage_dir=paths.storage.location,
        data_dir=str(paths.data_dir), tracking_uri=uri, experiment_id=experiment_id,
        parent_run_id=parent, git_sha=sha, download=not args.no_download,
    )
    write_sweep_record(paths, spec, {
        "tracking_uri": uri, "storage": paths.storage.location, "data_dir": str(paths.data_dir),
        "address": args.address, "resources": res.per_trial, "max_concurrent": res.max_concurrent,
        "max_failures": res.max_failures, "download": not args.no_download,
    })
    _print_setup(runtime, total, res)
    return _run_stages(spec, runtime, res, client, paths, resume=False)


def resume_sweep(spec: SweepSpec, record: dict, paths: RunsLayout, uri: str,
                 experiment_id: str, args: argparse.Namespace) -> int:
    """Continue an interrupted sweep (``tune_app.resume_command`` checked what is left)."""
    client = MlflowClient(tracking_uri=uri)
    storage = SharedStorage.parse(record["storage"])
    check_storage(storage, args.timeout_s)
    address = args.address or record.get("address")
    total = cluster.connect(address, timeout_s=args.timeout_s)
    _check_storage_on_nodes(storage, address, args.timeout_s)
    res = Resources(record["resources"], record.get("max_concurrent"),
                    args.max_failures if args.max_failures is not None
                    else record.get("max_failures", 2))
    parent = open_parent_run(client, experiment_id, spec.name, {})
    runtime = Runtime(
        sweep=spec.name, runs_dir=str(paths.runs_dir), storage_dir=record["storage"],
        data_dir=record["data_dir"], tracking_uri=uri, experiment_id=experiment_id,
        parent_run_id=parent, git_sha=git_sha(), download=record.get("download", True),
    )
    _print_setup(runtime, total, res)
    return _run_stages(spec, runtime, res, client, paths, resume=True)


def _check_storage_on_nodes(storage: SharedStorage, address: str | None, timeout_s: float
                            ) -> None:
    # An in-process local Ray has one node, the driver's, which checked the storage already.
    if address:
        n = check_every_node(storage, timeout_s)
        print(f"storage {storage.location}: shared by all {n} node(s)", flush=True)


def _print_setup(runtime: Runtime, total: dict, res: Resources) -> None:
    print(f"MLflow: {runtime.tracking_uri} experiment {runtime.sweep!r} (parent run "
          f"{runtime.parent_run_id}); Ray: {total.get('CPU', 0):g} CPU, {total.get('GPU', 0):g} "
          f"GPU; per trial {res.per_trial['cpu']:g} CPU + {res.per_trial['gpu']:g} GPU",
          flush=True)


def _run_stages(spec: SweepSpec, runtime: Runtime, res: Resources, client: MlflowClient,
                paths: RunsLayout, resume: bool) -> int:
    started = time.monotonic()
    parent = runtime.parent_run_id or ""
    # Held for the whole sweep: Ray ends an actor once no handle to it is left.
    board = start_board(spec.name)
    if resume:
        board.set_finished.remote(finished_trial_labels(client, runtime.experiment_id))
    cmd = command_name()
    resume_hint = f"{cmd} resume {spec.name} --runs-dir {paths.runs_dir}"
    try:
        dense_failed = run_dense_stage(spec, runtime, res, resume=resume)
        for seed, why in dense_failed.items():
            print(f"dense seed={seed}: {why}; its trials are skipped", flush=True)
        grid, best_path = None, None
        if spec.search is not None and spec.seeds[0] not in dense_failed:
            best_path = run_search_stage(spec, runtime, res, paths.reports_dir, resume)
        elif spec.search is None:
            grid = run_trial_stage(spec, runtime, res, set(dense_failed),
                                   recipe=spec.recipe_source, resume=resume)
            outcome, timed = run_measure_stage(spec, runtime, res.per_trial.get("gpu", 0) > 0)
            print(outcome, flush=True)
    except KeyboardInterrupt:
        client.set_tag(parent, "interrupted", "true")
        client.set_terminated(parent, status="FAILED")
        close_interrupted_runs(client, runtime.experiment_id)
        print(f"\ninterrupted: sweep {spec.name!r} can be continued with\n  {resume_hint}",
              flush=True)
        cluster.shutdown()
        return 130
    rows, failed = summarize_results(grid)
    if grid is not None:
        rows = merge_timings(rows, timed)
    failed += [f"dense seed={s}" for s in dense_failed]
    if best_path is not None:
        client.log_artifact(parent, str(best_path))
        print(f"\nbest fine-tuning values (selected on validation accuracy): {best_path}\n"
              f"use them: {cmd} run --space ... --hparams {spec.name} "
              f"--runs-dir {paths.runs_dir}", flush=True)
    finish_parent(client, parent, len(rows), failed, started)
    print(f"\nsweep {spec.name}: {len(rows)} trial(s) finished, {len(failed)} failed, "
          f"{time.monotonic() - started:.0f}s")
    if rows:
        print(format_table(rows))
    for label in failed:
        print(f"FAILED: {label}")
    if failed:
        print(f"retry the failed trials with: {resume_hint}")
    print(f"\nnext: {cmd} analyze {spec.name} --runs-dir {paths.runs_dir}   |   "
          f"{cmd} ui --runs-dir {paths.runs_dir}\n"
          f"trials in the UI (docs/mlflow.md): "
          f"{experiment_page_url('http://127.0.0.1:5000', runtime.experiment_id)}", flush=True)
    cluster.shutdown()
    return 0 if not failed else 1


def _log_params(client: MlflowClient, run_id: str, params: dict) -> None:
    items = [Param(f"spec.{k}", str(v)[:6000]) for k, v in params.items()]
    for i in range(0, len(items), 100):
        client.log_batch(run_id, params=items[i : i + 100])
