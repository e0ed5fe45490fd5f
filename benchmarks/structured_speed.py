"""Structured pruning: how long pruning takes, and how much faster the pruned network runs.

    .venv/bin/python benchmarks/structured_speed.py [--blocks 7] [--threads 2]

Part 1 times pruning to a target (trace, score, allocate, remove) for every structured
criterion at widths 1/8 and 1. Part 2 measures CPU throughput at batch 32 of full-width
ResNet18 pruned to 90% parameter sparsity (``structured``, ``round_to`` 1 and 8) against the
dense network: both run in one process, in alternating order, over repeated blocks; each
block gives one throughput ratio and the spread over blocks is printed with the MAC ratio.
``--form`` picks how both networks run: ``eager`` (PyTorch as the trial measures it),
``fused`` (BatchNorm folded into the convolutions), ``deploy`` (the default, and what trials
measure: ``pruning.measure.inference_form``, folded and channels-last, input included) or
``frozen`` (TorchScript freeze + optimize_for_inference). ``--profile`` prints where the
time goes per operator for the dense and the pruned network."""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
from torch import nn

from pruning.channels.surgery import ChannelOptions, prune_to_sparsity
from pruning.measure import count_macs, count_prunable, inference_form
from trainables.models import build_model

X1 = torch.zeros(1, 3, 32, 32)


def _model(width: float) -> nn.Module:
    torch.manual_seed(0)
    return build_model("resnet18", width=width).eval()


def pruning_time(repeats: int) -> None:
    """Seconds to prune to 0.5 and 0.9, median over ``repeats``, per criterion and width."""
    print("## Time to prune (trace, score, allocate, remove), median of "
          f"{repeats}\n")
    print("| width | criterion | 0.5 (s) | 0.9 (s) |")
    print("| --: | :-- | --: | --: |")
    for width in (0.125, 1.0):
        model = _model(width)
        for score in ("l1_filter", "group_l1", "fpgm", "l2_filter", "group_norm"):
            cells = []
            for target in (0.5, 0.9):
                times = []
                for _ in range(repeats):
                    start = time.perf_counter()
                    prune_to_sparsity(model, target, X1, [model.fc], ChannelOptions(score=score))
                    times.append(time.perf_counter() - start)
                cells.append(f"{statistics.median(times):.2f}")
            print(f"| {width:g} | {score} | {' | '.join(cells)} |")
    print()


def _form(model: nn.Module, form: str, x: torch.Tensor) -> nn.Module:
    model = copy.deepcopy(model).eval()
    if form == "eager":
        return model
    if form == "fused":
        from torch.fx.experimental.optimization import fuse

        return fuse(model)
    if form == "deploy":
        return inference_form(model, "cpu")
    with torch.no_grad():
        traced = torch.jit.trace(model, x)
        return torch.jit.optimize_for_inference(torch.jit.freeze(traced))


@torch.no_grad()
def _throughput_ratio(dense: nn.Module, pruned: nn.Module, x: torch.Tensor, blocks: int,
                      iters: int) -> list[float]:
    """Per block: dense seconds / pruned seconds for ``iters`` forwards each, the order
    alternating between blocks so drift hits both."""
    for m in (dense, pruned):
        for _ in range(3):
            m(x)
    ratios = []
    for b in range(blocks):
        pair = [dense, pruned] if b % 2 == 0 else [pruned, dense]
        took = {}
        for m in pair:
            start = time.perf_counter()
            for _ in range(iters):
                m(x)
            took[id(m)] = time.perf_counter() - start
        ratios.append(took[id(dense)] / took[id(pruned)])
    return ratios


def throughput(blocks: int, iters: int, batch: int, form: str, profile: bool) -> None:
    """Pruned vs dense throughput at 90% parameter sparsity, width 1."""
    dense = _model(1.0)
    x = torch.randn(batch, 3, 32, 32)
    if form == "deploy":
        x = x.to(memory_format=torch.channels_last)
    macs_dense = count_macs(dense, X1)
    print(f"## Throughput at 90% parameter sparsity, width 1, batch {batch}, {form} form, "
          f"{torch.get_num_threads()} thread(s), torch {torch.__version__}\n")
    print(f"{blocks} blocks of {iters} forwards each per network, alternating order.\n")
    print("| round_to | sparsity | MAC ratio | throughput ratio median (min-max) | "
          "ratio / MAC ratio | >= 6x | >= 0.6 MAC |")
    print("| --: | --: | --: | --: | --: | :-: | :-: |")
    for round_to in (1, 8):
        pruned, info, _ = prune_to_sparsity(dense, 0.9, X1, [dense.fc],
                                            ChannelOptions(round_to=round_to))
        mac_ratio = macs_dense / count_macs(pruned, X1)
        ratios = _throughput_ratio(_form(dense, form, x), _form(pruned, form, x), x, blocks,
                                   iters)
        med = statistics.median(ratios)
        sparsity = 1 - count_prunable(pruned) / count_prunable(dense)
        print(f"| {round_to} | {sparsity:.4f} | {mac_ratio:.2f} | {med:.2f} "
              f"({min(ratios):.2f}-{max(ratios):.2f}) | {med / mac_ratio:.2f} | "
              f"{'yes' if med >= 6 else 'no'} | {'yes' if med >= 0.6 * mac_ratio else 'no'} |")
        if profile:
            _profile(_form(dense, form, x), "dense", x)
            _profile(_form(pruned, form, x), f"pruned round_to {round_to}", x)
    print()


@torch.no_grad()
def _profile(model: nn.Module, label: str, x: torch.Tensor) -> None:
    """Self CPU time per operator over 10 forwards."""
    from torch.profiler import ProfilerActivity, profile

    for _ in range(3):
        model(x)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(10):
            model(x)
    print(f"\n{label}:\n")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=8))


def main() -> None:
    """Print both parts as markdown."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--blocks", type=int, default=7)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--form", choices=("eager", "fused", "deploy", "frozen"), default="deploy")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--skip-prune-time", action="store_true")
    p.add_argument("--profile", action="store_true")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.skip_prune_time:
        pruning_time(args.repeats)
    throughput(args.blocks, args.iters, args.batch, args.form, args.profile)


if __name__ == "__main__":
    main()
