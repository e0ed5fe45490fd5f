"""The sweep report: figures, tables, per-sparsity verdicts, failures and gaps, in MLflow too."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from mlflow import MlflowClient

from analysis.load import SweepNotFoundError, load_runs
from analysis.plots import plot_pareto, plot_tradeoff
from analysis.stats import paired_comparison, summarize
from analysis.tables import display_table, efficiency_table, markdown, write_tables

ALPHA = 0.05


@dataclass(frozen=True)
class ReportResult:
    """Where the report went and what it covered."""

    out_dir: Path
    files: list[Path]
    analysis_run_id: str
    n_trials: int
    n_failed: int
    missing: list[tuple[str, float, int]]


def missing_cells(df: pd.DataFrame) -> list[tuple[str, float, int]]:
    """(method, sparsity, seed) cells of the grid seen in the sweep with no FINISHED run.

    A method seen only at sparsity 0 is a control (``unpruned``): its grid is that one cell
    per seed, not every sparsity of the others."""
    trials = df[df["role"] == "trial"]
    if not len(trials):
        return []
    done = {(m, s, e) for m, s, e, st in trials[["method", "sparsity_target", "seed", "status"]]
            .itertuples(index=False) if st == "FINISHED"}
    seen = trials.groupby("method")["sparsity_target"].agg(set).to_dict()
    pruned_grid = sorted({s for s in trials["sparsity_target"].unique() if s != 0})
    grid = [(m, s, e) for m in sorted(seen)
            for s in ([0.0] if seen[m] == {0.0} else pruned_grid)
            for e in sorted(trials["seed"].unique())]
    return [(str(m), float(s), int(e)) for m, s, e in grid if (m, s, e) not in done]


def _label(method: str, sparsity: float, seed: int) -> str:
    if method == "dense":
        return f"dense baseline seed={seed}"
    return f"{method} s={sparsity:g} seed={seed}"


def verdicts(df: pd.DataFrame, summary: pd.DataFrame) -> list[str]:
    """Per sparsity: the best method by mean test accuracy, and whether its lead is significant."""
    lines = []
    trials = summary[summary["method"] != "dense"]
    for sparsity, group in trials.groupby("sparsity_target"):
        ranked = group.sort_values("test_acc_mean", ascending=False)
        best = ranked.iloc[0]
        head = (f"- **{100 * sparsity:.0f}%**: best is **{best['method']}** "
                f"({100 * best['test_acc_mean']:.2f}%")
        if len(ranked) < 2:
            lines.append(head + "); no other method to compare.")
            continue
        second = ranked.iloc[1]
        cmp = paired_comparison(df, sparsity, best["method"], second["method"])
        lead = 100 * (best["test_acc_mean"] - second["test_acc_mean"])
        head += f", {lead:+.2f} points over {second['method']}"
        if cmp["n"] < 2:
            lines.append(head + f"); too few seeds to tell (n={cmp['n']} paired).")
        elif math.isnan(cmp["p"]):
            lines.append(head + f"); identical on all {cmp['n']} seeds, no test possible.")
        else:
            word = "significant" if cmp["p"] < ALPHA else "not significant"
            lines.append(head + f"); paired t-test over {cmp['n']} seeds: p = {cmp['p']:.3g}, "
                         f"{word} at {ALPHA:g}.")
    return lines


def _recipes(df: pd.DataFrame) -> list[str]:
    trials = df[df["role"] == "trial"]
    lines = []
    for method, group in trials.groupby("method"):
        first = group.iloc[0]
        keys = ["epochs", "lr", "weight_decay", "patience", "batch_size"]
        parts = [f"{k}={first.get(f'param.finetune.{k}', 'n/a')}" for k in keys]
        source = first.get("recipe") or "default"
        lines.append(f"- {method}: {', '.join(parts)} (recipe: {source})")
    return lines


def build_report(sweep: str, tracking_uri: str | None, out_dir: Path,
                 compare: Sequence[str] = ()) -> ReportResult:
    """Write every report file to ``out_dir`` and log them to a ``role=analysis`` run."""
    frames = [load_runs(sweep, tracking_uri)]
    for other in compare:
        extra = load_runs(other, tracking_uri)
        extra["method"] = other + "/" + extra["method"]
        frames.append(extra)
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if not len(df):
        raise SweepNotFoundError(f"sweep {sweep!r} has no trial or dense runs yet")
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = summarize(df)
    table = efficiency_table(summary)
    files = write_tables(table, out_dir)
    plot_tradeoff(summary, out_dir / "tradeoff_curve.png")
    plot_pareto(summary, out_dir / "pareto.png")
    records = json.loads(df.to_json(orient="records", date_format="iso"))
    (out_dir / "all_results.json").write_text(json.dumps(records, indent=2))
    df.to_parquet(out_dir / "all_results.parquet", index=False)
    failed = df[df["status"] == "FAILED"]
    missing = missing_cells(df)
    lines = [f"# Pruning sweep report: {sweep}", ""]
    if compare:
        lines += [f"Compared with: {', '.join(compare)}", ""]
    n_trials = int((df["role"] == "trial").sum())
    lines += [f"{n_trials} trial run(s), {len(failed)} failed, {len(missing)} missing cell(s). "
              "Accuracies are test accuracies of the best-validation checkpoint, mean ± 95% "
              "CI (Student t over seeds).", "",
              "![trade-off](tradeoff_curve.png)", "", "![pareto](pareto.png)", "",
              "## Efficiency", "", markdown(display_table(table)),
              "## Best method per sparsity", "", *verdicts(df, summary), "",
              "## Fine-tuning recipes", "", *_recipes(df), ""]
    if len(failed):
        lines += ["## Failed trials", ""]
        lines += [f"- {_label(r.method, r.sparsity_target, r.seed)}: {r.error or 'no error text'}"
                  for r in failed.itertuples()]
        lines.append("")
    if missing:
        lines += ["## Missing cells (no finished run)", ""]
        lines += [f"- {m} s={s:g} seed={e}" for m, s, e in missing]
        lines.append("")
    (out_dir / "report.md").write_text("\n".join(lines))
    files += [out_dir / n for n in ("tradeoff_curve.png", "pareto.png", "all_results.json",
                                    "all_results.parquet", "report.md")]
    run_id = _log_analysis_run(sweep, tracking_uri, files, n_trials)
    return ReportResult(out_dir, files, run_id, n_trials, len(failed), missing)


def _log_analysis_run(sweep: str, tracking_uri: str | None, files: list[Path], n: int) -> str:
    client = MlflowClient(tracking_uri=tracking_uri)
    exp = client.get_experiment_by_name(sweep)
    parents = client.search_runs([exp.experiment_id], "tags.role = 'sweep'", max_results=1)
    tags = {"role": "analysis", "sweep": sweep, "mlflow.runName": f"analysis-{sweep}"}
    if parents:
        tags["mlflow.parentRunId"] = parents[0].info.run_id
    run = client.create_run(exp.experiment_id, tags=tags)
    client.log_metric(run.info.run_id, "trials_analyzed", n)
    for path in files:
        client.log_artifact(run.info.run_id, str(path))
    client.set_terminated(run.info.run_id, "FINISHED")
    return run.info.run_id
