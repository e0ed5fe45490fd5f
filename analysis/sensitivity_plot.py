"""The layer-sensitivity figure and table (Li et al. 2017, figure 2): validation accuracy of
the unretrained network against the fraction of one layer's filters removed, one curve per
layer."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers or in tests
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

FORMATS = ("png", "pdf", "svg")


def sensitivity_frame(points: Sequence[Any]) -> pd.DataFrame:
    """One row per (layer, ratio) point, accuracy in percent."""
    df = pd.DataFrame([dataclasses.asdict(p) for p in points])
    df["val_acc_pct"] = 100 * df["val_acc"]
    return df


def sensitivity_table(df: pd.DataFrame, baseline: float) -> str:
    """Markdown: a row per layer, a column per ratio (accuracy %), the layer's filters."""
    wide = df.pivot(index="layer", columns="ratio", values="val_acc_pct")
    wide = wide.loc[list(dict.fromkeys(df["layer"]))]  # network order, not alphabetical
    filters = df.groupby("layer")["filters"].first()
    head = "| layer | filters | " + " | ".join(f"val acc (%), {100 * r:.0f}% removed"
                                              for r in wide.columns) + " |"
    rule = "| :-- | --: | " + " | ".join("--:" for _ in wide.columns) + " |"
    rows = [f"| {layer} | {filters[layer]} | " + " | ".join(f"{v:.1f}" for v in row) + " |"
            for layer, row in wide.iterrows()]
    note = (f"Validation accuracy (%) with the given fraction of one layer's filters removed, "
            f"no retraining; unpruned: {100 * baseline:.1f}%.")
    return "\n".join([note, "", head, rule, *rows])


def plot_sensitivity(df: pd.DataFrame, baseline: float, out_base: Path, title: str
                     ) -> list[Path]:
    """The figure in PNG (200 dpi), PDF and SVG; returns the files."""
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    order = list(dict.fromkeys(df["layer"]))
    cmap = plt.get_cmap("viridis", max(2, len(order)))
    for i, layer in enumerate(order):
        part = df[df["layer"] == layer].sort_values("ratio")
        ax.plot(100 * part["ratio"], part["val_acc_pct"], marker="o", ms=3, color=cmap(i),
                label=layer)
    ax.axhline(100 * baseline, color="grey", ls="--", lw=1, label="unpruned")
    ax.set_xlabel("filters removed from the layer alone (%)")
    ax.set_ylabel("validation accuracy, no retraining (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="lower left")
    fig.tight_layout()
    files = []
    for fmt in FORMATS:
        path = out_base.with_suffix(f".{fmt}")
        fig.savefig(path, dpi=200 if fmt == "png" else None)
        files.append(path)
    plt.close(fig)
    return files
