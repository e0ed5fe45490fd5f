"""Test plugin: ``flaky_magnitude`` fails its first attempt once per cell, then works.

The marker directory comes from ``FLAKY_MARKERS``; a marker file records that a cell already
failed once, so the retry (a new worker process) succeeds."""

from __future__ import annotations

import os
from pathlib import Path

from pruning.base import PruneResult
from pruning.magnitude import MagnitudePruner
from pruning.methods import PRUNERS


@PRUNERS.register("flaky_magnitude")
class FlakyMagnitude(MagnitudePruner):
    """Magnitude pruning whose first attempt per sparsity raises."""

    name = "flaky_magnitude"

    def prune(self, model, sparsity, **kwargs) -> PruneResult:  # type: ignore[override]
        marker = Path(os.environ["FLAKY_MARKERS"]) / f"failed-{sparsity:g}"
        if not marker.exists():
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text("failed once")
            raise RuntimeError("injected failure on the first attempt")
        return super().prune(model, sparsity, **kwargs)
