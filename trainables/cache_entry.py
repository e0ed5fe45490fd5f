"""Entries of the shared training cache: ``<storage>/<kind>/<key>/`` (dense baselines, IMP
rounds), each a set of tensor files plus metrics and a manifest of SHA-256 checksums. A
corrupted entry is detected by checksum and never loaded.

On a shared directory, entries are built in a temporary directory and renamed into place under
a file lock, so a concurrent reader sees either nothing or a complete entry. On an object store
(s3://, gs://) the manifest is uploaded last, so an entry exists only once all its files do;
each node reads through a local mirror that is refreshed whenever the remote manifest changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import torch
from filelock import FileLock

from trainables.shared_storage import SharedStorage

MANIFEST = "manifest.json"
# Node-local mirrors of object-store entries (override for a bigger or faster disk).
MIRROR_ENV = "PRUNE_SWEEP_CACHE_DIR"


class CorruptCacheError(RuntimeError):
    """A cache entry whose files do not match their recorded checksums."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _mirror_root(storage: SharedStorage) -> Path:
    base = os.environ.get(MIRROR_ENV) or os.path.join(tempfile.gettempdir(), "prune-sweep-cache")
    tag = hashlib.sha256(storage.location.encode()).hexdigest()[:12]
    return Path(base) / tag


class CacheEntry:
    """One cache entry ``<storage>/<kind>/<key>/``, described by a JSON-able ``config``."""

    def __init__(self, storage: SharedStorage | str | Path, kind: str, key: str,
                 config: dict[str, Any]) -> None:
        if not isinstance(storage, SharedStorage):
            storage = SharedStorage.parse(str(storage))
        self.storage = storage
        self.kind = kind
        self.key = key
        self.config = config
        # Files are read from (and, on a directory storage, written to) this local directory.
        self.root = Path(storage.join(kind)) if storage.is_local else \
            _mirror_root(storage) / kind
        self.dir = self.root / self.key

    @property
    def location(self) -> str:
        """Where the entry lives, for messages and tags (a path or a URI)."""
        return self.storage.join(self.kind, self.key)

    @property
    def manifest_path(self) -> Path:
        return self.dir / MANIFEST

    def lock(self, timeout: float = 600) -> FileLock:
        """Inter-process lock guarding this entry's creation and repair (or its mirror's)."""
        self.root.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.root / f"{self.key}.lock"), timeout=timeout)

    def exists(self) -> bool:
        """True when a finished entry is present (not yet checksum-verified)."""
        if self.storage.is_local:
            return self.manifest_path.is_file()
        return self.storage.is_file(self.kind, self.key, MANIFEST)

    def _sync(self) -> None:
        """Bring the local mirror up to date with the object store's entry."""
        if self.storage.is_local:
            return
        try:
            remote = self.storage.read_bytes(self.kind, self.key, MANIFEST)
        except FileNotFoundError:
            raise CorruptCacheError(f"{self.kind} cache {self.location}: no manifest") from None
        if self.manifest_path.is_file() and self.manifest_path.read_bytes() == remote:
            return
        try:
            names = list(json.loads(remote)["sha256"])
        except (ValueError, KeyError) as exc:
            raise CorruptCacheError(
                f"{self.kind} cache {self.location}: unreadable manifest ({exc})"
            ) from None
        with self.lock():
            tmp = self.root / f".{self.key}.tmp-{uuid.uuid4().hex[:8]}"
            tmp.mkdir(parents=True)
            try:
                for name in names:
                    try:
                        (tmp / name).write_bytes(self.storage.read_bytes(self.kind, self.key, name))
                    except FileNotFoundError:
                        pass  # verify() reports it as missing
                (tmp / MANIFEST).write_bytes(remote)
                shutil.rmtree(self.dir, ignore_errors=True)
                os.replace(tmp, self.dir)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)

    def verify(self) -> None:
        """Raise CorruptCacheError unless every file matches its recorded checksum."""
        self._sync()
        try:
            manifest = json.loads(self.manifest_path.read_text())
            files: dict[str, str] = manifest["sha256"]
        except (OSError, ValueError, KeyError) as exc:
            raise CorruptCacheError(
                f"{self.kind} cache {self.location}: unreadable manifest ({exc})"
            ) from None
        for name, expected in files.items():
            path = self.dir / name
            if not path.is_file() or _sha256(path) != expected:
                raise CorruptCacheError(
                    f"{self.kind} cache {self.location}: {name} is missing or corrupted"
                )

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
        if not self.storage.is_local:
            self.storage.delete_dir(self.kind, self.key)
        shutil.rmtree(self.dir, ignore_errors=True)

    def load(self, name: str) -> Any:
        """Load the tensors saved as ``name`` (tensors only: weights_only=True)."""
        self._sync()
        return torch.load(self.dir / f"{name}.pt", map_location="cpu", weights_only=True)

    def metrics(self) -> dict[str, Any]:
        """The entry's metrics."""
        self._sync()
        return json.loads((self.dir / "metrics.json").read_text())

    def write(
        self,
        tensors: dict[str, Any],
        metrics: dict[str, Any],
        info: dict[str, Any] | None = None,
    ) -> bool:
        """Publish ``tensors`` (name -> object saved as ``<name>.pt``) with ``metrics``
        atomically; returns False when a valid entry already existed."""
        if self.valid():
            return False
        with self.lock():
            if self.storage.is_local and self.valid():
                return False  # another process on this storage published it meanwhile
            tmp = self.root / f".{self.key}.tmp-{uuid.uuid4().hex[:8]}"
            tmp.mkdir(parents=True)
            try:
                for name, obj in tensors.items():
                    torch.save(obj, tmp / f"{name}.pt")
                (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
                (tmp / "config.json").write_text(json.dumps(self.config, indent=2))
                sums = {p.name: _sha256(p) for p in sorted(tmp.iterdir())}
                manifest = {"key": self.key, "sha256": sums, **(info or {})}
                (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))
                if not self.storage.is_local:
                    for name in sums:
                        self.storage.write_bytes((tmp / name).read_bytes(), self.kind,
                                                 self.key, name)
                    # Last: the entry exists for other nodes only once every file is there.
                    self.storage.write_bytes((tmp / MANIFEST).read_bytes(), self.kind,
                                             self.key, MANIFEST)
                if self.dir.exists():
                    shutil.rmtree(self.dir)
                os.replace(tmp, self.dir)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        return True
