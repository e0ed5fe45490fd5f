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
    """The trial's newest readable checkpoint state (and what ``load_extra`` reads from it).

    Tune hands over only its latest checkpoint; when that one is truncated or corrupted, the
    older ones Tune kept beside it (``CheckpointConfig(num_to_keep)``) are tried newest first,
    with a warning. (None, None) when there is nothing usable: the trial starts over."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return None, None
    with checkpoint.as_directory() as tmp:
        latest = Path(tmp)
        candidates = [latest] + [p for p in older_checkpoints(Path(checkpoint.path))]
        return load_first_good(candidates, load_extra)


def older_checkpoints(latest: Path) -> list[Path]:
    """Sibling checkpoint directories older than ``latest``, newest first (local storage)."""
    if not latest.parent.is_dir():
        return []
    return sorted((p for p in latest.parent.glob("checkpoint_*") if p.name < latest.name),
                  reverse=True)


def load_first_good(
    candidates: list[Path], load_extra: Callable[[Path], Any] | None = None
) -> tuple[dict | None, Any]:
    """Load the first checkpoint directory that reads cleanly, warning about the others."""
    for path in candidates:
        try:
            state = torch.load(path / STATE_FILE, map_location="cpu", weights_only=True)
            extra = load_extra(path) if load_extra is not None else None
            return state, extra
        except Exception as exc:  # noqa: BLE001 - any unreadable checkpoint: try an older one
            warnings.warn(f"checkpoint {path} is unreadable ({type(exc).__name__}: {exc}); "
                          "falling back to an older one", stacklevel=2)
    return None, None
