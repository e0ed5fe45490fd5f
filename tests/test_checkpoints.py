"""Bad checkpoints: trial checkpoints fall back to older ones; dense caches fail checksums."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from ray import tune

from trainables.adapters.checkpointing import older_checkpoints
from trainables.checkpoint_files import STATE_FILE, first_readable
from trainables.config import DenseConfig
from trainables.dense_cache import CorruptCacheError, DenseCache


def _ckpt(root: Path, name: str, epoch: int) -> Path:
    path = root / name
    path.mkdir()
    torch.save({"epoch": epoch}, path / STATE_FILE)
    return path


def test_truncated_latest_checkpoint_falls_back_to_previous(tmp_path: Path) -> None:
    old = _ckpt(tmp_path, "checkpoint_000001", 1)
    new = _ckpt(tmp_path, "checkpoint_000002", 2)
    data = (new / STATE_FILE).read_bytes()
    (new / STATE_FILE).write_bytes(data[: len(data) // 2])  # truncated mid-write
    latest = tune.Checkpoint(str(new))
    older = older_checkpoints(latest)
    assert [c.path for c in older] == [str(old)]
    with pytest.warns(UserWarning, match="checkpoint_000002 is unreadable"):
        state, _, notes = first_readable([(c.path, c.as_directory) for c in [latest, *older]])
    assert state == {"epoch": 1}
    assert len(notes) == 1 and "checkpoint_000002" in notes[0]


def test_no_readable_checkpoint_means_start_over(tmp_path: Path) -> None:
    bad = tmp_path / "checkpoint_000000"
    bad.mkdir()
    (bad / STATE_FILE).write_bytes(b"garbage")
    latest = tune.Checkpoint(str(bad))
    with pytest.warns(UserWarning):
        state, extra, _ = first_readable([(latest.path, latest.as_directory)])
    assert (state, extra) == (None, None)


def test_dense_cache_detects_corruption(tmp_path: Path) -> None:
    cache = DenseCache(tmp_path, DenseConfig(seed=3))
    weights = {"w": torch.ones(3)}
    assert cache.write({"init": weights, "rewind": weights, "final": weights}, {"test_acc": 0.5})
    assert cache.valid() and cache.metrics() == {"test_acc": 0.5}
    # A second writer finds a valid entry and leaves it alone.
    assert not cache.write({"init": weights, "rewind": weights, "final": weights}, {})
    with open(cache.dir / "final.pt", "r+b") as fh:
        fh.seek(os.path.getsize(cache.dir / "final.pt") // 2)
        fh.write(b"\x00\x01\x02\x03")
    assert not cache.valid()
    with pytest.raises(CorruptCacheError, match="final.pt is missing or corrupted"):
        cache.verify()
    cache.discard()
    assert not cache.exists()
    assert not list(tmp_path.glob(".*tmp*"))  # no half-written entries left behind
