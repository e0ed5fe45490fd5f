"""Point labels that do not collide: each label takes the nearest free spot around its point,
clear of the other labels and of every marker, or is left out."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.transforms import Bbox

LABEL_GID = "pareto-label"
LABEL_SIZE = 7  # points
MARKER_RADIUS = 3.5  # points: a marker's half-width, kept clear of labels
# Label offsets in points, nearest first: eight directions at three distances.
LABEL_OFFSETS = tuple((r * dx, r * dy) for r in (4, 9, 15) for dx, dy in (
    (1, 1), (1, -1), (-1, 1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1)))


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
