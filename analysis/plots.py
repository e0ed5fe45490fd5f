"""Figures, drawn from the same summary DataFrame the tables use (and returning that data).

Each figure is written as PNG (200 dpi, for the report) and as PDF and SVG (for a paper: the
PDF embeds TrueType fonts, the SVG keeps text as text). ``draw_*`` draws into given Axes and
returns the rows it drew, so tests read the artists back; ``plot_*`` adds the files. Colours
follow the method (the same in every figure and sweep), line styles follow the sweep."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers or in tests
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402
from matplotlib.transforms import Bbox  # noqa: E402

from analysis.tables import NULL_BAND, clipped_ci, with_defaults, within_null  # noqa: E402

FORMATS = ("png", "pdf", "svg")
PNG_DPI = 200
SWEEP_STYLES = ("-", "--", ":", "-.")
CONTROL_MARKERS = ("D", "s", "v", "P")
TRADEOFF_SIZE = (9.0, 4.8)
PARETO_SIZE = (12.0, 5.0)
X_LABELS = {
    "sparsity": "target sparsity (% of prunable weights removed; sparser →)",
    "compression": "compression (dense bytes / compact bytes, ×, log scale; smaller file →)",
}
SPEEDUP_LABEL = "measured speedup at batch 1 (dense time / model time, ×; faster →)"
ACC_LABEL = "test accuracy (%)"
LABEL_GID = "pareto-label"
LABEL_SIZE = 7  # points
MARKER_RADIUS = 3.5  # points: a marker's half-width, kept clear of labels
# Label offsets in points, nearest first: eight directions at three distances.
LABEL_OFFSETS = tuple((r * dx, r * dy) for r in (4, 9, 15) for dx, dy in (
    (1, 1), (1, -1), (-1, 1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1)))
# Deterministic files (no dates, fixed SVG ids) so a re-run does not show up as a change.
_METADATA = {".png": {"Software": None}, ".pdf": {"CreationDate": None}, ".svg": {"Date": None}}
_SAVE_RC = {"pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "none",
            "svg.hashsalt": "prune-sweep"}


def _gid(*parts: object) -> str:
    # Artist ids become SVG element ids: XML names, so no spaces or pipes.
    return ":".join(str(p).replace(" ", "_") for p in parts if p is not None)


def figure_files(path: Path) -> list[Path]:
    """The files a figure at ``path`` (``.png``) is written to: the PNG, a PDF and an SVG."""
    path = Path(path)
    return [path.with_suffix(f".{fmt}") for fmt in FORMATS]


def save_figure(fig: plt.Figure, path: Path) -> list[Path]:
    """Write ``fig`` to every file of ``figure_files(path)``; returns them."""
    files = figure_files(path)
    # Type 3 fonts (matplotlib's PDF default) are refused by several publishers' checks.
    with matplotlib.rc_context(_SAVE_RC):
        for file in files:
            fig.savefig(file, dpi=PNG_DPI, bbox_inches="tight", metadata=_METADATA[file.suffix])
    return files


def method_colours(methods: Iterable[str]) -> dict[str, tuple]:
    """One colour per method (``dense`` excluded: it is grey/black everywhere), stable across
    figures and sweeps: sorted names over tab10, tab20 past ten methods."""
    names = sorted({str(m) for m in methods} - {"dense"})
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    return {m: cmap(i % cmap.N) for i, m in enumerate(names)}


def sweep_styles(frame: pd.DataFrame) -> dict[str, str]:
    """One line style per sweep, in the order the sweeps first appear (the main sweep first)."""
    sweeps = dict.fromkeys(frame["sweep"]) if "sweep" in frame else {"": None}
    return {s: SWEEP_STYLES[i % len(SWEEP_STYLES)] for i, s in enumerate(sweeps)}


def n_text(ns: Iterable[int]) -> str:
    """``n = 3``, or ``n = 2–3`` when the number of seeds varies."""
    ns = [int(n) for n in ns]
    lo, hi = min(ns), max(ns)
    return f"n = {lo}" if lo == hi else f"n = {lo}–{hi}"


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
    ax.axhline(row["acc_pct"], color="0.3", ls=style, lw=1.2, gid=_gid("dense-mean", name))
    band = None
    if not np.isnan(row["ci_low_pct"]):
        band = ax.axhspan(row["ci_low_pct"], row["ci_high_pct"], color="0.5", alpha=0.18,
                          lw=0, gid=_gid("dense-band", name))
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


def _ratio_axis(ax: Axes) -> None:
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}×"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _clamp_accuracy_axis(ax: Axes) -> None:
    lo, hi = ax.get_ylim()
    ax.set_ylim(max(lo, 0.0), min(hi, 100.0))


def _tradeoff_axes(ax: Axes, x: str) -> None:
    if x == "compression":
        _ratio_axis(ax)
    ax.set_xlabel(X_LABELS[x])
    ax.set_ylabel(f"{ACC_LABEL}, mean and 95% CI over seeds")
    ax.set_title(f"Accuracy vs {x}")
    ax.grid(alpha=0.3)
    _clamp_accuracy_axis(ax)


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
                   zorder=3, gid=_gid("pareto", panel, sweep, method, kind), **fill)


def _null_bands(ax: Axes, data: pd.DataFrame) -> None:
    """Each sweep's batch-1 null test spread as a light vertical band on the speedup panel."""
    for sweep, part in data.groupby("sweep", sort=False):
        low, high = part["null_low"].iloc[0], part["null_high"].iloc[0]
        if not (np.isnan(low) or np.isnan(high)):
            ax.axvspan(low, high, color="0.5", alpha=0.12, lw=0, zorder=1,
                       gid=_gid("null-band", sweep))


def _front_lines(ax: Axes, rows: pd.DataFrame, x: str, front: str, styles: dict) -> None:
    for sweep, part in rows[rows[front]].groupby("sweep", sort=False):
        best = part.sort_values(x)
        ax.plot(best[x], best["acc_pct"], color="black", ls=styles[sweep], lw=1, zorder=2,
                gid=_gid("front", sweep))


def _align(offset: float, positive: str, negative: str) -> str:
    return "center" if offset == 0 else positive if offset > 0 else negative


def _marker_box(cx: float, cy: float, radius: float) -> Bbox:
    return Bbox.from_extents(cx - radius, cy - radius, cx + radius, cy + radius)


def place_labels(ax: Axes, xs: Sequence[float], ys: Sequence[float], texts: Sequence[str],
                 colours: Sequence[object]) -> list[bool]:
    """Label points without overlap, in the order given (most important first).

    Each label tries ``LABEL_OFFSETS`` around its point, nearest first, and takes the first
    spot whose box (display coordinates, from the canvas renderer) lies inside the axes and
    clear of every label already placed and of every marker. A label with no free spot is
    left out (False). Call after the layout and axis limits are final: boxes are checked in
    display coordinates, and offsets in points keep their relations in the saved files."""
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    inside = ax.get_window_extent(renderer)
    radius = MARKER_RADIUS * fig.dpi / 72
    centres = ax.transData.transform(np.column_stack([xs, ys]).astype(float))
    taken = [_marker_box(cx, cy, radius) for cx, cy in centres]
    shown = []
    for x, y, text, colour in zip(xs, ys, texts, colours, strict=True):
        shown.append(_place_one(ax, (x, y), text, colour, renderer, inside, taken))
    return shown


def _place_one(ax: Axes, xy: tuple[float, float], text: str, colour: object, renderer: object,
               inside: Bbox, taken: list[Bbox]) -> bool:
    for dx, dy in LABEL_OFFSETS:
        label = ax.annotate(text, xy, xytext=(dx, dy), textcoords="offset points",
                            ha=_align(dx, "left", "right"), va=_align(dy, "bottom", "top"),
                            fontsize=LABEL_SIZE, color=colour, gid=LABEL_GID,
                            bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none",
                                  "alpha": 0.8})  # legible where a front line crosses it
        # Text box plus the backing's 0.1 em and a pixel: backings do not touch either.
        box = label.get_window_extent(renderer).padded(0.1 * LABEL_SIZE * ax.figure.dpi / 72 + 1)
        fits = (inside.x0 <= box.x0 and box.x1 <= inside.x1 and inside.y0 <= box.y0
                and box.y1 <= inside.y1 and not any(box.overlaps(t) for t in taken))
        if fits:
            taken.append(box)
            return True
        label.remove()
    return False


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
    _ratio_axis(size)
    for ax in axes:
        ax.set_ylabel(ACC_LABEL + ", mean over seeds")
        ax.grid(alpha=0.3)
        _clamp_accuracy_axis(ax)
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
