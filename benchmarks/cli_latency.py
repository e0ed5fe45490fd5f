"""How fast the CLI answers a mistake, side by side with what it used to pay first.

Times, in alternating blocks, (a) ``prune-sweep run --space <typo>`` as a fresh process and
(b) a fresh process that only imports torch, MLflow and Ray Tune: what every error cost before
arguments were checked ahead of those imports. Prints the median and spread of each and of
their ratio.

    .venv/bin/python benchmarks/cli_latency.py [--blocks 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ERROR = [sys.executable, "-m", "tune_app", "run", "--space", "smoek"]
HEAVY = [sys.executable, "-c", "import torch, mlflow, ray.tune"]


def _seconds(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=REPO, capture_output=True, check=False)
    return time.perf_counter() - started


def main() -> None:
    """Run the blocks and print the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=5)
    args = parser.parse_args()
    probe = subprocess.run(ERROR, cwd=REPO, capture_output=True, text=True, check=False)
    assert probe.returncode == 2 and "unknown space" in probe.stderr, probe.stderr
    errors, heavy, ratios = [], [], []
    for _ in range(args.blocks):
        e, h = _seconds(ERROR), _seconds(HEAVY)
        errors.append(e)
        heavy.append(h)
        ratios.append(h / e)
    for name, values in (("run --space <typo>", errors), ("import torch, mlflow, ray.tune",
                                                            heavy)):
        print(f"{name:32} median {statistics.median(values):6.2f}s  "
              f"min {min(values):6.2f}s  max {max(values):6.2f}s")
    print(f"{'ratio (imports / error)':32} median {statistics.median(ratios):6.1f}x  "
          f"min {min(ratios):6.1f}x  max {max(ratios):6.1f}x  ({args.blocks} blocks)")


if __name__ == "__main__":
    main()
