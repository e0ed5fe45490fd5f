"""How far a speedup reads from 1.00 when nothing differs: the null test (a model against a copy
of itself) under the old in-trial timing and under the measurement step's protocol, on idle
cores and beside training processes (what trials timing themselves saw).

    .venv/bin/python benchmarks/null_test.py [--width 0.25] [--reps 6] [--load 2]

``old``: one interleaved pass of 20 forwards per model, dense first, the ratio of medians
(what trials logged before the measurement step). ``new``: ``pruning.deploy.latency.null_test``,
5 blocks of 10 forwards in rotating order, median of per-block ratios with its range. Each is
repeated ``--reps`` times per condition; printed: the range of the reported ratio over the
repetitions and, for the new protocol, how often 1.00 lay within its own reported range.
``--load`` processes each train a width-1/8 ResNet18 on one thread during the loaded
condition."""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import time

import torch

from pruning.deploy.latency import TimingPlan, null_test, time_blocks
from pruning.measure import inference_form
from trainables.models import build_model


def _train_forever(stop: mp.Event) -> None:
    torch.set_num_threads(1)
    model = build_model("resnet18", width=0.125)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(64, 3, 32, 32), torch.randint(0, 10, (64,))
    while not stop.is_set():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()


def _old(model: torch.nn.Module, batch: int) -> float:
    forms = [inference_form(model, "cpu"), inference_form(model, "cpu")]
    # One block, dense always first, 3 warm-up calls: the protocol trials used before.
    blocks = time_blocks(forms, (3, 32, 32), batch, TimingPlan(warmup=3, repeats=20, blocks=1))
    return blocks[0][0] / blocks[1][0]


def _new(model: torch.nn.Module, batch: int) -> tuple[float, float, float]:
    out = null_test(model, (3, 32, 32), TimingPlan(warmup=3, repeats=10, blocks=5,
                                                   throughput_batch=batch))
    key = "b1" if batch == 1 else "throughput"
    return out[f"null_ratio_{key}"], out[f"null_ratio_{key}_min"], out[f"null_ratio_{key}_max"]


def main() -> None:
    """Print the null test's spread per protocol, batch and condition."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--width", type=float, default=0.25)
    p.add_argument("--reps", type=int, default=6)
    p.add_argument("--load", type=int, default=2, help="training processes when loaded")
    p.add_argument("--batch", type=int, default=64)
    args = p.parse_args()
    torch.manual_seed(0)
    model = build_model("resnet18", width=args.width).eval()
    print(f"ResNet18 width {args.width:g}, CPU ({torch.get_num_threads()} threads), torch "
          f"{torch.__version__}; {args.reps} repetitions per row")
    print("| condition | batch | protocol | reported ratio over repetitions (min-max) | "
          "1.00 within its own range |")
    print("| --- | --- | --- | --- | --- |")
    for condition in ("idle cores", f"beside {args.load} training process(es)"):
        stop = mp.Event()
        workers = [mp.Process(target=_train_forever, args=(stop,), daemon=True)
                   for _ in range(args.load if condition != "idle cores" else 0)]
        for w in workers:
            w.start()
        time.sleep(3 if workers else 0)
        try:
            for batch in (1, args.batch):
                old = [_old(model, batch) for _ in range(args.reps)]
                new = [_new(model, batch) for _ in range(args.reps)]
                inside = sum(lo <= 1.0 <= hi for _, lo, hi in new)
                med = [m for m, _, _ in new]
                print(f"| {condition} | {batch} | old (one pass) | {min(old):.3f}-{max(old):.3f} "
                      f"(median {statistics.median(old):.3f}) | not reported |")
                print(f"| {condition} | {batch} | new (5 blocks) | {min(med):.3f}-{max(med):.3f} "
                      f"(median {statistics.median(med):.3f}) | {inside} of {len(new)} |",
                      flush=True)
        finally:
            stop.set()
            for w in workers:
                w.join(timeout=30)


if __name__ == "__main__":
    main()
