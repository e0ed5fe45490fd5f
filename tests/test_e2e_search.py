"""An Optuna search with ASHA on synthetic data, then a comparison sweep using its best values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.conftest import cli

pytestmark = pytest.mark.e2e

SPACE = """\
name: tune-lr
extends: smoke
methods: [magnitude]
sparsities: [0.9]
seeds: [0]
dense: {epochs: 2}
finetune: {epochs: 3, patience: 0}
search:
  algorithm: optuna
  num_samples: 6
  scheduler: asha
  params:
    finetune.lr: {loguniform: [0.001, 0.3]}
    finetune.weight_decay: {loguniform: [0.00001, 0.001]}
"""


def test_search_then_comparison_uses_best_values(tmp_path: Path, data_dir: Path,
                                                 shared_storage: Path) -> None:
    runs = tmp_path / "runs"
    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    proc = cli("run", "--space", str(space), "--dataset", "synthetic", "--name", "tune-lr",
               "--runs-dir", str(runs), "--data-dir", str(data_dir),
               "--storage", str(shared_storage), timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    best_file = runs / "reports" / "tune-lr" / "best_hparams.json"
    best = json.loads(best_file.read_text())
    assert best["selected_on"] == "val_acc"
    cell = best["best"]["magnitude"]["0.9"]
    assert set(cell["params"]) == {"lr", "weight_decay"}
    assert 0.001 <= cell["params"]["lr"] <= 0.3

    client = MlflowClient(tracking_uri=f"sqlite:///{runs / 'mlflow.db'}")
    exp = client.get_experiment_by_name("tune-lr")
    trials = client.search_runs([exp.experiment_id], "tags.role = 'trial'")
    assert len(trials) == 6
    assert all(r.info.status == "FINISHED" for r in trials)
    lrs = {r.data.params["finetune.lr"] for r in trials}
    assert len(lrs) == 6  # Optuna proposed distinct values
    assert any(r.data.tags.get("stopped_early") == "true" for r in trials)  # ASHA stopped some
    best_run = max(trials, key=lambda r: r.data.metrics.get("best_val_acc", -1))
    assert float(best_run.data.params["finetune.lr"]) == pytest.approx(cell["params"]["lr"])
    parent = client.search_runs([exp.experiment_id], "tags.role = 'sweep'")[0]
    assert "best_hparams.json" in {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert (runs / "optuna" / "tune-lr.db").is_file()

    # status and resume of a search sweep speak of its cells and samples.
    status = cli("status", "tune-lr", "--runs-dir", str(runs), timeout=120)
    assert status.returncode == 0, status.stderr[-2000:]
    assert "6 of 6 samples finished" in status.stdout and "cells: 1 finished" in status.stdout
    again = cli("resume", "tune-lr", "--runs-dir", str(runs), timeout=120)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "nothing to resume: 1 of 1 cells of sweep tune-lr finished" in again.stdout

    proc = cli("run", "--space", "smoke", "--dataset", "synthetic", "--methods", "magnitude",
               "--sparsities", "0.9", "--seeds", "0", "--name", "compare", "--hparams",
               "tune-lr", "--runs-dir", str(runs), "--data-dir", str(data_dir),
               "--storage", str(shared_storage), timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    exp = client.get_experiment_by_name("compare")
    (trial,) = client.search_runs([exp.experiment_id], "tags.role = 'trial'")
    assert trial.data.tags["recipe"] == "hparams:tune-lr"
    assert float(trial.data.params["finetune.lr"]) == pytest.approx(cell["params"]["lr"])
    assert float(trial.data.params["finetune.weight_decay"]) == pytest.approx(
        cell["params"]["weight_decay"])
