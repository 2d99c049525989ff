"""One body, two drawings: the matplotlib map (sim/viz/bodymap.py) and the classroom app's SVG
map (sim/viz/svg.py) take their geometry and encoding from sim/viz/body_layout.py. These
tests read both drawings and compare them, so a change to one that the other does not follow
fails here."""

from __future__ import annotations

import re

import numpy as np
import pytest
from matplotlib.colors import to_hex
from matplotlib.patches import Circle, Ellipse, FancyBboxPatch, Polygon

from sim.viz.body_layout import BODY_TOP, SILHOUETTE, layout_for
from sim.viz.bodymap import body_map
from sim.viz.svg import S, body_map_svg

#: A state that uses every symbol: burden across the colour scale, dormant cells, a
#: detectable metastasis, a primary that has been removed, a 7 mm imaging threshold.
STATE = {"site": "colon", "primary_cells": 0.0,
         "burden": {"liver": 3e9, "lung": 2e5, "peritoneum": 4e3, "regional_lymph_nodes": 1e7},
         "dormant": {"bone": 500, "liver": 20, "brain": 3},
         "detectable": {"liver": 2}, "detectable_mm": 7.0, "day": 400.0}


def _svg_units(x_px: float, y_px: float) -> tuple[float, float]:
    """SVG pixels back to layout units (y up)."""
    return x_px / S, BODY_TOP - y_px / S


def _attrs(tag: str) -> dict[str, str]:
    return dict(re.findall(r'([\w-]+)="([^"]*)"', tag))


@pytest.fixture(scope="module")
def drawings():
    fig = body_map(STATE)
    return fig.axes[0], body_map_svg(STATE, "test")


def test_organs_stand_at_the_same_place_with_the_same_fill(drawings):
    """Every organ's ellipse has the same centre and size (within the SVG's whole-pixel
    rounding) and the same fill colour in both drawings; the empty background organs are
    unfilled in both."""
    ax, svg = drawings
    layout, _ = layout_for(STATE["site"])
    mpl = {}
    for p in ax.patches:
        if isinstance(p, Ellipse):
            for organ, (x, y, w, h) in layout.items():
                if np.allclose((*p.center, p.width, p.height), (x, y, w, h)):
                    mpl[organ] = p
    svg_organs = {a["data-organ"]: a for a in map(_attrs, re.findall(r"<ellipse [^>]*>", svg))
                  if "data-organ" in a}
    assert set(svg_organs) == set(mpl) == set(layout)
    tolerance = 1.0 / S  # one pixel
    for organ, a in svg_organs.items():
        p = mpl[organ]
        x, y = _svg_units(float(a["cx"]), float(a["cy"]))
        assert np.allclose((x, y), p.center, atol=tolerance), organ
        assert np.allclose((2 * float(a["rx"]) / S, 2 * float(a["ry"]) / S),
                           (p.width, p.height), atol=2 * tolerance), organ
        face = p.get_facecolor()
        if face[3] == 0:
            assert a["fill"] == "none", organ
        else:
            assert a["fill"] == to_hex(face), organ
    filled = {o for o, a in svg_organs.items() if a["fill"] not in ("none", "#ffffff")}
    assert filled == set(STATE["burden"])


def test_the_silhouette_is_the_same_body(drawings):
    """Head, neck, trunk, arms and legs have the same outer extent in both drawings (the
    SVG's trunk used to be 0.6 units narrower: the matplotlib box grows by its rounding)."""
    ax, svg = drawings
    mpl = []
    for p in ax.patches:
        if isinstance(p, FancyBboxPatch):
            b = p.get_path().get_extents()
            mpl.append((b.x0, b.y0, b.width, b.height))
        elif isinstance(p, Ellipse) and p.get_zorder() == 0:
            mpl.append((p.center[0] - p.width / 2, p.center[1] - p.height / 2, p.width,
                        p.height))
    skin = [_attrs(t) for t in re.findall(r"<(?:rect|ellipse) [^>]*>", svg)
            if 'fill="#f3eee8"' in t]
    svg_boxes = []
    for a in skin:
        if "rx" in a and "width" not in a:   # the head
            cx, cy = _svg_units(float(a["cx"]), float(a["cy"]))
            rx, ry = float(a["rx"]) / S, float(a["ry"]) / S
            svg_boxes.append((cx - rx, cy - ry, 2 * rx, 2 * ry))
        else:
            x, top = _svg_units(float(a["x"]), float(a["y"]))
            w, h = float(a["width"]) / S, float(a["height"]) / S
            svg_boxes.append((x, top - h, w, h))
    assert len(mpl) == len(svg_boxes) == len(SILHOUETTE)
    assert np.allclose(mpl, svg_boxes, atol=2.0 / S), (mpl, svg_boxes)


def test_symbols_have_the_same_size_and_meaning(drawings):
    """The primary's star (white once removed) and the dormant-cell dots are the same size
    and stand at the same place in both drawings, and the SVG's legend states the state's
    imaging threshold (it always said 5 mm)."""
    ax, svg = drawings
    star = next(p for p in ax.patches if isinstance(p, Polygon))
    mpl_star = star.get_xy()[:10]
    svg_star = re.search(r'<polygon points="([^"]+)" fill="([^"]+)"', svg)
    pts = np.array([_svg_units(*map(float, xy.split(","))) for xy in svg_star[1].split()])
    assert np.allclose(pts, mpl_star, atol=0.1 / S)
    assert svg_star[2] == "white" and to_hex(star.get_facecolor()) == "#ffffff"
    dots = sorted((p.center[0], p.center[1], p.radius) for p in ax.patches
                  if isinstance(p, Circle))
    svg_dots = sorted((*_svg_units(float(a["cx"]), float(a["cy"])), float(a["r"]) / S)
                      for a in map(_attrs, re.findall(r"<circle [^>]*>", svg)))
    assert len(dots) == len(svg_dots) == len(STATE["dormant"])
    assert np.allclose(dots, svg_dots, atol=1.0 / S)
    assert "≥ 7 mm" in svg and "primary (removed)" in svg
