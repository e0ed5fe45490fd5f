"""The dense baseline of one seed as plain functions: build the model, train it, publish it
to the dense cache. No Ray, no MLflow (the Tune trainable wraps ``train_dense``)."""

from __future__ import annotations

import copy
import time
from typing import Any

import torch

from pruning.measure import count_macs, params_nonzero, params_total, state_dict_bytes
from pruning.schema import check_metrics
from trainables.config import DenseConfig
from trainables.data import DataSplits, load_splits
from trainables.dense_cache import DenseCache
from trainables.engine import TrainingLoop
from trainables.evaluation import evaluate, pick_device
from trainables.models import build_model
from trainables.reporter import LocalReporter, Reporter, heartbeat_printer
from trainables.runtime import TrialEnv


def build_dense_model(cfg: DenseConfig, splits: DataSplits) -> torch.nn.Module:
    """Fresh model for ``cfg``; its init depends only on the seed (theta_0 is reproducible).

    Seeds torch's global generator with the seed first, as every release has done."""
    torch.manual_seed(cfg.seed)
    return build_model(
        cfg.model.name, num_classes=splits.num_classes, width=cfg.model.width,
        in_channels=splits.in_channels,
    )


def train_dense(cfg: DenseConfig, env: TrialEnv, reporter: Reporter,
                info: dict[str, Any] | None = None) -> dict[str, float]:
    """Train (or finish training, from the reporter's checkpoint) the baseline of ``cfg`` and
    publish theta_0, theta_k and the best-validation weights to the dense cache in
    ``env.storage``; returns its final metrics."""
    cache = DenseCache(env.storage, cfg)
    splits = load_splits(cfg.data, cfg.seed, env.data_dir, download=env.download, quiet=True)
    device = pick_device(env.device)
    model = build_dense_model(cfg, splits)
    theta_0 = copy.deepcopy(model.state_dict())
    loop = TrainingLoop(model, splits, cfg.recipe, cfg.seed, device, augment=cfg.data.augment,
                        heartbeat=heartbeat_printer(reporter))
    theta_k = theta_0 if cfg.rewind_epoch == 0 else None
    state, _ = reporter.restore()
    if state is not None:
        loop.load_state_dict(state["loop"])
        theta_0, theta_k = state["theta_0"], state.get("theta_k")
    started = time.perf_counter()
    reporter.progress(f"training on {device}: {len(splits.train_y)} images, epochs "
                      f"{loop.epoch + 1}..{loop.epochs}")
    while not loop.done:
        result = loop.run_epoch()
        if loop.epoch == cfg.rewind_epoch:
            theta_k = {k: v.detach().cpu().clone() for k, v in loop.model.state_dict().items()}
        reporter.log_epoch(result.epoch, result.metrics())
        ckpt = {"loop": loop.state_dict(), "theta_0": theta_0}
        if theta_k is not None:
            ckpt["theta_k"] = theta_k
        reporter.checkpoint({**result.metrics(), **result.speed(), "epoch": result.epoch,
                             "epochs_left": loop.epochs - loop.epoch}, ckpt)
    model = loop.load_best()
    test_loss, test_acc = evaluate(
        model, splits.test_x, splits.test_y, splits, device, cfg.recipe.eval_batch_size
    )
    cpu_model = copy.deepcopy(model).cpu().float()
    example = torch.zeros(1, splits.in_channels, 32, 32)
    metrics = check_metrics({
        "test_acc": test_acc,
        "test_loss": test_loss,
        "best_val_acc": loop.best_acc,
        "best_epoch": loop.best_epoch,
        "stopped_epoch": loop.epoch,
        "epochs_trained": loop.epoch,
        "optimizer_steps": loop.step,
        "epochs_total": loop.epoch,
        "params_total": params_total(cpu_model),
        "params_nonzero": params_nonzero(cpu_model),
        "macs": count_macs(cpu_model, example),
        "size_bytes_dense": state_dict_bytes(cpu_model),
        "train_time_s": time.perf_counter() - started,
    })
    final = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    cache.write(
        {"init": theta_0, "rewind": theta_k if theta_k is not None else final, "final": final},
        metrics, info={**(info or {}), "device": str(device)},
    )
    reporter.log_metrics(metrics)
    reporter.set_tags({"device": str(device)})
    return metrics


def ensure_dense(cfg: DenseConfig, env: TrialEnv, reporter: Reporter | None = None) -> DenseCache:
    """The cache entry of ``cfg``'s baseline, trained first when it is missing or corrupted
    (for notebooks and scripts; sweeps train baselines in their own stage)."""
    cache = DenseCache(env.storage, cfg)
    if not cache.valid():
        cache.discard()
        train_dense(cfg, env, reporter if reporter is not None else LocalReporter())
    return cache
