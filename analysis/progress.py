"""Per-cell progress of a sweep (for ``prune-sweep status``)."""

from __future__ import annotations

import pandas as pd


def cell_progress(df: pd.DataFrame) -> pd.DataFrame:
    """Rows: method x sparsity; columns: seeds FINISHED, RUNNING, FAILED, and mean test acc."""
    trials = df[df["role"] == "trial"]
    rows = []
    for (method, sparsity), group in trials.groupby(["method", "sparsity_target"]):
        status = group["status"].value_counts()
        done = group[group["status"] == "FINISHED"]
        rows.append({
            "method": method, "sparsity": sparsity,
            "finished": int(status.get("FINISHED", 0)), "running": int(status.get("RUNNING", 0)),
            "failed": int(status.get("FAILED", 0)),
            "test_acc": float(done["test_acc"].mean()) if len(done) else float("nan"),
        })
    return pd.DataFrame(rows, columns=["method", "sparsity", "finished", "running", "failed",
                                       "test_acc"])


def format_progress(table: pd.DataFrame) -> str:
    """A compact terminal table; percentages say so in their column names."""
    lines = [f"{'method':14} {'sparsity (%)':>12} {'done':>5} {'run':>4} {'fail':>5} "
             f"{'test acc (%)':>12}"]
    for r in table.itertuples(index=False):
        acc = "-" if pd.isna(r.test_acc) else f"{100 * r.test_acc:.1f}"
        lines.append(f"{r.method:14} {100 * r.sparsity:12g} {r.finished:5} {r.running:4} "
                     f"{r.failed:5} {acc:>12}")
    return "\n".join(lines)
