"""Shared fixtures: a per-session runs directory and helpers to run the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from trainables.runtime import TrialEnv

REPO = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # Two pytest workers share the cores: torch's default of one thread per core in each
        # makes their OpenMP threads spin against each other (tiny tests took 10x longer).
        import torch

        torch.set_num_threads(1)


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


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """One torch thread: CPU kernels reduce in a thread-count-dependent order."""
    from tests.trial_setup import single_thread

    with single_thread():
        yield


@pytest.fixture(scope="module")
def trial_env(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> TrialEnv:
    """Storage with the trial-flow tests' dense baseline, trained once per module."""
    from tests.trial_setup import make_env

    return make_env(tmp_path_factory, data_dir)


@pytest.fixture(scope="session")
def shared_storage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Storage shared by end-to-end sweeps whose dense stage is not under test: the smoke
    baseline is trained once and reused from the cache, which keeps the suite short."""
    return tmp_path_factory.mktemp("storage")


class ObjectStore:
    """An S3-compatible server (moto) on 127.0.0.1, reached the way users reach MinIO."""

    def __init__(self, port: int) -> None:
        self.endpoint = f"http://127.0.0.1:{port}"
        self.env = {
            "AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
        }

    def bucket(self, name: str) -> str:
        """Create a bucket and return its ``s3://`` URI."""
        import boto3

        boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                     aws_access_key_id="testing", aws_secret_access_key="testing",
                     ).create_bucket(Bucket=name)
        return f"s3://{name}"


@pytest.fixture(scope="session")
def object_store() -> Iterator[ObjectStore]:
    """A moto S3 server for the session, stopped by its process session id."""
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen([str(server), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    store = ObjectStore(port)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(store.endpoint, timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise TimeoutError("moto S3 server did not come up in 60 s") from None
                time.sleep(0.3)
        yield store
    finally:
        _kill_session(proc.pid)
        proc.wait(timeout=30)
