"""What a Python process of a sweep pays to start with and without compiled bytecode.

Every sweep starts many Python processes: the driver, Ray's workers, the trials, the
measurement stage. Each imports torch, torchvision, MLflow and Ray Tune. ``make setup``
compiles the environment's bytecode at install (``uv sync --compile-bytecode``); without that,
a machine that does not write ``.pyc`` files on import (``PYTHONDONTWRITEBYTECODE=1``, a
read-only install) compiles those packages from source in every process.

Times, in alternating blocks, a fresh process importing what a trial worker imports (a) as
installed and (b) with bytecode out of reach (``PYTHONPYCACHEPREFIX`` set to an empty folder,
``PYTHONDONTWRITEBYTECODE=1``), and prints the median and spread of each and of their ratio.

    .venv/bin/python benchmarks/bytecode.py [--blocks 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORKER = [sys.executable, "-c",
          "import torch, torchvision, mlflow, ray.tune, trainables.adapters.prune_finetune"]


def _seconds(env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(WORKER, cwd=REPO, env=env, capture_output=True, check=True)
    return time.perf_counter() - started


def main() -> None:
    """Run the blocks and print the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as empty:
        installed = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        installed.pop("PYTHONPYCACHEPREFIX", None)
        source = {**installed, "PYTHONPYCACHEPREFIX": empty}
        _seconds(installed)  # the page cache warm for both
        compiled, uncompiled, ratios = [], [], []
        for _ in range(args.blocks):
            c, u = _seconds(installed), _seconds(source)
            compiled.append(c)
            uncompiled.append(u)
            ratios.append(u / c)
    for name, values in (("with compiled bytecode", compiled),
                         ("compiled from source", uncompiled)):
        print(f"{name:26} median {statistics.median(values):6.2f}s  "
              f"min {min(values):6.2f}s  max {max(values):6.2f}s")
    print(f"{'ratio (source / compiled)':26} median {statistics.median(ratios):6.2f}x  "
          f"min {min(ratios):6.2f}x  max {max(ratios):6.2f}x  ({args.blocks} blocks)")


if __name__ == "__main__":
    main()
