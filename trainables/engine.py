"""Training engine: SGD along a cosine schedule, a pruning method's hooks, masks, early
stopping on validation accuracy, best-checkpoint tracking.

Plain PyTorch, no Ray or MLflow, so a notebook can drive it. The trial flow calls ``run_epoch``
and checkpoints ``state_dict()`` after every epoch.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from pruning.masks import Masks, MaskUpdate, fold_masks
from pruning.methods.base import Method
from trainables.augment import iterate_batches
from trainables.config import Recipe
from trainables.data import DataSplits
from trainables.evaluation import autocast, evaluate
from trainables.retraining import LRSchedule


@dataclass
class EpochResult:
    """What one epoch produced; ``improved`` says whether val_acc set a new best."""

    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    lr: float
    improved: bool
    seconds: float = 0.0
    train_seconds: float = 0.0
    images: int = 0

    def speed(self) -> dict[str, float]:
        """Wall time of the epoch (training and validation) and training images per second:
        progress output, not logged as curves (they differ between identical runs)."""
        return {"epoch_time_s": self.seconds,
                "images_per_s": self.images / self.train_seconds if self.train_seconds > 0
                else 0.0}

    def metrics(self) -> dict[str, float]:
        """The per-epoch metrics logged with step = epoch."""
        return {
            "train_loss": self.train_loss,
            "train_acc": self.train_acc,
            "val_loss": self.val_loss,
            "val_acc": self.val_acc,
            "lr": self.lr,
        }


class TrainingLoop:
    """Epoch-at-a-time training with a method's hooks and early stopping; resumable through
    ``state_dict``.

    Each step: backward, ``method.after_backward``, pruned gradients zeroed, optimizer step,
    pruned weights re-zeroed, ``method.after_step`` (which may return new masks). Each epoch:
    ``method.end_epoch``, validation, and the best checkpoint (weights with their masks) taken
    only at steps the method calls selectable. Early stopping counts patience only once the
    learning rate has fallen below ``ANNEALED`` of its peak, so a stopped run has annealed.
    Its state lives here, not in a Tune stopper, because a stopper's state is lost when a
    trial is restored while a checkpoint is not.
    """

    ANNEALED = 0.1

    def __init__(
        self,
        model: nn.Module,
        splits: DataSplits,
        recipe: Recipe,
        seed: int,
        device: torch.device,
        *,
        schedule: LRSchedule | None = None,
        method: Method | None = None,
        masks: dict[str, torch.Tensor] | None = None,
        augment: bool = True,
        heartbeat: Callable[[dict[str, float]], None] | None = None,
        heartbeat_s: float = 30.0,
    ) -> None:
        self.model = model.to(device)
        if device.type == "cuda":
            self.model = self.model.to(memory_format=torch.channels_last)
        self.splits = splits
        self.recipe = recipe
        self.schedule = schedule or LRSchedule.cosine(recipe.lr, recipe.epochs)
        self.device = device
        self.method = method
        self.augment = augment
        # Called within an epoch that runs longer than heartbeat_s, then every heartbeat_s.
        self.heartbeat = heartbeat
        self.heartbeat_s = heartbeat_s
        self.masks = Masks(self.model, masks) if masks is not None else None
        self.optimizer = torch.optim.SGD(
            self.model.parameters(), lr=self.schedule.lr(0), momentum=recipe.momentum,
            weight_decay=recipe.weight_decay, nesterov=False,
        )
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch = 0
        self.step = 0
        self.lr = self.schedule.lr(0)
        self.best_acc = -math.inf
        self.best_epoch = 0
        self.bad_epochs = 0
        self.best_state = self._snapshot()
        self.mask_changes = {"pruned": 0, "regrown": 0, "updates": 0}
        # (step, pruned, regrown) of every mask update since the caller last took them.
        self.updates: list[tuple[int, int, int]] = []

    @property
    def epochs(self) -> int:
        """Planned epochs of this run."""
        return self.schedule.epochs

    @property
    def done(self) -> bool:
        """True once the schedule ran out or early stopping fired."""
        if self.epoch >= self.epochs:
            return True
        return self.recipe.patience > 0 and self.bad_epochs >= self.recipe.patience

    def _snapshot(self) -> dict:
        masks = self.masks.cpu() if self.masks is not None else None
        return {"model": copy.deepcopy(self.model.state_dict()), "masks": masks}

    def _install(self, new: MaskUpdate) -> None:
        """Install a method's new masks (and the regrown positions it names)."""
        masks, grown = new.masks, new.grown
        if self.masks is None:
            self.masks = Masks(self.model, masks)
            self.masks.apply()
            return
        pruned, regrown = self.masks.replace(masks, self.optimizer, grown)
        self.mask_changes["pruned"] += pruned
        self.mask_changes["regrown"] += regrown
        self.mask_changes["updates"] = self.mask_changes.get("updates", 0) + 1
        self.updates.append((self.step, pruned, regrown))

    def take_updates(self) -> list[tuple[int, int, int]]:
        """(step, pruned, regrown) of the mask updates since the last call."""
        out, self.updates = self.updates, []
        return out

    def _current_masks(self) -> dict[str, torch.Tensor] | None:
        return self.masks.as_dict() if self.masks is not None else None

    def run_epoch(self) -> EpochResult:
        """Train one epoch, evaluate on validation, update the best checkpoint."""
        model, device, method, masks = self.model, self.device, self.method, self.masks
        model.train()
        lr = self.lr = self.schedule.lr(self.epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        # Summed on the device: a host sync per step would stall a GPU.
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        seen = 0
        started = last_beat = time.monotonic()
        total = len(self.splits.train_y)
        for images, labels in iterate_batches(
            self.splits.train_x, self.splits.train_y, self.recipe.batch_size,
            shuffle=True, generator=self.generator, augment=self.augment,
            mean=self.splits.mean, std=self.splits.std, device=device,
            channels_last=device.type == "cuda",
        ):
            with autocast(device):
                logits = model(images)
                loss = nn.functional.cross_entropy(
                    logits.float(), labels, label_smoothing=self.recipe.label_smoothing
                )
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if method is not None:
                method.after_backward(self.step + 1, model)
            if masks is not None:
                masks.mask_grads()
            self.optimizer.step()
            self.step += 1
            if masks is not None:
                masks.apply()
            if method is not None:
                new = method.after_step(self.step, model, self.optimizer, self._current_masks())
                if new is not None:
                    self._install(new)
                    masks = self.masks
            loss_sum += loss.detach() * len(labels)
            correct += (logits.argmax(1) == labels).sum()
            seen += len(labels)
            if self.heartbeat is not None and time.monotonic() - last_beat >= self.heartbeat_s:
                last_beat = time.monotonic()
                self.heartbeat({"epoch": self.epoch + 1, "fraction": seen / max(1, total),
                                "images_per_s": seen / (last_beat - started)})
        train_s = time.monotonic() - started
        self.epoch += 1
        if method is not None:
            new = method.end_epoch(self.epoch, model, self._current_masks())
            if new is not None:
                self._install(new)
        train_loss = loss_sum.item() / max(1, seen)
        if not math.isfinite(train_loss):
            raise FloatingPointError(f"training loss diverged at epoch {self.epoch} (lr {lr})")
        val_loss, val_acc = evaluate(
            model, self.splits.val_x, self.splits.val_y, self.splits, device,
            self.recipe.eval_batch_size,
        )
        selectable = method is None or method.selectable(self.step)
        improved = selectable and val_acc > self.best_acc
        if improved:
            self.best_acc, self.best_epoch, self.bad_epochs = val_acc, self.epoch, 0
            self.best_state = self._snapshot()
        elif selectable and lr <= self.ANNEALED * self.schedule.peak:
            self.bad_epochs += 1
        return EpochResult(self.epoch, train_loss, correct.item() / max(1, seen), val_loss,
                           val_acc, lr, improved, seconds=time.monotonic() - started,
                           train_seconds=train_s, images=seen)

    def load_best(self) -> nn.Module:
        """Put the best-validation weights (and their masks, folded in) into the model."""
        self.model.load_state_dict(self.best_state["model"])
        if self.best_state["masks"] is not None:
            fold_masks(self.model, self.best_state["masks"])
        return self.model

    def best_masks(self) -> dict[str, torch.Tensor] | None:
        """The masks that went with the best-validation weights."""
        return self.best_state["masks"]

    def state_dict(self) -> dict:
        """Everything needed to continue exactly where this loop is (the method's too)."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "epoch": self.epoch,
            "step": self.step,
            "best_acc": self.best_acc,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "best_state": self.best_state,
            "masks": self.masks.cpu() if self.masks is not None else None,
            "mask_changes": dict(self.mask_changes),
            "method": self.method.state_dict() if self.method is not None else {},
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue from ``state_dict()`` output."""
        self.model.load_state_dict(state["model"])
        if state.get("masks") is not None:
            self.masks = Masks(self.model, state["masks"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.epoch = int(state["epoch"])
        self.step = int(state.get("step", 0))
        self.lr = self.schedule.lr(max(0, self.epoch - 1))
        self.best_acc = float(state["best_acc"])
        self.best_epoch = int(state["best_epoch"])
        self.bad_epochs = int(state["bad_epochs"])
        self.best_state = state["best_state"]
        self.mask_changes = dict(state.get("mask_changes", self.mask_changes))
        if self.method is not None:
            self.method.load_state_dict(state.get("method", {}))
