"""End to end, the structured family: layer sensitivity through the real CLI, then a smoke
sweep of all five structured methods (one of them excluding a layer the analysis marked
sensitive) on a real local Ray and a real sqlite MLflow store."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
from mlflow import MlflowClient

from pruning.deploy.storage import load_compact
from pruning.measure import count_prunable, measured_sparsity
from tests.conftest import cli
from trainables.models import build_model

pytestmark = pytest.mark.e2e

FAMILY = ("structured", "group_l1", "fpgm", "sfp", "group_norm")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="module")
def sensitivity(runs: Path, data_dir: Path) -> dict:
    # Its own storage: the baseline trained here (in-process, all threads) is not bit-equal to
    # one a sweep's dense stage trains, and other modules' sweeps must not depend on it.
    proc = cli("sensitivity", "smoke", "--dataset", "synthetic", "--max-drop", "0.01",
               "--ratios", "0.25,0.5,0.75", "--runs-dir", str(runs), "--data-dir",
               str(data_dir), timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = runs / "reports" / "sensitivity-smoke-seed0"
    return {"proc": proc, "out": out, "json": json.loads((out / "sensitivity.json").read_text())}


def test_sensitivity_writes_table_figures_and_an_analysis_run(sensitivity: dict,
                                                               runs: Path) -> None:
    out, data = sensitivity["out"], sensitivity["json"]
    for name in ("sensitivity.md", "sensitivity.csv", "sensitivity.png", "sensitivity.pdf",
                 "sensitivity.svg"):
        assert (out / name).stat().st_size > 0, name
    df = pd.read_csv(out / "sensitivity.csv")
    assert len(df) == 12 * 3 and set(df["ratio"]) == {0.25, 0.5, 0.75}
    assert df["layer"].iloc[0] == "conv1"  # network order
    # Removing a quarter of a layer's filters costs parameters; three quarters cost more.
    per = df.pivot(index="layer", columns="ratio", values="params_removed")
    assert (per[0.75] > per[0.25]).all() and (per[0.25] > 0).all()
    assert 0 <= df["val_acc"].min() <= df["val_acc"].max() <= 1
    assert data["sensitive"], sensitivity["proc"].stdout[-2000:]
    assert "--method-param structured.exclude=[" in sensitivity["proc"].stdout
    client = MlflowClient(tracking_uri=f"sqlite:///{runs / 'mlflow.db'}")
    exp = client.get_experiment_by_name("sensitivity-smoke")
    (run,) = client.search_runs([exp.experiment_id])
    assert run.data.tags["kind"] == "sensitivity" and run.info.status == "FINISHED"
    assert run.data.metrics["baseline_val_acc"] == pytest.approx(data["baseline_val_acc"])
    logged = client.get_metric_history(run.info.run_id, "val_acc.conv1")
    csv = df[df["layer"] == "conv1"].set_index("ratio")["val_acc"]
    assert {h.step: h.value for h in logged} == {
        int(100 * r): pytest.approx(v) for r, v in csv.items()}
    assert {"sensitivity.png", "sensitivity.pdf", "sensitivity.svg"} <= {
        a.path for a in client.list_artifacts(run.info.run_id)}


@pytest.fixture(scope="module")
def sweep(sensitivity: dict, runs: Path, data_dir: Path) -> dict:
    excluded = sensitivity["json"]["sensitive"][0]
    proc = cli(
        "run", "--space", "smoke", "--dataset", "synthetic", "--methods", ",".join(FAMILY),
        "--sparsities", "0.7", "--seeds", "0", "--name", "e2e-structured",
        "--method-param", f"structured.exclude=[{excluded}]",
        "--method-param", "group_l1.round_to=2", "--method-param", "group_norm.reg_epochs=1",
        "--runs-dir", str(runs), "--data-dir", str(data_dir), timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    client = MlflowClient(tracking_uri=f"sqlite:///{runs / 'mlflow.db'}")
    exp = client.get_experiment_by_name("e2e-structured")
    trials = [r for r in client.search_runs([exp.experiment_id], max_results=100)
              if r.data.tags.get("role") == "trial"]
    return {"proc": proc, "client": client, "trials": trials, "excluded": excluded}


def test_every_structured_method_reaches_the_target_with_fewer_channels(sweep: dict) -> None:
    trials = {r.data.tags["method"]: r for r in sweep["trials"]}
    assert set(trials) == set(FAMILY)
    assert "reusing cached baseline" in sweep["proc"].stdout  # trained by sensitivity
    for method, run in trials.items():
        m = run.data.metrics
        assert run.info.status == "FINISHED", method
        assert abs(m["sparsity"] - 0.7) <= 0.005, (method, m["sparsity"])
        assert m["macs"] < m["macs_dense"], method
        widths = {k: v for k, v in m.items() if k.startswith("prune.width.")}
        assert len(widths) == 12 and 0 < m["prune.channel_ratio"] < 1, method
        assert m["test_acc"] > 0.1, method  # above chance (10 classes)
    group_l1 = trials["group_l1"].data.metrics
    assert all(v % 2 == 0 for k, v in group_l1.items() if k.startswith("prune.width."))
    assert trials["group_norm"].data.metrics["rounds"] == 2
    assert trials["group_norm"].data.metrics["epochs_trained"] == 1 + 2
    assert "prune.filters_switched" in trials["sfp"].data.metrics
    structured = trials["structured"]
    assert json.loads(structured.data.params["method.exclude"]) == [sweep["excluded"]]
    assert structured.data.metrics["prune.groups_excluded"] == 1


def test_saved_structured_models_load_smaller(sweep: dict, tmp_path: Path) -> None:
    client: MlflowClient = sweep["client"]
    for run in sweep["trials"]:
        local = Path(client.download_artifacts(run.info.run_id, "model", str(tmp_path)))
        meta = json.loads((local / "loader.json").read_text())
        assert meta["format"] == "structured", run.data.tags["method"]

        def fresh(meta: dict = meta) -> torch.nn.Module:
            return build_model(meta["model"], meta["num_classes"], meta["width"],
                               meta["in_channels"])

        model = load_compact(local / meta["file"], fresh)
        assert count_prunable(model) < count_prunable(fresh())
        assert measured_sparsity(model, count_prunable(fresh())) == pytest.approx(
            run.data.metrics["sparsity"])
        assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
