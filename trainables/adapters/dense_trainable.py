"""Stage 1 under Ray Tune: the dense baseline of one seed as a trial, recorded in MLflow."""

from __future__ import annotations

from typing import Any

from ray import tune

from pruning.schema import dense_label
from trainables.adapters.ray_node import node_id
from trainables.adapters.tracking import TrackedRun
from trainables.adapters.tune_reporter import TuneReporter
from trainables.config import DenseConfig, config_hash, flatten, from_dict, to_dict
from trainables.dense import train_dense
from trainables.dense_cache import DenseCache
from trainables.plugins import load_plugins
from trainables.runtime import Runtime


def dense_run_tags(cfg: DenseConfig, runtime: Runtime) -> dict[str, str]:
    """Tags of a ``role=dense`` MLflow run."""
    return {
        "role": "dense", "seed": str(cfg.seed), "sweep": runtime.sweep,
        "config_hash": config_hash(cfg), "git_sha": runtime.git_sha,
        "dense_cache": DenseCache(runtime.storage, cfg).location,
    }


def dense_trainable(config: dict[str, Any], runtime: Runtime) -> None:
    """Train (or finish training) one dense baseline and publish it to the cache."""
    load_plugins()
    cfg = from_dict(DenseConfig, config["dense"])
    cache = DenseCache(runtime.storage, cfg)
    run = TrackedRun.open(
        runtime.tracking_uri, runtime.experiment_id, key=f"dense/{cache.key}",
        run_name=dense_label(cfg.seed), tags=dense_run_tags(cfg, runtime),
        parent_run_id=runtime.parent_run_id,
    )
    try:
        if cache.valid():
            # Finished before a crash, or trained meanwhile by another sweep: record, don't redo.
            final = cache.metrics()
            if not run.was_finished:
                run.log_metrics(final)
            run.set_tags({"dense_cache_hit": "true"})
        else:
            run.log_params({"role": "dense", **flatten(cfg, "dense.")})
            reporter = TuneReporter(run, dense_label(cfg.seed), runtime.sweep)
            final = train_dense(cfg, runtime.trial_env(), reporter,
                                info={"mlflow_run_id": run.run_id})
            run.log_dict_artifact(to_dict(cfg), "config.json")
            run.log_dict_artifact(final, "metrics.json")
        run.set_tags({"node_id": node_id()})
        run.finish()
    except BaseException as exc:
        run.fail(exc)
        raise
    # Reported after the run is FINISHED: Tune may end the function while this call returns.
    tune.report({**final, "done": True})
