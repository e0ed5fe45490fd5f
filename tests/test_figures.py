"""Paper-ready figures and tables from a fabricated summary (no Ray, no MLflow): files in three
formats, clipped intervals, n in legends, dense bands, sweep styles, the speedup panel's
treatment of masked models, labels that do not collide, booktabs LaTeX."""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba

from analysis.figures import figure_files
from analysis.pareto_plot import PARETO_SIZE, draw_pareto, pareto_data, plot_pareto
from analysis.point_labels import LABEL_GID
from analysis.tables import SPARSE, display_table, efficiency_table, latex, write_tables
from analysis.tradeoff_plot import TRADEOFF_SIZE, draw_tradeoff, plot_tradeoff, tradeoff_data
from pruning.schema import SUMMARY

DENSE_BYTES = 4.5e7


def _row(sweep: str, method: str, s: float, execution: str, acc: float, acc_ci: float, n: int,
         **means: float) -> dict:
    """One summary row in ``analysis.stats.summarize``'s columns; unset metrics are NaN."""
    keep = 1.0 - s
    values = {"test_acc": acc, "sparsity": s, "params_nonzero": 1e6 * keep, "macs": 5e8 * keep,
              "theoretical_speedup": 1 / keep, "latency_ms_b1": 4.0, "speedup_b1": 1.0,
              "throughput": 900.0, "size_bytes_compact": DENSE_BYTES * keep + 1e4,
              "compression_ratio": DENSE_BYTES / (DENSE_BYTES * keep + 1e4),
              "epochs_trained": 10.0, "epochs_total": 110.0, **means}
    row = {"sweep": sweep, "method": method, "sparsity_target": s, "n": n,
           "seeds": ",".join(str(i) for i in range(n)), "execution": execution}
    for metric in SUMMARY:
        row[f"{metric}_mean"] = values.get(metric, np.nan)
        row[f"{metric}_std"] = np.nan if n < 2 else 0.01
        row[f"{metric}_ci95"] = np.nan if n < 2 else 0.02
    row["test_acc_ci95"] = np.nan if n < 2 else acc_ci
    return row


def fake_summary(sweeps: tuple[str, ...] = ("main",), n: int = 3, acc_ci: float = 0.004,
                 sparse_ratio: float | None = None) -> pd.DataFrame:
    """Dense baseline, an ``unpruned`` control, a structured method (real speedups), a masked
    method (dense kernels; a CSR ratio only when ``sparse_ratio`` is given) per sweep."""
    rows = []
    for k, sweep in enumerate(sweeps):
        shift = -0.01 * k
        rows.append(_row(sweep, "dense", 0.0, "dense", 0.92 + shift, acc_ci, n,
                         size_bytes_compact=DENSE_BYTES, compression_ratio=np.nan,
                         speedup_b1=np.nan, latency_ms_b1_spread=0.05))
        rows.append(_row(sweep, "unpruned", 0.0, "dense", 0.918 + shift, acc_ci, n,
                         speedup_b1=0.99, compression_ratio=1.0))
        for s, acc in ((0.5, 0.91), (0.9, 0.85)):
            rows.append(_row(sweep, "l1_filter", s, "structured", acc + shift, acc_ci, n,
                             speedup_b1=1 / (1 - s) ** 0.5, latency_ms_b1_spread=0.03))
        for s, acc in ((0.5, 0.915), (0.9, 0.89)):
            extra = {} if sparse_ratio is None else {"sparse_ratio_b1": sparse_ratio * 2 * s}
            rows.append(_row(sweep, "magnitude", s, "masked", acc + shift, acc_ci, n,
                             speedup_b1=1.01, **extra))
    return pd.DataFrame(rows)


def crowded_summary() -> pd.DataFrame:
    """5 structured methods x 5 sparsities with nearly equal accuracies and speedups."""
    rows = [_row("main", "dense", 0.0, "dense", 0.92, 0.004, 3, size_bytes_compact=DENSE_BYTES)]
    for i, method in enumerate(("alpha", "beta", "gamma", "delta", "epsilon")):
        for j, s in enumerate((0.5, 0.6, 0.7, 0.8, 0.9)):
            rows.append(_row("main", method, s, "structured", 0.90 - 0.004 * j + 0.001 * i,
                             0.004, 3, speedup_b1=1.2 + 0.1 * j + 0.01 * i))
    return pd.DataFrame(rows)


@pytest.fixture(autouse=True)
def _close_figures() -> None:
    yield
    plt.close("all")


def _containers(ax: plt.Axes) -> dict[str, object]:
    return {c.get_label(): c for c in ax.containers}


def _bar_extents(container: object) -> np.ndarray:
    """(low, high) of each error bar, read from the drawn segments."""
    segments = container.lines[2][0].get_segments()
    return np.array([[seg[:, 1].min(), seg[:, 1].max()] for seg in segments])


def test_figures_are_written_as_png_pdf_and_svg(tmp_path: Path) -> None:
    summary = fake_summary(sparse_ratio=0.8)
    for plot, name in ((plot_tradeoff, "tradeoff_curve.png"), (plot_pareto, "pareto.png")):
        path = tmp_path / name
        plot(summary, path)
        png, pdf, svg = figure_files(path)
        assert (png.suffix, pdf.suffix, svg.suffix) == (".png", ".pdf", ".svg")
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert pdf.read_bytes()[:5] == b"%PDF-"
        assert b"/Type3" not in pdf.read_bytes()  # TrueType fonts, which publishers accept
        root = ET.parse(svg).getroot()
        assert root.tag.endswith("svg")
        # Text stays text in the SVG (editable), so the legend can be read back from the file.
        words = " ".join(t.text or "" for t in root.iter() if t.tag.endswith("text"))
        assert "test accuracy" in words
        if name.startswith("tradeoff"):
            assert "magnitude (n = 3)" in words
        # 200 dpi: the PNG's pixel size is the figure's size in inches times 200 (give or take
        # the tight bounding box).
        width = int.from_bytes(png.read_bytes()[16:20], "big")
        size = TRADEOFF_SIZE if name.startswith("tradeoff") else PARETO_SIZE
        assert 0.8 * 200 * size[0] < width < 1.3 * 200 * size[0]


def test_tradeoff_clips_intervals_and_matches_the_table() -> None:
    # n = 2 and a half-width of 0.7: mean ± CI would run from about 20% to 160%.
    summary = fake_summary(n=2, acc_ci=0.7)
    fig, ax = plt.subplots(figsize=TRADEOFF_SIZE)
    data = draw_tradeoff(summary, ax)
    table = efficiency_table(summary)
    bars = _containers(ax)
    for method in ("l1_filter", "magnitude"):
        container = bars[f"{method} @ main"]
        rows = table[table["method"] == method].sort_values("sparsity_pct")
        assert container.lines[0].get_xdata() == pytest.approx(rows["sparsity_pct"])
        assert container.lines[0].get_ydata() == pytest.approx(rows["accuracy_pct"])
        extents = _bar_extents(container)
        assert extents.min() >= 0.0 and extents.max() <= 100.0
        assert extents[:, 1] == pytest.approx([100.0, 100.0])
        assert extents[:, 0] == pytest.approx(rows["accuracy_pct"] - 70.0)
        assert extents[:, 0] == pytest.approx(rows["accuracy_ci95_low_pct"])
    assert ax.get_ylim()[1] <= 100.0 and ax.get_ylim()[0] >= 0.0
    merged = table.assign(sparsity=table["sparsity_pct"] / 100).merge(
        data, on=["sweep", "method", "sparsity"])
    assert len(merged) == len(table)
    assert merged["acc_pct"].tolist() == pytest.approx(merged["accuracy_pct"].tolist())
    assert merged["ci_high_pct"].tolist() == pytest.approx(
        merged["accuracy_ci95_high_pct"].tolist())


def test_tradeoff_legend_dense_band_and_control() -> None:
    summary = fake_summary()
    summary.loc[(summary["method"] == "magnitude") & (summary["sparsity_target"] == 0.9),
                "n"] = 2
    fig, ax = plt.subplots(figsize=TRADEOFF_SIZE)
    draw_tradeoff(summary, ax)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "l1_filter (n = 3)" in legend
    assert "magnitude (n = 2–3)" in legend
    assert "unpruned control (n = 3)" in legend
    assert "dense: 92.0 ± 0.4% (n = 3)" in legend
    band = next(p for p in ax.patches if p.get_gid() == "dense-band")
    assert (band.get_y(), band.get_y() + band.get_height()) == pytest.approx((91.6, 92.4))
    mean = next(line for line in ax.lines if line.get_gid() == "dense-mean")
    assert mean.get_ydata()[0] == pytest.approx(92.0)
    # The control is one marker at sparsity 0, not a line.
    control = _containers(ax)["unpruned @ main"].lines[0]
    assert list(control.get_xdata()) == [0.0] and control.get_linestyle() == "None"
    assert "sparsity" in ax.get_xlabel() and "%" in ax.get_xlabel()


def test_tradeoff_one_seed_draws_no_band_and_no_bars() -> None:
    fig, ax = plt.subplots(figsize=TRADEOFF_SIZE)
    draw_tradeoff(fake_summary(n=1), ax)
    assert not [p for p in ax.patches if p.get_gid() == "dense-band"]
    extents = _bar_extents(_containers(ax)["magnitude @ main"])
    assert extents[:, 0] == pytest.approx(extents[:, 1])  # zero-length bars
    assert "dense: 92.0% (n = 1)" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_tradeoff_compression_axis() -> None:
    summary = fake_summary()
    fig, ax = plt.subplots(figsize=TRADEOFF_SIZE)
    data = draw_tradeoff(summary, ax, x="compression")
    table = efficiency_table(summary)
    line = _containers(ax)["l1_filter @ main"].lines[0]
    rows = table[table["method"] == "l1_filter"].sort_values("compression_ratio")
    assert line.get_xdata() == pytest.approx(rows["compression_ratio"])
    assert ax.get_xscale() == "log" and "compression" in ax.get_xlabel()
    assert data.loc[data["method"] == "unpruned", "x"].tolist() == [1.0]
    with pytest.raises(ValueError, match="x must be one of"):
        tradeoff_data(summary, x="latency")


def test_compare_mode_colours_by_method_styles_by_sweep() -> None:
    summary = fake_summary(sweeps=("first", "second"))
    fig, ax = plt.subplots(figsize=TRADEOFF_SIZE)
    draw_tradeoff(summary, ax)
    bars = _containers(ax)
    for method in ("l1_filter", "magnitude"):
        a, b = bars[f"{method} @ first"].lines[0], bars[f"{method} @ second"].lines[0]
        assert to_rgba(a.get_color()) == to_rgba(b.get_color())
        assert a.get_linestyle() != b.get_linestyle()
    assert to_rgba(bars["l1_filter @ first"].lines[0].get_color()) != to_rgba(
        bars["magnitude @ first"].lines[0].get_color())
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"sweep first", "sweep second"} <= set(legend)
    assert any(t.startswith("dense second: 91.0") for t in legend)
    bands = {p.get_gid() for p in ax.patches}
    assert {"dense-band:first", "dense-band:second"} <= bands
    means = {line.get_gid(): line.get_linestyle() for line in ax.lines
             if (line.get_gid() or "").startswith("dense-mean")}
    assert len(set(means.values())) == 2
    # The same style pairs the curves and the dense line of a sweep.
    assert means["dense-mean:first"] == bars["magnitude @ first"].lines[0].get_linestyle()


def _scatter_points(ax: plt.Axes) -> dict[str, np.ndarray]:
    return {c.get_gid(): np.asarray(c.get_offsets()) for c in ax.collections if c.get_gid()}


def test_pareto_leaves_out_masked_models_timed_on_dense_kernels() -> None:
    summary = fake_summary()
    data = pareto_data(summary)
    masked = data["method"] == "magnitude"
    assert data.loc[masked, "speedup_x"].isna().all()
    assert not data.loc[masked, "front_speedup"].any()
    assert data.loc[masked, "front_size"].any()  # its compact size is real
    dense = data[data["method"] == "dense"].iloc[0]
    assert (dense["speedup_x"], dense["compression"]) == (1.0, 1.0)
    fig, axes = plt.subplots(1, 2, figsize=PARETO_SIZE)
    draw_pareto(summary, axes)
    speed = _scatter_points(axes[0])
    assert not [gid for gid in speed if ":magnitude:" in gid]
    assert speed["pareto:speedup:main:dense:dense"].tolist() == [[1.0, 92.0]]
    structured = speed["pareto:speedup:main:l1_filter:measured"]
    assert structured[:, 0] == pytest.approx([2 ** 0.5, 10 ** 0.5])
    assert "masked models timed on dense kernels left out (2)" in axes[0].get_title()
    size = _scatter_points(axes[1])
    assert size["pareto:size:main:magnitude:size"][:, 1] == pytest.approx([91.5, 89.0])
    assert "smaller file" in axes[1].get_xlabel() and not axes[1].xaxis_inverted()


def test_pareto_plots_masked_models_at_their_sparse_kernel_ratio() -> None:
    summary = fake_summary(sparse_ratio=1.2)
    data = pareto_data(summary)
    masked = data[data["method"] == "magnitude"]
    assert masked["speedup_x"].tolist() == pytest.approx([1.2, 2.16])
    assert set(masked["speedup_kind"]) == {"sparse kernels"}
    assert masked["front_speedup"].any()
    fig, axes = plt.subplots(1, 2, figsize=PARETO_SIZE)
    draw_pareto(summary, axes)
    points = _scatter_points(axes[0])["pareto:speedup:main:magnitude:sparse_kernels"]
    assert points[:, 0] == pytest.approx([1.2, 2.16])
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "masked, speedup on sparse (CSR) kernels" in legend


def test_pareto_labels_do_not_overlap_on_a_crowded_figure() -> None:
    fig, axes = plt.subplots(1, 2, figsize=PARETO_SIZE)
    data = draw_pareto(crowded_summary(), axes)
    renderer = fig.canvas.get_renderer()
    boxes = []
    for ax in axes:
        inside = ax.get_window_extent(renderer)
        for text in ax.texts:
            if text.get_gid() == LABEL_GID:
                box = text.get_window_extent(renderer)
                assert inside.x0 <= box.x0 and box.x1 <= inside.x1
                boxes.append(box)
    assert len(boxes) == data["label_speedup"].sum() + data["label_size"].sum() >= 10
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b)
    # The dense point and every point on a front got its label.
    assert data.loc[data["front_speedup"], "label_speedup"].all()
    assert data.loc[data["front_size"], "label_size"].all()


def test_pareto_labels_on_identical_points_still_do_not_overlap() -> None:
    summary = crowded_summary()
    summary.loc[summary["method"] != "dense", ["test_acc_mean", "speedup_b1_mean"]] = (0.9, 1.5)
    fig, axes = plt.subplots(1, 2, figsize=PARETO_SIZE)
    data = draw_pareto(summary, axes)
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in axes[0].texts if t.get_gid() == LABEL_GID]
    assert 2 <= len(boxes) == data["label_speedup"].sum() < len(data)
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b)


def test_efficiency_table_columns() -> None:
    table = efficiency_table(fake_summary(sparse_ratio=0.8))
    for column in ("method", "sparsity_pct", "n_seeds", "accuracy_pct", "accuracy_ci95_pct",
                   "measured_sparsity_pct", "params_nonzero", "size_bytes_compact",
                   "latency_ms_b1", "compression_ratio", "speedup_b1", "sparse_ratio_b1", "macs",
                   "epochs_trained", "epochs_total", "sweep", "execution",
                   "latency_ms_b1_spread", "speedup_throughput"):
        assert column in table, column
    assert table["accuracy_pct"].iloc[0] == pytest.approx(92.0)


def test_display_table_labels() -> None:
    summary = fake_summary(sparse_ratio=0.8)
    shown = display_table(efficiency_table(summary)).set_index("Method", append=True)
    by_method = shown.reset_index(level=0, drop=True)
    assert "Sweep" not in shown
    assert list(by_method.loc["magnitude", "Speedup"]) == ["dense kernels", "dense kernels"]
    assert list(by_method.loc["magnitude", "Sparse kernels"]) == ["slower (0.80x)", "1.44x"]
    assert by_method.loc["dense", "Speedup"] == "1.00x"
    assert by_method.loc["dense", "Sparse kernels"] == "n/a"
    assert by_method.loc["l1_filter", "Speedup"].tolist() == ["1.41x", "3.16x"]
    assert by_method.loc["dense", "Accuracy (%, ± 95% CI)"] == "92.00 ± 0.40"
    assert by_method.loc["dense", "Latency (ms, spread)"] == "4.00 (0.05)"
    assert by_method.loc["unpruned", "Latency (ms, spread)"] == "4.00"
    one = display_table(efficiency_table(fake_summary(n=1)))
    assert one["Accuracy (%, ± 95% CI)"].iloc[0] == "92.00"
    both = display_table(efficiency_table(fake_summary(sweeps=("first", "second"))))
    assert list(both.columns[:2]) == ["Sweep", "Method"]


def test_latex_is_booktabs_with_numbers_right_aligned(tmp_path: Path) -> None:
    summary = fake_summary(sweeps=("first", "second_run"))
    csv, md, tex = write_tables(efficiency_table(summary), tmp_path)
    text = tex.read_text()
    assert text.startswith("%") and "booktabs" in text.splitlines()[0]
    for rule in ("\\toprule", "\\midrule", "\\bottomrule"):
        assert rule in text
    spec = re.search(r"\\begin\{tabular\}\{([lr]+)\}", text).group(1)
    shown = display_table(efficiency_table(summary))
    assert len(spec) == len(shown.columns)
    aligned = dict(zip(shown.columns, spec, strict=True))
    assert aligned["Sweep"] == aligned["Method"] == "l"
    assert {aligned[c] for c in shown.columns if c not in ("Sweep", "Method")} == {"r"}
    header = next(line for line in text.splitlines() if line.startswith("Sweep"))
    assert r"Accuracy (\%, $\pm$ 95\% CI)" in header
    assert r"second\_run & l1\_filter & 50 &" in text
    assert r"92.00 $\pm$ 0.40" in text and "±" not in text
    assert r"& 3.16$\times$ &" in text and "10.0x" not in text
    # One data row per summary row, and a midrule between the two sweeps.
    body = text.split("\\midrule\n", 1)[1]
    assert body.count(r"\\") == len(summary) and body.count("\\midrule") == 1
    numbers = pd.read_csv(csv)
    assert numbers["accuracy_pct"].tolist() == pytest.approx(100 * summary["test_acc_mean"])
    md_rule = md.read_text().splitlines()[1]
    assert md_rule.startswith("| :--- | :--- | ---:")


def test_latex_escapes_special_characters() -> None:
    table = pd.DataFrame({"Method": ["a_b & c% l2x"], SPARSE: ["slower (0.85x)"], "Seeds": [3]})
    text = latex(table)
    assert r"a\_b \& c\% l2x & slower (0.85$\times$) & 3 \\" in text
    assert r"\begin{tabular}{lrr}" in text


def test_speedups_within_the_null_test_are_no_measurable_speedup() -> None:
    # A structured cell more accurate than every other point at a speedup of 1.02x, inside
    # the null test's 0.97-1.03x: no gain, so not on the speedup front (it would dominate the
    # dense point there), drawn at 1x with an open marker, "~1.00x (within null)" in the table.
    summary = pd.concat([fake_summary(), pd.DataFrame([_row(
        "main", "l1_filter", 0.3, "structured", 0.95, 0.004, 3, speedup_b1=1.02)])],
        ignore_index=True)
    summary["null_ratio_b1_min"], summary["null_ratio_b1_max"] = 0.97, 1.03
    data = pareto_data(summary).set_index(["method", "sparsity"])
    assert data.loc[("l1_filter", 0.3), "speedup_kind"] == "within null"
    assert data.loc[("l1_filter", 0.3), "speedup_x"] == 1.0
    assert data.loc[("l1_filter", 0.3), "speedup"] == pytest.approx(1.02)
    assert not data.loc[("l1_filter", 0.3), "front_speedup"]
    assert data.loc[("l1_filter", 0.3), "front_size"]  # its size is real
    assert data.loc[("unpruned", 0.0), "speedup_kind"] == "within null"  # 0.99x
    assert data.loc[("dense", 0.0), "front_speedup"]
    assert data.loc[("l1_filter", 0.5), "speedup_x"] == pytest.approx(2 ** 0.5)
    assert data.loc[("l1_filter", 0.5), "speedup_kind"] == "measured"
    fig, axes = plt.subplots(1, 2, figsize=PARETO_SIZE)
    draw_pareto(summary, axes)
    null = next(c for c in axes[0].collections if c.get_gid() == "pareto:speedup:main:l1_filter:"
                "within_null")
    assert np.asarray(null.get_offsets()).tolist() == [[1.0, 95.0]]
    faces = np.asarray(null.get_facecolors())
    assert len(faces) == 0 or faces[:, 3].max() == 0  # open marker
    band = next(p for p in axes[0].patches if p.get_gid() == "null-band:main")
    assert (band.get_x(), band.get_x() + band.get_width()) == pytest.approx((0.97, 1.03))
    assert "within the null test at 1× (2)" in axes[0].get_title()
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "no measurable speedup (within the null test's spread), at 1×" in legend
    table = efficiency_table(summary)
    shown = display_table(table).set_index(["Method", "Sparsity (%)"])["Speedup"]
    assert shown[("l1_filter", "30")] == "~1.00x (within null)"
    assert shown[("unpruned", "0")] == "~1.00x (within null)"
    assert shown[("l1_filter", "50")] == "1.41x"
    assert shown[("dense", "0")] == "1.00x"
    assert shown[("magnitude", "90")] == "dense kernels"
    flags = table.set_index(["method", "sparsity_pct"])["speedup_b1_within_null"]
    assert flags[("l1_filter", 30.0)] and flags[("unpruned", 0.0)]
    assert not flags[("l1_filter", 50.0)] and not flags[("dense", 0.0)]
    assert table["null_ratio_b1_min"].unique().tolist() == [0.97]


def test_percent_columns_say_so_in_their_names() -> None:
    table = efficiency_table(fake_summary())
    # Percent in the csv under *_pct names; fractions are MLflow's, not the table's.
    assert table["sparsity_pct"].tolist() == [0, 0, 50, 90, 50, 90]
    assert "sparsity" not in table
    assert table["accuracy_pct"].iloc[0] == pytest.approx(92.0)
    shown = display_table(table)
    assert shown["Sparsity (%)"].tolist() == ["0", "0", "50", "90", "50", "90"]
    assert [c for c in shown.columns if "%" in str(c)] == ["Sparsity (%)",
                                                          "Accuracy (%, ± 95% CI)"]
