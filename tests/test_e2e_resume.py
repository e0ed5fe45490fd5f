"""Interrupted sweeps resume exactly once: driver SIGKILL in either stage, trial retries."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.conftest import REPO, cli

pytestmark = pytest.mark.e2e

GRID = ["--space", "smoke", "--dataset", "synthetic", "--methods", "magnitude,structured",
        "--sparsities", "0.5", "--seeds", "0"]
FINAL = ["test_acc", "sparsity", "macs", "speedup_b1", "compression_ratio", "stopped_epoch"]


def _start(args: list[str], env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tune_app", *args], cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )


def _kill_when(proc: subprocess.Popen, marker: str, timeout_s: float) -> str:
    """Read the driver's output until ``marker`` appears, then SIGKILL its whole session."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    try:
        assert proc.stdout is not None
        os.set_blocking(proc.stdout.fileno(), False)
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                if proc.poll() is not None:
                    break
                time.sleep(0.2)
                continue
            seen.append(line)
            if marker in line:
                return "".join(seen)
        raise AssertionError(f"{marker!r} not seen in time:\n{''.join(seen)[-3000:]}")
    finally:
        subprocess.run(["pkill", "-9", "-s", str(proc.pid)], capture_output=True, check=False)
        proc.wait(timeout=30)


def _check_exactly_once(runs: Path, sweep: str, n_trials: int) -> None:
    client = MlflowClient(tracking_uri=f"sqlite:///{runs / 'mlflow.db'}")
    exp = client.get_experiment_by_name(sweep)
    all_runs = client.search_runs([exp.experiment_id], max_results=1000)
    by_role: dict[str, list] = {}
    for run in all_runs:
        by_role.setdefault(run.data.tags.get("role", "?"), []).append(run)
    assert len(by_role.get("sweep", [])) == 1
    assert len(by_role.get("dense", [])) == 1
    trials = by_role.get("trial", [])
    assert len(trials) == n_trials
    keys = {(r.data.tags["method"], r.data.tags["sparsity"], r.data.tags["seed"]) for r in trials}
    assert len(keys) == n_trials
    for run in all_runs:
        assert run.info.status == "FINISHED", (run.data.tags.get("role"), run.info.status)
    for run in trials + by_role["dense"]:
        if run.data.tags.get("role") == "trial":
            assert all(k in run.data.metrics for k in FINAL)
        for name in ("train_loss", "val_acc"):
            steps = [m.step for m in client.get_metric_history(run.info.run_id, name)]
            if not steps and run.data.tags.get("dense_cache_hit") == "true":
                continue  # a reused baseline has no training curve in this sweep
            assert len(steps) == len(set(steps)), (name, steps)
            assert sorted(steps) == list(range(min(steps), max(steps) + 1)), (name, steps)


def test_sigkill_during_dense_stage_then_resume(tmp_path: Path, data_dir: Path) -> None:
    runs = tmp_path / "runs"
    args = ["run", *GRID, "--name", "crash-dense", "--runs-dir", str(runs),
            "--data-dir", str(data_dir)]
    _kill_when(_start(args), "dense seed=0: epoch 1", timeout_s=300)
    assert not (runs / "storage" / "dense").exists() or not any(
        (p / "manifest.json").exists() for p in (runs / "storage" / "dense").iterdir())
    proc = cli("resume", "crash-dense", "--runs-dir", str(runs), timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "resuming sweep crash-dense" in proc.stdout
    _check_exactly_once(runs, "crash-dense", 2)


def test_sigkill_after_a_trial_finished_then_resume(tmp_path: Path, data_dir: Path,
                                                     shared_storage: Path) -> None:
    runs = tmp_path / "runs"
    args = ["run", *GRID, "--name", "crash-trials", "--runs-dir", str(runs),
            "--data-dir", str(data_dir), "--max-concurrent", "1",
            "--storage", str(shared_storage)]
    out = _kill_when(_start(args), "s=0.5 seed=0: finished", timeout_s=400)
    assert "[trials 1/2" in out.splitlines()[-1]
    proc = cli("resume", "crash-trials", "--runs-dir", str(runs), timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "1 of 2 trial(s) already finished" in proc.stdout
    _check_exactly_once(runs, "crash-trials", 2)
