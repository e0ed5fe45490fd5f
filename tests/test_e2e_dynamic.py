"""End to end, dynamic sparse training: a smoke sweep of dsr, set and rigl beside magnitude
through the real CLI on a real local Ray and a real sqlite MLflow store, then its analysis."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from mlflow import MlflowClient

from analysis.tables import WITHIN_NULL
from pruning.deploy.storage import load_compact
from pruning.measure import count_prunable, measured_sparsity
from tests.conftest import cli
from trainables.models import build_model

pytestmark = pytest.mark.e2e

DYNAMIC = ("dsr", "set", "rigl")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> dict:
    runs = tmp_path_factory.mktemp("runs")
    space = runs / "dynamic.yaml"
    # CSR with fp16 values where it is the smaller file; the dense baseline of this module.
    space.write_text("extends: dynamic-smoke\nsave: {values: fp16}\n")
    proc = cli("run", "--space", str(space), "--dataset", "synthetic", "--methods",
               "dsr,set,rigl,magnitude", "--name", "e2e-dynamic", "--runs-dir", str(runs),
               "--data-dir", str(data_dir), timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    client = MlflowClient(tracking_uri=f"sqlite:///{runs / 'mlflow.db'}")
    exp = client.get_experiment_by_name("e2e-dynamic")
    trials = [r for r in client.search_runs([exp.experiment_id], max_results=100)
              if r.data.tags.get("role") == "trial"]
    return {"proc": proc, "client": client, "trials": trials, "runs": runs}


def test_dynamic_methods_train_sparse_from_init_and_log_their_updates(sweep: dict) -> None:
    trials = {r.data.tags["method"]: r for r in sweep["trials"]}
    assert sorted(trials) == sorted([*DYNAMIC, "magnitude"])  # exactly one run per trial
    client: MlflowClient = sweep["client"]
    for method in DYNAMIC:
        run = trials[method]
        m = run.data.metrics
        assert run.info.status == "FINISHED", method
        assert m["sparsity"] >= 0.9 - 1e-4, method
        assert m["test_acc"] > 0.2, (method, m["test_acc"])  # well above chance (10 classes)
        # Trained from theta_0 for the dense run's 3 epochs, nothing of its training used.
        assert m["epochs_trained"] == 3 and m["epochs_total"] == 3, method
        assert run.data.params["finetune.lr"] == "0.1"  # the dense recipe
        history = client.get_metric_history(run.info.run_id, "dst.regrown")
        assert len(history) == m["dst.updates"] > 1, method
        assert sum(h.value for h in history) == m["dst.regrown_total"] > 0, method
        schedule = client.get_metric_history(run.info.run_id, "mask_sparsity")
        assert [h.step for h in schedule] == [1, 2, 3]
        assert all(abs(h.value - 0.9) < 1e-4 for h in schedule), method
        assert m["size_bytes_compact"] == min(m["size_bytes_bitmask"], m["size_bytes_csr"])
        assert m["sparse_ratio_b1"] > 0 and "latency_ms_b1_sparse" in m
    magnitude = trials["magnitude"].data.metrics
    assert magnitude["epochs_total"] == 3 + 2  # the dense run and its own fine-tuning


def test_saved_dynamic_models_load_at_their_sparsity(sweep: dict, tmp_path: Path) -> None:
    client: MlflowClient = sweep["client"]
    for run in sweep["trials"]:
        local = Path(client.download_artifacts(run.info.run_id, "model", str(tmp_path)))
        meta = json.loads((local / "loader.json").read_text())
        assert meta["format"] in ("csr", "sparse")

        def fresh(meta: dict = meta) -> torch.nn.Module:
            return build_model(meta["model"], meta["num_classes"], meta["width"],
                               meta["in_channels"])

        model = load_compact(local / meta["file"], fresh)
        assert measured_sparsity(model, count_prunable(fresh())) == pytest.approx(
            run.data.metrics["sparsity"], abs=1e-6)


def test_the_report_shows_budgets_and_sparse_kernels(sweep: dict) -> None:
    runs = sweep["runs"]
    proc = cli("analyze", "e2e-dynamic", "--runs-dir", str(runs), timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    table = (runs / "reports" / "e2e-dynamic" / "efficiency_table.md").read_text()
    lines = [[c.strip() for c in line.split("|")[1:-1]] for line in table.splitlines()]
    header, rows = lines[0], {cells[0]: dict(zip(lines[0], cells, strict=True))
                              for cells in lines[2:]}
    assert "Sparse kernels" in header
    for method in DYNAMIC:
        assert rows[method]["Epochs (retrain / total)"] == "3 / 3", rows[method]
        # Measured, and said: a ratio, "slower (...x)", or no gain inside the null test's spread.
        sparse = rows[method]["Sparse kernels"]
        assert sparse == WITHIN_NULL or sparse.endswith(("x)", "x")), rows[method]
    assert rows["magnitude"]["Epochs (retrain / total)"] == "2 / 5"
    assert rows["dense"]["Sparse kernels"] == "n/a"
