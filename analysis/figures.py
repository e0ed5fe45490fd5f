"""Shared figure helpers: file formats and saving, method colours, sweep line styles, n in
legends, axis labels and scales used by more than one figure.

Each figure is written as PNG (200 dpi, for the report) and as PDF and SVG (for a paper: the
PDF embeds TrueType fonts, the SVG keeps text as text). Colours follow the method (the same in
every figure and sweep), line styles follow the sweep."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers or in tests
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

FORMATS = ("png", "pdf", "svg")
PNG_DPI = 200
SWEEP_STYLES = ("-", "--", ":", "-.")
X_LABELS = {
    "sparsity": "target sparsity (% of prunable weights removed; sparser →)",
    "compression": "compression (dense bytes / compact bytes, ×, log scale; smaller file →)",
}
ACC_LABEL = "test accuracy (%)"
# Deterministic files (no dates, fixed SVG ids) so a re-run does not show up as a change.
_METADATA = {".png": {"Software": None}, ".pdf": {"CreationDate": None}, ".svg": {"Date": None}}
_SAVE_RC = {"pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "none",
            "svg.hashsalt": "prune-sweep"}


def artist_id(*parts: object) -> str:
    """An artist's gid from ``parts`` (None skipped), joined by ``:``; tests find artists by it."""
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


def ratio_axis(ax: Axes) -> None:
    """A log x axis for ratios, ticks at 1, 2, 5 per decade written ``2×``."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}×"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def clamp_accuracy_axis(ax: Axes) -> None:
    """Keep the accuracy axis within [0, 100] %."""
    lo, hi = ax.get_ylim()
    ax.set_ylim(max(lo, 0.0), min(hi, 100.0))
