"""Learning-rate schedules and the three named ways to retrain after pruning
(docs/methods.md): fine-tuning, learning-rate rewinding and weight rewinding.

Every schedule is a cosine over *positions* of a schedule that may be longer than the run:
fine-tuning runs its own cosine from its own learning rate; learning-rate rewinding replays the
dense schedule's last E epochs (positions T - E .. T, Renda et al. 2020); weight rewinding
replays it from the rewind epoch k (positions k .. T, Frankle et al. 2020), over T - k epochs,
or stretched over E epochs when a space asks for equal budgets; training from init (dynamic
sparse training) runs the whole dense recipe again, T epochs (E with equal budgets). All of
them end at position T of their cosine, so every run anneals to zero. Plain math, no torch."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from pruning.methods.base import RETRAINING
from trainables.config import Recipe, TrialConfig

KINDS = RETRAINING  # defined with the method traits that name them


@dataclass(frozen=True)
class LRSchedule:
    """A cosine from ``peak`` to 0 over ``total`` positions, of which epochs 0..``epochs``
    cover ``start``..``end`` linearly."""

    peak: float
    total: float
    start: float
    end: float
    epochs: int

    @classmethod
    def cosine(cls, lr: float, epochs: int) -> LRSchedule:
        """Plain cosine annealing over ``epochs`` (the dense run, fine-tuning)."""
        return cls(lr, max(1, epochs), 0.0, float(max(1, epochs)), max(1, epochs))

    def position(self, epoch: int) -> float:
        """Where in the replayed schedule ``epoch`` (0-based) starts."""
        return self.start + (self.end - self.start) * epoch / max(1, self.epochs)

    def lr(self, epoch: int) -> float:
        """Learning rate during ``epoch`` (0-based)."""
        return self.peak * (1.0 + math.cos(math.pi * self.position(epoch) / self.total)) / 2.0


def retraining_recipe(dense: Recipe, finetune: Recipe, kind: str, rewind_epoch: int,
                      equal_budget: bool) -> Recipe:
    """The recipe a method retrains with, before its own overrides: the fine-tuning recipe,
    or for rewinding and training from init the dense recipe's optimizer settings with the
    fine-tuning recipe's early stopping; weight rewinding trains the rest of the dense
    schedule (T - k epochs), training from init all of it (T), unless budgets are equal,
    then every method trains ``finetune.epochs``."""
    if kind == "finetune":
        return finetune
    if kind not in KINDS:
        raise ValueError(f"unknown retraining {kind!r} (known: {', '.join(KINDS)})")
    epochs = dense.epochs - (0 if kind == "from_init" else rewind_epoch)
    if kind == "lr_rewind" or equal_budget:
        epochs = finetune.epochs
    return dataclasses.replace(dense, epochs=epochs, patience=finetune.patience,
                               eval_batch_size=finetune.eval_batch_size)


def retraining_schedule(cfg: TrialConfig, kind: str) -> LRSchedule:
    """The learning-rate schedule of a trial's retraining (its epochs: ``cfg.finetune``)."""
    ft, total, k = cfg.finetune, cfg.dense.recipe.epochs, cfg.dense.rewind_epoch
    if kind in ("finetune", "from_init"):
        return LRSchedule.cosine(ft.lr, ft.epochs)
    if kind == "lr_rewind":
        return LRSchedule(ft.lr, total, float(total - ft.epochs), float(total), ft.epochs)
    if kind == "weight_rewind":
        return LRSchedule(ft.lr, total, float(k), float(total), ft.epochs)
    raise ValueError(f"unknown retraining {kind!r} (known: {', '.join(KINDS)})")
