"""Per-epoch Tune checkpoints: written atomically, loaded with weights_only=True."""

from __future__ import annotations

import os
import posixpath
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


def restore_state(
    load_extra: Callable[[Path], Any] | None = None,
) -> tuple[dict | None, Any, list[str]]:
    """The trial's newest readable checkpoint state, what ``load_extra`` reads from it, and a
    warning per unreadable newer checkpoint that was skipped.

    Tune hands over only its latest checkpoint; when that one is truncated or corrupted, the
    older ones Tune kept beside it (``CheckpointConfig(num_to_keep)``) are tried newest first,
    on a shared directory or an object store alike. (None, None, warnings) when nothing is
    usable: the trial starts over."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return None, None, []
    return _first_readable([checkpoint, *older_checkpoints(checkpoint)], load_extra)


def note_fallback(run: Any, notes: list[str]) -> dict[str, str]:
    """Record skipped unreadable checkpoints on the trial's run (tag ``checkpoint_fallback``);
    returns the ``warning`` entry for the next report, which the driver prints."""
    if not notes:
        return {}
    text = " | ".join(notes)
    run.set_tags({"checkpoint_fallback": text[:5000]})
    return {"warning": text}


def older_checkpoints(checkpoint: tune.Checkpoint) -> list[tune.Checkpoint]:
    """Sibling checkpoints older than ``checkpoint``, newest first (any Tune storage)."""
    import pyarrow.fs as pafs

    fs, path = checkpoint.filesystem, checkpoint.path.rstrip("/")
    parent, name = posixpath.split(path)
    try:
        infos = fs.get_file_info(pafs.FileSelector(parent))
    except OSError:
        return []
    older = sorted(
        (i.path for i in infos if i.type == pafs.FileType.Directory
         and posixpath.basename(i.path).startswith("checkpoint_")
         and posixpath.basename(i.path) < name),
        reverse=True,
    )
    return [tune.Checkpoint(p, filesystem=fs) for p in older]


def load_first_good(
    candidates: list[Path], load_extra: Callable[[Path], Any] | None = None
) -> tuple[dict | None, Any]:
    """Load the first checkpoint directory that reads cleanly, warning about the others."""
    state, extra, _ = _first_readable([tune.Checkpoint(str(p)) for p in candidates], load_extra)
    return state, extra


def _first_readable(
    candidates: list[tune.Checkpoint], load_extra: Callable[[Path], Any] | None
) -> tuple[dict | None, Any, list[str]]:
    notes: list[str] = []
    for candidate in candidates:
        with candidate.as_directory() as tmp:
            try:
                state = torch.load(Path(tmp) / STATE_FILE, map_location="cpu", weights_only=True)
                extra = load_extra(Path(tmp)) if load_extra is not None else None
                return state, extra, notes
            except Exception as exc:  # noqa: BLE001 - any unreadable checkpoint: try an older one
                first = (str(exc).strip().splitlines() or [""])[0][:200]
                why = f"{type(exc).__name__}: {first}"
        note = f"checkpoint {candidate.path} is unreadable ({why}); falling back to an older one"
        warnings.warn(note, stacklevel=3)
        notes.append(note)
    return None, None, notes
