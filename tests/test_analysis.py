"""Analysis from MLflow records fabricated through the real client (sqlite store)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from scipy import stats

from analysis import load_runs, summarize
from analysis.load import SweepNotFoundError
from analysis.pareto_plot import pareto_data, pareto_front
from analysis.progress import cell_progress, format_progress
from analysis.report import ReportResult, build_report
from analysis.stats import (
    DuplicateSeedError,
    ci95_halfwidth,
    compare_family,
    declared_comparisons,
    holm,
    one_sample_per_seed,
    paired_comparison,
)
from analysis.tables import efficiency_table
from analysis.tradeoff_plot import tradeoff_data

SEEDS = (0, 1, 2)
# test accuracy per (method, sparsity, seed): magnitude clearly best at 0.9, a tie-ish at 0.5.
ACC = {
    ("magnitude", 0.5): (0.910, 0.905, 0.912), ("structured", 0.5): (0.900, 0.906, 0.904),
    ("magnitude", 0.9): (0.880, 0.885, 0.882), ("structured", 0.9): (0.800, 0.790, 0.805),
    ("lottery", 0.5): (0.908, 0.907, 0.909),
}


# What a sweep's parent run logs (the flattened space), as strings.
SPACE_PARAMS = {
    "methods": "('magnitude', 'structured', 'lottery')", "sparsities": "(0.5, 0.9)",
    "seeds": "(0, 1, 2)", "data.name": "fashion_mnist", "data.train_size": "12000",
    "data.val_size": "2000", "data.test_size": "5000", "model.name": "resnet18",
    "model.width": "0.125", "dense.epochs": "4", "finetune.epochs": "3",
    "equal_budget": "True", "reference": "magnitude",
}


MEASUREMENT_SET = {
    "null_ratio_b1": 1.002, "null_ratio_b1_min": 0.97, "null_ratio_b1_max": 1.03,
    "timings_reliable": 1.0, "load_avg_1m_before": 0.3, "load_avg_1m_after": 0.45,
    "load_cores": 2.0, "load_other_cores": 0.05, "trials_measured": 14.0,
}


def _trial(client: MlflowClient, exp: str, parent: str, method: str, s: float, seed: int,
           acc: float, status: str = "FINISHED", error: str = "", recipe: str = "default",
           val: float | None = None) -> None:
    tags = {"role": "trial", "method": method, "sparsity": f"{s:g}", "seed": str(seed),
            "sweep": "fab", "mlflow.parentRunId": parent, "recipe": recipe,
            "model_format": "structured" if method == "structured" else "sparse"}
    if error:
        tags["error"] = error
    run = client.create_run(exp, tags=tags)
    rid = run.info.run_id
    client.log_param(rid, "finetune.lr", "0.01")
    client.log_param(rid, "finetune.epochs", "100")
    speed = 1.0 if method != "structured" else 1 / (1 - s)
    metrics = {"test_acc": acc, "sparsity": s + 0.001, "params_nonzero": 1e6 * (1 - s),
               "macs": 5e8 * (1 - s), "latency_ms_b1": 2.0 / speed, "speedup_b1": speed,
               "throughput": 1000 * speed, "size_bytes_compact": 4e7 * (1 - s) + 1e5,
               "compression_ratio": 1 / (1 - s), "theoretical_speedup": 1 / (1 - s),
               "best_val_acc": acc if val is None else val}
    for k, v in metrics.items():
        client.log_metric(rid, k, v)
    for step in (1, 2):
        client.log_metric(rid, "val_acc", acc - 0.01 / step, step=step)
    client.set_terminated(rid, status)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("fab", artifact_location=(root / "art").as_uri())
    parent = client.create_run(exp, tags={"role": "sweep", "sweep": "fab"}).info.run_id
    for key, value in SPACE_PARAMS.items():
        client.log_param(parent, f"spec.{key}", value)  # as tune_app.execute logs the space
    for seed in SEEDS:
        dense = client.create_run(exp, tags={"role": "dense", "seed": str(seed), "sweep": "fab",
                                             "mlflow.parentRunId": parent})
        client.log_metric(dense.info.run_id, "test_acc", 0.92 + 0.001 * seed)
        client.log_metric(dense.info.run_id, "params_nonzero", 1e6)
        client.log_metric(dense.info.run_id, "macs", 5e8)
        client.set_terminated(dense.info.run_id, "FINISHED")
        for (method, s), accs in ACC.items():
            if method == "lottery" and seed == 2:
                continue  # a missing cell
            _trial(client, exp, parent, method, s, seed, accs[seed])
    _trial(client, exp, parent, "lottery", 0.9, 0, 0.5, status="FAILED", error="CUDA OOM")
    # The sweep's own measurement set, as the stage records it (tune_app.measure_stage).
    mset = client.create_run(exp, tags={"role": "measurement", "measurement_set": "sweep",
                                        "device": "cpu", "hardware": "Test CPU, 2 logical CPU(s)",
                                        "threads": "1", "mlflow.parentRunId": parent})
    for key, value in MEASUREMENT_SET.items():
        client.log_metric(mset.info.run_id, key, value)
    client.set_terminated(mset.info.run_id, "FINISHED")
    return uri


def test_load_runs_is_one_row_per_trial_with_dense(store: str) -> None:
    df = load_runs("fab", store)
    assert (df["role"] == "trial").sum() == 4 * 3 + 2 + 1
    assert (df["method"] == "dense").sum() == 3
    row = df[(df["method"] == "magnitude") & (df["sparsity_target"] == 0.9) & (df["seed"] == 1)]
    assert row["test_acc"].item() == pytest.approx(0.885)
    assert row["param.finetune.lr"].item() == "0.01"
    with pytest.raises(SweepNotFoundError, match="no MLflow experiment named 'nope'"):
        load_runs("nope", store)


def test_summary_matches_scipy(store: str) -> None:
    summary = summarize(load_runs("fab", store))
    row = summary[(summary["method"] == "structured") & (summary["sparsity_target"] == 0.9)]
    values = np.array(ACC[("structured", 0.9)])
    lo, hi = stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
    assert row["n"].item() == 3
    assert row["test_acc_mean"].item() == pytest.approx(values.mean())
    assert row["test_acc_ci95"].item() == pytest.approx((hi - lo) / 2)
    assert row["test_acc_std"].item() == pytest.approx(values.std(ddof=1))
    assert summary.iloc[0]["method"] == "dense"
    assert np.isnan(ci95_halfwidth(np.array([0.5])))
    # The failed trial is not averaged in.
    assert summary[summary["method"] == "lottery"]["sparsity_target"].tolist() == [0.5]


def test_paired_comparison_matches_ttest_rel(store: str) -> None:
    df = load_runs("fab", store)
    result = paired_comparison(df, 0.9, "magnitude", "structured")
    expected = stats.ttest_rel(ACC[("magnitude", 0.9)], ACC[("structured", 0.9)])
    assert result["n"] == 3
    assert result["p"] == pytest.approx(expected.pvalue)
    assert result["t"] == pytest.approx(expected.statistic)


def test_figure_data_comes_from_the_summary(store: str) -> None:
    summary = summarize(load_runs("fab", store))
    curve = tradeoff_data(summary)
    mag = curve[curve["method"] == "magnitude"].sort_values("sparsity")
    assert mag["acc_pct"].tolist() == pytest.approx(
        [100 * np.mean(ACC[("magnitude", s)]) for s in (0.5, 0.9)])
    table = efficiency_table(summary).assign(sparsity=lambda t: t["sparsity_pct"] / 100)
    merged = table.merge(curve, left_on=["method", "sparsity"], right_on=["method", "sparsity"])
    assert merged["accuracy_pct"].tolist() == pytest.approx(merged["acc_pct"].tolist())
    pts = pd.DataFrame({"x": [1, 2, 3, 2], "y": [3, 2, 1, 1]})
    assert pareto_front(pts, "x", "y").tolist() == [True, True, True, False]
    pdata = pareto_data(summary)
    assert pdata["front_speedup"].any() and pdata["front_size"].any()


@pytest.fixture(scope="module")
def report(store: str, tmp_path_factory: pytest.TempPathFactory) -> ReportResult:
    """The fabricated sweep's report, built once for the tests that read it."""
    return build_report("fab", store, tmp_path_factory.mktemp("rep"))


def test_report_files_and_analysis_run(store: str, report: ReportResult) -> None:
    result = report
    out = result.out_dir
    for name in ("tradeoff_curve.png", "pareto.png", "efficiency_table.md", "efficiency_table.csv",
                 "efficiency_table.tex", "all_results.json", "all_results.parquet", "report.md"):
        assert (out / name).stat().st_size > 0, name
    csv = pd.read_csv(out / "efficiency_table.csv")
    summary = summarize(load_runs("fab", store))
    assert csv["accuracy_pct"].tolist() == pytest.approx((100 * summary["test_acc_mean"]).tolist())
    records = json.loads((out / "all_results.json").read_text())
    assert len(records) == len(pd.read_parquet(out / "all_results.parquet")) == 18
    text = (out / "report.md").read_text()
    assert "| 90 | structured vs magnitude | 3 |" in text
    assert "lottery s=0.9 seed=0: CUDA OOM" in text
    assert "lottery s=0.5 seed=2" in text  # the missing cell
    assert "recipe: default" in text
    client = MlflowClient(tracking_uri=store)
    run = client.get_run(result.analysis_run_id)
    assert run.data.tags["role"] == "analysis" and run.info.status == "FINISHED"
    logged = {a.path for a in client.list_artifacts(result.analysis_run_id)}
    assert {"report.md", "tradeoff_curve.png", "efficiency_table.csv"} <= logged


def test_declared_comparisons_are_paired_and_holm_corrected(store: str) -> None:
    df = load_runs("fab", store)
    family = declared_comparisons({"fab": [("magnitude", 0.5), ("magnitude", 0.9),
                                           ("structured", 0.5), ("structured", 0.9),
                                           ("lottery", 0.5)]}, {"fab": "magnitude"})
    # Fixed by the grid and the reference, not by which method came out on top.
    assert [(c.a, c.b, c.sparsity) for c in family] == [
        ("structured", "magnitude", 0.5), ("structured", "magnitude", 0.9),
        ("lottery", "magnitude", 0.5)]
    tests = compare_family(df, family)
    expected_p = [stats.ttest_rel(ACC[("structured", s)], ACC[("magnitude", s)]).pvalue
                  for s in (0.5, 0.9)]
    assert tests["p"].iloc[:2].tolist() == pytest.approx(expected_p)
    # Holm by hand over the two testable comparisons (lottery has 2 seeds: not tested).
    lo, hi = sorted(expected_p)
    holm_by_hand = {lo: min(1.0, 2 * lo), hi: max(min(1.0, 2 * lo), min(1.0, hi))}
    assert tests["p_holm"].iloc[:2].tolist() == pytest.approx([holm_by_hand[p]
                                                               for p in expected_p])
    diff = np.subtract(ACC[("structured", 0.9)], ACC[("magnitude", 0.9)])
    half = stats.t.ppf(0.975, 2) * stats.sem(diff)
    row = tests.iloc[1]
    assert (row["mean_diff"], row["ci_low"], row["ci_high"]) == pytest.approx(
        (diff.mean(), diff.mean() - half, diff.mean() + half))
    assert row["verdict"] == "lower"
    assert tests.iloc[2]["verdict"] == "cannot tell (n = 2)"
    assert np.isnan(tests.iloc[2]["p_holm"])


def test_holm_matches_a_hand_computation() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    # Sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 with the running maximum.
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_a_duplicated_seed_is_an_error_and_search_samples_keep_the_best_by_validation(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("dup", artifact_location=(tmp_path / "a").as_uri())
    parent = client.create_run(exp, tags={"role": "sweep"}).info.run_id
    for seed in (0, 1, 2, 0):
        _trial(client, exp, parent, "magnitude", 0.9, seed, 0.8)
    df = load_runs("dup", uri).assign(sweep="dup")
    with pytest.raises(DuplicateSeedError, match=r"magnitude s=0.9 has seed 0 in 2 finished"):
        one_sample_per_seed(df)
    # Through the CLI: one line, exit 2, no report written.
    from tune_app.cli import main

    capsys.readouterr()  # MLflow's own start-up lines from creating the store above
    code = main(["analyze", "dup", "--mlflow-uri", uri, "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "sweep 'dup': magnitude s=0.9 has seed 0 in 2 finished runs" in err[0]
    assert not (tmp_path / "runs" / "reports" / "dup" / "report.md").exists()
    exp = client.create_experiment("srch", artifact_location=(tmp_path / "b").as_uri())
    parent = client.create_run(exp, tags={"role": "sweep"}).info.run_id
    # Three samples of one cell: the best validation accuracy wins, not the best test one.
    for acc, val in ((0.95, 0.70), (0.80, 0.90), (0.85, 0.80)):
        _trial(client, exp, parent, "magnitude", 0.9, 0, acc, recipe="search", val=val)
    kept, notes = one_sample_per_seed(load_runs("srch", uri))
    assert kept["test_acc"].tolist() == [0.80]
    assert "best sample by validation accuracy (1 of 3" in notes[0]


def test_the_report_names_its_context_and_updates_one_analysis_run(
        store: str, report: ReportResult, tmp_path: Path) -> None:
    first = report
    text_of = (first.out_dir / "report.md").read_text()
    for text in ("**Data set**: fashion_mnist (train/validation/test images: 12000/2000/5000)",
                 "**Model**: resnet18 at width 0.125",
                 "dense 4 epoch(s), then retraining 3 epoch(s) per trial for every method",
                 "**Seeds**: 0, 1, 2 (n = 3)", "reference method `magnitude`", "torch ",
                 "**Timed**"):
        assert text in text_of, text
    client = MlflowClient(tracking_uri=store)
    before = int(client.get_run(first.analysis_run_id).data.tags["versions"])
    second = build_report("fab", store, tmp_path / "r2")
    assert second.analysis_run_id == first.analysis_run_id
    runs = client.search_runs([client.get_experiment_by_name("fab").experiment_id],
                              "tags.role = 'analysis'")
    # One analysis run per sweep, updated; each report kept as a version beside the latest.
    assert len(runs) == 1 and runs[0].data.tags["versions"] == str(before + 1)
    versions = [a.path for a in client.list_artifacts(first.analysis_run_id, "versions")]
    assert len(versions) == before + 1
    assert {"report.md", "tradeoff_curve.pdf"} <= {
        a.path.rsplit("/", 1)[-1] for a in client.list_artifacts(first.analysis_run_id,
                                                                 versions[0])}


def test_progress_table(store: str) -> None:
    table = cell_progress(load_runs("fab", store))
    row = table[(table["method"] == "lottery") & (table["sparsity"] == 0.9)].iloc[0]
    assert (row["finished"], row["failed"]) == (0, 1)
    assert "structured" in format_progress(table)


def test_compare_puts_sweeps_side_by_side(store: str, tmp_path: Path) -> None:
    client = MlflowClient(tracking_uri=store)
    exp = client.create_experiment("fab-other", artifact_location=(tmp_path / "a").as_uri())
    parent = client.create_run(exp, tags={"role": "sweep"}).info.run_id
    for seed in SEEDS:
        _trial(client, exp, parent, "magnitude", 0.9, seed, 0.7 + 0.01 * seed)
    result = build_report("fab", store, tmp_path / "cmp", compare=["fab-other"])
    csv = pd.read_csv(result.out_dir / "efficiency_table.csv")
    other = csv[(csv["sweep"] == "fab-other") & (csv["method"] == "magnitude")]
    assert other["accuracy_pct"].item() == pytest.approx(71.0)
    assert "magnitude" in set(csv[csv["sweep"] == "fab"]["method"])
    report = (result.out_dir / "report.md").read_text()
    assert "Compared with: fab-other" in report
    # Each sweep's own grid: fab-other ran magnitude at 0.9 only, so nothing of it is missing;
    # fab's gaps are its own (lottery).
    assert all("(fab)" in " ".join(map(str, m)) for m in result.missing), result.missing
    assert len(result.missing) == 4
    assert "| 90 | magnitude (fab) vs magnitude (fab-other) | 3 |" in report


def test_a_sparsity_zero_control_is_one_cell_per_seed_not_a_row_of_gaps() -> None:
    from analysis.report import missing_cells

    rows = [{"role": "trial", "method": m, "sparsity_target": s, "seed": e, "status": "FINISHED"}
            for m, s in [("magnitude", 0.5), ("magnitude", 0.9), ("unpruned", 0.0)]
            for e in (0, 1)]
    df = pd.DataFrame(rows[:-1])  # unpruned seed 1 never finished
    assert missing_cells(df) == [("unpruned", 0.0, 1)]


def test_one_unit_per_quantity_percent_in_the_report_fractions_in_mlflow(
        store: str, report: ReportResult) -> None:
    out = report.out_dir
    text = (out / "report.md").read_text()
    assert text.splitlines()[2].startswith(
        "**Units**: accuracies and sparsities are percentages in this report")
    # MLflow keeps the fraction ...
    df = load_runs("fab", store)
    cell = (df["method"] == "magnitude") & (df["sparsity_target"] == 0.9) & (df["seed"] == 1)
    assert df.loc[cell, "test_acc"].item() == pytest.approx(0.885)
    # ... every file of the report holds percent, under a name that says so.
    records = json.loads((out / "all_results.json").read_text())
    rec = next(r for r in records if r["method"] == "magnitude" and r["seed"] == 1
               and r["sparsity_target_pct"] == 90)
    assert rec["test_acc_pct"] == pytest.approx(88.5) and rec["sparsity_pct"] == 90.1
    assert not {"test_acc", "sparsity", "sparsity_target", "best_val_acc"} & set(rec)
    parquet = pd.read_parquet(out / "all_results.parquet")
    assert parquet["test_acc_pct"].max() == pytest.approx(92.2)  # dense seed 2: 0.922
    comparisons = pd.read_csv(out / "comparisons.csv")
    row = comparisons[(comparisons["sparsity_pct"] == 90)
                      & (comparisons["a"] == "structured")].iloc[0]
    diff = np.subtract(ACC[("structured", 0.9)], ACC[("magnitude", 0.9)]).mean()
    assert row["mean_diff_pct"] == pytest.approx(100 * diff)  # -8.40 points
    assert row["ci_low_pct"] < row["mean_diff_pct"] < row["ci_high_pct"]
    assert not {"sparsity", "mean_diff", "ci_low", "ci_high"} & set(comparisons.columns)
    table = pd.read_csv(out / "efficiency_table.csv")
    assert sorted(set(table["sparsity_pct"])) == [0, 50, 90]
    # The report's tables: numbers in percent, the unit in the column name.
    assert "| Method | Sparsity (%) | Accuracy (%, ± 95% CI) |" in text
    assert "| magnitude | 90 | 88.23 ± " in text
    assert "| sparsity (%) | comparison | n | difference (percentage points) |" in text
    assert "| 90 | structured vs magnitude | 3 | -8.40 |" in text


def test_the_hardware_line_says_the_measured_load_and_the_null_test(
        report: ReportResult) -> None:
    text = (report.out_dir / "report.md").read_text()
    hardware = next(line for line in text.splitlines() if line.startswith("- **Hardware**"))
    assert "nothing else running" not in hardware
    assert ("from measurement set `sweep` on cpu (Test CPU, 2 logical CPU(s)), 1 thread(s); "
            "load average 0.30 before / 0.45 after timing on 2 core(s), other processes busy "
            "on 0.05 of them while timing; null test (dense vs a copy of itself) 1.002x at "
            "batch 1, spread 0.970-1.030") in hardware
    assert "unreliable" not in hardware
    assert "lies within the null test's spread at batch 1 (0.970-1.030x)" in text
    # Nothing pruned beat the dense baseline here: no budget sentence.
    assert "above the dense baseline" not in text


def test_a_null_test_outside_five_percent_flags_the_timings_unreliable() -> None:
    from analysis.measurements import MeasurementSet, null_reliable

    ok = {"null_ratio_b1": 1.0, "null_ratio_b1_min": 0.951, "null_ratio_b1_max": 1.049}
    assert null_reliable(ok)
    for key, value in (("null_ratio_b1_min", 0.949), ("null_ratio_b1_max", 1.051),
                       ("null_ratio_b1", 1.06)):
        assert not null_reliable({**ok, key: value}), key
    assert not null_reliable({})  # no null test: nothing says the timings are sound
    wide = MeasurementSet("cpu-x", "r", "Test CPU", "cpu", "2", {
        "null_ratio_b1": 1.08, "null_ratio_b1_min": 0.91, "null_ratio_b1_max": 1.12})
    line = wide.describe()
    assert ("null test (dense vs a copy of itself) 1.080x at batch 1, spread 0.910-1.120; "
            "timings unreliable on this machine") in line
    assert "machine load not recorded" in line and "nothing else running" not in line
    assert wide.null_band == (0.91, 1.12)


def test_pruned_models_above_the_dense_baseline_are_compared_with_unpruned() -> None:
    from analysis.report_sections import budget_lines

    def summary(control: bool) -> pd.DataFrame:
        rows = [("dense", 0.0, 0.62, 2), ("magnitude", 0.5, 0.655, 4), ("magnitude", 0.9, 0.60, 4),
                ("lottery", 0.5, 0.64, 3), ("rigl", 0.5, 0.70, 2)]
        rows += [("unpruned", 0.0, 0.671, 4)] if control else []
        return pd.DataFrame([{"sweep": "s", "method": m, "sparsity_target": s,
                              "test_acc_mean": a, "epochs_total_mean": float(e)}
                             for m, s, a, e in rows])

    # rigl beat the dense baseline on the same 2 epochs: not the extra training, not named.
    assert budget_lines(summary(True)) == [
        "magnitude at 50% (65.5%, 4 epochs), lottery at 50% (64.0%, 3 epochs) score above the "
        "dense baseline (62.0%, 2 epochs in total) but trained for more epochs in total, as "
        "did the `unpruned` control, the dense model retrained as long without pruning (67.1%, "
        "4 epochs): compare them with `unpruned`, as the comparisons below do, not with the "
        "dense baseline.", ""]
    line = budget_lines(summary(False))[0]
    assert "and this sweep has no `unpruned` control" in line and "add it to the grid" in line
    below = summary(True).assign(test_acc_mean=lambda d: d["test_acc_mean"].clip(upper=0.62))
    assert budget_lines(below) == []
