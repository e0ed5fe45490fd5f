"""Per-epoch Tune checkpoints: written atomically, loaded with weights_only=True, and an
unreadable newest one skipped for the older ones Tune kept."""

from __future__ import annotations

import posixpath
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ray import tune

from trainables.checkpoint_files import STATE_FILE, first_readable, write_checkpoint_dir

__all__ = ["STATE_FILE", "note_fallback", "older_checkpoints", "report_epoch", "restore_state"]


def report_epoch(
    metrics: dict[str, Any],
    state: dict[str, Any],
    write_extra: Callable[[Path], None] | None = None,
) -> None:
    """``tune.report`` the epoch's metrics with a checkpoint holding ``state`` (and extra files)."""
    with tempfile.TemporaryDirectory(prefix="prune-sweep-ckpt-") as tmp:
        write_checkpoint_dir(Path(tmp), state, write_extra)
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
    return first_readable(
        [(c.path, c.as_directory) for c in [checkpoint, *older_checkpoints(checkpoint)]],
        load_extra)


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
