"""Figures, drawn from the same summary DataFrame the tables use (and returning that data)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers or in tests
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def tradeoff_data(summary: pd.DataFrame) -> pd.DataFrame:
    """The rows behind the trade-off curve: method, sparsity, accuracy mean and CI (percent)."""
    rows = summary[summary["method"] != "dense"]
    return pd.DataFrame({
        "method": rows["method"], "sparsity": rows["sparsity_target"],
        "acc_pct": 100 * rows["test_acc_mean"], "ci_pct": 100 * rows["test_acc_ci95"],
        "n": rows["n"],
    }).reset_index(drop=True)


def plot_tradeoff(summary: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Test accuracy vs sparsity, one line per method, 95% CI bars, dense reference band."""
    data = tradeoff_data(summary)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    dense = summary[summary["method"] == "dense"]
    if len(dense):
        mean = 100 * dense["test_acc_mean"].iloc[0]
        ci = 100 * dense["test_acc_ci95"].iloc[0]
        ci = 0.0 if np.isnan(ci) else ci
        ax.axhspan(mean - ci, mean + ci, color="grey", alpha=0.2)
        ax.axhline(mean, color="grey", ls="--", label=f"dense {mean:.1f}%")
    for method, group in data.groupby("method"):
        ax.errorbar(100 * group["sparsity"], group["acc_pct"],
                    yerr=group["ci_pct"].fillna(0), marker="o", capsize=3, label=method)
    ax.set_xlabel("sparsity (% of prunable parameters removed)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Accuracy vs sparsity (mean and 95% CI over seeds)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return data


def pareto_front(points: pd.DataFrame, x: str, y: str) -> pd.Series:
    """Boolean mask of points not dominated in (larger ``x``, larger ``y``)."""
    xs, ys = points[x].to_numpy(float), points[y].to_numpy(float)
    front = []
    for i in range(len(points)):
        dominated = np.any((xs >= xs[i]) & (ys >= ys[i]) & ((xs > xs[i]) | (ys > ys[i])))
        front.append(not dominated and not np.isnan(xs[i]) and not np.isnan(ys[i]))
    return pd.Series(front, index=points.index, dtype=bool)


def pareto_data(summary: pd.DataFrame) -> pd.DataFrame:
    """Per method and sparsity: accuracy, speedup, compression, and Pareto-front flags."""
    rows = summary[summary["method"] != "dense"].copy()
    data = pd.DataFrame({
        "method": rows["method"], "sparsity": rows["sparsity_target"],
        "acc_pct": 100 * rows["test_acc_mean"], "speedup": rows["speedup_b1_mean"],
        "size_bytes": rows["size_bytes_compact_mean"],
        "compression": rows["compression_ratio_mean"],
    }).reset_index(drop=True)
    data["front_speedup"] = pareto_front(data, "speedup", "acc_pct")
    data["front_size"] = pareto_front(data, "compression", "acc_pct")
    return data


def plot_pareto(summary: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Accuracy vs measured speedup and vs compact size, the Pareto front marked."""
    data = pareto_data(summary)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, x, front, label in (
        (axes[0], "speedup", "front_speedup", "measured speedup at batch 1 (x)"),
        (axes[1], "size_bytes", "front_size", "compact model size (MB)"),
    ):
        scale = 1e-6 if x == "size_bytes" else 1.0
        for method, group in data.groupby("method"):
            ax.scatter(group[x] * scale, group["acc_pct"], label=method)
            for _, r in group.iterrows():
                ax.annotate(f"{100 * r['sparsity']:.0f}%", (r[x] * scale, r["acc_pct"]),
                            fontsize=7, xytext=(3, 3), textcoords="offset points")
        best = data[data[front]].sort_values(x)
        ax.plot(best[x] * scale, best["acc_pct"], "k--", lw=1, label="Pareto front")
        ax.set_xlabel(label)
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
    axes[1].invert_xaxis()  # smaller is better: the front runs toward the right
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return data
