"""A sweep on a real two-node Ray cluster with an MLflow tracking server and shared storage."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.conftest import REPO, cli
from tests.ray_cluster import free_port, start_cluster

pytestmark = pytest.mark.e2e


def _start_server(runs: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tune_app", "server", "--host", "127.0.0.1", "--port", str(port),
         "--runs-dir", str(runs), "--workers", "1"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.5)
    subprocess.run(["pkill", "-9", "-s", str(proc.pid)], check=False)
    raise TimeoutError("MLflow server did not come up in 90 s")


def test_sweep_on_two_nodes_with_tracking_server(tmp_path: Path, data_dir: Path) -> None:
    port = free_port()
    server = _start_server(tmp_path / "server", port)
    node_local = tmp_path / "node-local"  # exists on both nodes, but is not the same directory
    node_local.mkdir()
    cluster = start_cluster(workers=1, cpus_per_node=1, hide=(node_local,))
    try:
        uri = f"http://127.0.0.1:{port}"
        common = ["--space", "smoke", "--dataset", "synthetic", "--methods",
                  "magnitude,structured,lottery", "--sparsities", "0.5", "--seeds", "0",
                  "--address", cluster.address, "--mlflow-uri", uri,
                  "--runs-dir", str(tmp_path / "driver"), "--data-dir", str(data_dir)]
        # Preflight: storage that one node does not share stops the sweep before anything runs.
        proc = cli("run", *common, "--name", "not-shared", "--storage", str(node_local),
                   env=cluster.env(), timeout=300)
        assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
        assert re.search(rf"storage {re.escape(str(node_local))} is not shared: node \S+ "
                         r"\([0-9a-f]{8}\) does not see the probe file", proc.stderr), proc.stderr
        assert MlflowClient(tracking_uri=uri).get_experiment_by_name("not-shared") is None
        assert not (tmp_path / "driver" / "sweeps" / "not-shared.json").exists()
        assert not list(node_local.iterdir())  # the probe is gone too

        proc = cli("run", *common, "--name", "cluster", "--storage", str(tmp_path / "shared"),
                   env=cluster.env(), timeout=900)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        client = MlflowClient(tracking_uri=uri)
        exp = client.get_experiment_by_name("cluster")
        runs = client.search_runs([exp.experiment_id])
        trials = [r for r in runs if r.data.tags.get("role") == "trial"]
        dense = [r for r in runs if r.data.tags.get("role") == "dense"]
        assert len(trials) == 3 and len(dense) == 1
        assert {r.info.status for r in trials + dense} == {"FINISHED"}
        nodes = {r.data.tags["node_id"] for r in trials}
        assert len(nodes) == 2, nodes  # trials ran on both nodes
        assert all(r.data.tags["device"] == "cpu" for r in trials)
        # The dense baseline was trained once, on one node, and every trial read it from the
        # shared storage.
        entries = [p for p in (tmp_path / "shared" / "dense").iterdir() if p.is_dir()]
        assert len(entries) == 1 and (entries[0] / "manifest.json").is_file()
        assert not (tmp_path / "driver" / "mlflow.db").exists()  # everything went to the server
    finally:
        cluster.stop()
        subprocess.run(["pkill", "-9", "-s", str(server.pid)], capture_output=True, check=False)


def test_losing_a_worker_node_mid_sweep(tmp_path: Path, data_dir: Path,
                                       shared_storage: Path) -> None:
    cluster = start_cluster(workers=1, cpus_per_node=1)
    runs = tmp_path / "runs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tune_app", "run", "--space", "smoke", "--dataset", "synthetic",
         "--methods", "magnitude,lottery", "--sparsities", "0.5,0.9", "--seeds", "0",
         "--name", "node-loss", "--address", cluster.address, "--storage",
         str(shared_storage), "--runs-dir", str(runs), "--data-dir", str(data_dir),
         "--max-failures", "3"],
        cwd=REPO, env={**cluster.env(), "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        killed = False
        deadline = time.monotonic() + 900
        for line in proc.stdout:
            lines.append(line)
            if not killed and line.startswith("[trials") and "epoch 1" in line:
                cluster.nodes[1].kill()  # the worker node: raylet, workers, everything
                killed = True
            if time.monotonic() > deadline:
                raise TimeoutError("sweep did not finish in 900 s")
        proc.wait(timeout=60)
        out = "".join(lines)
        assert killed, out[-3000:]
        assert proc.returncode == 0, out[-4000:]
        client = MlflowClient(tracking_uri=f"sqlite:///{runs / 'mlflow.db'}")
        exp = client.get_experiment_by_name("node-loss")
        runs_list = client.search_runs([exp.experiment_id])
        trials = [r for r in runs_list if r.data.tags.get("role") == "trial"]
        assert len(trials) == 4
        assert {r.info.status for r in runs_list} == {"FINISHED"}
        for run in trials:
            assert "test_acc" in run.data.metrics
            steps = [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")]
            assert len(steps) == len(set(steps)), steps
    finally:
        subprocess.run(["pkill", "-9", "-s", str(proc.pid)], capture_output=True, check=False)
        cluster.stop()
