"""End to end: the real CLI, a real local Ray, a real sqlite MLflow store."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from mlflow import MlflowClient

from pruning.deploy.storage import load_compact
from pruning.measure import count_prunable, measured_sparsity
from pruning.schema import REQUIRED
from tests.conftest import REPO, cli
from tests.test_e2e_mlflow_ui import (
    CHROMIUM,
    RENDER_S,
    _free_port,
    _GridCells,
    _render,
    _stop_group,
    _ui_metric,
    _wait_healthy,
)
from trainables.models import build_model
from tune_app.tracking import (
    EXPERIMENT_KIND_TAG,
    ML_EXPERIMENT_KIND,
    SAVED_VIEW_PREFIX,
    TRIALS_VIEW,
    experiment_page_url,
)

pytestmark = pytest.mark.e2e

METHODS = ("magnitude", "structured", "lottery", "imp", "gmp", "lr_rewind", "unpruned")
# Retraining epochs each method plans at smoke scale (dense 2 epochs, rewind epoch 1):
# fine-tuning and lr_rewind 2, weight rewinding the rest of the dense schedule (1) per round.
EPOCHS = {"lottery": 1, "imp": 4}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> dict:
    runs = tmp_path_factory.mktemp("runs")
    proc = cli(
        "run", "--space", "smoke", "--dataset", "synthetic",
        "--methods", ",".join(METHODS), "--sparsities", "0.5", "--seeds", "0",
        "--method-param", "gmp.end=0.25",
        "--name", "e2e", "--runs-dir", str(runs), "--data-dir", str(data_dir), timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    client = MlflowClient(tracking_uri=f"sqlite:///{runs / 'mlflow.db'}")
    exp = client.get_experiment_by_name("e2e")
    runs_list = client.search_runs([exp.experiment_id], max_results=1000)
    return {"runs_dir": runs, "proc": proc, "client": client, "exp": exp, "runs": runs_list}


def _role(runs: list, role: str) -> list:
    return [r for r in runs if r.data.tags.get("role") == role]


def test_one_dense_and_one_run_per_trial_all_finished(sweep: dict) -> None:
    dense, trials = _role(sweep["runs"], "dense"), _role(sweep["runs"], "trial")
    assert len(dense) == 1 and len(trials) == len(METHODS)
    assert {r.info.status for r in dense + trials} == {"FINISHED"}
    cells = {(r.data.tags["method"], r.data.tags["sparsity"], r.data.tags["seed"]) for r in trials}
    # The unpruned control runs once, at sparsity 0, whatever the grid's sparsities.
    assert cells == {(m, "0" if m == "unpruned" else "0.5", "0") for m in METHODS}
    parent = _role(sweep["runs"], "sweep")
    assert len(parent) == 1 and parent[0].info.status == "FINISHED"
    assert all(r.data.tags["mlflow.parentRunId"] == parent[0].info.run_id for r in dense + trials)
    # Learnable synthetic data: the dense baseline is far above chance (10%).
    assert dense[0].data.metrics["test_acc"] > 0.3


def test_trial_records_are_complete_and_measured(sweep: dict) -> None:
    client: MlflowClient = sweep["client"]
    dense_params = _role(sweep["runs"], "dense")[0].data.metrics["params_total"]
    for run in _role(sweep["runs"], "trial"):
        m, tags = run.data.metrics, run.data.tags
        missing = [k for k in REQUIRED if k not in m]
        assert not missing, (tags["method"], missing)
        for key in ("trial_id", "config_hash", "git_sha", "sweep"):
            assert tags.get(key), key
        target = float(tags["sparsity"])
        assert abs(m["sparsity"] - target) <= 0.005, (tags["method"], m["sparsity"], target)
        assert 0.0 <= m["test_acc"] <= 1.0
        if tags["method"] != "unpruned":
            assert m["compression_ratio"] > 1.0
        # Budgets: retraining after pruning, and in total with the dense run's 2 epochs.
        epochs = EPOCHS.get(tags["method"], 2)
        assert m["epochs_trained"] == epochs, tags["method"]
        assert m["epochs_total"] == 2 + epochs
        assert m["optimizer_steps"] == epochs * 16  # 2000 images, batch 128
        steps = [h.step for h in client.get_metric_history(run.info.run_id, "train_loss")]
        assert sorted(steps) == sorted(set(steps)) == list(range(1, len(steps) + 1))
        names = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"config.json", "metrics.json", "model"} <= names
        if tags["method"] == "imp":
            # Four rounds at rate 0.2 (0.2, 0.36, 0.488, then 0.5), each logged at its step.
            rounds = client.get_metric_history(run.info.run_id, "round.sparsity")
            assert sorted(h.step for h in rounds) == [1, 2, 3, 4]
            assert run.data.params["method.rate"] == "0.2" and m["rounds"] == 4
        if tags["method"] == "gmp":
            assert run.data.params["method.end"] == "0.25"
        if tags["method"] == "structured":
            # Channels physically removed: a smaller dense network with fewer MACs.
            assert m["macs"] < m["macs_dense"]
            assert m["params_total"] < dense_params
        else:
            assert m["params_total"] == dense_params


def test_compact_model_artifact_loads_with_measured_sparsity(sweep: dict, tmp_path: Path) -> None:
    client: MlflowClient = sweep["client"]
    for run in _role(sweep["runs"], "trial"):
        local = Path(client.download_artifacts(run.info.run_id, "model", str(tmp_path)))
        meta = json.loads((local / "loader.json").read_text())

        def fresh(meta: dict = meta) -> torch.nn.Module:
            return build_model(meta["model"], meta["num_classes"], meta["width"],
                               meta["in_channels"])

        model = load_compact(local / meta["file"], fresh)
        sparsity = measured_sparsity(model, count_prunable(fresh()))
        assert abs(sparsity - run.data.metrics["sparsity"]) < 1e-9
        assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_second_sweep_reuses_dense_and_retries_a_failing_trial(
    sweep: dict, data_dir: Path, tmp_path: Path
) -> None:
    # One sweep, two checks: the dense cache is reused, and a trial whose first attempt raises
    # (the test plugin's flaky_magnitude) succeeds on retry in the same MLflow run.
    runs = sweep["runs_dir"]
    env = {"PRUNE_SWEEP_PLUGINS": "tests.plugins.flaky", "FLAKY_MARKERS": str(tmp_path / "m")}
    proc = cli(
        "run", "--space", "smoke", "--dataset", "synthetic", "--methods", "flaky_magnitude",
        "--sparsities", "0.7", "--seeds", "0", "--name", "e2e-again", "--runs-dir", str(runs),
        "--data-dir", str(data_dir), env=env, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (tmp_path / "m" / "failed-0.7").exists()  # the first attempt did fail
    assert "reusing cached baseline" in proc.stdout
    assert len([p for p in (runs / "storage" / "dense").iterdir() if p.is_dir()]) == 1
    client: MlflowClient = sweep["client"]
    exp = client.get_experiment_by_name("e2e-again")
    runs_list = client.search_runs([exp.experiment_id])
    dense = _role(runs_list, "dense")
    assert len(dense) == 1 and dense[0].data.tags["dense_cache_hit"] == "true"
    assert dense[0].data.metrics["test_acc"] == _role(sweep["runs"], "dense")[0].data.metrics[
        "test_acc"]
    trials = _role(runs_list, "trial")
    assert len(trials) == 1 and trials[0].info.status == "FINISHED"
    trial = trials[0]
    assert "injected failure" in trial.data.tags["last_error"]
    assert "error" not in trial.data.tags
    assert int(trial.data.tags["attempts"]) == 2
    assert "test_acc" in trial.data.metrics


def test_progress_lines_come_from_the_trials(sweep: dict) -> None:
    out = sweep["proc"].stdout
    assert "stage 2: 7 pruning trial(s), 2 at a time" in out
    # Posted by the trials through the progress board, between Tune's epoch results.
    assert "dense seed=0: training on cpu:" in out
    assert "magnitude s=0.5 seed=0: pruned to 50.0%" in out
    assert "imp s=0.5 seed=0: round 2/4: training at 36.0% sparsity" in out
    epochs = [line for line in out.splitlines() if ": epoch " in line and "img/s" in line]
    assert epochs and all("eta ~" in line for line in epochs)
    assert "next: " in out and " -m tune_app analyze e2e" in out  # as the tests invoke it


def test_analyze_and_status_of_the_finished_sweep(sweep: dict) -> None:
    runs = sweep["runs_dir"]
    proc = cli("analyze", "e2e", "--runs-dir", str(runs), timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = runs / "reports" / "e2e" / "report.md"
    text = report.read_text()
    assert "unpruned" in text
    # The context comes from the sweep's own parent run.
    assert "**Data set**: synthetic (train/validation/test images: 2000/500/1000)" in text
    assert "**Model**: resnet18 at width 0.125" in text and "reference method `magnitude`" in text
    assert "from measurement set `sweep` on cpu" in text
    assert "| 50 | structured vs magnitude | 1 |" in text and "cannot tell (n = 1)" in text
    status = cli("status", "e2e", "--runs-dir", str(runs), timeout=120)
    assert status.returncode == 0, status.stderr[-2000:]
    rows = [line.split() for line in status.stdout.splitlines() if line.split()[:1] and
            line.split()[0] in METHODS]
    assert sorted(r[0] for r in rows) == sorted(METHODS)
    assert {r[3] for r in rows} == {"finished"} and f"{len(METHODS)} finished" in status.stdout


def test_rerunning_a_finished_sweep_name_is_refused(sweep: dict, data_dir: Path) -> None:
    """Answered before Ray, torch or the data are touched: well under 2 s."""
    started = time.monotonic()
    proc = cli("run", "--space", "smoke", "--dataset", "synthetic", "--name", "e2e",
               "--runs-dir", str(sweep["runs_dir"]), "--data-dir", str(data_dir), timeout=300)
    elapsed = time.monotonic() - started
    print(f"a used sweep name refused in {elapsed:.2f}s")
    assert proc.returncode == 2
    assert "sweep name 'e2e' is already used in sqlite:///" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert elapsed < 5.0  # 2 s is the target; a loaded CI machine gets a margin


def test_trials_are_timed_after_training_with_spreads_and_a_null_test(sweep: dict) -> None:
    assert "measurement: 7 trial(s) timed; null test b1" in sweep["proc"].stdout
    trials = _role(sweep["runs"], "trial")
    sets = _role(sweep["runs"], "measurement")
    assert len(sets) == 1 and sets[0].data.tags["measurement_set"] == "sweep"
    # Timed once training was over: the stage starts after the last trial run ended.
    assert sets[0].info.start_time >= max(r.info.end_time for r in trials)
    null = sets[0].data.metrics
    assert null["null_ratio_b1_min"] <= null["null_ratio_b1"] <= null["null_ratio_b1_max"]
    for run in trials:
        m = run.data.metrics
        assert m["speedup_b1_min"] <= m["speedup_b1"] <= m["speedup_b1_max"]
        assert m["latency_ms_b1_spread"] >= 0 and m["throughput_spread"] >= 0
        assert m["measure_threads"] >= 1
    masked = [r for r in trials if r.data.tags.get("model_format") in ("sparse", "csr")]
    assert masked and all("sparse_ratio_b1" in r.data.metrics for r in masked)
    structured = [r for r in trials if r.data.tags["method"] == "structured"]
    assert structured[0].data.tags["model_format"] == "structured"


def _copy_store(sweep: dict, to: Path) -> Path:
    """The sweep's ``mlflow.db`` alone in a new runs dir (no ``sweeps/`` record files), under
    a name with a space, as a colleague would receive it."""
    to.mkdir(parents=True)
    shutil.copy(sweep["runs_dir"] / "mlflow.db", to / "mlflow.db")
    return to


def test_a_copied_store_alone_is_enough_even_read_only(sweep: dict, tmp_path: Path) -> None:
    copy = _copy_store(sweep, tmp_path / "copy of runs")
    # `resume` reads the grid from the parent run; its hint pastes back as printed.
    proc = cli("resume", "e2e", "--runs-dir", str(copy), timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"nothing to resume: {len(METHODS)} of {len(METHODS)} trials" in proc.stdout
    pasted = proc.stdout.split("next: ", 1)[1].splitlines()[0]
    assert f"--runs-dir '{copy}'" in pasted
    again = subprocess.run(["bash", "-c", pasted], cwd=REPO, capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert (copy / "reports" / "e2e" / "report.md").is_file()
    status = cli("status", "e2e", "--runs-dir", str(copy), timeout=120)
    assert status.returncode == 0, status.stderr[-2000:]
    assert f"cells: {len(METHODS)} finished" in status.stdout
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) not installed: read-only part not checked")
    # Read-only, even for root: without CAP_DAC_OVERRIDE the permission bits hold.
    tree = sorted(copy.rglob("*"), reverse=True) + [copy]
    for path in tree:
        path.chmod(0o555 if path.is_dir() else 0o444)
    as_reader = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--",
                 sys.executable, "-m", "tune_app"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)

    def read(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*as_reader, *args, "--runs-dir", str(copy)], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=300)

    try:
        status = read("status", "e2e")
        assert status.returncode == 0, status.stderr[-2000:]
        assert f"cells: {len(METHODS)} finished" in status.stdout
        out = tmp_path / "report"
        report = read("analyze", "e2e", "--out", str(out))
        assert report.returncode == 0, report.stdout[-2000:] + report.stderr[-2000:]
        assert "not recorded (the tracking store is read-only)" in report.stdout
        assert (out / "report.md").is_file()
        nowhere = read("analyze", "e2e")
        assert nowhere.returncode == 2 and len(nowhere.stderr.splitlines()) == 1
        assert "is not writable; write the report elsewhere with --out DIR" in nowhere.stderr
    finally:
        for path in reversed(tree):
            path.chmod(0o755 if path.is_dir() else 0o644)


def test_measure_records_a_new_set_and_analyze_reports_with_it(sweep: dict,
                                                               tmp_path: Path) -> None:
    """On a copy of the store alone: `measure` finds the sweep's storage and timing settings
    in its parent run."""
    runs = _copy_store(sweep, tmp_path / "measured runs")
    client = MlflowClient(tracking_uri=f"sqlite:///{runs / 'mlflow.db'}")
    before = {r.info.run_id: r.data.metrics["latency_ms_b1"]
              for r in _role(sweep["runs"], "trial")}
    proc = cli("measure", "e2e", "--runs-dir", str(runs), "--blocks", "3", "--repeats", "3",
               "--threads", "1", timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "null test (dense vs a copy of itself)" in proc.stdout
    name = proc.stdout.split("measurement set ", 1)[1].split(":", 1)[0]
    sets = client.search_runs([sweep["exp"].experiment_id], "tags.role = 'measurement'")
    assert sorted(r.data.tags["measurement_set"] for r in sets) == sorted(["sweep", name])
    new = next(r for r in sets if r.data.tags["measurement_set"] == name)
    assert new.data.tags["threads"] == "1" and new.data.metrics["trials_measured"] == 7
    # A new set, not written over the old: the trial runs keep the sweep's own figures.
    for run_id, latency in before.items():
        assert client.get_run(run_id).data.metrics["latency_ms_b1"] == latency
    out = runs / "reports" / "e2e-remeasured"
    proc = cli("analyze", "e2e", "--runs-dir", str(runs), "--measurement", name, "--out",
               str(out), timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"from measurement set `{name}` on cpu" in (out / "report.md").read_text()
    table = json.loads((out / "all_results.json").read_text())
    timed = {r["run_id"]: r["latency_ms_b1"] for r in table if r["role"] == "trial"}
    rows = {r["run_id"]: r for r in _csv_rows(client, new.info.run_id)}
    assert timed == pytest.approx({k: float(v["latency_ms_b1"]) for k, v in rows.items()})
    bad = cli("analyze", "e2e", "--runs-dir", str(runs), "--measurement", "nope", timeout=120)
    assert bad.returncode == 2 and "no measurement set 'nope'" in bad.stderr
    assert "Traceback" not in bad.stderr


def _csv_rows(client: MlflowClient, run_id: str) -> list[dict]:
    import csv

    path = client.download_artifacts(run_id, "measurements.csv")
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.mark.skipif(CHROMIUM is None, reason="Debian package chromium not installed")
def test_trial_row_with_its_columns_on_the_experiment_page(sweep: dict, tmp_path: Path) -> None:
    runs, client = sweep["runs_dir"], sweep["client"]
    exp = client.get_experiment_by_name("e2e")
    assert exp.tags[EXPERIMENT_KIND_TAG] == ML_EXPERIMENT_KIND
    assert SAVED_VIEW_PREFIX + TRIALS_VIEW in exp.tags
    (trial,) = client.search_runs([exp.experiment_id],
                                  "tags.role = 'trial' and tags.method = 'magnitude'")
    expected = {
        "tags.`method`": "magnitude", "tags.`sparsity`": "0.5", "tags.`seed`": "0",
        "metrics.`test_acc`": _ui_metric(trial.data.metrics["test_acc"]),
    }

    port = _free_port()
    log = tmp_path / "ui.log"
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "tune_app", "ui", "--runs-dir", str(runs),
             "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        ui = f"http://127.0.0.1:{port}"
        _wait_healthy(ui, server, log)
        url = experiment_page_url(ui, exp.experiment_id)
        deadline = time.monotonic() + RENDER_S
        attempt, dom, row = 0, "", {}
        # A loaded machine can leave the runs request unanswered within one virtual-time
        # budget; the page is rendered again, longer, until the deadline.
        while not row and time.monotonic() < deadline:
            attempt += 1
            dom = _render(url, tmp_path / f"chrome-{attempt}", 15000 * attempt)
            parser = _GridCells()
            parser.feed(dom)
            row = parser.cells.get(trial.info.run_id, {})
    finally:
        _stop_group(server)

    assert row, (f"no row for run {trial.info.run_id} at {url} after {attempt} render(s); "
                 f"page text starts: {' '.join(dom.split())[:1500]}")
    # The trial is a child of the sweep's parent run: its row shows only when the view lists
    # runs flat, and its columns only when the view selected them.
    # The name cell also holds the run colour's hex code, hidden from view.
    assert row.get("attributes.`Run Name`", "").endswith("magnitude s=0.5 seed=0"), row
    assert {col: row.get(col) for col in expected} == expected
