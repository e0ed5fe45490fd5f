"""The shared dense-baseline cache: ``<storage>/dense/<config hash>/``.

Holds theta_0 (init), theta_k (rewind) and the best-validation weights, plus metrics and a
manifest of SHA-256 checksums. Entries are built in a temporary directory and renamed into place
under a file lock, so a concurrent reader sees either nothing or a complete entry; a corrupted
entry is detected by checksum and never loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import torch
from filelock import FileLock

from trainables.config import DenseConfig, config_hash, to_dict

WEIGHTS = ("init", "rewind", "final")


class CorruptCacheError(RuntimeError):
    """A cache entry whose files do not match their recorded checksums."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class DenseCache:
    """One dense baseline's cache entry, named by the hash of its DenseConfig."""

    def __init__(self, root: str | Path, cfg: DenseConfig) -> None:
        self.cfg = cfg
        self.key = config_hash(cfg)
        self.root = Path(root)
        self.dir = self.root / self.key

    @property
    def manifest_path(self) -> Path:
        return self.dir / "manifest.json"

    def lock(self) -> FileLock:
        """Inter-process lock guarding this entry's creation and repair."""
        self.root.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.root / f"{self.key}.lock"), timeout=600)

    def exists(self) -> bool:
        """True when a finished entry is present (not yet checksum-verified)."""
        return self.manifest_path.is_file()

    def verify(self) -> None:
        """Raise CorruptCacheError unless every file matches its recorded checksum."""
        try:
            manifest = json.loads(self.manifest_path.read_text())
            files: dict[str, str] = manifest["sha256"]
        except (OSError, ValueError, KeyError) as exc:
            raise CorruptCacheError(
                f"dense cache {self.dir}: unreadable manifest ({exc})"
            ) from None
        for name, expected in files.items():
            path = self.dir / name
            if not path.is_file() or _sha256(path) != expected:
                raise CorruptCacheError(f"dense cache {self.dir}: {name} is missing or corrupted")

    def valid(self) -> bool:
        """True when the entry exists and passes its checksums."""
        if not self.exists():
            return False
        try:
            self.verify()
        except CorruptCacheError:
            return False
        return True

    def discard(self) -> None:
        """Remove a (corrupted) entry so it gets retrained."""
        shutil.rmtree(self.dir, ignore_errors=True)

    def weights(self, which: str) -> dict[str, torch.Tensor]:
        """Load ``init``, ``rewind`` or ``final`` weights (tensors only: weights_only=True)."""
        if which not in WEIGHTS:
            raise ValueError(f"unknown dense weights {which!r} (known: {', '.join(WEIGHTS)})")
        return torch.load(self.dir / f"{which}.pt", map_location="cpu", weights_only=True)

    def metrics(self) -> dict[str, Any]:
        """The dense baseline's final metrics."""
        return json.loads((self.dir / "metrics.json").read_text())

    def write(
        self,
        weights: dict[str, dict[str, torch.Tensor]],
        metrics: dict[str, Any],
        info: dict[str, Any] | None = None,
    ) -> bool:
        """Publish an entry atomically; returns False when a valid one already existed."""
        missing = set(WEIGHTS) - set(weights)
        if missing:
            raise ValueError(f"dense cache write lacks {sorted(missing)}")
        with self.lock():
            if self.valid():
                return False
            tmp = self.root / f".{self.key}.tmp-{uuid.uuid4().hex[:8]}"
            tmp.mkdir(parents=True)
            try:
                for name in WEIGHTS:
                    torch.save(weights[name], tmp / f"{name}.pt")
                (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
                (tmp / "config.json").write_text(json.dumps(to_dict(self.cfg), indent=2))
                sums = {p.name: _sha256(p) for p in sorted(tmp.iterdir())}
                manifest = {"key": self.key, "sha256": sums, **(info or {})}
                (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
                if self.dir.exists():
                    shutil.rmtree(self.dir)
                os.replace(tmp, self.dir)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        return True
