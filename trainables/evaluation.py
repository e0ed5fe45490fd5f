"""Device picking, mixed precision and evaluation, shared by the training loop and the flows
that test a finished model. Plain PyTorch, no Ray or MLflow."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch
from torch import nn

from trainables.augment import iterate_batches
from trainables.data import DataSplits


def pick_device(prefer: str | None = None) -> torch.device:
    """``prefer`` if given, else CUDA when Ray (or the user) made a GPU visible, else CPU."""
    if prefer:
        return torch.device(prefer)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def autocast(device: torch.device) -> AbstractContextManager:
    """bf16 autocast on CUDA, where it pays off (and is well supported); nothing elsewhere."""
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
        with autocast(device):
            logits = model(images)
        total_loss += nn.functional.cross_entropy(logits.float(), labels, reduction="sum").item()
        correct += (logits.argmax(1) == labels).sum().item()
    n = max(1, len(y))
    return total_loss / n, correct / n
