"""The efficiency table (accuracy, sparsity, size, speed, MACs, budget) in md, csv and tex.

``efficiency_table`` holds the numbers (the csv); ``display_table`` formats them for people
(markdown in the report, a booktabs tabular for a paper). The figures
(``analysis.tradeoff_plot``, ``analysis.pareto_plot``) draw from the same summary and clip
confidence intervals with the same ``clipped_ci``."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd

from pruning.schema import SUMMARY

# The batch-1 null test's spread (dense vs a copy of itself) of the set that timed each sweep,
# added to the summary by the report (``analysis.report``); NaN where no set recorded one.
NULL_BAND = ("null_ratio_b1_min", "null_ratio_b1_max")
WITHIN_NULL = "~1.00x (within null)"
SPARSITY = "Sparsity (%)"
ACCURACY = "Accuracy (%, ± 95% CI)"
LATENCY = "Latency (ms, spread)"
SPEEDUP = "Speedup"
SPARSE = "Sparse kernels"
# display_table's columns of formatted numbers: right-aligned in markdown and LaTeX.
NUMERIC_HEADERS = frozenset({
    SPARSITY, ACCURACY, "Epochs (retrain / total)", "Params (nonzero)", "Size (MB)", LATENCY,
    "Compression", SPEEDUP, SPARSE, "MACs (M)", "Seeds",
})
_TEX = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}", "±": r"$\pm$",
    "×": r"$\times$", "–": "--",
}
_RATIO = re.compile(r"(\d)x\b")  # "1.73x" in markdown is "1.73$\times$" in LaTeX


def with_defaults(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary with ``sweep``, ``execution`` and every metric column present: summaries from
    before those columns (or runs that never logged a metric) get "" or NaN, not a KeyError."""
    out = summary.copy()
    for name in ("sweep", "execution"):
        if name not in out:
            out[name] = ""
    for metric in SUMMARY:
        for kind in ("mean", "std", "ci95"):
            if f"{metric}_{kind}" not in out:
                out[f"{metric}_{kind}"] = float("nan")
    for name in NULL_BAND:
        if name not in out:
            out[name] = float("nan")
    return out


def within_null(ratio: pd.Series, low: pd.Series, high: pd.Series) -> pd.Series:
    """Whether each speedup lies within the null test's [low, high]: a ratio the protocol
    also reads when nothing differs is no measurable speedup. False where any is NaN."""
    return (ratio >= low) & (ratio <= high)


def clipped_ci(acc_pct: pd.Series, ci_pct: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Lower and upper 95% CI bounds of an accuracy in percent, clipped to [0, 100].

    With two or three seeds the Student-t half-width can exceed the distance to 0 or 100; an
    accuracy interval past those bounds says nothing more, so tables and figures both stop
    there. NaN where there is no interval (n < 2)."""
    return (acc_pct - ci_pct).clip(0.0, 100.0), (acc_pct + ci_pct).clip(0.0, 100.0)


def efficiency_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Numeric table (the csv): one row per sweep, method and sparsity, in the summary's order
    (dense first in each sweep). Accuracies and sparsities in percent, in columns named
    ``*_pct`` (MLflow keeps fractions); the accuracy with its CI half-width and clipped bounds.
    ``speedup_b1_within_null`` (and ``sparse_ratio_b1_within_null``) mark ratios within the
    sweep's null test spread (``null_ratio_b1_min`` to ``_max``): no measurable speedup."""
    s = with_defaults(summary)
    acc, ci = 100 * s["test_acc_mean"], 100 * s["test_acc_ci95"]
    low, high = clipped_ci(acc, ci)
    null_low, null_high = s[NULL_BAND[0]], s[NULL_BAND[1]]
    not_dense = s["method"] != "dense"
    return pd.DataFrame({
        "sweep": s["sweep"],
        "method": s["method"],
        "sparsity_pct": (100 * s["sparsity_target"]).round(6),  # 90, not 90.00000000000001
        "execution": s["execution"],
        "n_seeds": s["n"],
        "accuracy_pct": acc,
        "accuracy_ci95_pct": ci,
        "accuracy_ci95_low_pct": low,
        "accuracy_ci95_high_pct": high,
        "measured_sparsity_pct": 100 * s["sparsity_mean"],
        "params_nonzero": s["params_nonzero_mean"],
        "size_bytes_compact": s["size_bytes_compact_mean"],
        "latency_ms_b1": s["latency_ms_b1_mean"],
        "latency_ms_b1_spread": s["latency_ms_b1_spread_mean"],
        "compression_ratio": s["compression_ratio_mean"],
        "speedup_b1": s["speedup_b1_mean"],
        "speedup_throughput": s["speedup_throughput_mean"],
        "sparse_ratio_b1": s["sparse_ratio_b1_mean"],
        "null_ratio_b1_min": null_low,
        "null_ratio_b1_max": null_high,
        "speedup_b1_within_null": not_dense & within_null(s["speedup_b1_mean"], null_low,
                                                          null_high),
        "sparse_ratio_b1_within_null": within_null(s["sparse_ratio_b1_mean"], null_low,
                                                   null_high),
        "macs": s["macs_mean"],
        "epochs_trained": s["epochs_trained_mean"],
        "epochs_total": s["epochs_total_mean"],
    }).reset_index(drop=True)


def _missing(v: object) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _num(v: float, fmt: str) -> str:
    return "n/a" if _missing(v) else format(v, fmt)


def _accuracy(acc: float, ci: float, n: int) -> str:
    # One seed has no interval: the number alone, never "± nan".
    if _missing(acc):
        return "n/a"
    return f"{acc:.2f}" if n < 2 or _missing(ci) else f"{acc:.2f} ± {ci:.2f}"


def _latency(ms: float, spread: float) -> str:
    return _num(ms, ".2f") if _missing(spread) else f"{ms:.2f} ({spread:.2f})"


def _compression(method: str, ratio: float) -> str:
    if method == "dense":
        return "1.0x"  # the reference every ratio divides by
    return _num(ratio, ".1f") + ("" if _missing(ratio) else "x")


def _speedup(method: str, execution: str, ratio: float, null: bool = False) -> str:
    if method == "dense":
        return "1.00x"
    if execution == "masked":
        # Zeros in dense shapes on dense kernels: the timing is noise around 1x, not a speedup.
        return "dense kernels"
    if null:
        return WITHIN_NULL  # within the null test's spread: no measurable speedup
    return _num(ratio, ".2f") + ("" if _missing(ratio) else "x")


def _sparse(ratio: float | None, null: bool = False) -> str:
    if _missing(ratio):
        return "n/a"
    if null:
        return WITHIN_NULL
    return f"{ratio:.2f}x" if ratio >= 1 else f"slower ({ratio:.2f}x)"


def _column(table: pd.DataFrame, name: str, default: object) -> pd.Series:
    return table[name] if name in table else pd.Series(default, index=table.index)


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """Formatted strings for markdown and LaTeX, from ``efficiency_table``.

    A Sweep column only when the table holds more than one sweep. Every column in percent
    says so in its name, with plain numbers below. Accuracy is mean ± 95% CI half-width (no ±
    part below two seeds); latency at batch 1 with its spread in parentheses; Speedup is the
    measured batch-1 speedup ("1.00x" for the dense baseline, "dense kernels" for masked
    models, whose dense-kernel timing is no speedup, "~1.00x (within null)" where it lies
    within the null test's spread); Sparse kernels is the dense / CSR-kernel time ratio where
    one was measured (also "~1.00x (within null)" inside the null test's spread)."""
    sweeps = _column(table, "sweep", "")
    methods = table["method"]
    execution = _column(table, "execution", "")
    cols: dict[str, object] = {}
    if sweeps.nunique() > 1:
        cols["Sweep"] = sweeps
    cols["Method"] = methods
    cols[SPARSITY] = [_num(s, "g") for s in table["sparsity_pct"]]
    cols[ACCURACY] = [_accuracy(a, c, n) for a, c, n in
                      zip(table["accuracy_pct"], table["accuracy_ci95_pct"], table["n_seeds"],
                          strict=True)]
    # The budget beside the accuracy: retraining after pruning, and
    # every epoch the result depended on (dense training included).
    cols["Epochs (retrain / total)"] = [f"{_num(r, '.0f')} / {_num(t, '.0f')}" for r, t in
                                        zip(table["epochs_trained"], table["epochs_total"],
                                            strict=True)]
    cols["Params (nonzero)"] = [_num(p / 1e6, ".3f") + "M" for p in table["params_nonzero"]]
    cols["Size (MB)"] = [_num(s / 1e6, ".2f") for s in table["size_bytes_compact"]]
    cols[LATENCY] = [_latency(v, s) for v, s in
                     zip(table["latency_ms_b1"], _column(table, "latency_ms_b1_spread", math.nan),
                         strict=True)]
    cols["Compression"] = [_compression(m, v) for m, v in
                           zip(methods, table["compression_ratio"], strict=True)]
    cols[SPEEDUP] = [_speedup(m, e, v, bool(n)) for m, e, v, n in
                     zip(methods, execution, table["speedup_b1"],
                         _column(table, "speedup_b1_within_null", False), strict=True)]
    # Masked models timed on CSR kernels (pruning.deploy.sparse_exec): a speedup, or said slower.
    cols[SPARSE] = [_sparse(v, bool(n)) for v, n in
                    zip(_column(table, "sparse_ratio_b1", math.nan),
                        _column(table, "sparse_ratio_b1_within_null", False), strict=True)]
    cols["MACs (M)"] = [_num(m / 1e6, ".1f") for m in table["macs"]]
    cols["Seeds"] = table["n_seeds"]
    return pd.DataFrame(cols).reset_index(drop=True)


def _right_aligned(name: object, values: pd.Series) -> bool:
    return name in NUMERIC_HEADERS or pd.api.types.is_numeric_dtype(values)


def write_tables(table: pd.DataFrame, out: Path) -> list[Path]:
    """efficiency_table.{csv,md,tex}: numbers in csv, formatted text in md and tex."""
    paths = [out / f"efficiency_table.{ext}" for ext in ("csv", "md", "tex")]
    table.to_csv(paths[0], index=False)
    shown = display_table(table)
    paths[1].write_text(markdown(shown))
    paths[2].write_text(latex(shown))
    return paths


def markdown(table: pd.DataFrame) -> str:
    """A GitHub-style markdown table; number columns right-aligned."""
    cols = [str(c) for c in table.columns]
    rule = ["---:" if _right_aligned(c, table[c]) else ":---" for c in table.columns]
    lines = ["| " + " | ".join(cols) + " |", "| " + " | ".join(rule) + " |"]
    for row in table.itertuples(index=False):
        lines.append("| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines) + "\n"


def tex_escape(value: object) -> str:
    """``value`` as LaTeX text: special characters escaped, ± and × in math mode."""
    return "".join(_TEX.get(ch, ch) for ch in str(value))


def latex(table: pd.DataFrame) -> str:
    """A booktabs tabular (no pandas Styler): text columns ``l``, number columns ``r``, a
    midrule between sweeps. The leading comment names the packages it needs."""
    right = [_right_aligned(c, table[c]) for c in table.columns]
    spec = "".join("r" if r else "l" for r in right)
    lines = [
        "% Written by analysis.tables.write_tables. Needs \\usepackage{booktabs}.",
        "% Number columns are plain right-aligned r columns (no siunitx): cells such as",
        "% '91.20 $\\pm$ 0.40', '4.01 (0.05)' or 'n/a' are not single numbers for S columns.",
        f"\\begin{{tabular}}{{{spec}}}",
        "\\toprule",
        " & ".join(tex_escape(c) for c in table.columns) + r" \\",
        "\\midrule",
    ]
    previous = None
    for row in table.itertuples(index=False):
        sweep = row[0] if table.columns[0] == "Sweep" else None
        if previous is not None and sweep != previous:
            lines.append("\\midrule")
        previous = sweep
        cells = [_RATIO.sub("\\1×", str(v)) if r else v for v, r in zip(row, right, strict=True)]
        lines.append(" & ".join(tex_escape(v) for v in cells) + r" \\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"
