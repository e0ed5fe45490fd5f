"""Checkpoint directories on any file system, without Ray: write one atomically, read the
newest readable of several (an unreadable one is skipped with a warning)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import torch

STATE_FILE = "state.pt"


def write_checkpoint_dir(path: Path, state: dict[str, Any],
                         write_extra: Callable[[Path], None] | None = None) -> None:
    """Write ``state`` (and extra files) into the directory ``path``, the state file last
    and atomically: a directory without it is not a checkpoint."""
    path.mkdir(parents=True, exist_ok=True)
    if write_extra is not None:
        write_extra(path)
    partial = path / (STATE_FILE + ".partial")
    torch.save(state, partial)
    os.replace(partial, path / STATE_FILE)


def first_readable(
    candidates: Iterable[tuple[str, Callable[[], AbstractContextManager[str]]]],
    load_extra: Callable[[Path], Any] | None = None,
) -> tuple[dict | None, Any, list[str]]:
    """The first candidate (label, opener of a local directory) whose state and extra files
    load; returns (state, extra, one note per skipped unreadable candidate), or
    (None, None, notes) when none does."""
    notes: list[str] = []
    for label, opener in candidates:
        with opener() as tmp:
            try:
                state = torch.load(Path(tmp) / STATE_FILE, map_location="cpu", weights_only=True)
                extra = load_extra(Path(tmp)) if load_extra is not None else None
                return state, extra, notes
            except Exception as exc:  # noqa: BLE001 - any unreadable checkpoint: try an older one
                first = (str(exc).strip().splitlines() or [""])[0][:200]
                why = f"{type(exc).__name__}: {first}"
        note = f"checkpoint {label} is unreadable ({why}); falling back to an older one"
        warnings.warn(note, stacklevel=3)
        notes.append(note)
    return None, None, notes
