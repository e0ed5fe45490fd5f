"""Statistics over seeds, the unit of replication: means with Student-t 95% intervals, one sample
per seed, comparisons declared before looking, paired over seeds and Holm-corrected."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from pruning.schema import SUMMARY

ALPHA = 0.05
MIN_SEEDS = 3  # below this a paired test over seeds says nothing a reviewer should trust
CELL = ["sweep", "method", "sparsity_target", "seed"]


class DuplicateSeedError(ValueError):
    """A (method, sparsity) cell has the same seed in more than one finished run."""


def ci95_halfwidth(values: np.ndarray) -> float:
    """Half-width of the 95% Student-t interval of the mean; NaN with fewer than 2 values."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    n = len(values)
    if n < 2:
        return float("nan")
    return float(stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / math.sqrt(n))


def one_sample_per_seed(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The runs analysed: one FINISHED run per (sweep, method, sparsity, seed), other runs
    (failed, running) kept as they are for the failure list.

    In a search sweep (runs with ``recipe`` ``search``) a cell holds one run per sample: the
    one with the best validation accuracy is kept (never the test accuracy) and a note says so.
    Anywhere else a repeated seed is an error: a seed is one sample, not two."""
    if not len(df):
        return df, []
    finished = df[(df["status"] == "FINISHED") & df["test_acc"].notna()]
    search = finished.get("recipe", pd.Series("", index=finished.index)) == "search"
    notes: list[str] = []
    keep = finished[~search]
    counts = keep.groupby(CELL).size()
    if (counts > 1).any():
        sweep, method, sparsity, seed = counts[counts > 1].index[0]
        where = "dense baseline" if method == "dense" else f"{method} s={sparsity:g}"
        raise DuplicateSeedError(
            f"sweep {sweep!r}: {where} has seed {seed} in {counts.max()} finished runs; a seed "
            "is one sample, not several (delete the extra runs in MLflow, or give each run its "
            "own seed)")
    if search.any():
        samples = finished[search]
        best = samples.loc[samples.sort_values("best_val_acc", ascending=False, kind="stable")
                           .groupby(CELL).head(1).index]
        notes.append(f"Search sweep: each cell is its best sample by validation accuracy "
                     f"({len(best)} of {len(samples)} finished samples; test accuracy was not "
                     "used to choose).")
        keep = pd.concat([keep, best])
    rest = df[~df.index.isin(finished.index)]
    return pd.concat([keep, rest]).sort_index(), notes


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Per (sweep, method, target sparsity) over FINISHED runs: ``<metric>_mean``, ``_std``,
    ``_ci95``, ``n`` (seeds) and ``execution`` (``dense``, ``structured`` or ``masked``). Dense
    baselines appear as method ``dense`` at sparsity 0. Runs without a test accuracy (search
    samples a scheduler stopped early) are left out. Expects one run per seed
    (``one_sample_per_seed``)."""
    done = df[(df["status"] == "FINISHED") & df["test_acc"].notna()]
    if "sweep" not in done:
        done = done.assign(sweep="")
    rows = []
    for (sweep, method, target), group in done.groupby(["sweep", "method", "sparsity_target"],
                                                       sort=True):
        execution = group["execution"].iloc[0] if "execution" in group else "masked"
        row: dict = {"sweep": sweep, "method": method, "sparsity_target": target,
                     "n": len(group), "seeds": ",".join(str(s) for s in sorted(group["seed"])),
                     "execution": execution}
        for metric in SUMMARY:
            values = group[metric].to_numpy(dtype=float) if metric in group else np.array([])
            values = values[~np.isnan(values)]
            row[f"{metric}_mean"] = float(np.mean(values)) if len(values) else float("nan")
            row[f"{metric}_std"] = float(np.std(values, ddof=1)) if len(values) > 1 else float(
                "nan")
            row[f"{metric}_ci95"] = ci95_halfwidth(values)
        rows.append(row)
    columns = ["sweep", "method", "sparsity_target", "n", "seeds", "execution"] + [
        f"{m}_{k}" for m in SUMMARY for k in ("mean", "std", "ci95")]
    out = pd.DataFrame(rows, columns=columns)
    if len(out):
        # Per sweep (in the order given): dense first, then methods by name, sparsity ascending.
        order = {s: i for i, s in enumerate(dict.fromkeys(done["sweep"]))}
        out["_sweep"] = out["sweep"].map(order)
        out["_dense"] = out["method"] != "dense"
        out = out.sort_values(["_sweep", "_dense", "method", "sparsity_target"]).drop(
            columns=["_sweep", "_dense"])
    return out.reset_index(drop=True)


def paired_comparison(df: pd.DataFrame, sparsity: float, a: str, b: str,
                      metric: str = "test_acc") -> dict:
    """Paired t-test of ``a`` vs ``b`` over the seeds both finished at ``sparsity``."""
    done = df[(df["status"] == "FINISHED") & (df["sparsity_target"] == sparsity)]
    return _paired(done[done["method"] == a].set_index("seed")[metric],
                   done[done["method"] == b].set_index("seed")[metric], a, b)


def _paired(xa: pd.Series, xb: pd.Series, a: str, b: str) -> dict:
    seeds = sorted(set(xa.index) & set(xb.index))
    result = {"a": a, "b": b, "n": len(seeds), "mean_diff": float("nan"),
              "ci_low": float("nan"), "ci_high": float("nan"), "t": float("nan"),
              "p": float("nan")}
    if not seeds:
        return result
    va, vb = xa.loc[seeds].to_numpy(dtype=float), xb.loc[seeds].to_numpy(dtype=float)
    diff = va - vb
    result["mean_diff"] = float(diff.mean())
    half = ci95_halfwidth(diff)
    result["ci_low"], result["ci_high"] = result["mean_diff"] - half, result["mean_diff"] + half
    if len(seeds) >= 2:
        test = stats.ttest_rel(va, vb)
        result["t"], result["p"] = float(test.statistic), float(test.pvalue)
    return result


def holm(pvalues: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1), same order."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


@dataclass(frozen=True)
class Comparison:
    """One comparison declared before looking: ``a`` against ``b`` at a sparsity, in a sweep
    (``b_sweep`` differs in compare mode, ``b_sparsity`` for the sparsity-0 control)."""

    sweep: str
    sparsity: float
    a: str
    b: str
    b_sweep: str
    b_sparsity: float
    kind: str  # "reference", "control" or "sweeps"

    @property
    def label(self) -> str:
        b = self.b if self.b_sweep == self.sweep else f"{self.b} ({self.b_sweep})"
        a = self.a if self.kind != "sweeps" else f"{self.a} ({self.sweep})"
        return f"{a} vs {b}"


def declared_comparisons(grids: dict[str, list[tuple[str, float]]],
                         references: dict[str, str]) -> list[Comparison]:
    """The comparison family, fixed by the sweeps' grids (their ``(method, sparsity)`` pairs in
    spec order) and reference methods, never by the results: in each sweep every other method
    against the reference at each sparsity both ran, and every pruned method against the
    ``unpruned`` control when it ran; across sweeps (compare mode) each method and sparsity of
    the first sweep against the same cell of every other sweep that has it."""
    family: list[Comparison] = []
    for sweep, grid in grids.items():
        ref = references.get(sweep)
        cells = set(grid)
        control = next((m for m, s in grid if m == "unpruned"), None)
        for method, sparsity in grid:
            if method in ("unpruned", "dense") or sparsity == 0:
                continue
            if ref and method != ref and (ref, sparsity) in cells:
                family.append(Comparison(sweep, sparsity, method, ref, sweep, sparsity,
                                         "reference"))
            if control:
                family.append(Comparison(sweep, sparsity, method, control, sweep, 0.0,
                                         "control"))
    sweeps = list(grids)
    for other in sweeps[1:]:
        others = set(grids[other])
        for method, sparsity in grids[sweeps[0]]:
            if (method, sparsity) in others:
                family.append(Comparison(sweeps[0], sparsity, method, method, other, sparsity,
                                         "sweeps"))
    return family


def compare_family(df: pd.DataFrame, family: list[Comparison], metric: str = "test_acc",
                alpha: float = ALPHA) -> pd.DataFrame:
    """Every declared comparison, paired over seeds: mean difference (points of ``metric``) with
    its 95% CI, t, p, and p adjusted by Holm over the comparisons that could be tested (at least
    ``MIN_SEEDS`` paired seeds); a ``verdict`` per row."""
    done = df[(df["status"] == "FINISHED") & df[metric].notna()]

    def values(sweep: str, method: str, sparsity: float) -> pd.Series:
        sel = done[(done["sweep"] == sweep) & (done["method"] == method)
                   & (done["sparsity_target"] == sparsity)]
        return sel.set_index("seed")[metric]

    rows = []
    for c in family:
        r = _paired(values(c.sweep, c.a, c.sparsity), values(c.b_sweep, c.b, c.b_sparsity),
                    c.a, c.b)
        rows.append({"sweep": c.sweep, "sparsity": c.sparsity, "comparison": c.label,
                     "kind": c.kind, "a": c.a, "b": c.b, "b_sweep": c.b_sweep, **r})
    out = pd.DataFrame(rows, columns=["sweep", "sparsity", "comparison", "kind", "a", "b",
                                      "b_sweep", "n", "mean_diff", "ci_low", "ci_high", "t",
                                      "p"])
    testable = (out["n"] >= MIN_SEEDS) & out["p"].notna()
    out["p_holm"] = float("nan")
    if testable.any():
        out.loc[testable, "p_holm"] = holm(out.loc[testable, "p"].tolist())
    out["verdict"] = [_verdict(r, alpha) for r in out.itertuples()]
    return out


def _verdict(r: object, alpha: float) -> str:
    n, diff, p_holm = r.n, r.mean_diff, r.p_holm  # type: ignore[attr-defined]
    if n < MIN_SEEDS:
        return f"cannot tell (n = {n})"
    if math.isnan(r.p):  # type: ignore[attr-defined]
        return "identical on every seed"
    if p_holm < alpha:
        return "higher" if diff > 0 else "lower"
    return "no difference detected"
