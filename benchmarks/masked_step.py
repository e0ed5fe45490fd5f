"""Cost of a masked training step against an unmasked one, through the real training engine.

    .venv/bin/python benchmarks/masked_step.py [--width 0.25] [--sparsity 0.9] [--blocks 7]

Two ``TrainingLoop``s on the same model and data, one holding masks (gradients masked before
the optimizer step, weights re-zeroed after it), timed in alternating order over several
blocks of one epoch each; prints each block's ms per step and the masked / unmasked ratio with
its median and spread (min-max over blocks)."""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

from pruning.allocation import global_masks
from pruning.scores import score
from trainables.config import Recipe
from trainables.data import DataSplits
from trainables.engine import TrainingLoop
from trainables.models import build_model


def random_splits(n: int) -> DataSplits:
    """``n`` random 32x32 RGB training images over 10 classes (timing does not need learnable
    data), with 32 of them as validation and test splits."""
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    return DataSplits(x, y, x[:32], y[:32], x[:32], y[:32], (0.5,) * 3, (0.25,) * 3, 10, 3,
                      tuple(str(i) for i in range(10)))


def main() -> None:
    """Print per-block timings and the ratio."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--width", type=float, default=0.25)
    p.add_argument("--sparsity", type=float, default=0.9)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=8, help="steps per block")
    p.add_argument("--blocks", type=int, default=7)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = build_model("resnet18", width=args.width)
    masks = global_masks(score("magnitude")(model), args.sparsity)
    splits = random_splits(args.steps * args.batch)
    recipe = Recipe(epochs=10_000, lr=0.01, batch_size=args.batch, eval_batch_size=32)
    loops = {
        "unmasked": TrainingLoop(copy.deepcopy(model), splits, recipe, 0, device),
        "masked": TrainingLoop(copy.deepcopy(model), splits, recipe, 0, device, masks=masks),
    }
    for loop in loops.values():  # warm-up: allocator, oneDNN primitives, optimizer state
        loop.run_epoch()
    times: dict[str, list[float]] = {k: [] for k in loops}
    for block in range(args.blocks):
        order = list(loops) if block % 2 == 0 else list(reversed(loops))
        for name in order:
            start = time.perf_counter()
            loops[name].run_epoch()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            times[name].append((time.perf_counter() - start) * 1000 / args.steps)
    ratios = [m / u for m, u in zip(times["masked"], times["unmasked"], strict=True)]
    print(f"ResNet18 width {args.width:g}, batch {args.batch}, {args.device} "
          f"({torch.get_num_threads()} threads), torch {torch.__version__}, masks at "
          f"{args.sparsity:g} sparsity; {args.blocks} blocks of {args.steps} steps (one epoch "
          f"each, validation on 32 images included)")
    for i, (u, m, r) in enumerate(zip(times["unmasked"], times["masked"], ratios, strict=True)):
        print(f"  block {i}: unmasked {u:7.1f} ms/step  masked {m:7.1f} ms/step  ratio {r:.3f}")
    print(f"masked / unmasked step: median {statistics.median(ratios):.3f}x "
          f"(min {min(ratios):.3f}, max {max(ratios):.3f})")


if __name__ == "__main__":
    main()
