"""Training engine: SGD + cosine, early stopping on validation accuracy, best-weights tracking.

Plain PyTorch, no Ray or MLflow, so a notebook can drive it. The trainables wrap it: they call
``run_epoch`` and checkpoint ``state_dict()`` after every epoch.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

import torch
from torch import nn

from trainables.augment import iterate_batches
from trainables.config import Recipe
from trainables.data import DataSplits


def pick_device(prefer: str | None = None) -> torch.device:
    """``prefer`` if given, else CUDA when Ray (or the user) made a GPU visible, else CPU."""
    if prefer:
        return torch.device(prefer)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


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

    def metrics(self) -> dict[str, float]:
        """The per-epoch metrics logged with step = epoch."""
        return {
            "train_loss": self.train_loss,
            "train_acc": self.train_acc,
            "val_loss": self.val_loss,
            "val_acc": self.val_acc,
            "lr": self.lr,
        }


def _autocast(device: torch.device):
    # bf16 autocast only pays off (and is only well supported) on CUDA.
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


@torch.no_grad()
def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    splits: DataSplits,
    device: torch.device,
    batch_size: int = 512,
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy (fraction) of ``model`` on uint8 images ``x``."""
    model.eval()
    total_loss, correct = 0.0, 0
    channels_last = device.type == "cuda"
    for images, labels in iterate_batches(
        x, y, batch_size, shuffle=False, generator=None, augment=False,
        mean=splits.mean, std=splits.std, device=device, channels_last=channels_last,
    ):
        with _autocast(device):
            logits = model(images)
        total_loss += nn.functional.cross_entropy(logits.float(), labels, reduction="sum").item()
        correct += (logits.argmax(1) == labels).sum().item()
    n = max(1, len(y))
    return total_loss / n, correct / n


class TrainingLoop:
    """Epoch-at-a-time training with early stopping; resumable through ``state_dict``.

    ``after_step`` runs after every optimizer step (pruning masks are re-applied there).
    Early stopping state lives here, not in a Tune stopper, because a stopper's state is lost
    when a trial is restored while a checkpoint is not.
    """

    def __init__(
        self,
        model: nn.Module,
        splits: DataSplits,
        recipe: Recipe,
        seed: int,
        device: torch.device,
        after_step: Callable[[], None] | None = None,
    ) -> None:
        self.model = model.to(device)
        if device.type == "cuda":
            self.model = self.model.to(memory_format=torch.channels_last)
        self.splits = splits
        self.recipe = recipe
        self.device = device
        self.after_step = after_step
        self.optimizer = torch.optim.SGD(
            self.model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
            weight_decay=recipe.weight_decay, nesterov=False,
        )
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.optimizer, T_max=max(1, recipe.epochs)
        )
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch = 0
        self.best_acc = -math.inf
        self.best_epoch = 0
        self.bad_epochs = 0
        self.best_state = copy.deepcopy(self.model.state_dict())

    @property
    def done(self) -> bool:
        """True once the schedule ran out or early stopping fired."""
        if self.epoch >= self.recipe.epochs:
            return True
        return self.recipe.patience > 0 and self.bad_epochs >= self.recipe.patience

    def run_epoch(self) -> EpochResult:
        """Train one epoch, evaluate on validation, update the best weights."""
        model, device = self.model, self.device
        model.train()
        lr = self.optimizer.param_groups[0]["lr"]
        loss_sum, correct, seen = 0.0, 0, 0
        for images, labels in iterate_batches(
            self.splits.train_x, self.splits.train_y, self.recipe.batch_size,
            shuffle=True, generator=self.generator, augment=True,
            mean=self.splits.mean, std=self.splits.std, device=device,
            channels_last=device.type == "cuda",
        ):
            with _autocast(device):
                logits = model(images)
                loss = nn.functional.cross_entropy(
                    logits.float(), labels, label_smoothing=self.recipe.label_smoothing
                )
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            if self.after_step is not None:
                self.after_step()
            loss_sum += loss.item() * len(labels)
            correct += (logits.argmax(1) == labels).sum().item()
            seen += len(labels)
        self.scheduler.step()
        self.epoch += 1
        if not math.isfinite(loss_sum):
            raise FloatingPointError(f"training loss diverged at epoch {self.epoch} (lr {lr})")
        val_loss, val_acc = evaluate(
            model, self.splits.val_x, self.splits.val_y, self.splits, device,
            self.recipe.eval_batch_size,
        )
        improved = val_acc > self.best_acc
        if improved:
            self.best_acc, self.best_epoch, self.bad_epochs = val_acc, self.epoch, 0
            self.best_state = copy.deepcopy(model.state_dict())
        else:
            self.bad_epochs += 1
        return EpochResult(
            self.epoch, loss_sum / max(1, seen), correct / max(1, seen), val_loss, val_acc, lr,
            improved,
        )

    def load_best(self) -> nn.Module:
        """Put the best-validation weights into the model and return it."""
        self.model.load_state_dict(self.best_state)
        return self.model

    def state_dict(self) -> dict:
        """Everything needed to continue exactly where this loop is."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "generator": self.generator.get_state(),
            "epoch": self.epoch,
            "best_acc": self.best_acc,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "best_state": self.best_state,
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue from ``state_dict()`` output."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.generator.set_state(state["generator"])
        self.epoch = int(state["epoch"])
        self.best_acc = float(state["best_acc"])
        self.best_epoch = int(state["best_epoch"])
        self.bad_epochs = int(state["bad_epochs"])
        self.best_state = state["best_state"]
