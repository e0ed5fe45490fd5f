"""Per-batch augmentation on the training device: images stay uint8 in memory."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch


def random_crop_flip(
    images: torch.Tensor, generator: torch.Generator | None, padding: int = 4
) -> torch.Tensor:
    """Random crop with zero padding and horizontal flip, per sample, vectorized.

    Offsets and flips are drawn on the CPU generator (so they depend only on the seed, not the
    device) and applied with one gather on the images' device."""
    n, _, h, w = images.shape
    padded = torch.nn.functional.pad(images, (padding, padding, padding, padding))
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator).to(images.device)
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator).to(images.device)
    flip = (torch.rand(n, generator=generator) < 0.5).to(images.device)
    cols = torch.arange(w, device=images.device)
    rows = torch.arange(h, device=images.device)
    cols = torch.where(flip[:, None], cols.flip(0)[None, :], cols[None, :]) + dx[:, None]
    rows = rows[None, :] + dy[:, None]
    batch = torch.arange(n, device=images.device)[:, None, None]
    # Advanced indexing picks padded[b, :, rows[b, i], cols[b, j]] for every pixel at once.
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]
    # Back to NCHW-contiguous: a channels-last-strided input reached oneDNN's CPU conv backward
    # with odd (pruned) channel counts and corrupted the heap (torch 2.15).
    return out.permute(0, 3, 1, 2).contiguous()


def iterate_batches(
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    *,
    shuffle: bool,
    generator: torch.Generator | None,
    augment: bool,
    mean: Sequence[float],
    std: Sequence[float],
    device: torch.device | str,
    channels_last: bool = False,
    drop_last: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield normalized float batches on ``device`` from uint8 NCHW images ``x``."""
    device = torch.device(device)
    n = len(y)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    mean_t = torch.tensor(mean, device=device).view(1, -1, 1, 1) * 255.0
    std_t = torch.tensor(std, device=device).view(1, -1, 1, 1) * 255.0
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        idx = order[start : start + batch_size]
        images = x[idx].to(device, non_blocking=True)
        if augment:
            images = random_crop_flip(images, generator)
        images = (images.float() - mean_t) / std_t
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        yield images, y[idx].to(device, non_blocking=True)
