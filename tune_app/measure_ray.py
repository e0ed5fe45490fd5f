"""The sweep's measurement stage on Ray: one task that asks for every CPU of one node (and one
GPU when trials trained on GPUs), so that nothing else is scheduled on the cores that time."""

from __future__ import annotations

from typing import Any

import ray
from mlflow import MlflowClient
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from analysis.measurements import SWEEP_SET
from search_spaces.spec import SweepSpec
from trainables.runtime import Runtime
from tune_app.measure_stage import (
    PER_TRIAL_S,
    outcome_line,
    record_set,
    time_runs,
    timing_plan,
    trial_runs,
)


def measuring_node(gpu: bool) -> tuple[str, float]:
    """(node id, CPUs) of the node that times: the driver's when it has CPUs (and a GPU if
    needed), else the alive node with the most CPUs."""
    here = ray.get_runtime_context().get_node_id()
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    usable = [n for n in nodes if n["Resources"].get("CPU", 0) >= 1
              and (not gpu or n["Resources"].get("GPU", 0) >= 1)]
    if not usable:
        raise RuntimeError("no alive node has a CPU" + (" and a GPU" if gpu else ""))
    mine = [n for n in usable if n["NodeID"] == here]
    node = mine[0] if mine else max(usable, key=lambda n: n["Resources"]["CPU"])
    return node["NodeID"], float(node["Resources"]["CPU"])


@ray.remote(max_retries=0)
def _measure(runtime: Runtime, spec: SweepSpec, device: str, threads: int
             ) -> tuple[list[dict[str, Any]], dict]:
    client = MlflowClient(tracking_uri=runtime.tracking_uri)
    runs = trial_runs(client, runtime.experiment_id, missing_only=True)
    if not runs:
        # The driver saw trials to time; this node's view of the store did not.
        node = ray.get_runtime_context().get_node_id()[:12]
        return [], {"why": f"the measuring task on node {node} found no finished trial without "
                           f"timings in experiment {runtime.experiment_id} at "
                           f"{runtime.tracking_uri}"}
    plan = timing_plan(spec.measure, device, threads)
    rows, null = time_runs(client, runs, runtime.storage_dir, plan, spec.measure.sparse_kernels,
                           write_trials=True)
    if rows:
        record_set(client, runtime.experiment_id, runtime.parent_run_id, SWEEP_SET, plan, rows,
                   null)
    return rows, null


def run_measure_stage(spec: SweepSpec, runtime: Runtime, gpu: bool
                      ) -> tuple[str, list[dict[str, Any]]]:
    """Time every finished trial not timed yet; returns a one-line outcome for the driver and
    the rows timed."""
    client = MlflowClient(tracking_uri=runtime.tracking_uri)
    if spec.search is not None:
        return outcome_line([], {}, "a search sweep's samples are not timed"), []
    pending = trial_runs(client, runtime.experiment_id, missing_only=True)
    if not pending:
        done = len(trial_runs(client, runtime.experiment_id, missing_only=False))
        why = f"all {done} finished trial(s) are timed already" if done else \
            "no trial finished"
        return outcome_line([], {}, why), []
    node, cpus = measuring_node(gpu)
    threads = spec.measure.threads or int(cpus)
    device = "cuda" if gpu else "cpu"
    print(f"measurement: {len(pending)} trial(s) on node {node[:12]} with its {cpus:g} CPU(s) "
          f"reserved{' and a GPU' if gpu else ''}", flush=True)
    task = _measure.options(
        num_cpus=cpus, num_gpus=1 if gpu else 0,
        scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False),
    ).remote(runtime, spec, device, threads)
    bound = 120.0 + PER_TRIAL_S * len(pending)
    try:
        rows, null = ray.get(task, timeout=bound)
    except ray.exceptions.GetTimeoutError:
        ray.cancel(task, force=True)
        return (f"measurement: stopped after {bound:.0f}s; time the trials with "
                f"`prune-sweep measure {spec.name}`"), []
    except ray.exceptions.RayError as exc:
        return (f"measurement failed ({str(exc).strip().splitlines()[-1]}); time the trials "
                f"with `prune-sweep measure {spec.name}`"), []
    return outcome_line(rows, null, null.get("why", "")), rows
