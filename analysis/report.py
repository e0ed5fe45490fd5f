"""The sweep report: context, figures, tables, declared comparisons, failures and gaps, and the
sweep's one analysis run in MLflow."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from mlflow import MlflowClient

from analysis.context import header_lines, sweep_context
from analysis.figures import figure_files
from analysis.load import SweepNotFoundError, load_runs
from analysis.measurements import MeasurementSet, MeasurementSetError, apply_set, find_set
from analysis.pareto_plot import plot_pareto
from analysis.report_sections import budget_lines, comparison_lines, null_rule_lines, recipe_lines
from analysis.stats import (
    compare_family,
    declared_comparisons,
    one_sample_per_seed,
    summarize,
)
from analysis.tables import (
    NULL_BAND,
    display_table,
    efficiency_table,
    markdown,
    write_tables,
)
from analysis.tradeoff_plot import plot_tradeoff
from pruning.schema import FINAL, METRICS, dense_label, trial_label

# The report's one rule for units, stated at its top.
UNITS = ("**Units**: accuracies and sparsities are percentages in this report, its tables, its "
         "figures and its CSV/JSON/Parquet files, where their columns end in `_pct` (test "
         "accuracy 90.7% is `test_acc_pct` 90.7), while MLflow keeps them as fractions under "
         "the bare name (`test_acc` 0.907; `param.*` columns are MLflow's params as logged); "
         "speedups and compression are ratios (×).")
# Columns of shares (fractions in MLflow) that the report's files hold in percent as ``<name>_pct``.
RUN_SHARES = (*(m for m in FINAL if METRICS[m].unit == "fraction"), "sparsity_target")
COMPARISON_SHARES = ("sparsity", "mean_diff", "ci_low", "ci_high")


@dataclass(frozen=True)
class ReportResult:
    """Where the report went and what it covered."""

    out_dir: Path
    files: list[Path]
    analysis_run_id: str | None
    n_trials: int
    n_failed: int
    missing: list[tuple[str, float, int]]


def missing_cells(df: pd.DataFrame, grid: Sequence[tuple[str, float]] | None = None,
                  seeds: Sequence[int] | None = None) -> list[tuple[str, float, int]]:
    """(method, sparsity, seed) cells of one sweep's grid with no FINISHED run.

    The grid is the sweep's own declared one when given; otherwise the one seen in its runs,
    where a method seen only at sparsity 0 is a control (``unpruned``): its grid is that one
    cell per seed, not every sparsity of the others."""
    trials = df[df["role"] == "trial"]
    done = {(m, s, e) for m, s, e, st in trials[["method", "sparsity_target", "seed", "status"]]
            .itertuples(index=False) if st == "FINISHED"}
    if grid is None:
        if not len(trials):
            return []
        seen = trials.groupby("method")["sparsity_target"].agg(set).to_dict()
        pruned_grid = sorted({s for s in trials["sparsity_target"].unique() if s != 0})
        grid = [(m, s) for m in sorted(seen)
                for s in ([0.0] if seen[m] == {0.0} else pruned_grid)]
    if seeds is None:
        seeds = sorted(int(e) for e in trials["seed"].unique())
    return [(str(m), float(s), int(e)) for m, s in grid for e in seeds
            if (m, s, e) not in done]


def _label(method: str, sparsity: float, seed: int) -> str:
    return dense_label(seed) if method == "dense" else trial_label(method, sparsity, seed)


def in_percent(df: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """``df`` with each of ``columns`` (fractions, as MLflow logs them) in percent, renamed
    ``<name>_pct`` in place: the report's files follow the report's unit."""
    out = df.copy()
    present = [c for c in columns if c in out]
    for column in present:
        out[column] = (100 * out[column]).round(10)  # 90.7, not 90.70000000000002
    return out.rename(columns={c: f"{c}_pct" for c in present})


def with_null_bands(summary: pd.DataFrame, bands: dict[str, tuple[float, float]]
                    ) -> pd.DataFrame:
    """The summary with each sweep's batch-1 null test spread (``null_ratio_b1_min`` / ``_max``
    from the set that timed it; NaN for a sweep without one) beside every row."""
    out = summary.copy()
    for i, name in enumerate(NULL_BAND):
        out[name] = [bands.get(s, (math.nan, math.nan))[i] for s in out["sweep"]]
    return out


def build_report(sweep: str, tracking_uri: str | None, out_dir: Path,
                 compare: Sequence[str] = (), measurement: str | None = None,
                 partial: str | None = None, log_run: bool = True) -> ReportResult:
    """Write every report file to ``out_dir`` and log them to the sweep's analysis run (unless
    ``log_run`` is false: a read-only store), with the latencies of measurement set
    ``measurement`` (default: the sweep's own). ``partial`` says, at the top of the report,
    that the sweep was still running when it was built.

    Raises ``SweepNotFoundError`` for an unknown sweep or measurement set and
    ``DuplicateSeedError`` when a cell holds a seed twice."""
    sweeps = [sweep, *compare]
    frames = [load_runs(s, tracking_uri) for s in sweeps]
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if not len(df) or not (df["sweep"] == sweep).any():
        raise SweepNotFoundError(f"sweep {sweep!r} has no trial or dense runs yet")
    df, notes = one_sample_per_seed(df)
    client = MlflowClient(tracking_uri=tracking_uri)
    try:
        mset = find_set(client, sweep, measurement)
    except MeasurementSetError as exc:
        raise SweepNotFoundError(str(exc)) from None
    if mset is not None:
        df = apply_set(df, client, sweep, mset)
    timing = mset.describe() if mset else "not timed yet (`prune-sweep measure` times them)"
    contexts = [sweep_context(client, s, df) for s in sweeps]
    out_dir.mkdir(parents=True, exist_ok=True)
    # Each sweep's null test: the chosen set's for this one, the others' own sets.
    sets: dict[str, MeasurementSet | None] = {sweep: mset}
    sets.update({s: find_set(client, s, None) for s in compare})
    bands = {s: m.null_band if m else (math.nan, math.nan) for s, m in sets.items()}
    summary = with_null_bands(summarize(df), bands)
    table = efficiency_table(summary)
    files = write_tables(table, out_dir)
    plot_tradeoff(summary, out_dir / "tradeoff_curve.png")
    plot_pareto(summary, out_dir / "pareto.png")
    files += figure_files(out_dir / "tradeoff_curve.png") + figure_files(out_dir / "pareto.png")
    family = declared_comparisons({c.sweep: c.grid for c in contexts},
                                  {c.sweep: c.reference for c in contexts if c.reference})
    tests = compare_family(df, family)
    in_percent(tests, COMPARISON_SHARES).to_csv(out_dir / "comparisons.csv", index=False)
    results = in_percent(df, RUN_SHARES)
    records = json.loads(results.to_json(orient="records", date_format="iso"))
    (out_dir / "all_results.json").write_text(json.dumps(records, indent=2))
    results.to_parquet(out_dir / "all_results.parquet", index=False)
    failed = df[df["status"] == "FAILED"]
    missing = [(m if len(sweeps) == 1 else f"{m} ({c.sweep})", s, e) for c in contexts
               for m, s, e in missing_cells(df[df["sweep"] == c.sweep], c.grid, c.seeds)]
    n_trials = int((df["role"] == "trial").sum())
    lines = [f"# Pruning sweep report: {sweep}", "", UNITS, ""]
    if partial:
        lines += [f"**Partial report:** {partial}", ""]
    if compare:
        lines += [f"Compared with: {', '.join(compare)} (each with its own grid and dense "
                  "baseline; one colour per method, one line style per sweep).", ""]
    for ctx in contexts:
        if len(contexts) > 1:
            lines += [f"### {ctx.sweep}", ""]
        own = sets.get(ctx.sweep)
        lines += [*header_lines(ctx, timing if ctx.sweep == sweep else own.describe() if own
                                else "not timed"), ""]
    lines += [f"{n_trials} trial run(s), {len(failed)} failed, {len(missing)} missing cell(s). "
              "Accuracies are test accuracies of the best-validation checkpoint, mean ± 95% "
              "CI (Student t over seeds; none with one seed).", "", *notes, "",
              *budget_lines(summary),
              "![trade-off](tradeoff_curve.png)", "", "![pareto](pareto.png)", "",
              "Figures also as PDF and SVG beside the PNG.", "", *null_rule_lines(bands),
              "## Efficiency", "", markdown(display_table(table)),
              "## Comparisons", "", *comparison_lines(tests), "",
              "## Retraining recipes", "", *recipe_lines(df), ""]
    if len(failed):
        lines += ["## Failed trials", ""]
        lines += [f"- {_label(r.method, r.sparsity_target, r.seed)}: {r.error or 'no error text'}"
                  for r in failed.itertuples()]
        lines.append("")
    if missing:
        lines += ["## Missing cells (no finished run)", ""]
        lines += [f"- {trial_label(m, s, e)}" for m, s, e in missing]
        lines.append("")
    (out_dir / "report.md").write_text("\n".join(lines))
    files += [out_dir / n for n in ("comparisons.csv", "all_results.json", "all_results.parquet",
                                    "report.md")]
    run_id = _log_analysis_run(client, sweep, files, n_trials, compare) if log_run else None
    return ReportResult(out_dir, files, run_id, n_trials, len(failed), missing)


def _log_analysis_run(client: MlflowClient, sweep: str, files: list[Path], n: int,
                      compare: Sequence[str]) -> str:
    """The sweep's one ``role=analysis`` run, created once and updated by every ``analyze``:
    the latest files at the artifact root, every version under ``versions/<n>-<UTC time>/``."""
    exp = client.get_experiment_by_name(sweep)
    found = client.search_runs([exp.experiment_id], "tags.role = 'analysis'",
                               order_by=["attributes.start_time ASC"], max_results=1)
    if found:
        run_id = found[0].info.run_id
        version = int(found[0].data.tags.get("versions", "1")) + 1
        client.update_run(run_id, status="RUNNING")
    else:
        parents = client.search_runs([exp.experiment_id], "tags.role = 'sweep'", max_results=1)
        tags = {"role": "analysis", "sweep": sweep, "mlflow.runName": f"analysis-{sweep}"}
        if parents:
            tags["mlflow.parentRunId"] = parents[0].info.run_id
        run_id = client.create_run(exp.experiment_id, tags=tags).info.run_id
        version = 1
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    client.set_tag(run_id, "versions", str(version))
    client.set_tag(run_id, "compare", ",".join(compare))
    client.log_metric(run_id, "trials_analyzed", n, step=version)
    for path in files:
        client.log_artifact(run_id, str(path))
        client.log_artifact(run_id, str(path), f"versions/{version:03d}-{stamp}")
    client.set_terminated(run_id, "FINISHED")
    return run_id
