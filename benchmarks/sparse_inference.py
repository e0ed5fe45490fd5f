"""Sparse execution on CPU against dense, at several sparsities and batch sizes.

    .venv/bin/python benchmarks/sparse_inference.py [--width 1] [--sparsities 0.9,0.95,0.98]
        [--batches 1,32] [--blocks 7] [--allocation uniform|erk]

For each sparsity: ResNet18 with random masks in the given per-layer allocation (what DSR,
SET and RigL start from); three forms timed in rotating order over several blocks (median of
``--repeats`` forwards per block): ``dense`` (the deploy form every trial times:
``pruning.measure.inference_form``, BatchNorm folded, channels-last, dense kernels),
``csr-all`` (every Conv2d and Linear on CSR kernels, ``pruning.deploy.sparse_exec``) and
``csr-tuned`` (CSR only where it timed faster per layer, the form trials log). Prints each
block's times, the dense / sparse ratio per form with median and spread (min-max over blocks),
and the MAC ratio, the limit sparse kernels aim at; then the file sizes of each storage format
against the dense fp32 state dict (``--sizes-only`` prints only those)."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from pruning.allocation import layer_counts, random_masks
from pruning.deploy.sparse_exec import sparse_inference
from pruning.deploy.storage import save_csr, save_sparse
from pruning.masks import apply_masks
from pruning.measure import count_macs, inference_form, prunable_weights
from trainables.models import build_model


def _model(width: float, sparsity: float, allocation: str) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model("resnet18", width=width).eval()
    for m in model.modules():  # trained-like statistics, so BatchNorm folding is real work
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 2.0)
    params = prunable_weights(model)
    counts = layer_counts({n: tuple(p.shape) for n, p in params}, sparsity, allocation)
    apply_masks(model, random_masks(params, counts, torch.Generator().manual_seed(0)))
    return model


@torch.no_grad()
def _median_ms(model: torch.nn.Module, x: torch.Tensor, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model(x)
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def _verdict(ratios: list[float]) -> str:
    # Judged on the spread, not the median alone: a range straddling 1 is no difference.
    if min(ratios) > 1:
        return "faster"
    if max(ratios) < 1:
        return "SLOWER than dense"
    return "no measurable difference"


def _sizes(width: float, sparsities: list[float], allocation: str) -> None:
    print("\n| sparsity | dense fp32 state dict | bitmask | CSR fp32 | CSR fp16 |")
    print("| --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for sparsity in sparsities:
            state = _model(width, sparsity, allocation).state_dict()
            torch.save(state, Path(tmp) / "dense.pt")
            dense = (Path(tmp) / "dense.pt").stat().st_size
            bitmask = save_sparse(state, Path(tmp) / "b.pt")
            csr32 = save_csr(state, Path(tmp) / "c32.pt", "fp32")
            csr16 = save_csr(state, Path(tmp) / "c16.pt", "fp16")
            mb = [f"{b / 1e6:.2f} MB ({dense / b:.1f}x)" for b in (bitmask, csr32, csr16)]
            print(f"| {sparsity:g} | {dense / 1e6:.2f} MB | {' | '.join(mb)} |")


def main() -> None:
    """Print per-block timings, ratios with spread, and MAC ratios."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--sparsities", default="0.9,0.95,0.98")
    p.add_argument("--batches", default="1,32")
    p.add_argument("--blocks", type=int, default=7)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--allocation", default="uniform", choices=("uniform", "erk"))
    p.add_argument("--sizes-only", action="store_true", help="print only the storage sizes")
    args = p.parse_args()
    sparsities = [float(s) for s in args.sparsities.split(",")]
    if args.sizes_only:
        _sizes(args.width, sparsities, args.allocation)
        return
    cpu = torch.device("cpu")
    print(f"ResNet18 width {args.width:g}, {args.allocation} random masks, CPU "
          f"({torch.get_num_threads()} threads), torch {torch.__version__}; {args.blocks} "
          f"blocks, median of {args.repeats} forwards each")
    rows = []
    for sparsity in sparsities:
        model = _model(args.width, sparsity, args.allocation)
        macs = count_macs(model, torch.zeros(1, 3, 32, 32))
        dense_macs = count_macs(build_model("resnet18", width=args.width),
                                torch.zeros(1, 3, 32, 32))
        for batch in (int(b) for b in args.batches.split(",")):
            tuned, plan = sparse_inference(model, (3, 32, 32), batch)
            forms = {"dense": inference_form(model, cpu),
                     "csr-all": sparse_inference(model, (3, 32, 32), batch, autotune=False,
                                                 min_sparsity=0.0)[0],
                     "csr-tuned": tuned}
            x = torch.randn(batch, 3, 32, 32).to(memory_format=torch.channels_last)
            for m in forms.values():
                _median_ms(m, x, 2)  # warm-up
            times: dict[str, list[float]] = {k: [] for k in forms}
            names = list(forms)
            for block in range(args.blocks):
                for name in names[block % 3:] + names[:block % 3]:
                    times[name].append(_median_ms(forms[name], x, args.repeats))
            print(f"\nsparsity {sparsity:g}, batch {batch} (csr-tuned: {len(plan.csr)} layers "
                  f"on CSR, {len(plan.dense)} dense):")
            for i in range(args.blocks):
                print(f"  block {i}: " + "  ".join(f"{n} {times[n][i]:8.2f} ms" for n in names))
            for name in ("csr-all", "csr-tuned"):
                ratios = [d / s for d, s in zip(times["dense"], times[name], strict=True)]
                med = statistics.median(ratios)
                print(f"  dense / {name}: median {med:.2f}x (min {min(ratios):.2f}, max "
                      f"{max(ratios):.2f}): {_verdict(ratios)}; MAC ratio "
                      f"{dense_macs / macs:.1f}")
                rows.append((sparsity, batch, name, med, min(ratios), max(ratios),
                             dense_macs / macs))
    print("\n| sparsity | batch | form | dense / sparse, median (min-max) | MAC ratio |")
    print("| --- | --- | --- | --- | --- |")
    for s, b, name, med, lo, hi, mac in rows:
        print(f"| {s:g} | {b} | {name} | {med:.2f}x ({lo:.2f}-{hi:.2f}) | {mac:.1f} |")
    _sizes(args.width, sparsities, args.allocation)


if __name__ == "__main__":
    main()
