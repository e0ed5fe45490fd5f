"""Latency as its own step: finished trials' saved models are timed
against their dense baselines once no trial trains any more. Processes outside Ray may still
run, so the machine's load is measured while timing and recorded with the set, and a null test
outside 1.00 ± 5% marks the set's timings unreliable.

In a sweep, the measurement stage runs after the trials, as one Ray task that reserves every
CPU (and a GPU, when trials used GPUs) of one node; its figures go to each trial's run
(``latency_ms_b1``, ``speedup_b1`` ... with spreads) and to a ``role=measurement`` run that
holds the set's hardware, thread count, null test (``timings_reliable``), machine load
(``load_avg_1m_before`` / ``_after``, ``load_cores``, ``load_other_cores``) and table.
``prune-sweep measure`` times a finished sweep again on the machine it runs on and records a
new set, never over the old."""

from __future__ import annotations

import csv
import io
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, Run

from analysis.measurements import UNRELIABLE, load_text, null_reliable
from pruning.deploy.latency import ThreadCount, TimingPlan
from pruning.schema import trial_label
from trainables.config import MeasureConfig
from trainables.measurement import (
    cpu_sample,
    hardware,
    load_saved_trial,
    machine_load,
    measure_saved_trial,
    null_figure,
)

PER_TRIAL_S = 900.0  # bound on one trial's timing inside the stage (full ResNet18 on CPU: ~1 min)


def timing_plan(measure: MeasureConfig, device: str, threads: int | None = None) -> TimingPlan:
    """The space's measurement settings on ``device`` with ``threads`` (None: the space's)."""
    return TimingPlan(measure.warmup, measure.repeats, measure.blocks, measure.throughput_batch,
                      measure.threads if threads is None else threads, device)


def trial_runs(client: MlflowClient, experiment_id: str, missing_only: bool) -> list[Run]:
    """FINISHED grid trial runs (search samples are not timed), optionally only those without
    the sweep's own timing yet (a stage cut short goes on where it stopped)."""
    runs = client.search_runs([experiment_id],
                              "tags.role = 'trial' and attributes.status = 'FINISHED'",
                              max_results=50000)
    runs = [r for r in runs if r.data.tags.get("recipe") != "search"]
    if missing_only:
        runs = [r for r in runs if "latency_ms_b1" not in r.data.metrics]
    return sorted(runs, key=lambda r: (r.data.tags.get("method", ""),
                                       float(r.data.tags.get("sparsity", 0)),
                                       int(r.data.tags.get("seed", 0))))


def _label(run: Run) -> str:
    t = run.data.tags
    return trial_label(t.get("method", "?"), float(t.get("sparsity", "nan")),
                       int(t.get("seed", -1)))


def time_runs(client: MlflowClient, runs: list[Run], storage: str, plan: TimingPlan,
              sparse_kernels: bool, write_trials: bool,
              say: Callable[[str], None] = print) -> tuple[list[dict[str, Any]], dict]:
    """Download each run's model, time it against its dense baseline; returns one row per run
    and the set's figures: the null test (taken on the first run's dense model), whether it
    is within 1.00 ± 5% (``timings_reliable``), the machine's load before and after
    (``trainables.measurement.machine_load``) and the thread count. With ``write_trials`` each
    run's figures are logged to it as they come."""
    rows: list[dict[str, Any]] = []
    null: dict[str, float] = {}
    before = cpu_sample()
    with ThreadCount(plan.threads) as threads:
        say(f"measuring {len(runs)} trial(s) on {plan.device} ({hardware(plan.device)}), "
            f"{threads} thread(s), {plan.blocks} blocks of {plan.repeats} forwards")
        for i, run in enumerate(runs, 1):
            started = time.monotonic()
            with tempfile.TemporaryDirectory(prefix="prune-sweep-measure-") as tmp:
                for path in ("model", "config.json"):
                    client.download_artifacts(run.info.run_id, path, tmp)
                trial = load_saved_trial(Path(tmp), storage)
            if not null:
                null = null_figure(trial, plan)
                null["timings_reliable"] = float(null_reliable(null))
                say(f"null test (dense vs a copy of itself): b1 {null['null_ratio_b1']:.3f}x "
                    f"({null['null_ratio_b1_min']:.3f}-{null['null_ratio_b1_max']:.3f}), "
                    f"throughput {null['null_ratio_throughput']:.3f}x"
                    + ("" if null["timings_reliable"] else f"; {UNRELIABLE}"))
            metrics = measure_saved_trial(trial, plan, sparse_kernels)
            metrics["measure_threads"] = threads
            if write_trials:
                stamp = int(time.time() * 1000)
                client.log_batch(run.info.run_id, metrics=[
                    Metric(k, float(v), stamp, 0) for k, v in metrics.items()])
            tags = run.data.tags
            rows.append({"run_id": run.info.run_id, "method": tags.get("method"),
                         "sparsity": float(tags.get("sparsity", 0)),
                         "seed": int(tags.get("seed", -1)),
                         "execution": "masked" if trial.masked else tags.get("model_format", ""),
                         **metrics})
            say(f"[{i}/{len(runs)}] {_label(run)}: {metrics['latency_ms_b1']:.2f} ms at b1, "
                f"speedup {metrics['speedup_b1']:.2f}x ({metrics['speedup_b1_min']:.2f}-"
                f"{metrics['speedup_b1_max']:.2f}), {time.monotonic() - started:.0f}s")
    load = machine_load(before, cpu_sample())
    if runs:
        say(f"while timing: {load_text(load)}")
    return rows, {**null, **load, "threads": threads}


def outcome_line(rows: list[dict[str, Any]], figures: dict, why: str = "") -> str:
    """The stage's one line: how many trials were timed, the null test (flagged when it strays
    past 1.00 ± 5%) and the machine's load; or, when none was timed, that and why."""
    if not rows:
        return f"measurement: no trial was timed ({why or 'none was found to time'})"
    return (f"measurement: {len(rows)} trial(s) timed; null test b1 "
            f"{figures.get('null_ratio_b1', float('nan')):.3f}x "
            f"({figures.get('null_ratio_b1_min', float('nan')):.3f}-"
            f"{figures.get('null_ratio_b1_max', float('nan')):.3f}); {load_text(figures)}"
            + ("" if null_reliable(figures) else
               f"; {UNRELIABLE} (the null test should read 1.00 within ±5%)"))


def _csv(rows: list[dict[str, Any]]) -> str:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys)
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def record_set(client: MlflowClient, experiment_id: str, parent_run_id: str | None,
               name: str, plan: TimingPlan, rows: list[dict[str, Any]], null: dict) -> str:
    """A ``role=measurement`` run for one measurement set: where and how it was timed, the
    null test, and ``measurements.csv`` (one row per trial run)."""
    tags = {"role": "measurement", "measurement_set": name, "device": plan.device,
            "hardware": hardware(plan.device), "threads": str(null.get("threads", "")),
            "mlflow.runName": f"measurement {name}"}
    if parent_run_id:
        tags["mlflow.parentRunId"] = parent_run_id
    run_id = client.create_run(experiment_id, tags=tags).info.run_id
    stamp = int(time.time() * 1000)
    # The null test and the machine's load, beside the set's count (the thread count is a tag).
    figures = {**{k: v for k, v in null.items() if k != "threads"
                  and isinstance(v, int | float)}, "trials_measured": len(rows)}
    client.log_batch(run_id, metrics=[Metric(k, float(v), stamp, 0) for k, v in figures.items()],
                     params=[Param(f"plan.{k}", str(v)) for k, v in asdict(plan).items()])
    client.log_text(run_id, _csv(rows), "measurements.csv")
    client.set_terminated(run_id, "FINISHED")
    return run_id


def new_set_name(device: str) -> str:
    """A name for a set ``prune-sweep measure`` adds: device and UTC time, never reused."""
    return f"{device}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
