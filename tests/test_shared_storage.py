"""Shared storage: directories and object stores (a real S3-compatible server on 127.0.0.1)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.conftest import ObjectStore
from trainables.config import DenseConfig
from trainables.dense_cache import CorruptCacheError, DenseCache
from trainables.shared_storage import SharedStorage, StorageError, node_probe
from tune_app.errors import UserError
from tune_app.storage_check import check_writable


@pytest.fixture
def s3(object_store: ObjectStore, monkeypatch: pytest.MonkeyPatch) -> ObjectStore:
    for key, value in object_store.env.items():
        monkeypatch.setenv(key, value)
    return object_store


@pytest.mark.parametrize(("text", "expected"), [
    ("s3://bucket/a/b/", "s3://bucket/a/b"),
    ("GS://bucket", "gs://bucket"),
    ("~/x/../y", str(Path("~/y").expanduser())),
])
def test_parse_normalizes(text: str, expected: str) -> None:
    assert SharedStorage.parse(text).location == expected


@pytest.mark.parametrize(("text", "message"), [
    ("hdfs://nn/x", "unsupported storage"),
    ("s3://b/x?endpoint_override=h", "query string"),
    ("s3:///x", "names no bucket"),
])
def test_parse_refuses(text: str, message: str) -> None:
    with pytest.raises(StorageError, match=message):
        SharedStorage.parse(text)


def _weights(value: float) -> dict[str, dict[str, torch.Tensor]]:
    w = {"w": torch.full((64,), value)}
    return {"init": w, "rewind": w, "final": w}


def test_dense_cache_on_s3_is_shared_between_nodes(
    s3: ObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = SharedStorage.parse(s3.bucket("dense-cache") + "/sweeps")
    cfg = DenseConfig(seed=7)
    monkeypatch.setenv("PRUNE_SWEEP_CACHE_DIR", str(tmp_path / "node-a"))
    writer = DenseCache(storage, cfg)
    assert not writer.exists() and not writer.valid()
    assert writer.write(_weights(1.5), {"test_acc": 0.75}, info={"device": "cpu"})
    assert storage.is_file("dense", writer.key, "manifest.json")
    assert writer.location == f"{storage.location}/dense/{writer.key}"

    # Another node has its own local mirror: it downloads, verifies and loads the same entry.
    monkeypatch.setenv("PRUNE_SWEEP_CACHE_DIR", str(tmp_path / "node-b"))
    reader = DenseCache(storage, cfg)
    assert reader.dir != writer.dir and not reader.dir.exists()
    assert reader.valid()
    assert torch.equal(reader.weights("final")["w"], torch.full((64,), 1.5))
    assert reader.metrics() == {"test_acc": 0.75}
    assert not reader.write(_weights(2.0), {})  # a valid entry is never overwritten

    # Corruption in the object store reaches every mirror through the checksums.
    data = bytearray(storage.read_bytes("dense", writer.key, "rewind.pt"))
    data[len(data) // 2] ^= 0xFF
    storage.write_bytes(bytes(data), "dense", writer.key, "rewind.pt")
    storage.write_bytes(storage.read_bytes("dense", writer.key, "manifest.json") + b" ",
                        "dense", writer.key, "manifest.json")  # a new upload: mirrors refresh
    with pytest.raises(CorruptCacheError, match="rewind.pt is missing or corrupted"):
        reader.verify()
    reader.discard()
    assert not reader.exists() and not storage.is_file("dense", writer.key, "manifest.json")


def test_storage_checks_against_s3(s3: ObjectStore) -> None:
    storage = SharedStorage.parse(s3.bucket("probe") + "/x")
    check_writable(storage)
    storage.write_bytes(b"token-1", ".probe")
    assert node_probe(storage.location, ".probe", "token-1") is None
    assert "different probe" in node_probe(storage.location, ".probe", "token-2")
    assert "does not see" in node_probe(storage.location, ".missing", "token-1")
    with pytest.raises(UserError, match="cannot write to storage s3://no-such-bucket"):
        check_writable(SharedStorage.parse("s3://no-such-bucket/x"))


def test_local_probe_sees_only_the_same_directory(tmp_path: Path) -> None:
    storage = SharedStorage.parse(str(tmp_path / "shared"))
    storage.write_bytes(b"t", ".probe")
    assert node_probe(storage.location, ".probe", "t") is None
    elsewhere = SharedStorage.parse(str(tmp_path / "node-local"))
    assert "does not see" in node_probe(elsewhere.location, ".probe", "t")
