"""Where a sweep runs and records: passed to trainables beside (not inside) the hashed config."""

from __future__ import annotations

from dataclasses import dataclass

from trainables.shared_storage import SharedStorage


@dataclass(frozen=True)
class TrialEnv:
    """Where a trial reads and writes, kept out of the hashed config: shared storage (the
    dense and round caches: a directory, ``s3://`` or ``gs://``), the data directory, whether
    data may be downloaded, and the device (default: CUDA when visible, else CPU)."""

    storage: str
    data_dir: str
    download: bool = True
    device: str | None = None


@dataclass(frozen=True)
class Runtime:
    """Paths and tracking coordinates shared by every trial of a sweep.

    Kept out of the trial config so that moving the runs directory or switching tracking servers
    never changes a config hash (and so never invalidates a dense cache)."""

    sweep: str
    runs_dir: str
    storage_dir: str
    data_dir: str
    tracking_uri: str
    experiment_id: str
    parent_run_id: str | None = None
    git_sha: str = "unknown"
    download: bool = True

    @property
    def storage(self) -> SharedStorage:
        """Shared storage (directory or object-store URI) for checkpoints and the dense cache."""
        return SharedStorage.parse(self.storage_dir)

    def trial_env(self) -> TrialEnv:
        """What the plain training flows need of this runtime."""
        return TrialEnv(storage=self.storage_dir, data_dir=self.data_dir, download=self.download)
