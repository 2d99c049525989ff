"""Readability on a projector, checked on the drawn figure: no text overlaps other text or
runs off the figure's edge, and no text is smaller than :data:`sim.viz.style.MIN_FONTSIZE`.

The checker (:func:`text_problems`) lives here, beside the tests that prove it finds what
it should, because only tests use it; the figure tests import it from here.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text

from sim.viz.style import MIN_FONTSIZE, new_figure


def drawn_texts(fig: Figure) -> list[Text]:
    """The non-empty texts a drawn figure shows (tick labels only for ticks in view)."""
    fig.canvas.draw()
    tick_texts: set[int] = set()
    shown: list[Text] = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                tick_texts.update((id(tick.label1), id(tick.label2)))
            if not (ax.get_visible() and ax.axison and axis.get_visible()):
                continue
            lo, hi = sorted(axis.get_view_interval())
            eps = 1e-9 * max(abs(lo), abs(hi), 1e-300)
            for locs, ticks in ((axis.get_majorticklocs(), axis.get_major_ticks),
                                (axis.get_minorticklocs(), axis.get_minor_ticks)):
                for loc, tick in zip(locs, ticks(len(locs)), strict=True):
                    if not lo - eps <= loc <= hi + eps:
                        continue
                    shown += [lab for lab in (tick.label1, tick.label2)
                              if lab.get_visible() and lab.get_text().strip()]
    for t in fig.findobj(Text):
        if id(t) in tick_texts or not t.get_visible() or not t.get_text().strip():
            continue
        if t.axes is not None and not t.axes.get_visible():
            continue
        shown.append(t)
    return list({id(t): t for t in shown}.values())


def _footprint(t: Text, renderer) -> np.ndarray:
    """The four corners (pixels) of a text's rotated box; its axis-aligned extent has the
    same centre."""
    box = t.get_window_extent(renderer)
    angle = t.get_rotation()
    if angle % 180 == 0:
        w, h = box.width, box.height
    elif angle % 90 == 0:
        w, h = box.height, box.width
    else:
        t.set_rotation(0)
        flat = t.get_window_extent(renderer)
        t.set_rotation(angle)
        w, h = flat.width, flat.height
    a = math.radians(angle)
    u, v = np.array([math.cos(a), math.sin(a)]), np.array([-math.sin(a), math.cos(a)])
    c = np.array([(box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2])
    return np.array([c + sx * w / 2 * u + sy * h / 2 * v
                     for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))])


def _overlap(p: np.ndarray, q: np.ndarray, tolerance: float) -> bool:
    """Whether two convex quadrilaterals overlap by more than ``tolerance`` pixels
    (separating-axis test)."""
    for poly in (p, q):
        for k in range(4):
            edge = poly[(k + 1) % 4] - poly[k]
            n = np.array([-edge[1], edge[0]])
            norm = np.hypot(*n)
            if norm == 0:
                continue
            n = n / norm
            a, b = p @ n, q @ n
            if min(a.max(), b.max()) - max(a.min(), b.min()) <= tolerance:
                return False
    return True


def text_problems(fig: Figure, tolerance_px: float = 1.0) -> list[str]:
    """Texts of a figure that overlap one another or are cut off by the figure's edge
    (boxes from the renderer, :meth:`Text.get_window_extent`, rotated with the text).
    Empty: none."""
    texts = drawn_texts(fig)
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]  # an Agg canvas
    edge = fig.bbox
    problems = []
    shapes = []
    for t in texts:
        b = t.get_window_extent(renderer)
        if (b.x0 < edge.x0 - tolerance_px or b.y0 < edge.y0 - tolerance_px
                or b.x1 > edge.x1 + tolerance_px or b.y1 > edge.y1 + tolerance_px):
            problems.append(f"cut off by the figure edge: {t.get_text()!r}")
        shapes.append((t, b, _footprint(t, renderer)))
    for i, (t, a, pa) in enumerate(shapes):
        for u, b, pb in shapes[i + 1:]:
            if (min(a.x1, b.x1) - max(a.x0, b.x0) > tolerance_px
                    and min(a.y1, b.y1) - max(a.y0, b.y0) > tolerance_px
                    and _overlap(pa, pb, tolerance_px)):
                problems.append(f"overlap: {t.get_text()!r} and {u.get_text()!r}")
    return problems



def small_texts(fig: Figure, minimum: float = MIN_FONTSIZE) -> list[str]:
    """Texts a drawn figure shows in a font smaller than ``minimum`` points."""
    return [f"{t.get_text()!r} at {t.get_fontsize():g} pt" for t in drawn_texts(fig)
            if t.get_fontsize() < minimum - 1e-9]


def test_text_problems_finds_overlap_and_cut_off_text():
    """The checker itself: two texts on the same spot overlap; text past the edge is cut."""
    fig = new_figure(figsize=(3, 2))
    fig.text(0.5, 0.5, "first label")
    fig.text(0.52, 0.5, "second label")
    fig.text(0.95, 0.1, "runs off the edge")
    problems = text_problems(fig)
    assert any(p.startswith("overlap") for p in problems)
    assert any(p.startswith("cut off") and "edge" in p for p in problems)


def test_text_problems_passes_texts_that_are_apart_even_when_rotated():
    """The control: texts well apart and inside the figure give no problem, also when one
    is rotated so that its upright box would cross the other's (the checker compares the
    rotated boxes), so a figure test cannot pass by a checker that reports everything."""
    fig = new_figure(figsize=(4, 3))
    fig.text(0.1, 0.8, "top left")
    fig.text(0.6, 0.1, "bottom right")
    fig.text(0.3, 0.2, "a long rotated label", rotation=45)
    fig.text(0.62, 0.55, "beside it")
    assert text_problems(fig) == []


def test_small_texts_finds_text_below_the_minimum():
    """The size check reports a text below the minimum and passes one at it."""
    fig = new_figure(figsize=(4, 3))
    fig.text(0.1, 0.8, "tiny", fontsize=MIN_FONTSIZE - 2)
    fig.text(0.1, 0.2, "readable", fontsize=MIN_FONTSIZE)
    assert small_texts(fig) == [f"'tiny' at {MIN_FONTSIZE - 2:g} pt"]


@pytest.mark.parametrize("angle", [0, 30, 90])
def test_footprint_keeps_the_texts_size_when_rotated(angle):
    """A rotated text's footprint has the sides of the upright text (not of its larger
    axis-aligned box), so a rotated tick label is not reported as overlapping a neighbour
    it only nears."""
    fig = new_figure(figsize=(4, 3))
    t = fig.text(0.5, 0.5, "a label of some length", rotation=angle)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    corners = _footprint(t, renderer)
    sides = sorted(np.hypot(*(corners[(k + 1) % 4] - corners[k])) for k in range(2))
    t.set_rotation(0)
    flat = t.get_window_extent(renderer)
    assert sides == pytest.approx(sorted((flat.width, flat.height)), rel=1e-6)
