"""The trade-off figure: test accuracy against sparsity (or compression) per method, with each
sweep's dense baseline as a band; drawn from the summary the tables use (and returning the data
drawn). ``draw_tradeoff`` draws into given Axes, so tests read the artists back;
``plot_tradeoff`` adds the files."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers or in tests
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from analysis.figures import (  # noqa: E402
    ACC_LABEL,
    X_LABELS,
    artist_id,
    clamp_accuracy_axis,
    method_colours,
    n_text,
    ratio_axis,
    save_figure,
    sweep_styles,
)
from analysis.tables import clipped_ci, with_defaults  # noqa: E402

CONTROL_MARKERS = ("D", "s", "v", "P")
TRADEOFF_SIZE = (9.0, 4.8)


def _roles(s: pd.DataFrame) -> np.ndarray:
    # A non-dense method at sparsity 0 (the ``unpruned`` control) is one point, not a curve.
    control = (s["method"] != "dense") & (s["sparsity_target"] == 0)
    return np.where(s["method"] == "dense", "dense", np.where(control, "control", "curve"))


def _x_values(s: pd.DataFrame, x: str) -> pd.Series:
    if x == "sparsity":
        return 100 * s["sparsity_target"]
    # Dense-shaped results (baseline, controls) are uncompressed by definition.
    uncompressed = (s["method"] == "dense") | (s["sparsity_target"] == 0)
    return s["compression_ratio_mean"].where(~uncompressed, s["compression_ratio_mean"].fillna(1.0))


def tradeoff_data(summary: pd.DataFrame, x: str = "sparsity") -> pd.DataFrame:
    """The rows behind the trade-off curve, one per drawn element: ``sweep``, ``method``,
    ``role`` (``curve``; ``control`` for a non-dense method at sparsity 0; ``dense`` for the
    baseline band), ``execution``, ``sparsity`` (fraction), ``x`` (the plotted x: sparsity in
    percent or compression ratio), ``acc_pct``, ``ci_pct`` (95% half-width), ``ci_low_pct`` and
    ``ci_high_pct`` (the interval as drawn, clipped to [0, 100]) and ``n``. Rows without an x
    value (compression not measured) are not drawn and left out."""
    if x not in X_LABELS:
        raise ValueError(f"x must be one of {sorted(X_LABELS)}, not {x!r}")
    s = with_defaults(summary)
    acc, ci = 100 * s["test_acc_mean"], 100 * s["test_acc_ci95"]
    low, high = clipped_ci(acc, ci)
    data = pd.DataFrame({
        "sweep": s["sweep"], "method": s["method"], "role": _roles(s),
        "execution": s["execution"], "sparsity": s["sparsity_target"], "x": _x_values(s, x),
        "acc_pct": acc, "ci_pct": ci, "ci_low_pct": low, "ci_high_pct": high, "n": s["n"],
    })
    keep = data["x"].notna() | (data["role"] == "dense")
    return data[keep].reset_index(drop=True)


def _errorbar(ax: Axes, rows: pd.DataFrame, **style: object) -> object:
    acc = rows["acc_pct"].to_numpy(float)
    # Asymmetric bars: the clipped interval, not mean ± half-width (which can pass 0 or 100).
    lower = np.nan_to_num(acc - rows["ci_low_pct"].to_numpy(float))
    upper = np.nan_to_num(rows["ci_high_pct"].to_numpy(float) - acc)
    return ax.errorbar(rows["x"], acc, yerr=[lower, upper], capsize=3, **style)


def _dense_band(ax: Axes, row: pd.Series, style: str, name: str | None) -> tuple:
    """The baseline as a horizontal band (clipped CI) and a line at its mean; its legend entry."""
    suffix = f" {name}" if name else ""
    ax.axhline(row["acc_pct"], color="0.3", ls=style, lw=1.2, gid=artist_id("dense-mean", name))
    band = None
    if not np.isnan(row["ci_low_pct"]):
        band = ax.axhspan(row["ci_low_pct"], row["ci_high_pct"], color="0.5", alpha=0.18,
                          lw=0, gid=artist_id("dense-band", name))
        value = f"{row['acc_pct']:.1f} ± {row['ci_pct']:.1f}%"
    else:
        value = f"{row['acc_pct']:.1f}%"
    label = f"dense{suffix}: {value} ({n_text([row['n']])})"
    proxy = Line2D([], [], color="0.3", ls=style, lw=1.2)
    handle = (Patch(color="0.5", alpha=0.18), proxy) if band is not None else proxy
    return handle, label


def _method_handles(data: pd.DataFrame, colours: dict) -> tuple[list, list]:
    curves = data[data["role"] == "curve"]
    handles, labels = [], []
    for method in sorted(curves["method"].unique()):
        ns = curves.loc[curves["method"] == method, "n"]
        handles.append(Line2D([], [], color=colours[method], marker="o", ms=4))
        labels.append(f"{method} ({n_text(ns)})")
    return handles, labels


def draw_tradeoff(summary: pd.DataFrame, ax: Axes, x: str = "sparsity") -> pd.DataFrame:
    """Test accuracy against sparsity (or compression) into ``ax``: one colour per method,
    one line style per sweep, 95% CI bars clipped to [0, 100], each sweep's dense baseline as
    a band, sparsity-0 controls as single markers, n in the legend. Returns ``tradeoff_data``.

    Each method's error bars are one container labelled ``"<method> @ <sweep>"``."""
    data = tradeoff_data(summary, x)
    colours = method_colours(data["method"])
    styles = sweep_styles(data)
    compare = len(styles) > 1
    handles, labels = _method_handles(data, colours)
    extra_handles, extra_labels = [], []
    for i, (sweep, style) in enumerate(styles.items()):
        part = data[data["sweep"] == sweep]
        name = sweep if compare else None
        for _, row in part[part["role"] == "dense"].iterrows():
            handle, label = _dense_band(ax, row, style, name)
            extra_handles.append(handle)
            extra_labels.append(label)
        for method, rows in part[part["role"] == "curve"].groupby("method", sort=True):
            _errorbar(ax, rows.sort_values("x"), color=colours[method], ls=style, marker="o",
                      ms=4, label=f"{method} @ {sweep}")
        for method, rows in part[part["role"] == "control"].groupby("method", sort=True):
            marker = CONTROL_MARKERS[i % len(CONTROL_MARKERS)]
            _errorbar(ax, rows, color=colours[method], ls="none", marker=marker, ms=6,
                      label=f"{method} @ {sweep}")
            extra_handles.append(Line2D([], [], color=colours[method], ls="none", marker=marker))
            extra_labels.append(f"{method} control{' ' + sweep if compare else ''} "
                                f"({n_text(rows['n'])})")
        if compare:
            handles.append(Line2D([], [], color="black", ls=style))
            labels.append(f"sweep {sweep}")
    _tradeoff_axes(ax, x)
    ax.legend(handles + extra_handles, labels + extra_labels, loc="upper left",
              bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return data


def _tradeoff_axes(ax: Axes, x: str) -> None:
    if x == "compression":
        ratio_axis(ax)
    ax.set_xlabel(X_LABELS[x])
    ax.set_ylabel(f"{ACC_LABEL}, mean and 95% CI over seeds")
    ax.set_title(f"Accuracy vs {x}")
    ax.grid(alpha=0.3)
    clamp_accuracy_axis(ax)


def plot_tradeoff(summary: pd.DataFrame, path: Path, x: str = "sparsity") -> pd.DataFrame:
    """Write the trade-off figure (``draw_tradeoff``) to ``figure_files(path)``; returns the
    data drawn (``tradeoff_data``)."""
    fig, ax = plt.subplots(figsize=TRADEOFF_SIZE)
    try:
        data = draw_tradeoff(summary, ax, x=x)
        fig.tight_layout()
        save_figure(fig, path)
    finally:
        plt.close(fig)
    return data
