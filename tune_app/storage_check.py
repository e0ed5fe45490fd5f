"""Preflight checks of the shared storage, run before anything is recorded.

The driver must be able to write there, and on a multi-node cluster every node must see the
same storage: trials on any node read the dense baseline another node trained, and resume
reads checkpoints written elsewhere. A directory that exists on each node but is not shared
(a node-local ``/tmp``) passes a plain existence check and fails hours later, so each node reads
a probe file the driver wrote and writes one of its own."""

from __future__ import annotations

import uuid

from trainables.shared_storage import SharedStorage, node_probe
from tune_app.errors import UserError
from tune_app.waits import DEFAULT_S, bounded


def check_writable(storage: SharedStorage, timeout_s: float = DEFAULT_S) -> None:
    """Write, read back and delete a probe file from the driver (one line on failure)."""
    name = f".prune-sweep-probe-{uuid.uuid4().hex[:12]}"

    def probe() -> None:
        storage.write_bytes(b"ok", name)
        try:
            if storage.read_bytes(name) != b"ok":
                raise OSError("read back something else than was written")
        finally:
            storage.delete_file(name)

    try:
        bounded(probe, f"storage {storage.location}", timeout_s)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - pyarrow raises OSError, ValueError, or its own
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot write to storage {storage.location}: {text}") from None


def check_every_node(storage: SharedStorage, timeout_s: float = DEFAULT_S) -> int:
    """Every alive Ray node reads the driver's probe and writes its own; returns the node count.

    Call after ``ray.init``; raises UserError naming the first node that cannot."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    name = f".prune-sweep-probe-{uuid.uuid4().hex[:12]}"
    token = uuid.uuid4().hex
    bounded(lambda: storage.write_bytes(token.encode(), name), f"storage {storage.location}",
            timeout_s)
    try:
        remote = ray.remote(num_cpus=0, max_retries=0)(node_probe)
        refs = {
            remote.options(scheduling_strategy=NodeAffinitySchedulingStrategy(
                n["NodeID"], soft=False)).remote(storage.location, name, token): n
            for n in nodes
        }
        ready, _ = ray.wait(list(refs), num_returns=len(refs), timeout=timeout_s)
        for ref, node in refs.items():
            where = f"node {node.get('NodeManagerAddress', '?')} ({node['NodeID'][:8]})"
            if ref not in ready:
                raise UserError(f"storage check: {where} did not answer within {timeout_s:g}s")
            try:
                why = ray.get(ref)
            except ray.exceptions.RayError as exc:
                raise UserError(f"storage check on {where} failed: "
                                f"{str(exc).strip().splitlines()[0]}") from None
            if why is not None:
                raise UserError(
                    f"storage {storage.location} is not shared: {where} {why}; use a directory "
                    "every node mounts (NFS, EFS) or an s3:// / gs:// URI"
                )
    finally:
        storage.delete_file(name)
    return len(nodes)
