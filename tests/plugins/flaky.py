"""Test plugin: ``flaky_magnitude`` fails its first attempt once per cell, then works.

The marker directory comes from ``FLAKY_MARKERS``; a marker file records that a cell already
failed once, so the retry (a new worker process) succeeds."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pruning.methods import register
from pruning.methods.base import MethodContext, PruneResult
from pruning.methods.magnitude import Magnitude


@register("flaky_magnitude")
class FlakyMagnitude(Magnitude):
    """Magnitude pruning whose first attempt per sparsity raises."""

    def begin_round(self, r: int, model: Any, masks: dict | None,
                    ctx: MethodContext) -> PruneResult:
        marker = Path(os.environ["FLAKY_MARKERS"]) / f"failed-{self.sparsity:g}"
        if not marker.exists():
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text("failed once")
            raise RuntimeError("injected failure on the first attempt")
        return super().begin_round(r, model, masks, ctx)
