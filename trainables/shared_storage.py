"""Shared storage for trial checkpoints and the dense cache: a directory every node mounts
(NFS, EFS, a local disk for one machine) or an object-store URI (``s3://``, ``gs://``).

Object stores are reached through pyarrow's file systems (the ones Ray Tune uses), so
credentials and endpoints come from the usual places: the node's IAM role or instance service
account, ``AWS_*`` / ``GOOGLE_APPLICATION_CREDENTIALS`` variables, and ``AWS_ENDPOINT_URL`` for
S3-compatible servers (MinIO, Ceph).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMES = ("s3", "gs")


class StorageError(ValueError):
    """A storage location that cannot be used as given."""


@dataclass(frozen=True)
class SharedStorage:
    """A normalized storage location: an absolute directory, or a URI without trailing slash."""

    location: str

    @classmethod
    def parse(cls, text: str) -> SharedStorage:
        """Validate and normalize ``--storage``: a directory (made absolute) or s3:// / gs://."""
        text = text.strip()
        if "://" not in text:
            return cls(str(Path(text).expanduser().resolve()))
        scheme, rest = text.split("://", 1)
        if scheme.lower() not in SCHEMES:
            raise StorageError(
                f"unsupported storage {text!r}: use a directory every node mounts, "
                f"or one of {', '.join(s + '://' for s in SCHEMES)}"
            )
        if "?" in rest:
            # Tune and our own paths are joined onto the URI; a query string would end up in
            # the middle. Endpoints belong in the environment (AWS_ENDPOINT_URL).
            raise StorageError(f"storage URI {text!r} has a query string; set endpoints and "
                               "options in the environment (e.g. AWS_ENDPOINT_URL) instead")
        bucket = rest.split("/", 1)[0]
        if not bucket:
            raise StorageError(f"storage URI {text!r} names no bucket")
        return cls(f"{scheme.lower()}://{rest.strip('/')}")

    @property
    def is_local(self) -> bool:
        """True for a directory path, False for an object store."""
        return "://" not in self.location

    def join(self, *parts: str) -> str:
        """The location of ``parts`` below this storage (a path or a URI)."""
        if self.is_local:
            return str(Path(self.location, *parts))
        return "/".join([self.location, *parts])

    def filesystem(self, *parts: str) -> tuple[Any, str]:
        """``(pyarrow FileSystem, path in it)`` for ``parts`` below this storage."""
        import pyarrow.fs as pafs

        if self.is_local:
            return pafs.LocalFileSystem(), self.join(*parts)
        fs, root = pafs.FileSystem.from_uri(self.location)
        return fs, posixpath.join(root, *parts)

    def is_file(self, *parts: str) -> bool:
        """True when ``parts`` names an existing file."""
        import pyarrow.fs as pafs

        fs, path = self.filesystem(*parts)
        return fs.get_file_info(path).type == pafs.FileType.File

    def read_bytes(self, *parts: str) -> bytes:
        """The whole content of a file below this storage."""
        fs, path = self.filesystem(*parts)
        with fs.open_input_stream(path) as fh:
            return fh.read()

    def write_bytes(self, data: bytes, *parts: str) -> None:
        """Write (replace) a file below this storage, creating parent directories."""
        fs, path = self.filesystem(*parts)
        fs.create_dir(posixpath.dirname(path), recursive=True)
        with fs.open_output_stream(path) as fh:
            fh.write(data)

    def delete_file(self, *parts: str) -> None:
        """Remove a file (a missing one is fine)."""
        fs, path = self.filesystem(*parts)
        try:
            fs.delete_file(path)
        except FileNotFoundError:
            pass

    def delete_dir(self, *parts: str) -> None:
        """Remove a directory (prefix) and everything below it (a missing one is fine)."""
        fs, path = self.filesystem(*parts)
        try:
            fs.delete_dir(path)
        except FileNotFoundError:
            pass


def node_probe(location: str, name: str, token: str) -> str | None:
    """Run on each node before a sweep: None when this node reads the driver's probe file
    ``name`` (holding ``token``) and can write beside it, else why not."""
    import os

    storage = SharedStorage(location)
    try:
        seen = storage.read_bytes(name).decode(errors="replace")
    except FileNotFoundError:
        return "does not see the probe file the driver wrote there (not the same storage)"
    except OSError as exc:
        return f"cannot read it ({_first_line(exc)})"
    if seen != token:
        return "sees a different probe file there (not the same storage)"
    mine = f"{name}.node-{os.getpid()}"
    try:
        storage.write_bytes(b"ok", mine)
        storage.delete_file(mine)
    except OSError as exc:
        return f"cannot write to it ({_first_line(exc)})"
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
