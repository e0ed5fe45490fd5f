"""Cost of RigL's steps against a plain masked step, through the real training engine.

    .venv/bin/python benchmarks/dst_step.py [--width 0.25] [--batch 64] [--blocks 7]

Three ``TrainingLoop``s on the same model and data at 90% sparsity: ``masked`` (a fixed
magnitude mask), ``rigl-update`` (RigL updating after every step: the dense gradient read
after backward, drop by magnitude, grow by gradient) and ``rigl-between`` (RigL between
updates: its hooks run but do nothing). Timed in rotating order over several blocks of one
epoch each; prints ms per step per block and each RigL variant's ratio to the masked step with
its median and spread (min-max over blocks)."""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
from masked_step import random_splits  # the sibling script: benchmarks/ is on sys.path

from pruning.allocation import global_masks
from pruning.methods import make_method
from pruning.methods.base import MethodContext
from pruning.scores import score
from trainables.config import Recipe
from trainables.data import DataSplits
from trainables.engine import TrainingLoop
from trainables.models import build_model


def _rigl_loop(model: torch.nn.Module, splits: DataSplits, recipe: Recipe, every: int,
               steps: int, device: torch.device) -> TrainingLoop:
    # end = 1.0 with a huge step budget: the drop fraction stays near alpha throughout.
    method = make_method("rigl", {"update_every": every, "end": 1.0}, 0.9)
    ctx = MethodContext(0.9, None, [], lambda w: {}, torch.Generator().manual_seed(0), steps,
                        10_000)
    method.setup(0, ctx)
    start = method.begin_round(0, model, None, ctx)
    return TrainingLoop(start.model, splits, recipe, 0, device, method=method,
                        masks=start.masks)


def main() -> None:
    """Print per-block timings and the ratios."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--width", type=float, default=0.25)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=8, help="steps per block")
    p.add_argument("--blocks", type=int, default=7)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = build_model("resnet18", width=args.width)
    splits = random_splits(args.steps * args.batch)
    recipe = Recipe(epochs=10_000, lr=0.01, batch_size=args.batch, eval_batch_size=32)
    loops = {
        "masked": TrainingLoop(copy.deepcopy(model), splits, recipe, 0, device,
                               masks=global_masks(score("magnitude")(model), 0.9)),
        "rigl-update": _rigl_loop(copy.deepcopy(model), splits, recipe, 1, args.steps, device),
        "rigl-between": _rigl_loop(copy.deepcopy(model), splits, recipe, 10**9, args.steps,
                                   device),
    }
    for loop in loops.values():  # warm-up: allocator, oneDNN primitives, optimizer state
        loop.run_epoch()
    times: dict[str, list[float]] = {k: [] for k in loops}
    names = list(loops)
    for block in range(args.blocks):
        order = names[block % 3:] + names[:block % 3]
        for name in order:
            start = time.perf_counter()
            loops[name].run_epoch()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            times[name].append((time.perf_counter() - start) * 1000 / args.steps)
    print(f"ResNet18 width {args.width:g}, batch {args.batch}, {args.device} "
          f"({torch.get_num_threads()} threads), torch {torch.__version__}, 90% sparsity; "
          f"{args.blocks} blocks of {args.steps} steps (one epoch each, validation on 32 "
          "images included)")
    for i in range(args.blocks):
        print(f"  block {i}: " + "  ".join(f"{n} {times[n][i]:7.1f} ms/step" for n in names))
    for name in ("rigl-update", "rigl-between"):
        ratios = [r / m for r, m in zip(times[name], times["masked"], strict=True)]
        print(f"{name} / masked step: median {statistics.median(ratios):.3f}x "
              f"(min {min(ratios):.3f}, max {max(ratios):.3f})")


if __name__ == "__main__":
    main()
