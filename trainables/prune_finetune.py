"""Stage 2: one (method, sparsity, seed) trial: load dense, prune, fine-tune, measure, record."""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path
from typing import Any

import torch
from ray import tune

from pruning.masks import MaskKeeper, fold_masks
from pruning.measure import (
    count_prunable,
    measure_efficiency,
    measured_sparsity,
    params_nonzero,
    params_total,
    state_dict_bytes,
)
from pruning.methods import get_pruner
from pruning.storage import load_structured, save_compact, save_structured
from trainables.checkpointing import note_fallback, report_epoch, restore_state
from trainables.config import (
    TrialConfig,
    apply_sampled,
    config_hash,
    flatten,
    from_dict,
    to_dict,
)
from trainables.data import load_splits
from trainables.dense import build_dense_model
from trainables.dense_cache import DenseCache
from trainables.engine import TrainingLoop, evaluate, pick_device
from trainables.models import classifier_head
from trainables.plugins import load_plugins
from trainables.runtime import Runtime, node_id
from trainables.tracking import TrackedRun

MODEL_FILE = "model.pt"


def trial_key(sweep: str, cfg: TrialConfig) -> str:
    """Stable identity of a trial's MLflow run: the same cell and config map to one run."""
    return f"trial/{sweep}/{cfg.method}/{cfg.sparsity:g}/{cfg.seed}/{config_hash(cfg)}"


def trial_tags(cfg: TrialConfig, runtime: Runtime, recipe: str) -> dict[str, str]:
    """Tags every trial run carries (DESIGN.md section 3)."""
    try:
        trial_id = tune.get_context().get_trial_id() or "local"
    except Exception:  # noqa: BLE001 - outside Tune
        trial_id = "local"
    return {
        "role": "trial", "method": cfg.method, "sparsity": f"{cfg.sparsity:g}",
        "seed": str(cfg.seed), "sweep": runtime.sweep, "trial_id": trial_id,
        "config_hash": config_hash(cfg), "dense_config_hash": config_hash(cfg.dense),
        "git_sha": runtime.git_sha, "recipe": recipe,
        **({"search": "true"} if recipe == "search" else {}),
    }


def prune_finetune_trainable(config: dict[str, Any], runtime: Runtime) -> None:
    """Tune function trainable for one stage-2 cell; ``config["trial"]`` is a TrialConfig dict."""
    load_plugins()
    cfg = from_dict(TrialConfig, apply_sampled(config["trial"], config))
    run = TrackedRun.open(
        runtime.tracking_uri, runtime.experiment_id, key=trial_key(runtime.sweep, cfg),
        run_name=f"{cfg.method}-s{cfg.sparsity:g}-seed{cfg.seed}",
        tags=trial_tags(cfg, runtime, config.get("recipe", "default")),
        parent_run_id=runtime.parent_run_id,
    )
    try:
        final = _prune_finetune(cfg, runtime, run)
    except SystemExit:
        if config.get("search"):
            # A search scheduler (ASHA) stopped this sample early: an expected ending.
            run.set_tags({"stopped_early": "true"})
            run.finish()
        else:
            run.fail("stopped by Ray Tune before finishing (sweep interrupted or trial stopped)")
        raise
    except BaseException as exc:
        run.fail(exc)
        raise
    # Reported after the run is FINISHED: Tune may end the function while this call returns.
    # val_acc is the selected (best) one, which is what a searcher compares.
    tune.report({**final, "val_acc": final["best_val_acc"], "done": True})


def _prune_finetune(cfg: TrialConfig, runtime: Runtime, run: TrackedRun) -> dict[str, float]:
    run.log_params(flatten(cfg))
    cache = DenseCache(runtime.storage, cfg.dense)
    cache.verify()
    splits = load_splits(cfg.dense.data, cfg.seed, runtime.data_dir, download=runtime.download)
    device = pick_device()
    pruner = get_pruner(cfg.method)
    dense = build_dense_model(cfg.dense, splits)
    dense.load_state_dict(cache.weights("final"))
    dense.eval()
    example = torch.zeros(1, splits.in_channels, 32, 32)
    dense_prunable = count_prunable(dense)

    def build_fresh() -> torch.nn.Module:
        return build_dense_model(cfg.dense, splits)

    state, restored, notes = restore_state(
        lambda d: load_structured(d / MODEL_FILE, build_fresh) if pruner.structured else None
    )
    warning = note_fallback(run, notes)
    if state is None:
        rewind = cache.weights("rewind") if pruner.needs_rewind else None
        work = copy.deepcopy(dense)
        result = pruner.prune(
            work, cfg.sparsity, example_input=example, rewind_state=rewind,
            ignored_layers=[classifier_head(work)],
        )
        model, masks, info = result.model, result.masks, dict(result.info)
        info["sparsity_at_prune"] = measured_sparsity(model, dense_prunable)
        run.log_metrics({f"prune.{k}": v for k, v in info.items()})
        run.set_tags({"node_id": node_id(), "device": str(device)})
    else:
        model = restored if pruner.structured else build_fresh()
        masks, info = state["masks"], state["info"]

    loop = TrainingLoop(model, splits, cfg.finetune, cfg.seed, device)
    if masks is not None:
        masks = {k: m.to(device) for k, m in masks.items()}
        keeper = MaskKeeper(loop.model, masks)
        keeper.attach()
        loop.after_step = keeper.after_step
    if state is not None:
        loop.load_state_dict(state["loop"])
    else:
        # Step 0 of the curve: the pruned model before any fine-tuning.
        val_loss, val_acc = evaluate(
            loop.model, splits.val_x, splits.val_y, splits, device, cfg.finetune.eval_batch_size
        )
        run.log_epoch(0, {"val_acc": val_acc, "val_loss": val_loss})

    while not loop.done:
        result_epoch = loop.run_epoch()
        run.log_epoch(result_epoch.epoch, result_epoch.metrics())
        ckpt = {"loop": loop.state_dict(), "masks": _cpu(masks), "info": info,
                "run_id": run.run_id}
        extra = (lambda d: save_structured(loop.model, d / MODEL_FILE)) if pruner.structured \
            else None
        report_epoch({**result_epoch.metrics(), "epoch": result_epoch.epoch, "done": False,
                      **warning}, ckpt, extra)
        warning = {}

    return _finish(cfg, runtime, run, loop, dense, masks, info, dense_prunable, splits, device)


def _cpu(masks: dict[str, torch.Tensor] | None) -> dict[str, torch.Tensor] | None:
    return None if masks is None else {k: m.detach().cpu() for k, m in masks.items()}


def _finish(
    cfg: TrialConfig,
    runtime: Runtime,
    run: TrackedRun,
    loop: TrainingLoop,
    dense: torch.nn.Module,
    masks: dict[str, torch.Tensor] | None,
    info: dict[str, float],
    dense_prunable: int,
    splits: Any,
    device: torch.device,
) -> dict[str, float]:
    """Test once on the best-validation weights, measure, and log the final records."""
    model = loop.load_best()
    if masks is not None:
        fold_masks(model, masks)
    test_loss, test_acc = evaluate(
        model, splits.test_x, splits.test_y, splits, device, cfg.finetune.eval_batch_size
    )
    model = model.to("cpu", memory_format=torch.contiguous_format).float().eval()
    efficiency = measure_efficiency(
        dense, model, (splits.in_channels, 32, 32), device=device,
        warmup=cfg.measure.warmup, repeats=cfg.measure.repeats,
        throughput_batch=cfg.measure.throughput_batch,
    )
    model = model.to("cpu").eval()
    with tempfile.TemporaryDirectory(prefix="prune-sweep-art-") as tmp:
        out = Path(tmp)
        (out / "model").mkdir()
        compact_bytes = save_compact(model, out / "model" / MODEL_FILE, structured=masks is None)
        size_dense = state_dict_bytes(dense)
        final = {
            "test_acc": test_acc,
            "test_loss": test_loss,
            "best_val_acc": loop.best_acc,
            "best_epoch": loop.best_epoch,
            "stopped_epoch": loop.epoch,
            "sparsity": measured_sparsity(model, dense_prunable),
            "params_nonzero": params_nonzero(model),
            "params_total": params_total(model),
            **efficiency,
            "size_bytes_dense": size_dense,
            "size_bytes_compact": compact_bytes,
            "compression_ratio": size_dense / compact_bytes,
            **{f"prune.{k}": v for k, v in info.items()},
        }
        loader = {
            "format": "structured" if masks is None else "sparse",
            "file": MODEL_FILE,
            "model": cfg.dense.model.name,
            "width": cfg.dense.model.width,
            "num_classes": splits.num_classes,
            "in_channels": splits.in_channels,
            "load_with": "pruning.storage.load_compact(path, build_fresh)",
            "build_fresh": "trainables.models.build_model(model, num_classes, width, in_channels)",
        }
        (out / "model" / "loader.json").write_text(json.dumps(loader, indent=2))
        (out / "config.json").write_text(json.dumps(to_dict(cfg), indent=2))
        (out / "metrics.json").write_text(json.dumps(final, indent=2, sort_keys=True))
        run.log_metrics(final, step=loop.epoch)
        run.log_artifact(out)
    run.set_tags({"node_id": node_id(), "device": str(device)})
    run.finish()
    return final
