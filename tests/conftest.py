"""Shared fixtures: a per-session runs directory and helpers to run the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def cli(*args: str, env: dict | None = None, timeout: float = 900, cwd: Path | None = None
        ) -> subprocess.CompletedProcess:
    """Run ``python -m tune_app ...`` in its own process session, bounded by ``timeout``."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    full_env.pop("MLFLOW_TRACKING_URI", None)
    full_env.pop("RAY_ADDRESS", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tune_app", *args], cwd=cwd or REPO, env=full_env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        _kill_session(proc.pid)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _kill_session(sid: int) -> None:
    # Ray's raylet and workers share the driver's session id; end them all, never by name.
    subprocess.run(["pkill", "-9", "-s", str(sid)], capture_output=True, check=False)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data directory per test session, so the synthetic set is generated once."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
def shared_storage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Storage shared by end-to-end sweeps whose dense stage is not under test: the smoke
    baseline is trained once and reused from the cache, which keeps the suite short."""
    return tmp_path_factory.mktemp("storage")
