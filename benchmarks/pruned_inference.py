"""Inference cost of pruned ResNet18 vs dense, measured side by side in one process.

    .venv/bin/python benchmarks/pruned_inference.py [--width 1.0] [--device cpu|cuda]

For every method and sparsity: measured parameter sparsity, MACs, latency at batch 1 and
throughput at a larger batch, each as a ratio to the dense model timed interleaved with it
(``pruning.deploy.latency``: blocks in rotating order, per-block ratios). Weights are random: timing
does not depend on them."""

from __future__ import annotations

import argparse
import time

import torch

from pruning.deploy.latency import measure_efficiency
from pruning.deploy.storage import save_compact
from pruning.measure import count_prunable, measured_sparsity
from pruning.methods import make_method
from pruning.methods.base import MethodContext
from trainables.models import build_model


def main() -> None:
    """Print a markdown table of ratios for each method and sparsity."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--methods", default="magnitude,structured")
    p.add_argument("--sparsities", default="0.5,0.9")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=20)
    args = p.parse_args()
    torch.manual_seed(0)
    dense = build_model("resnet18", width=args.width).eval()
    example = torch.zeros(1, 3, 32, 32)
    print(f"ResNet18 width {args.width:g} on {args.device} ({torch.get_num_threads()} threads), "
          f"torch {torch.__version__}")
    print("| method | sparsity | MACs ratio | latency b1 dense/pruned (ms) | speedup b1 | "
          f"throughput b{args.batch} speedup | compression |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    import os
    import tempfile

    dense_bytes = None
    for method in args.methods.split(","):
        for sparsity in (float(s) for s in args.sparsities.split(",")):
            model = build_model("resnet18", width=args.width)
            model.load_state_dict(dense.state_dict())
            start = time.perf_counter()
            ctx = MethodContext(sparsity, example, [model.fc], lambda which: {},
                                torch.Generator().manual_seed(0), 1, 1)
            result = make_method(method, {}, sparsity).begin_round(0, model, None, ctx)
            prune_s = time.perf_counter() - start
            pruned = result.model.eval()
            m = measure_efficiency(dense, pruned, (3, 32, 32), device=args.device, warmup=5,
                                   repeats=args.repeats, throughput_batch=args.batch)
            with tempfile.TemporaryDirectory() as tmp:
                compact = save_compact(pruned, os.path.join(tmp, "m.pt"), result.structured)
                if dense_bytes is None:
                    dense_bytes = save_compact(dense, os.path.join(tmp, "d.pt"), True)
            print(f"| {method} | {measured_sparsity(pruned, count_prunable(dense)):.3f} | "
                  f"{m['macs'] / m['macs_dense']:.3f} | {m['latency_ms_b1_dense']:.2f} / "
                  f"{m['latency_ms_b1']:.2f} | {m['speedup_b1']:.2f}x | "
                  f"{m['speedup_throughput']:.2f}x | {dense_bytes / compact:.1f}x "
                  f"(pruned in {prune_s:.1f}s) |", flush=True)


if __name__ == "__main__":
    main()
