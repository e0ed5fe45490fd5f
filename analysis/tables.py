"""The efficiency table (the seed report's Table 1 columns, plus MACs) in md, csv and tex."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd


def _pm(mean: float, ci: float, scale: float = 100.0, digits: int = 2) -> str:
    if math.isnan(mean):
        return "n/a"
    text = f"{scale * mean:.{digits}f}"
    return text if math.isnan(ci) else f"{text} ± {scale * ci:.{digits}f}"


def _times(text: str) -> str:
    return text if text == "n/a" else text + "x"


def _sparse(ratio: float | None) -> str:
    if ratio is None or math.isnan(ratio):
        return "n/a"
    return f"{ratio:.2f}x" if ratio > 1 else f"slower ({ratio:.2f}x)"


def efficiency_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Numeric table: one row per method and sparsity, dense first (from ``summarize``)."""
    return pd.DataFrame({
        "method": summary["method"],
        "sparsity": summary["sparsity_target"],
        "n_seeds": summary["n"],
        "accuracy_pct": 100 * summary["test_acc_mean"],
        "accuracy_ci95_pct": 100 * summary["test_acc_ci95"],
        "measured_sparsity_pct": 100 * summary["sparsity_mean"],
        "params_nonzero": summary["params_nonzero_mean"],
        "size_bytes_compact": summary.get("size_bytes_compact_mean"),
        "latency_ms_b1": summary["latency_ms_b1_mean"],
        "compression_ratio": summary.get("compression_ratio_mean"),
        "speedup_b1": summary.get("speedup_b1_mean"),
        "sparse_ratio_b1": summary.get("sparse_ratio_b1_mean"),
        "macs": summary["macs_mean"],
        "epochs_trained": summary["epochs_trained_mean"],
        "epochs_total": summary["epochs_total_mean"],
    })


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """Formatted strings for markdown and LaTeX."""
    def num(v: float, fmt: str) -> str:
        return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)

    return pd.DataFrame({
        "Method": table["method"],
        "Sparsity": [num(100 * s, ".0f") + "%" for s in table["sparsity"]],
        "Accuracy (%)": [_pm(a / 100, c / 100) for a, c in
                         zip(table["accuracy_pct"], table["accuracy_ci95_pct"], strict=True)],
        # The budget beside the accuracy (DESIGN.md section 9): retraining after pruning, and
        # every epoch the result depended on (dense training included).
        "Epochs (retrain / total)": [f"{num(r, '.0f')} / {num(t, '.0f')}" for r, t in
                                     zip(table["epochs_trained"], table["epochs_total"],
                                         strict=True)],
        "Params (nonzero)": [num(p / 1e6, ".3f") + "M" for p in table["params_nonzero"]],
        "Size (MB)": [num(s / 1e6, ".2f") for s in table["size_bytes_compact"]],
        "Latency (ms)": [num(v, ".2f") for v in table["latency_ms_b1"]],
        "Compression": [_times(num(v, ".1f")) for v in table["compression_ratio"]],
        "Speedup": [_times(num(v, ".2f")) for v in table["speedup_b1"]],
        # Masked models timed on CSR kernels (pruning.sparse_exec): a speedup, or said slower.
        "Sparse kernels": [_sparse(v) for v in table["sparse_ratio_b1"]],
        "MACs (M)": [num(m / 1e6, ".1f") for m in table["macs"]],
        "Seeds": table["n_seeds"],
    })


def write_tables(table: pd.DataFrame, out: Path) -> list[Path]:
    """efficiency_table.{csv,md,tex}: numbers in csv, formatted text in md and tex."""
    paths = [out / f"efficiency_table.{ext}" for ext in ("csv", "md", "tex")]
    table.to_csv(paths[0], index=False)
    shown = display_table(table)
    paths[1].write_text(markdown(shown))
    paths[2].write_text(shown.to_latex(index=False, escape=True))
    return paths


def markdown(table: pd.DataFrame) -> str:
    """A GitHub-style markdown table."""
    cols = [str(c) for c in table.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join(" --- " for _ in cols) + "|"]
    for row in table.itertuples(index=False):
        lines.append("| " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines) + "\n"
