"""The Ray node a trial runs on, tagged on every run."""

from __future__ import annotations


def node_id() -> str:
    """The Ray node this process runs on ("local" outside Ray), tagged on every run."""
    try:
        import ray

        return ray.get_runtime_context().get_node_id() or "local"
    except Exception:  # noqa: BLE001 - outside a Ray worker there is no node id
        return "local"
