"""The end of a trial: finalize the selected model, test it once, count what it costs (sparsity,
MACs, bytes, training budget) and save it with its loader description. Timing is not done
here: it runs later with the node's cores to itself (``trainables.measurement``)."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from pruning.deploy.storage import save_model
from pruning.measure import (
    count_macs,
    measured_sparsity,
    params_nonzero,
    params_total,
    state_dict_bytes,
)
from pruning.schema import check_metrics
from trainables.config import to_dict
from trainables.evaluation import evaluate

if TYPE_CHECKING:
    from trainables.engine import TrainingLoop
    from trainables.trial import TrialRun

MODEL_FILE = "model.pt"


@dataclass
class TrialResult:
    """What a finished trial reports: its final metrics (names in ``pruning.schema``), the
    saved model's format, and the model itself (on the CPU, in evaluation mode)."""

    metrics: dict[str, float]
    model_format: str
    model: torch.nn.Module


def training_budget(trial: TrialRun, loop: TrainingLoop) -> dict[str, float]:
    """Training the result cost, after pruning and in total (reported beside accuracy)."""
    epochs = loop.epoch + sum(int(m["epochs"]) for m in trial.rounds)
    steps = loop.step + sum(int(m["steps"]) for m in trial.rounds)
    out = {"epochs_trained": epochs, "optimizer_steps": steps,
           "epochs_total": trial.plan.dense_epochs_used + epochs, "stopped_lr": loop.lr}
    if trial.rounds:
        out.update({"rounds": len(trial.rounds) + 1, **trial.counts})
    if trial.method.traits.dynamic:
        out.update({"dst.pruned_total": loop.mask_changes["pruned"],
                    "dst.regrown_total": loop.mask_changes["regrown"],
                    "dst.updates": loop.mask_changes.get("updates", 0)})
    return out


def finish_trial(trial: TrialRun, loop: TrainingLoop, info: dict[str, float]) -> TrialResult:
    """Finalize the selected model, test it once, measure it, save it, report it."""
    model = loop.load_best()
    structured = trial.method.traits.resized_in_training
    done = trial.method.finalize(model, loop.best_masks(), trial.context(trial.plan.last, model))
    if done is not None:
        model, structured = done.model, done.structured
        # What finalizing cost (SFP's removal): the selected model's validation again.
        _, val_after = evaluate(model, trial.splits.val_x, trial.splits.val_y, trial.splits,
                                trial.device, trial.cfg.finetune.eval_batch_size)
        info = {**info, **done.info, "val_acc_finalized": val_after}
    if trial.rounds:
        trial.log_round(len(trial.rounds), {
            "sparsity": measured_sparsity(model, trial.dense_prunable),
            "best_val_acc": loop.best_acc})
    cfg, splits = trial.cfg, trial.splits
    test_loss, test_acc = evaluate(model, splits.test_x, splits.test_y, splits, trial.device,
                                   cfg.finetune.eval_batch_size)
    model = model.to("cpu", memory_format=torch.contiguous_format).float().eval()
    macs, macs_dense = count_macs(model, trial.example), count_macs(trial.dense, trial.example)
    with tempfile.TemporaryDirectory(prefix="prune-sweep-art-") as tmp:
        out = Path(tmp)
        (out / "model").mkdir()
        sizes, kind = save_model(model, out / "model" / MODEL_FILE, structured,
                                 cfg.save.format, cfg.save.values)
        size_dense = state_dict_bytes(trial.dense)
        final = check_metrics({
            "test_acc": test_acc, "test_loss": test_loss, "best_val_acc": loop.best_acc,
            "best_epoch": loop.best_epoch, "stopped_epoch": loop.epoch,
            "sparsity": measured_sparsity(model, trial.dense_prunable),
            "params_nonzero": params_nonzero(model), "params_total": params_total(model),
            "macs": macs, "macs_dense": macs_dense,
            "theoretical_speedup": macs_dense / max(1, macs),
            "size_bytes_dense": size_dense, **sizes,
            "compression_ratio": size_dense / sizes["size_bytes_compact"],
            **training_budget(trial, loop),
            **{f"prune.{k}": v for k, v in info.items()},
        })
        loader = {
            "format": kind, "file": MODEL_FILE,
            "model": cfg.dense.model.name, "width": cfg.dense.model.width,
            "num_classes": splits.num_classes, "in_channels": splits.in_channels,
            "load_with": "pruning.deploy.storage.load_compact(path, build_fresh)",
            "build_fresh": "trainables.models.build_model(model, num_classes, width, "
                           "in_channels)",
        }
        (out / "model" / "loader.json").write_text(json.dumps(loader, indent=2))
        (out / "config.json").write_text(json.dumps(to_dict(cfg), indent=2))
        (out / "metrics.json").write_text(json.dumps(final, indent=2, sort_keys=True))
        trial.reporter.log_metrics(final, step=loop.epoch)
        trial.reporter.log_artifacts(out)
        # How the result runs at inference (analysis.load.execution_kind reads it).
        model_format = "dense" if trial.method.traits.fixed_sparsity == 0 else kind
        trial.reporter.set_tags({"device": str(trial.device), "model_format": model_format})
    return TrialResult(final, model_format, model)
