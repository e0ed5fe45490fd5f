"""The Pareto figure: accuracy against measured speedup and against compression, each sweep's
front drawn and points labelled with their sparsity where a label fits; drawn from the summary
the tables use (and returning the data drawn). ``draw_pareto`` draws into given Axes, so tests
read the artists back; ``plot_pareto`` adds the files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers or in tests
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from analysis.figures import (  # noqa: E402
    ACC_LABEL,
    X_LABELS,
    artist_id,
    clamp_accuracy_axis,
    method_colours,
    ratio_axis,
    save_figure,
    sweep_styles,
)
from analysis.point_labels import place_labels  # noqa: E402
from analysis.tables import NULL_BAND, with_defaults, within_null  # noqa: E402

PARETO_SIZE = (12.0, 5.0)
SPEEDUP_LABEL = "measured speedup at batch 1 (dense time / model time, ×; faster →)"


def pareto_front(points: pd.DataFrame, x: str, y: str) -> pd.Series:
    """Boolean mask of points not dominated in (larger ``x``, larger ``y``)."""
    xs, ys = points[x].to_numpy(float), points[y].to_numpy(float)
    front = []
    for i in range(len(points)):
        dominated = np.any((xs >= xs[i]) & (ys >= ys[i]) & ((xs > xs[i]) | (ys > ys[i])))
        front.append(not dominated and not np.isnan(xs[i]) and not np.isnan(ys[i]))
    return pd.Series(front, index=points.index, dtype=bool)


def _fronts(data: pd.DataFrame, x: str, eligible: pd.Series | None = None) -> pd.Series:
    # Each sweep's speedups and sizes are relative to its own dense model: one front per sweep,
    # among the ``eligible`` points (default: all).
    front = pd.Series(False, index=data.index, dtype=bool)
    rows = data if eligible is None else data[eligible]
    for _, part in rows.groupby("sweep", sort=False):
        front[part.index] = pareto_front(part, x, "acc_pct")
    return front


def _speedup_kind(s: pd.DataFrame) -> np.ndarray:
    dense = s["method"] == "dense"
    masked = s["execution"] == "masked"
    return np.select(
        [dense, masked & s["sparse_ratio_b1_mean"].notna(), masked,
         s["speedup_b1_mean"].notna()],
        ["dense", "sparse kernels", "dense kernels", "measured"], "not measured")


def pareto_data(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per point of the Pareto figure, each sweep's dense baseline included (speedup 1,
    compression 1): ``sweep``, ``method``, ``sparsity``, ``execution``, ``n``, ``acc_pct``,
    ``speedup`` (measured at batch 1), ``sparse_ratio``, ``speedup_x`` (what the speedup panel
    plots), ``speedup_kind``, ``size_bytes``, ``compression``, ``null_low`` and ``null_high``
    (the sweep's batch-1 null test spread), ``front_speedup``, ``front_size``.

    ``speedup_x`` is the measured speedup, except for masked models (zeros in dense shapes):
    their dense-kernel timing is no speedup, so they get the sparse-kernel ratio where one was
    measured (kind ``sparse kernels``) and NaN otherwise (kind ``dense kernels``: left out of
    the panel and its front). A ratio within the null test's spread (a dense model against a
    copy of itself read that too) is no measurable speedup: kind ``within null``, drawn at 1
    with an open marker and left off the speedup front."""
    s = with_defaults(summary)
    dense = s["method"] == "dense"
    kind = _speedup_kind(s)
    speedup_x = np.select([kind == "dense", kind == "sparse kernels", kind == "measured"],
                          [1.0, s["sparse_ratio_b1_mean"], s["speedup_b1_mean"]], np.nan)
    null = np.isin(kind, ["sparse kernels", "measured"]) & within_null(
        pd.Series(speedup_x, index=s.index), s[NULL_BAND[0]], s[NULL_BAND[1]]).to_numpy()
    kind = np.where(null, "within null", kind)
    speedup_x = np.where(null, 1.0, speedup_x)
    data = pd.DataFrame({
        "sweep": s["sweep"], "method": s["method"], "sparsity": s["sparsity_target"],
        "execution": s["execution"], "n": s["n"], "acc_pct": 100 * s["test_acc_mean"],
        "speedup": s["speedup_b1_mean"], "sparse_ratio": s["sparse_ratio_b1_mean"],
        "speedup_x": speedup_x, "speedup_kind": kind, "size_bytes": s["size_bytes_compact_mean"],
        "compression": s["compression_ratio_mean"].where(~dense, 1.0),
        "null_low": s[NULL_BAND[0]], "null_high": s[NULL_BAND[1]],
    }).reset_index(drop=True)
    data["front_speedup"] = _fronts(data, "speedup_x", data["speedup_kind"] != "within null")
    data["front_size"] = _fronts(data, "compression")
    return data


def _marker(kind: str) -> str:
    return {"dense": "*", "sparse kernels": "^"}.get(kind, "o")


def _scatter(ax: Axes, rows: pd.DataFrame, x: str, panel: str, colours: dict) -> None:
    """Points per (sweep, method, marker): gid ``pareto:<panel>:<sweep>:<method>:<kind>``."""
    kinds = rows["speedup_kind"] if panel == "speedup" else np.where(
        rows["method"] == "dense", "dense", "size")
    for (sweep, method, kind), part in rows.groupby([rows["sweep"], rows["method"], kinds],
                                                     sort=True):
        dense = kind == "dense"
        colour = "black" if dense else colours[method]
        # Within the null test's spread: an open marker at 1x, no measurable speedup.
        fill = {"facecolors": "none", "edgecolors": colour} if kind == "within null" else {
            "color": colour}
        ax.scatter(part[x], part["acc_pct"], marker=_marker(kind), s=110 if dense else 30,
                   zorder=3, gid=artist_id("pareto", panel, sweep, method, kind), **fill)


def _null_bands(ax: Axes, data: pd.DataFrame) -> None:
    """Each sweep's batch-1 null test spread as a light vertical band on the speedup panel."""
    for sweep, part in data.groupby("sweep", sort=False):
        low, high = part["null_low"].iloc[0], part["null_high"].iloc[0]
        if not (np.isnan(low) or np.isnan(high)):
            ax.axvspan(low, high, color="0.5", alpha=0.12, lw=0, zorder=1,
                       gid=artist_id("null-band", sweep))


def _front_lines(ax: Axes, rows: pd.DataFrame, x: str, front: str, styles: dict) -> None:
    for sweep, part in rows[rows[front]].groupby("sweep", sort=False):
        best = part.sort_values(x)
        ax.plot(best[x], best["acc_pct"], color="black", ls=styles[sweep], lw=1, zorder=2,
                gid=artist_id("front", sweep))


def _label_panel(ax: Axes, rows: pd.DataFrame, x: str, front: str, colours: dict,
                 compare: bool) -> pd.Series:
    # The dense point first, then the front, then the rest, best accuracy first in each.
    order = rows.assign(_p=np.where(rows["method"] == "dense", 0, np.where(rows[front], 1, 2)))
    order = order.sort_values(["_p", "acc_pct"], ascending=[True, False], kind="stable")
    texts = [("dense" if r.method == "dense" else f"{100 * r.sparsity:g}%")
             + (f" {r.sweep}" if compare else "") for r in order.itertuples()]
    cols = ["black" if m == "dense" else colours[m] for m in order["method"]]
    shown = place_labels(ax, order[x].tolist(), order["acc_pct"].tolist(), texts, cols)
    return pd.Series(shown, index=order.index, dtype=bool)


def _pareto_axes(axes: Sequence[Axes], data: pd.DataFrame) -> None:
    left_out = int((data["speedup_kind"] == "dense kernels").sum())
    null = int((data["speedup_kind"] == "within null").sum())
    speed, size = axes
    speed.set_title("Accuracy vs measured speedup (batch 1)\n"
                    f"masked models timed on dense kernels left out ({left_out}); "
                    f"within the null test at 1× ({null})", fontsize=10)
    speed.set_xlabel(SPEEDUP_LABEL)
    speed.axvline(1.0, color="0.6", lw=0.8, ls=":")
    dense = data[(data["method"] == "dense") & data["size_bytes"].notna()]
    compare = data["sweep"].nunique() > 1
    known = ", ".join(f"{r.size_bytes / 1e6:.1f} MB" + (f" ({r.sweep})" if compare else "")
                      for r in dense.itertuples())
    size.set_title("Accuracy vs compact model size\n"
                   + (f"dense model: {known}" if known else "dense model = 1×"), fontsize=10)
    size.set_xlabel(X_LABELS["compression"])
    ratio_axis(size)
    for ax in axes:
        ax.set_ylabel(ACC_LABEL + ", mean over seeds")
        ax.grid(alpha=0.3)
        clamp_accuracy_axis(ax)
        ax.set_xlim(ax.get_xlim())  # frozen: labels are placed against these limits


def _pareto_legend(fig: plt.Figure, data: pd.DataFrame, colours: dict, styles: dict) -> None:
    handles = [Line2D([], [], color=c, marker="o", ls="none") for c in colours.values()]
    labels = list(colours)
    handles.append(Line2D([], [], color="black", marker="*", ms=10, ls="none"))
    labels.append("dense baseline (1×)")
    if (data["speedup_kind"] == "sparse kernels").any():
        handles.append(Line2D([], [], color="0.4", marker="^", ls="none"))
        labels.append("masked, speedup on sparse (CSR) kernels")
    if (data["speedup_kind"] == "within null").any():
        handles.append(Line2D([], [], color="0.4", marker="o", mfc="none", ls="none"))
        labels.append("no measurable speedup (within the null test's spread), at 1×")
    for sweep, style in styles.items():
        handles.append(Line2D([], [], color="black", ls=style, lw=1))
        labels.append("Pareto front" + (f", sweep {sweep}" if len(styles) > 1 else ""))
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0),
               ncol=min(len(labels), 5), fontsize=8, frameon=False)


def draw_pareto(summary: pd.DataFrame, axes: Sequence[Axes]) -> pd.DataFrame:
    """Accuracy vs measured speedup (``axes[0]``) and vs compression (``axes[1]``), each
    sweep's front as a black line in the sweep's style, points labelled with their sparsity
    where a label fits (``place_labels``). Lays out the figure of ``axes``. Returns
    ``pareto_data`` plus ``label_speedup`` and ``label_size`` (which points got a label)."""
    data = pareto_data(summary)
    colours = method_colours(data["method"])
    styles = sweep_styles(data)
    fig = axes[0].figure
    panels = (("speedup", "speedup_x", "front_speedup"), ("size", "compression", "front_size"))
    for ax, (panel, x, front) in zip(axes, panels, strict=True):
        rows = data[data[x].notna() & data["acc_pct"].notna()]
        _scatter(ax, rows, x, panel, colours)
        _front_lines(ax, rows, x, front, styles)
    _null_bands(axes[0], data)
    _pareto_axes(axes, data)
    fig.tight_layout()
    for ax, (panel, x, front) in zip(axes, panels, strict=True):
        rows = data[data[x].notna() & data["acc_pct"].notna()]
        shown = _label_panel(ax, rows, x, front, colours, len(styles) > 1)
        data[f"label_{panel}"] = shown.reindex(data.index, fill_value=False)
    _pareto_legend(fig, data, colours, styles)
    return data


def plot_pareto(summary: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Write the Pareto figure (``draw_pareto``) to ``figure_files(path)``; returns the data
    drawn."""
    fig, axes = plt.subplots(1, 2, figsize=PARETO_SIZE)
    try:
        data = draw_pareto(summary, axes)
        save_figure(fig, path)
    finally:
        plt.close(fig)
    return data
