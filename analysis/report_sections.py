"""The report's prose sections, built from the summary and the comparisons: the null-test rule
for speedups, the budget sentence beside the dense baseline, the comparisons table and the
retraining recipes."""

from __future__ import annotations

import math

import pandas as pd

from analysis.stats import ALPHA, MIN_SEEDS
from analysis.tables import WITHIN_NULL


def _points(x: float) -> str:
    return f"{100 * x:+.2f}"


def null_rule_lines(bands: dict[str, tuple[float, float]]) -> list[str]:
    """How speedups inside the null test's spread are shown, with each sweep's spread."""
    known = {s: b for s, b in bands.items() if not any(math.isnan(v) for v in b)}
    if not known:
        return []
    where = "; ".join((f"{s}: " if len(bands) > 1 else "") + f"{lo:.3f}-{hi:.3f}x"
                      for s, (lo, hi) in known.items())
    return [f"A speedup whose mean over seeds (of each trial's median over blocks) lies within "
            f"the null test's spread at batch 1 ({where}) is no measurable speedup: "
            f"\"{WITHIN_NULL}\" in the table, an open marker at 1× in the figure, and not on "
            "its speedup front.", ""]


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def budget_lines(summary: pd.DataFrame) -> list[str]:
    """One sentence per sweep where a pruned method's mean test accuracy is above the dense
    baseline's and it trained for more epochs in total: the extra epochs, not pruning, may
    explain it, so the fair comparison is the ``unpruned`` control (the dense model retrained
    as long, without pruning)."""
    lines = []
    compare = summary["sweep"].nunique() > 1
    for sweep, part in summary.groupby("sweep", sort=False):
        dense = part[part["method"] == "dense"]
        if not len(dense):
            continue
        acc, epochs = dense["test_acc_mean"].iloc[0], dense["epochs_total_mean"].iloc[0]
        pruned = part[(part["method"] != "dense") & (part["method"] != "unpruned")
                      & (part["sparsity_target"] > 0)]
        above = pruned[(pruned["test_acc_mean"] > acc) & (pruned["epochs_total_mean"] > epochs)]
        if not len(above):
            continue
        cells = ", ".join(f"{r.method} at {100 * r.sparsity_target:g}% ({_pct(r.test_acc_mean)}, "
                          f"{r.epochs_total_mean:g} epochs)" for r in above.itertuples())
        control = part[part["method"] == "unpruned"]
        if len(control):
            c = control.iloc[0]
            fair = (f"{'as did' if c['epochs_total_mean'] > epochs else 'beside'} the "
                    f"`unpruned` control, the dense model retrained as long without pruning "
                    f"({_pct(c['test_acc_mean'])}, {c['epochs_total_mean']:g} epochs): compare "
                    f"{'it' if len(above) == 1 else 'them'} with `unpruned`, as the comparisons "
                    "below do, not with the dense baseline")
        else:
            fair = ("and this sweep has no `unpruned` control (the dense model retrained as "
                    "long without pruning), the comparison that separates pruning from the "
                    "extra training: add it to the grid")
        verb = "scores" if len(above) == 1 else "score"
        lines += [f"{'**' + sweep + '**: ' if compare else ''}{cells} {verb} above the dense "
                  f"baseline ({_pct(acc)}, {epochs:g} epochs in total) but trained for more "
                  f"epochs in total, {fair}.", ""]
    return lines


def comparison_lines(tests: pd.DataFrame) -> list[str]:
    """The declared comparisons as report lines: effect with its CI, n, p and Holm's p."""
    if not len(tests):
        return ["No comparison to make: the sweep has one method and no control."]
    tested = int(tests["p_holm"].notna().sum())
    lines = [f"Declared before looking: every method against the reference at each sparsity, "
             f"every pruned method against the `unpruned` control, and in compare mode each "
             f"cell of the first sweep against the same cell of the others. Paired over seeds "
             f"(t-test); p adjusted by Holm over the {tested} comparison(s) with at least "
             f"{MIN_SEEDS} seeds; effect = mean difference in test accuracy (percentage "
             f"points) with its 95% CI; verdicts at alpha {ALPHA:g}.", "",
             "| sparsity (%) | comparison | n | difference (percentage points) | 95% CI | p | "
             "p (Holm) | verdict |", "| ---: | :-- | ---: | ---: | :-- | ---: | ---: | :-- |"]
    for r in tests.itertuples():
        ci = "n/a" if math.isnan(r.ci_low) else f"{_points(r.ci_low)} to {_points(r.ci_high)}"
        diff = "n/a" if math.isnan(r.mean_diff) else _points(r.mean_diff)
        p = "n/a" if math.isnan(r.p) else f"{r.p:.3g}"
        ph = "n/a" if math.isnan(r.p_holm) else f"{r.p_holm:.3g}"
        lines.append(f"| {100 * r.sparsity:g} | {r.comparison} | {r.n} | {diff} | {ci} | "
                     f"{p} | {ph} | {r.verdict} |")
    return lines


def recipe_lines(df: pd.DataFrame) -> list[str]:
    """Each method's fine-tuning recipe, one line per method (and sweep)."""
    trials = df[df["role"] == "trial"]
    lines = []
    for (sweep, method), group in trials.groupby(["sweep", "method"]):
        first = group.iloc[0]
        keys = ["epochs", "lr", "weight_decay", "patience", "batch_size"]
        parts = [f"{k}={first.get(f'param.finetune.{k}', 'n/a')}" for k in keys]
        source = first.get("recipe") or "default"
        name = method if trials["sweep"].nunique() == 1 else f"{method} ({sweep})"
        lines.append(f"- {name}: {', '.join(parts)} (recipe: {source})")
    return lines
