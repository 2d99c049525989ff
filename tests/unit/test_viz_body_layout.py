"""One body, two drawings: the matplotlib map (sim/viz/bodymap.py) and the classroom app's SVG
map (sim/viz/body_svg.py) take their geometry and encoding from sim/viz/body_layout.py. These
tests read the SVG as a projector would show it (text sizes, overlaps, bars, routes), check
that the body is anatomy a student recognises, and compare the two drawings, so that a change
to one that the other does not follow fails here."""

from __future__ import annotations

import html
import math
import re
from itertools import pairwise

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.patches import Polygon

from sim.biology.anatomy import PRIMARY_SITES, TARGET_ORGANS
from sim.viz.body_layout import (
    ORGAN_SHAPES,
    PLAIN_ORGAN_NAMES,
    anchor,
    bounds,
    primary_position,
    routes_for,
    shapes_for,
)
from sim.viz.body_svg import (
    BAR_LENGTH,
    CHAR_WIDTH,
    body_map_svg,
    cells_in_words,
    from_svg,
    to_svg,
)
from sim.viz.bodymap import body_map

#: A state that uses every symbol: burden across the colour scale, cells arrived, dormant
#: cells, a detectable metastasis, a primary that has been removed, a 7 mm threshold.
STATE = {"site": "colon", "primary_cells": 0.0,
         "burden": {"liver": 8.3e9, "lung": 1.6e5, "peritoneum": 4e3,
                    "regional_lymph_nodes": 1e7},
         "arrived": {"liver": 2e6, "lung": 3e7, "bone": 4e4, "brain": 300},
         "dormant": {"bone": 500, "liver": 20, "brain": 3},
         "detectable": {"liver": 2}, "detectable_mm": 7.0, "day": 400.0}
SITES = ("breast", "colon", "prostate", "melanoma", "bone_sarcoma", "lung", "thyroid")


def _attrs(tag: str) -> dict[str, str]:
    return dict(re.findall(r'([\w-]+)="([^"]*)"', tag))


def _texts(svg: str) -> list[tuple[dict[str, str], str]]:
    return [(_attrs(a), html.unescape(t)) for a, t in re.findall(r"<text ([^>]*)>([^<]*)</text>",
                                                                 svg)]


def _text_box(a: dict[str, str], text: str) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of a text, estimated: width len x 0.6 x size, height the size (0.8
    of it above the baseline)."""
    x, y, size = float(a["x"]), float(a["y"]), float(a["font-size"])
    w = len(text) * CHAR_WIDTH * size
    x0 = {"start": x, "middle": x - w / 2, "end": x - w}[a.get("text-anchor", "start")]
    return x0, y - 0.8 * size, x0 + w, y + 0.2 * size


def _overlaps(svg: str) -> list[str]:
    boxes = [(t, _text_box(a, t)) for a, t in _texts(svg)]
    out = []
    for i, (t, a) in enumerate(boxes):
        for u, b in boxes[i + 1:]:
            if min(a[2], b[2]) - max(a[0], b[0]) > 0 and min(a[3], b[3]) - max(a[1], b[1]) > 0:
                out.append(f"{t!r} / {u!r}")
    return out


def _view_box(svg: str) -> tuple[float, float]:
    vb = _attrs(re.search(r"<svg [^>]*>", svg)[0])["viewBox"].split()
    return float(vb[2]), float(vb[3])


def _polygons(svg: str, organ: str) -> list[np.ndarray]:
    """The polygons of an organ in the SVG, in layout centimetres."""
    out = []
    for tag in re.findall(rf'<polygon [^>]*data-organ="{organ}"[^>]*>', svg):
        pts = [tuple(map(float, p.split(","))) for p in _attrs(tag)["points"].split()]
        out.append(np.array([from_svg(u, v) for u, v in pts]))
    return out


def _bar_widths(svg: str, organ: str) -> list[float]:
    row = re.search(rf'<g class="organ-row" data-organ="{organ}">(.*?)</g>', svg)[1]
    return [float(_attrs(t)["width"]) for t in re.findall(r'<rect class="bar"[^>]*>', row)]


@pytest.fixture(scope="module")
def svg() -> str:
    return body_map_svg(STATE, title="Combined: 1 year 1 month")


def test_every_organ_has_a_shape_a_row_and_a_plain_name(svg):
    """Every organ the simulator reports has a shape and a row (name, bars) on the SVG map,
    and a plain name; a missing organ would not be shown."""
    state = dict(STATE, burden={o: 1e6 for o in TARGET_ORGANS})
    full = body_map_svg(state)
    assert set(PLAIN_ORGAN_NAMES) == set(TARGET_ORGANS)
    for organ in TARGET_ORGANS:
        assert re.search(rf'<polygon [^>]*data-organ="{organ}"', full), organ
        assert f'<g class="organ-row" data-organ="{organ}">' in full, organ
    labels = [t for a, t in _texts(full) if a.get("class") == "organ-label"]
    assert sorted(labels) == sorted(PLAIN_ORGAN_NAMES.values())


@pytest.mark.parametrize("site", SITES)
@pytest.mark.parametrize("hypothesis", ["combined", "paget"])
def test_no_text_overlaps_or_leaves_the_picture(site, hypothesis):
    """No two texts overlap (boxes estimated from position, size, anchor and length) and
    every text lies inside the viewBox, for several primaries under both kinds of delivery
    (the route key or the caption below the feet), with a journey's numbered stops."""
    journey = ["primary", "heart", "lung", "heart", "liver"]
    svg = body_map_svg(dict(STATE, site=site), title="Combined: 12 years 11 months",
                       hypothesis=hypothesis, journey=journey, journey_died=True)
    assert _overlaps(svg) == []
    w, h = _view_box(svg)
    for a, t in _texts(svg):
        x0, y0, x1, y1 = _text_box(a, t)
        assert 0 <= x0 and x1 <= w and 0 <= y0 and y1 <= h, t
    steps = [t for a, t in _texts(svg) if a.get("class") == "journey-step"]
    assert steps == ["1", "2", "3", "4", "5"]


def test_the_overlap_check_finds_overlapping_text():
    """The control: two texts at the same spot overlap, so the check above can fail."""
    svg = ('<svg viewBox="0 0 100 100"><text x="10" y="20" font-size="17">Lungs</text>'
           '<text x="30" y="25" font-size="17" text-anchor="middle">Heart</text></svg>')
    assert _overlaps(svg) == ["'Lungs' / 'Heart'"]


def test_readable_on_a_projector(svg):
    """Every text is at least 17 units high (14 screen pixels at the app's smallest scale
    0.82), the picture is at most 440 x 680 units with no size of its own (the app sizes
    it), and numbers are written in words."""
    sizes = [float(a["font-size"]) for a, _ in _texts(svg)]
    assert sizes and min(sizes) >= 17
    tag = _attrs(re.search(r"<svg [^>]*>", svg)[0])
    assert "width" not in tag and "height" not in tag
    assert tag["class"] == "body-map" and tag["aria-label"] == "body map"
    w, h = _view_box(svg)
    assert w <= 440 and h <= 680
    assert "e+" not in svg and "1e" not in svg
    words = {t for _, t in _texts(svg)}
    assert {"1 thousand", "1 million", "1 billion", "1 trillion",
            "cells (log scale):", "detectable (≥ 7 mm)", "primary (removed)"} <= words
    assert "8.3 billion cells in metastases" in svg  # the liver row's tooltip


def test_numbers_in_words():
    """Counts are written as a class says them, with two significant figures."""
    assert cells_in_words(8.3e9) == "8.3 billion"
    assert cells_in_words(1.6e5) == "160 thousand"
    assert cells_in_words(2.6e12) == "2.6 trillion"
    assert cells_in_words(1e6) == "1 million"
    assert cells_in_words(950) == "950"
    assert cells_in_words(0) == "0"


@pytest.mark.parametrize("hypothesis,anatomical", [("ewing", True), ("combined", True),
                                                   ("paget", False), ("null", False)])
def test_routes_are_drawn_only_under_anatomical_delivery(hypothesis, anatomical):
    """A colon primary's portal vein to the liver is drawn under Ewing and combined (blood
    follows the anatomy) and not under Paget and null, which instead say that blood carries
    cells to every organ alike; the lymph to the nearby nodes is drawn under all four."""
    svg = body_map_svg(dict(STATE, site="colon"), hypothesis=hypothesis)
    drawn = set(re.findall(r'class="route" data-route="(\w+)"', svg))
    assert ("portal" in drawn) is anatomical
    assert "lymph" in drawn
    assert (drawn == {"lymph"}) is not anatomical
    caption = " ".join(t for a, t in _texts(svg) if a.get("class") == "map-caption")
    assert (caption == "Blood carries cells to every organ alike") is not anatomical
    breast = {r.key for r in routes_for("breast", hypothesis=hypothesis)}
    assert breast == ({"caval", "vertebral", "lymph"} if anatomical else {"lymph"})


def test_bars_grow_with_the_log_of_the_count():
    """Each bar's length grows strictly with its count across 10^3, 10^6, 10^9, 10^12 (a
    quarter of the full length per three decades), and 8.3 billion cells make a bar about
    twice as long as 160 thousand (log 9.9 vs 5.2): the difference shows."""
    lengths = []
    for k in (3, 6, 9, 12):
        svg = body_map_svg({"site": "breast", "arrived": {"liver": 10.0 ** k},
                            "burden": {"liver": 10.0 ** k}})
        arrived, met = _bar_widths(svg, "liver")
        assert arrived == met
        lengths.append(met)
    assert all(b > a for a, b in pairwise(lengths))
    assert np.allclose(lengths, [BAR_LENGTH / 4 * i for i in (1, 2, 3, 4)], atol=0.01)
    svg = body_map_svg({"site": "breast", "arrived": {"liver": 8.3e9},
                        "burden": {"liver": 1.6e5}})
    arrived, met = _bar_widths(svg, "liver")
    assert arrived / met == pytest.approx(math.log10(8.3e9) / math.log10(1.6e5), rel=0.01)
    assert arrived / met > 1.8
    assert _bar_widths(svg, "brain") == []  # nothing there: no bar


def test_the_body_is_anatomy():
    """Organs stand where a student expects them: the oesophagus primary in the chest (above
    the top of the liver, behind the heart), the heart between the two lungs, the liver on
    the viewer's left (the patient's right) under the right lung, the stomach and spleen on
    the other side, kidneys below the adrenals, the brain in the head."""
    liver_top = bounds(ORGAN_SHAPES["liver"][0])[3]
    ex, ey = primary_position("esophagus")
    assert ey > liver_top + 5
    hx0, hy0, hx1, hy1 = bounds(ORGAN_SHAPES["heart"][0])
    assert hy0 < ey < hy1 + 3 and hx0 < ex < hx1
    right_lung, left_lung = (bounds(o) for o in ORGAN_SHAPES["lung"])
    heart_x = np.mean([p[0] for p in ORGAN_SHAPES["heart"][0]])
    assert right_lung[2] < heart_x < left_lung[0] + 8
    assert right_lung[0] < 0 < left_lung[2]
    liver_x = np.mean([p[0] for p in ORGAN_SHAPES["liver"][0]])
    assert liver_x < -3 and liver_top < min(right_lung[1], left_lung[1]) + 6
    assert np.mean([p[0] for p in ORGAN_SHAPES["stomach"][1]]) > 0
    assert np.mean([p[0] for p in ORGAN_SHAPES["spleen"][0]]) > 8
    for kidney, adrenal in zip(ORGAN_SHAPES["kidney"], ORGAN_SHAPES["adrenal"], strict=True):
        assert bounds(adrenal)[1] > bounds(kidney)[1] + 8
    assert bounds(ORGAN_SHAPES["brain"][0])[1] > 155
    # in the SVG, the liver is drawn left of the body's midline
    svg = body_map_svg(STATE)
    midline = to_svg(0.0, 100.0)[0]
    xs = [to_svg(*p)[0] for p in _polygons(svg, "liver")[0]]
    assert np.mean(xs) < midline


@pytest.mark.parametrize("site", sorted(PRIMARY_SITES))
def test_every_primary_and_its_nodes_sit_inside_the_body(site):
    """Every primary's star and its nearby nodes are inside the body's outline (a point
    misplaced in the empty space beside the body would fail)."""
    from matplotlib.path import Path

    from sim.viz.body_layout import BODY_OUTLINE
    outline = [Path(np.array(o)) for o in BODY_OUTLINE]
    for point in (primary_position(site), anchor("regional_lymph_nodes", site)):
        assert any(p.contains_point(point) for p in outline), (site, point)


def test_matplotlib_and_svg_draw_the_same_polygons(svg):
    """The matplotlib map and the SVG draw each organ with the same polygon points (within
    the SVG's 0.1-unit rounding) and the same number of polygons, for the fixed organs and
    the regional nodes that follow the primary."""
    fig = body_map(STATE, hypothesis="combined")
    mpl: dict[str, list[np.ndarray]] = {}
    for p in fig.axes[0].patches:
        if isinstance(p, Polygon) and p.get_gid() in ORGAN_SHAPES | {"regional_lymph_nodes": 0}:
            mpl.setdefault(p.get_gid(), []).append(p.get_xy()[:-1])
    shapes = shapes_for(STATE["site"])
    for organ in [*shapes, "skin"]:
        svg_polys = _polygons(svg, organ)
        assert len(svg_polys) == len(mpl[organ]), organ
        for a, b in zip(svg_polys, mpl[organ], strict=True):
            assert a.shape == b.shape and np.allclose(a, b, atol=0.05), organ


def test_the_journey_of_one_cell(svg):
    """A followed cell's journey is a dashed path through its places with a numbered circle
    at each stop, ending in a cross if it died and a dot if it is still there."""
    places = ["primary", "regional_lymph_nodes"]
    died = body_map_svg(STATE, journey=places, journey_died=True)
    alive = body_map_svg(STATE, journey=places)
    for s in (died, alive):
        line = _attrs(re.search(r'<polyline [^>]*stroke-dasharray[^>]*>', s)[0])
        pts = [tuple(map(float, p.split(","))) for p in line["points"].split()]
        expected = [to_svg(*anchor(p, "colon")) for p in places]
        assert np.allclose(pts, expected, atol=0.1)
    assert re.search(r'<path [^>]*class="journey-end"', died)
    assert re.search(r'<circle class="journey-end"', alive)
    assert 'class="journey"' not in svg


def test_matplotlib_bars_encode_the_counts_as_the_svg_does():
    """With ``bars=True`` the matplotlib map (the app's PNG) draws each organ's two bars as
    the SVG does: beside the organ's own name, the upper one (cells that arrived) and the
    lower one (cells in metastases) each filled to log10(count)/12 of the full bar, none for
    an organ with no such cells."""
    from matplotlib.patches import Rectangle

    from sim.viz.body_layout import ARRIVED_COLOR, BURDEN_BAR_COLOR, bar_fraction
    from sim.viz.bodymap import BAR_CM, BARS_NAME_X

    ax = body_map(STATE, hypothesis="combined", bars=True).axes[0]
    rows = {t.get_text(): t.get_position()[1] for t in ax.texts
            if t.get_position()[0] == BARS_NAME_X}
    filled = [(p.get_facecolor(), p.get_y(), p.get_width()) for p in ax.patches
              if isinstance(p, Rectangle) and p.get_facecolor()[:3] in
              {to_rgb(ARRIVED_COLOR), to_rgb(BURDEN_BAR_COLOR)}]
    for organ in shapes_for(STATE["site"]):
        y = rows[PLAIN_ORGAN_NAMES[organ]]
        for color, counts, above in ((ARRIVED_COLOR, STATE["arrived"], True),
                                     (BURDEN_BAR_COLOR, STATE["burden"], False)):
            bars = [w for c, by, w in filled if c[:3] == to_rgb(color)
                    and (by >= y if above else by < y) and abs(by - y) < 3.5]
            fraction = bar_fraction(counts.get(organ, 0.0))
            if fraction == 0:
                assert bars == [], organ
            else:
                assert len(bars) == 1 and bars[0] / BAR_CM == pytest.approx(fraction), organ


def test_matplotlib_map_draws_the_journey_through_the_same_places():
    """The PNG's followed cell: a dashed line through the anchors of the places it passed,
    one numbered circle per stop, and a cross at the end when it died (a dot when not)."""
    places = ["primary", "regional_lymph_nodes", "liver"]
    for died, end in ((True, "x"), (False, "o")):
        ax = body_map(STATE, hypothesis="combined", journey=(places, died)).axes[0]
        dashed = [ln for ln in ax.lines if ln.get_linestyle() == "--"
                  and len(ln.get_xdata()) == len(places)]
        assert len(dashed) == 1
        expected = [anchor(p, STATE["site"]) for p in places]
        assert np.allclose(np.c_[dashed[0].get_xdata(), dashed[0].get_ydata()], expected)
        assert sorted(t.get_text() for t in ax.texts if t.get_text().isdigit()) == ["1", "2",
                                                                                   "3"]
        assert [ln.get_marker() for ln in ax.lines if ln.get_marker() in ("x", "o")
                and ln.get_zorder() > 11][-1] == end


def test_fewest_crossings_never_adds_a_crossing_and_removes_a_removable_one():
    """The leader-line order: two lines that cross when each anchor keeps its given row are
    uncrossed by swapping the rows; a line that runs through another organ's anchor is moved
    off it when a swap allows; a layout without either is left alone."""
    from sim.viz.body_layout import fewest_crossings, leader_crossings, leader_near_misses

    anchors, rows = [(0.0, 0.0), (0.0, 10.0)], [10.0, 0.0]
    assert leader_crossings(anchors, rows, 5.0) == 1
    slot = fewest_crossings(anchors, rows, 5.0)
    assert leader_crossings(anchors, [rows[s] for s in slot], 5.0) == 0
    assert fewest_crossings(anchors, rows[::-1], 5.0) == [0, 1]
    # the line from (0, 0) to row 10 passes through the anchor at (2, 2); row 0 does not
    anchors, rows = [(0.0, 0.0), (2.0, 2.0), (3.0, -5.0)], [10.0, 4.0, 0.0]
    assert leader_near_misses(anchors, rows, 10.0, 1.0) == 1
    slot = fewest_crossings(anchors, rows, 10.0, clearance=1.0)
    moved = [rows[s] for s in slot]
    assert leader_near_misses(anchors, moved, 10.0, 1.0) == 0
    assert leader_crossings(anchors, moved, 10.0) == 0


@pytest.mark.parametrize("site", sorted(PRIMARY_SITES))
def test_leader_lines_cross_and_touch_less_than_in_height_order(site):
    """In the SVG map as drawn, the leader lines (anchor to bar) cross each other or run
    through another organ's ring no more often than with the names in the order of their
    organs' heights, for every primary site; the names keep their rows one ROW_PITCH apart
    (no two share a row); and the PNG's map (bars=True) puts each name at the same row."""
    from sim.viz.body_layout import leader_crossings, leader_near_misses
    from sim.viz.body_svg import BAR_X, LEADER_CLEARANCE, ROW_PITCH, from_svg
    from sim.viz.bodymap import BARS_NAME_X

    svg = body_map_svg({"site": site})
    lines = [_attrs(m) for m in re.findall(r'<g class="organ-row"[^>]*><title>[^<]*</title>'
                                           r'<line ([^>]*)/>', svg)]
    anchors = [(float(a["x1"]), float(a["y1"])) for a in lines]
    rows = [float(a["y2"]) for a in lines]
    assert len(lines) == len(shapes_for(site)) and {float(a["x2"]) for a in lines} == {BAR_X - 3}
    assert np.allclose(np.diff(sorted(rows)), ROW_PITCH, atol=0.1)

    def conflicts(r):
        return (leader_crossings(anchors, r, BAR_X - 3)
                + leader_near_misses(anchors, r, BAR_X - 3, LEADER_CLEARANCE))

    height_order = sorted(range(len(anchors)), key=lambda i: (anchors[i][1], -anchors[i][0]))
    in_height_order = [0.0] * len(anchors)
    for rank, i in enumerate(height_order):
        in_height_order[i] = sorted(rows)[rank]
    assert conflicts(rows) <= conflicts(in_height_order)
    ax = body_map({"site": site}, bars=True).axes[0]
    png_rows = {t.get_text(): t.get_position()[1] for t in ax.texts
                if t.get_position()[0] == BARS_NAME_X}
    svg_rows = {html.unescape(t): from_svg(0, float(a["y"]) - 6)[1]
                for a, t in _texts(svg) if a.get("class") == "organ-label"}
    assert png_rows.keys() == svg_rows.keys()
    assert all(abs(png_rows[k] - svg_rows[k]) < 0.05 for k in png_rows)
