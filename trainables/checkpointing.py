"""Per-epoch Tune checkpoints: written atomically, loaded with weights_only=True."""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from ray import tune

STATE_FILE = "state.pt"


def report_epoch(
    metrics: dict[str, Any],
    state: dict[str, Any],
    write_extra: Callable[[Path], None] | None = None,
) -> None:
    """``tune.report`` the epoch's metrics with a checkpoint holding ``state`` (and extra files)."""
    with tempfile.TemporaryDirectory(prefix="prune-sweep-ckpt-") as tmp:
        path = Path(tmp)
        partial = path / (STATE_FILE + ".partial")
        torch.save(state, partial)
        os.replace(partial, path / STATE_FILE)
        if write_extra is not None:
            write_extra(path)
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(tmp))


def restore_state(load_extra: Callable[[Path], Any] | None = None) -> tuple[dict | None, Any]:
    """The trial's last checkpoint state (and whatever ``load_extra`` reads), or (None, None).

    A checkpoint that cannot be read is reported as a warning and treated as absent, so the
    trial restarts cleanly instead of crashing on every retry."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return None, None
    try:
        with checkpoint.as_directory() as tmp:
            state = torch.load(Path(tmp) / STATE_FILE, map_location="cpu", weights_only=True)
            extra = load_extra(Path(tmp)) if load_extra is not None else None
        return state, extra
    except Exception as exc:  # noqa: BLE001 - any unreadable checkpoint means "start over"
        warnings.warn(f"ignoring unreadable checkpoint {checkpoint.path}: {exc}", stacklevel=2)
        return None, None
