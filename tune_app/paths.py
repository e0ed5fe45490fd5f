"""Where a sweep writes: one runs directory holds everything (never the source tree)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from trainables.shared_storage import SharedStorage, StorageError
from tune_app.errors import UserError
from tune_app.waits import DEFAULT_S


@dataclass(frozen=True)
class RunsLayout:
    """Resolved absolute paths under the runs directory (storage may be elsewhere)."""

    runs_dir: Path
    storage: SharedStorage
    data_dir: Path

    @property
    def sweeps_dir(self) -> Path:
        return self.runs_dir / "sweeps"

    @property
    def reports_dir(self) -> Path:
        return self.runs_dir / "reports"

    def sweep_file(self, sweep: str) -> Path:
        """The record of a sweep's spec and settings, read by status and resume."""
        return self.sweeps_dir / f"{sweep}.json"


def resolve_runs_dir(flag: str | None) -> Path:
    """``--runs-dir``, else ``PRUNE_SWEEP_HOME``, else ``./runs``; absolute."""
    raw = flag or os.environ.get("PRUNE_SWEEP_HOME") or "runs"
    return Path(raw).expanduser().resolve()


def layout(runs_dir: str | None, storage: str | None = None, data_dir: str | None = None,
           create: bool = True, timeout_s: float = DEFAULT_S) -> RunsLayout:
    """Resolve and (optionally) create the directories, failing with one line if unwritable."""
    root = resolve_runs_dir(runs_dir)
    try:
        store = SharedStorage.parse(storage or str(root / "storage"))
    except StorageError as exc:
        raise UserError(f"--storage: {exc}") from None
    data = Path(data_dir).expanduser().resolve() if data_dir else root / "data"
    result = RunsLayout(root, store, data)
    if create:
        for path in (root, data, result.sweeps_dir):
            _ensure_writable(path)
        check_storage(store, timeout_s)
    return result


def check_storage(store: SharedStorage, timeout_s: float = DEFAULT_S) -> None:
    """The driver can write to the sweep's storage (one line, exit 2, when it cannot), within
    ``timeout_s`` for an object store."""
    if store.is_local:
        _ensure_writable(Path(store.location))
    else:
        from tune_app.storage_check import check_writable

        check_writable(store, timeout_s)


def _ensure_writable(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"cannot write to {path}: {exc.strerror or exc}") from None


def git_sha() -> str:
    """Commit of the code running the sweep ("unknown" outside a git checkout)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True,
            timeout=5, cwd=Path(__file__).resolve().parent,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"
