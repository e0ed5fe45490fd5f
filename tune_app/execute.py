"""Run or resume a validated sweep: MLflow experiment and parent run, Ray, both stages, summary."""

from __future__ import annotations

import time
from collections.abc import Callable

from mlflow import MlflowClient
from mlflow.entities import Param

from pruning.schema import dense_label
from search_spaces.spec import SweepSpec
from trainables.adapters.progress_board import start_board
from trainables.config import flatten
from trainables.runtime import Runtime
from trainables.shared_storage import SharedStorage
from tune_app import cluster
from tune_app.invocation import hint
from tune_app.measure_ray import run_measure_stage
from tune_app.options import ResumeOptions, RunOptions
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
from tune_app.sweep_guard import claim, name_used
from tune_app.sweep_state import finished_trial_labels
from tune_app.tracking import (
    artifact_root,
    close_interrupted_runs,
    existing_trial_runs,
    experiment_page_url,
    fail_parent,
    get_or_create_experiment,
    mark_parent_running,
    open_parent_run,
)


def execute_sweep(spec: SweepSpec, paths: RunsLayout, uri: str, opts: RunOptions) -> int:
    """Both stages of a new sweep; returns 0 when every trial finished, else 1. Problems the
    cluster reveals (resources, storage a node does not share) end it before anything is
    recorded; then the sweep's lease is taken and held until this returns."""
    client = MlflowClient(tracking_uri=uri)
    total = cluster.connect(opts.address, timeout_s=opts.timeout_s)
    res = Resources(cluster.trial_resources(total, opts.cpus_per_trial, opts.gpus_per_trial),
                    opts.max_concurrent, opts.max_failures)
    _check_storage_on_nodes(paths.storage, opts.address, opts.timeout_s)
    experiment_id = get_or_create_experiment(client, spec.name, artifact_root(uri, paths.runs_dir))
    sha = git_sha()
    tags = {"space": opts.space, "spec_hash": spec_hash(spec), "git_sha": sha}
    parent, created = open_parent_run(client, experiment_id, spec.name, tags)
    lease = claim(client, experiment_id, parent, created, spec.name, "run", paths.runs_dir)
    try:
        if existing_trial_runs(client, experiment_id):
            if created:  # its old parent run was deleted by hand: leave no new one behind
                client.delete_run(parent)
            raise name_used(spec.name, uri, paths.runs_dir)
        return _guarded(client, parent, lambda: _start_new(
            spec, paths, uri, opts, client, experiment_id, parent, tags, total, res))
    finally:
        lease.release()


def _start_new(spec: SweepSpec, paths: RunsLayout, uri: str, opts: RunOptions,
               client: MlflowClient, experiment_id: str, parent: str, tags: dict,
               total: dict, res: Resources) -> int:
    for key, value in tags.items():
        client.set_tag(parent, key, value)
    mark_parent_running(client, parent)
    _log_params(client, parent, flatten(spec.to_dict()))
    write_sweep_record(paths, spec, {
        "tracking_uri": uri, "storage": paths.storage.location, "data_dir": str(paths.data_dir),
        "address": opts.address, "resources": res.per_trial, "max_concurrent": res.max_concurrent,
        "max_failures": res.max_failures, "download": not opts.no_download,
    }, client, parent)
    runtime = Runtime(
        sweep=spec.name, runs_dir=str(paths.runs_dir), storage_dir=paths.storage.location,
        data_dir=str(paths.data_dir), tracking_uri=uri, experiment_id=experiment_id,
        parent_run_id=parent, git_sha=tags["git_sha"], download=not opts.no_download,
    )
    _print_setup(runtime, total, res)
    return _run_stages(spec, runtime, res, client, paths, resume=False)


def resume_sweep(spec: SweepSpec, record: dict, paths: RunsLayout, uri: str,
                 experiment_id: str, parent: str, opts: ResumeOptions) -> int:
    """Continue an interrupted sweep whose lease this driver holds (``tune_app.commands.resume``
    took it and checked what is left)."""
    client = MlflowClient(tracking_uri=uri)

    def body() -> int:
        storage = SharedStorage.parse(record["storage"])
        check_storage(storage, opts.timeout_s)
        address = opts.address or record.get("address")
        total = cluster.connect(address, timeout_s=opts.timeout_s)
        _check_storage_on_nodes(storage, address, opts.timeout_s)
        res = Resources(record["resources"], record.get("max_concurrent"),
                        opts.max_failures if opts.max_failures is not None
                        else record.get("max_failures", 2))
        mark_parent_running(client, parent)
        runtime = Runtime(
            sweep=spec.name, runs_dir=str(paths.runs_dir), storage_dir=record["storage"],
            data_dir=record["data_dir"], tracking_uri=uri, experiment_id=experiment_id,
            parent_run_id=parent, git_sha=git_sha(), download=record.get("download", True),
        )
        _print_setup(runtime, total, res)
        return _run_stages(spec, runtime, res, client, paths, resume=True)

    return _guarded(client, parent, body)


def _guarded(client: MlflowClient, parent: str, body: Callable[[], int]) -> int:
    """``body()``; when it raises (a bad cluster, storage or data found late, Ctrl-C before the
    stages, a crash), the parent run ends FAILED with the reason instead of staying RUNNING."""
    try:
        return body()
    except BaseException as exc:
        why = "interrupted" if isinstance(exc, KeyboardInterrupt) else (
            str(exc) or type(exc).__name__)
        fail_parent(client, parent, why)
        raise


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
    runs_dir = str(paths.runs_dir)
    resume_hint = hint("resume", spec.name, "--runs-dir", runs_dir)
    try:
        dense_failed = run_dense_stage(spec, runtime, res, resume=resume)
        for seed, why in dense_failed.items():
            print(f"{dense_label(seed)}: {why}; its trials are skipped", flush=True)
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
    failed += [dense_label(s) for s in dense_failed]
    if best_path is not None:
        client.log_artifact(parent, str(best_path))
        use = hint("run", "--space", "SPACE", "--hparams", spec.name, "--runs-dir", runs_dir)
        print(f"\nbest fine-tuning values (selected on validation accuracy): {best_path}\n"
              f"use them: {use}", flush=True)
    finish_parent(client, parent, len(rows), failed, started)
    print(f"\nsweep {spec.name}: {len(rows)} trial(s) finished, {len(failed)} failed, "
          f"{time.monotonic() - started:.0f}s")
    if rows:
        print(format_table(rows))
    for label in failed:
        print(f"FAILED: {label}")
    if failed:
        print(f"retry the failed trials with: {resume_hint}")
    print(f"\nnext: {hint('analyze', spec.name, '--runs-dir', runs_dir)}   |   "
          f"{hint('ui', '--runs-dir', runs_dir)}\n"
          f"trials in the UI (docs/mlflow.md): {trials_link(runtime)}", flush=True)
    cluster.shutdown()
    return 0 if not failed else 1


def trials_link(runtime: Runtime) -> str:
    """The experiment page with the Trials view: on the tracking server the sweep records to,
    else where `prune-sweep ui` serves the runs dir by default."""
    uri = runtime.tracking_uri
    base = uri if uri.startswith(("http://", "https://")) else "http://127.0.0.1:5000"
    return experiment_page_url(base, runtime.experiment_id)


def _log_params(client: MlflowClient, run_id: str, params: dict) -> None:
    # A parent run reused from an attempt that stopped before its first trial has these
    # already; MLflow params are write-once (the sweep record in its tags is what is read back).
    have = client.get_run(run_id).data.params
    items = [Param(f"spec.{k}", str(v)[:6000]) for k, v in params.items()
             if f"spec.{k}" not in have]
    for i in range(0, len(items), 100):
        client.log_batch(run_id, params=items[i : i + 100])
