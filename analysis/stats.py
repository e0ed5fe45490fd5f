"""Statistics over seeds: means with Student-t 95% intervals, paired comparisons."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

SUMMARY_METRICS = (
    "test_acc", "sparsity", "params_nonzero", "macs", "theoretical_speedup", "latency_ms_b1",
    "speedup_b1", "throughput", "size_bytes_compact", "compression_ratio", "epochs_trained",
    "epochs_total", "sparse_ratio_b1",
)


def ci95_halfwidth(values: np.ndarray) -> float:
    """Half-width of the 95% Student-t interval of the mean; NaN with fewer than 2 values."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    n = len(values)
    if n < 2:
        return float("nan")
    return float(stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / math.sqrt(n))


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Per (method, target sparsity) over FINISHED runs: ``<metric>_mean``, ``_std``, ``_ci95``
    and ``n`` (seeds). Dense baselines appear as method ``dense`` at sparsity 0. Runs without a
    test accuracy (search samples a scheduler stopped early) are left out."""
    done = df[(df["status"] == "FINISHED") & df["test_acc"].notna()]
    rows = []
    for (method, target), group in done.groupby(["method", "sparsity_target"], sort=True):
        row: dict = {"method": method, "sparsity_target": target, "n": len(group),
                     "seeds": ",".join(str(s) for s in sorted(group["seed"]))}
        for metric in SUMMARY_METRICS:
            values = group[metric].to_numpy(dtype=float) if metric in group else np.array([])
            row[f"{metric}_mean"] = float(np.mean(values)) if len(values) else float("nan")
            row[f"{metric}_std"] = float(np.std(values, ddof=1)) if len(values) > 1 else float(
                "nan")
            row[f"{metric}_ci95"] = ci95_halfwidth(values)
        rows.append(row)
    columns = ["method", "sparsity_target", "n", "seeds"] + [
        f"{m}_{k}" for m in SUMMARY_METRICS for k in ("mean", "std", "ci95")]
    out = pd.DataFrame(rows, columns=columns)
    if len(out):
        # Dense first, then methods in name order, sparsities ascending.
        out["_dense"] = out["method"] != "dense"
        out = out.sort_values(["_dense", "method", "sparsity_target"]).drop(columns="_dense")
    return out.reset_index(drop=True)


def paired_comparison(df: pd.DataFrame, sparsity: float, a: str, b: str,
                      metric: str = "test_acc") -> dict:
    """Paired t-test of ``a`` vs ``b`` over the seeds both finished at ``sparsity``."""
    done = df[(df["status"] == "FINISHED") & (df["sparsity_target"] == sparsity)]
    xa = done[done["method"] == a].set_index("seed")[metric]
    xb = done[done["method"] == b].set_index("seed")[metric]
    seeds = sorted(set(xa.index) & set(xb.index))
    result = {"a": a, "b": b, "n": len(seeds), "mean_diff": float("nan"),
              "t": float("nan"), "p": float("nan")}
    if seeds:
        diff = xa.loc[seeds].to_numpy() - xb.loc[seeds].to_numpy()
        result["mean_diff"] = float(diff.mean())
    if len(seeds) >= 2:
        test = stats.ttest_rel(xa.loc[seeds].to_numpy(), xb.loc[seeds].to_numpy())
        result["t"], result["p"] = float(test.statistic), float(test.pvalue)
    return result
