"""End to end: a smoke sweep of the methods built from parts (lamp, snip, static, nm, taylor)
through the real CLI on a real local Ray and a real sqlite MLflow store, each checked on what
it promises: its sparsity counted from the saved weights, its budget, its structure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from mlflow import MlflowClient

from pruning.deploy.storage import load_compact
from pruning.measure import count_prunable, measured_sparsity, prunable_weights
from tests.conftest import cli
from trainables.models import build_model

pytestmark = pytest.mark.e2e

NEW = ("lamp", "snip", "static", "nm", "taylor")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> dict:
    runs = tmp_path_factory.mktemp("runs")
    proc = cli("run", "--space", "smoke", "--dataset", "synthetic", "--methods", ",".join(NEW),
               "--sparsities", "0.5", "--name", "e2e-new", "--runs-dir", str(runs),
               "--data-dir", str(data_dir), timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    client = MlflowClient(tracking_uri=f"sqlite:///{runs / 'mlflow.db'}")
    exp = client.get_experiment_by_name("e2e-new")
    trials = {}
    for run in client.search_runs([exp.experiment_id], max_results=100):
        if run.data.tags.get("role") == "trial":
            assert run.data.tags["method"] not in trials  # exactly one run per trial
            trials[run.data.tags["method"]] = run
    return {"client": client, "trials": trials}


def _saved_model(client: MlflowClient, run: object, where: Path) -> torch.nn.Module:
    local = Path(client.download_artifacts(run.info.run_id, "model", str(where)))
    meta = json.loads((local / "loader.json").read_text())
    return load_compact(local / meta["file"], lambda: build_model(
        meta["model"], meta["num_classes"], meta["width"], meta["in_channels"]))


def test_every_new_method_finished_at_its_sparsity_above_chance(sweep: dict,
                                                                tmp_path: Path) -> None:
    assert sorted(sweep["trials"]) == sorted(NEW)
    fresh = count_prunable(build_model("resnet18", 10, 0.125, 3))
    for method, run in sweep["trials"].items():
        m = run.data.metrics
        assert run.info.status == "FINISHED", method
        assert m["test_acc"] > 0.2, (method, m["test_acc"])  # chance is 0.1
        model = _saved_model(sweep["client"], run, tmp_path / method)
        counted = measured_sparsity(model, fresh)
        assert counted == pytest.approx(m["sparsity"], abs=1e-6), method
        # nm leaves the 3-channel stem dense (its input width is not a multiple of 4).
        assert abs(counted - 0.5) <= (0.005 if method != "nm" else 0.002), (method, counted)


def test_sparse_trainers_from_theta0_count_no_dense_epochs(sweep: dict) -> None:
    for method in ("snip", "static"):
        m = sweep["trials"][method].data.metrics
        assert m["epochs_total"] == m["epochs_trained"] == 2, method
        assert "dst.updates" not in m, method  # static never updates its mask
    lamp = sweep["trials"]["lamp"].data.metrics
    assert lamp["epochs_total"] == 2 + lamp["epochs_trained"]


def test_nm_keeps_two_of_every_four_input_weights(sweep: dict, tmp_path: Path) -> None:
    run = sweep["trials"]["nm"]
    assert run.data.metrics["prune.nm_layers_dense"] == 1
    model = _saved_model(sweep["client"], run, tmp_path)
    for name, w in prunable_weights(model):
        if w.shape[1] % 4:
            continue
        groups = (w.permute(0, 2, 3, 1) if w.dim() == 4 else w).reshape(-1, 4)
        assert int((groups != 0).sum(1).max()) <= 2, name


def test_taylor_removes_channels(sweep: dict) -> None:
    run = sweep["trials"]["taylor"]
    assert run.data.tags["model_format"] == "structured"
    m = run.data.metrics
    assert m["params_total"] < 0.6 * count_prunable(build_model("resnet18", 10, 0.125, 3))
    assert m["theoretical_speedup"] > 1.2
