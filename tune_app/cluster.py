"""Connecting to Ray: an in-process local cluster by default, or an existing one (--address)."""

from __future__ import annotations

import logging
import os
import signal
import threading

from tune_app.errors import UserError
from tune_app.waits import DEFAULT_S, check_tcp, watchdog


def connect(address: str | None, num_cpus: int | None = None, timeout_s: float = DEFAULT_S
            ) -> dict[str, float]:
    """Start or join Ray and return the cluster's total resources. Joining a cluster that does
    not answer ends within ``timeout_s`` with one line (Ray itself would retry forever)."""
    preflight(address, timeout_s)
    import ray

    if ray.is_initialized():
        return dict(ray.cluster_resources())
    # Trials log to MLflow and our progress lines; worker stdout would only repeat them.
    kwargs: dict = {"log_to_driver": False, "logging_level": logging.WARNING,
                    "configure_logging": True}
    plugins = os.environ.get("PRUNE_SWEEP_PLUGINS")
    if plugins:
        # Workers on other nodes do not inherit the driver's environment.
        kwargs["runtime_env"] = {"env_vars": {"PRUNE_SWEEP_PLUGINS": plugins}}
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    # Checkpointing every epoch is deliberate (resume granularity); the warning is noise.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    try:
        if address:
            with watchdog(f"the Ray cluster at {address}", timeout_s):
                ray.init(address=address, **kwargs)
        else:
            ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = address or "a local Ray instance"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot connect to Ray at {where}: {first}") from None
    if threading.current_thread() is threading.main_thread():
        # ray.init replaces the SIGTERM handler with a bare sys.exit; put back the resumable stop.
        from tune_app.interrupt import forward_sigterm

        signal.signal(signal.SIGTERM, forward_sigterm)
    return dict(ray.cluster_resources())


def preflight(address: str | None, timeout_s: float = DEFAULT_S) -> None:
    """One line and exit 2, within ``timeout_s``, when nothing answers at a cluster address
    (checked before any data is loaded or anything recorded)."""
    if address and address not in ("auto", "local"):
        # Ray Client listens on 10001, the GCS of a head node on 6379.
        default_port = 10001 if address.startswith("ray://") else 6379
        check_tcp(address, default_port, "the Ray cluster", timeout_s)


def shutdown() -> None:
    """Stop the local Ray instance this process started (a no-op for remote clusters' nodes)."""
    import ray

    if ray.is_initialized():
        ray.shutdown()


def trial_resources(cluster: dict[str, float], cpus: float, gpus: float | None) -> dict[str, float]:
    """Per-trial resources; GPUs default to one per trial when the cluster has any."""
    if gpus is None:
        gpus = 1.0 if cluster.get("GPU", 0) > 0 else 0.0
    if cpus > cluster.get("CPU", 0):
        raise UserError(
            f"--cpus-per-trial {cpus:g} exceeds the cluster's {cluster.get('CPU', 0):g} CPUs"
        )
    if gpus > 0 and cluster.get("GPU", 0) <= 0:
        raise UserError(f"--gpus-per-trial {gpus:g} asked for, but the cluster has no GPUs")
    return {"cpu": cpus, "gpu": gpus}
