"""Sweep orchestration: stage 1 (dense baselines, cached) then stage 2 (one trial per cell)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from mlflow import MlflowClient
from ray import tune

from pruning import schema
from search_spaces.spec import SweepSpec
from trainables.adapters.dense_trainable import dense_run_tags, dense_trainable
from trainables.adapters.prune_finetune import prune_finetune_trainable
from trainables.adapters.tracking import TrackedRun
from trainables.config import config_hash, flatten, to_dict
from trainables.dense_cache import CorruptCacheError, DenseCache
from trainables.runtime import Runtime
from tune_app.interrupt import fit
from tune_app.progress import ProgressPrinter, config_label
from tune_app.tracking import close_orphaned_trial_runs


@dataclass(frozen=True)
class Resources:
    """How trials are packed onto the cluster."""

    per_trial: dict[str, float]
    max_concurrent: int | None
    max_failures: int

    def at_once(self, n: int) -> int:
        """How many of ``n`` trials the cluster runs at the same time (Ray's live totals)."""
        import ray

        total = ray.cluster_resources() if ray.is_initialized() else {}
        fits = [total.get(key, 0) / need for key, need in
                (("CPU", self.per_trial.get("cpu", 0)), ("GPU", self.per_trial.get("gpu", 0)))
                if need > 0]
        count = int(min(fits)) if fits else n
        if self.max_concurrent is not None:
            count = min(count, self.max_concurrent)
        return max(1, min(n, count))

    def describe(self, n: int) -> str:
        """``2 at a time (1 CPU + 0 GPU each); Ray workers start first (~15 s)``."""
        return (f"{self.at_once(n)} at a time ({self.per_trial.get('cpu', 0):g} CPU + "
                f"{self.per_trial.get('gpu', 0):g} GPU each); workers load torch and the data "
                "before the first epoch line")


def _trial_dirname(trial: Any) -> str:
    return config_label(trial.config).replace(" ", "_").replace("=", "") + f"_{trial.trial_id}"


def make_tuner(trainable: Any, param_space: dict, name: str, runtime: Runtime, res: Resources,
               total: int, stage: str, resume: bool = False, **search: Any) -> tune.Tuner:
    """A Tuner for one stage (or restored from storage when resuming). ``search`` passes
    ``search_alg``, ``scheduler`` and ``num_samples`` through to TuneConfig."""
    wrapped = tune.with_resources(tune.with_parameters(trainable, runtime=runtime), res.per_trial)
    path = runtime.storage.join("tune", name)
    if resume and tune.Tuner.can_restore(path):
        # Finished trials are kept; unfinished and errored ones continue from their checkpoints.
        print(f"{stage}: resuming Tune experiment {path}", flush=True)
        return tune.Tuner.restore(path, wrapped, resume_unfinished=True,
                                  resume_errored=True)
    return tune.Tuner(
        wrapped,
        param_space=param_space,
        tune_config=tune.TuneConfig(
            **search,
            max_concurrent_trials=res.max_concurrent,
            # A new worker process costs ~15 s of imports on a small machine; reuse them.
            reuse_actors=True,
            trial_name_creator=lambda t: config_label(t.config),
            trial_dirname_creator=_trial_dirname,
        ),
        run_config=tune.RunConfig(
            name=name,
            storage_path=runtime.storage.join("tune"),
            failure_config=tune.FailureConfig(max_failures=res.max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
            callbacks=[ProgressPrinter(total, stage, sweep=runtime.sweep)],
            verbose=0,
        ),
    )


def record_cached_dense(runtime: Runtime, cache: DenseCache) -> None:
    """Give a reused dense baseline its ``role=dense`` run in this sweep's experiment."""
    key = f"dense/{cache.key}"
    if TrackedRun.find_status(runtime.tracking_uri, runtime.experiment_id, key) == "FINISHED":
        return  # recorded already (a resumed sweep)
    run = TrackedRun.open(
        runtime.tracking_uri, runtime.experiment_id, key=key,
        run_name=schema.dense_label(cache.cfg.seed),
        tags={**dense_run_tags(cache.cfg, runtime), "dense_cache_hit": "true"},
        parent_run_id=runtime.parent_run_id,
    )
    run.log_params({"role": "dense", **flatten(cache.cfg, "dense.")})
    run.log_metrics(cache.metrics())
    run.finish()


def run_dense_stage(spec: SweepSpec, runtime: Runtime, res: Resources, resume: bool = False
                    ) -> dict[int, str]:
    """Make sure every seed has a valid dense baseline; returns {seed: error} for failures."""
    todo = []
    for seed in spec.seeds:
        cache = DenseCache(runtime.storage, spec.dense_config(seed))
        if cache.exists():
            try:
                cache.verify()
            except CorruptCacheError as exc:
                print(f"warning: {exc}; retraining it", flush=True)
                cache.discard()
                todo.append(seed)
                continue
            acc = cache.metrics().get("test_acc", float("nan"))
            print(f"{schema.dense_label(seed)}: reusing cached baseline {cache.location} "
                  f"(test_acc {100 * acc:.1f}%)", flush=True)
            record_cached_dense(runtime, cache)
        else:
            todo.append(seed)
    if not todo:
        return {}
    print(f"stage 1: training {len(todo)} dense baseline(s) for seeds {todo}, "
          f"{res.describe(len(todo))}", flush=True)
    space = {"dense": tune.grid_search([to_dict(spec.dense_config(s)) for s in todo])}
    tuner = make_tuner(dense_trainable, space, f"{runtime.sweep}.dense", runtime, res,
                       len(todo), "dense", resume)
    fit(tuner)
    failed = {}
    for seed in todo:
        if not DenseCache(runtime.storage, spec.dense_config(seed)).valid():
            failed[seed] = "dense baseline training failed"
    return failed


def run_trial_stage(spec: SweepSpec, runtime: Runtime, res: Resources, skip_seeds: set[int],
                    recipe: str = "default", resume: bool = False) -> tune.ResultGrid | None:
    """One Tune trial per (method, sparsity, seed) whose dense baseline exists."""
    cells = [c for c in spec.cells() if c.seed not in skip_seeds]
    if not cells:
        return None
    print(f"stage 2: {len(cells)} pruning trial(s), {res.describe(len(cells))}", flush=True)
    space = {
        "trial": tune.grid_search([to_dict(spec.trial_config(c)) for c in cells]),
        "recipe": recipe,
    }
    tuner = make_tuner(prune_finetune_trainable, space, runtime.sweep, runtime, res,
                       len(cells), "trials", resume)
    grid = fit(tuner)
    closed = close_orphaned_trial_runs(MlflowClient(tracking_uri=runtime.tracking_uri),
                                       runtime.experiment_id, search=False)
    if closed:
        print(f"stage 2: {closed} trial run(s) left open by ended workers marked FAILED "
              "(resume retries them)", flush=True)
    return grid


def summarize_results(grid: tune.ResultGrid | None) -> tuple[list[dict], list[str]]:
    """Rows of final metrics for finished trials, and labels of failed ones."""
    rows, failed = [], []
    if grid is None:
        return rows, failed
    for result in grid:
        label = config_label(result.config or {})
        metrics = result.metrics or {}
        if result.error is not None or not metrics.get("done"):
            failed.append(label)
        else:
            rows.append({"trial": label, **metrics})
    return rows, failed


def merge_timings(rows: list[dict], timed: list[dict]) -> list[dict]:
    """The trials' final metrics with the measurement stage's figures for the same trial."""
    by_label = {schema.trial_label(t["method"], t["sparsity"], t["seed"]): t for t in timed}
    return [{**r, **by_label.get(r["trial"], {})} for r in rows]


def _speedup(r: dict) -> str:
    if "speedup_b1" not in r:
        return "-"
    if r.get("execution") == "masked":
        return "dense k."  # zeros in dense shapes: timing noise, not a speedup
    return f"{r['speedup_b1']:.2f}x"


def format_table(rows: list[dict]) -> str:
    """The end-of-sweep table printed to the terminal."""
    head = f"{'trial':32} {'test_acc':>8} {'sparsity':>8} {'MACs':>10} {'speedup':>8} {'compr.':>7}"
    lines = [head, "-" * len(head)]
    for r in sorted(rows, key=lambda r: r["trial"]):
        lines.append(
            f"{r['trial']:32} {100 * r['test_acc']:7.1f}% {100 * r['sparsity']:7.1f}% "
            f"{r['macs'] / 1e6:9.2f}M {_speedup(r):>8} {r['compression_ratio']:6.1f}x"
        )
    return "\n".join(lines)


def finish_parent(client: MlflowClient, parent_run_id: str, n_ok: int, failed: list[str],
                  started: float) -> None:
    """Close the sweep's parent run with its outcome (never left RUNNING)."""
    client.log_metric(parent_run_id, "trials_finished", n_ok)
    client.log_metric(parent_run_id, "trials_failed", len(failed))
    client.log_metric(parent_run_id, "wall_time_s", time.monotonic() - started)
    if failed:
        client.set_tag(parent_run_id, "failed_trials", json.dumps(failed)[:5000])
    client.set_terminated(parent_run_id, status="FINISHED" if not failed else "FAILED")


def spec_hash(spec: SweepSpec) -> str:
    """Hash of a whole sweep spec (tagged on the parent run)."""
    return config_hash(spec)
