"""Stage 1: the dense baseline of one seed, as a Tune trial, published to the dense cache."""

from __future__ import annotations

import copy
import time
from typing import Any

import torch
from ray import tune

from pruning.measure import count_macs, params_nonzero, params_total, state_dict_bytes
from trainables.checkpointing import note_fallback, report_epoch, restore_state
from trainables.config import DenseConfig, config_hash, flatten, from_dict, to_dict
from trainables.data import DataSplits, load_splits
from trainables.dense_cache import DenseCache
from trainables.engine import TrainingLoop, evaluate, pick_device
from trainables.models import build_model
from trainables.plugins import load_plugins
from trainables.runtime import Runtime, node_id
from trainables.tracking import TrackedRun


def build_dense_model(cfg: DenseConfig, splits: DataSplits) -> torch.nn.Module:
    """Fresh model for ``cfg``; its init depends only on the seed (theta_0 is reproducible)."""
    torch.manual_seed(cfg.seed)
    return build_model(
        cfg.model.name, num_classes=splits.num_classes, width=cfg.model.width,
        in_channels=splits.in_channels,
    )


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
        run_name=f"dense-seed{cfg.seed}", tags=dense_run_tags(cfg, runtime),
        parent_run_id=runtime.parent_run_id,
    )
    try:
        if cache.valid():
            # Finished before a crash, or trained meanwhile by another sweep: record, don't redo.
            final = cache.metrics()
            if not run.was_finished:
                run.log_metrics(final)
            run.set_tags({"dense_cache_hit": "true"})
            run.finish()
        else:
            final = _train_dense(cfg, cache, runtime, run)
    except BaseException as exc:
        run.fail(exc)
        raise
    # Reported after the run is FINISHED: Tune may end the function while this call returns.
    tune.report({**final, "done": True})


def _train_dense(
    cfg: DenseConfig, cache: DenseCache, runtime: Runtime, run: TrackedRun
) -> dict[str, float]:
    run.log_params({"role": "dense", **flatten(cfg, "dense.")})
    splits = load_splits(cfg.data, cfg.seed, runtime.data_dir, download=runtime.download)
    device = pick_device()
    model = build_dense_model(cfg, splits)
    theta_0 = copy.deepcopy(model.state_dict())
    loop = TrainingLoop(model, splits, cfg.recipe, cfg.seed, device)
    theta_k = theta_0 if cfg.rewind_epoch == 0 else None
    state, _, notes = restore_state()
    warning = note_fallback(run, notes)
    if state is not None:
        loop.load_state_dict(state["loop"])
        theta_0, theta_k = state["theta_0"], state.get("theta_k")
    started = time.perf_counter()
    while not loop.done:
        result = loop.run_epoch()
        if loop.epoch == cfg.rewind_epoch:
            theta_k = {k: v.detach().cpu().clone() for k, v in loop.model.state_dict().items()}
        run.log_epoch(result.epoch, result.metrics())
        ckpt = {"loop": loop.state_dict(), "theta_0": theta_0, "run_id": run.run_id}
        if theta_k is not None:
            ckpt["theta_k"] = theta_k
        report_epoch({**result.metrics(), "epoch": result.epoch, "done": False, **warning}, ckpt)
        warning = {}
    model = loop.load_best()
    test_loss, test_acc = evaluate(
        model, splits.test_x, splits.test_y, splits, device, cfg.recipe.eval_batch_size
    )
    cpu_model = copy.deepcopy(model).cpu().float()
    example = torch.zeros(1, splits.in_channels, 32, 32)
    metrics = {
        "test_acc": test_acc,
        "test_loss": test_loss,
        "best_val_acc": loop.best_acc,
        "best_epoch": loop.best_epoch,
        "stopped_epoch": loop.epoch,
        "params_total": params_total(cpu_model),
        "params_nonzero": params_nonzero(cpu_model),
        "macs": count_macs(cpu_model, example),
        "size_bytes_dense": state_dict_bytes(cpu_model),
        "train_time_s": time.perf_counter() - started,
    }
    final = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    cache.write(
        {"init": theta_0, "rewind": theta_k if theta_k is not None else final, "final": final},
        metrics, info={"mlflow_run_id": run.run_id, "device": str(device)},
    )
    run.log_metrics(metrics)
    run.log_dict_artifact(to_dict(cfg), "config.json")
    run.log_dict_artifact(metrics, "metrics.json")
    run.set_tags({"device": str(device), "node_id": node_id()})
    run.finish()
    return {**metrics, "epoch": loop.epoch}

