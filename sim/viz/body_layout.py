"""The body map's geometry and encoding, drawn by both :mod:`sim.viz.bodymap` (matplotlib:
figures and animations) and :mod:`sim.viz.svg` (the classroom app), so the two drawings show
the same body and cannot drift apart.

Everything is in layout units on a 10 x 20.2 canvas, y pointing up (head at the top); the
matplotlib map draws in these units directly, the SVG scales them to pixels. A teaching
schematic, not anatomy to scale: a front view of an adult with each target organ as an
ellipse where it lies.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from matplotlib import colormaps
from matplotlib.colors import LogNorm

from ..biology.anatomy import PRIMARY_SITES
from .style import PRIMARY_COLOR

#: (x, y, width, height) of each organ's ellipse: centre, then its extent.
LAYOUT: dict[str, tuple[float, float, float, float]] = {
    "brain": (5.0, 18.3, 2.0, 1.3),
    "thyroid": (5.0, 16.2, 0.9, 0.45),
    "lung": (5.0, 13.6, 3.8, 2.6),
    "heart": (5.4, 13.0, 1.2, 1.0),
    "pleura": (5.0, 13.6, 4.3, 3.1),
    "regional_lymph_nodes": (3.1, 14.8, 0.7, 0.5),   # moved next to the primary when drawn
    "distant_lymph_nodes": (6.9, 11.3, 0.7, 0.5),
    "liver": (4.1, 11.0, 2.4, 1.3),
    "stomach": (6.1, 11.0, 1.4, 1.0),
    "spleen": (7.3, 11.2, 0.7, 0.9),
    "adrenal": (3.9, 10.1, 0.6, 0.35),
    "pancreas": (5.7, 10.1, 1.6, 0.45),
    "kidney": (4.0, 9.4, 0.8, 1.0),
    "small_intestine": (5.0, 8.4, 2.4, 1.3),
    "large_intestine": (5.0, 8.4, 3.4, 2.1),
    "peritoneum": (5.0, 8.8, 4.0, 3.6),
    "ovary": (5.0, 6.9, 1.6, 0.4),
    "bone": (1.6, 8.0, 0.6, 5.0),
    "muscle": (8.4, 8.0, 0.6, 4.0),
    "skin": (8.9, 13.5, 0.35, 3.0),
    "adipose": (1.2, 12.8, 0.35, 2.0),
}
#: Where each primary site sits.
PRIMARY_POSITION: dict[str, tuple[float, float]] = {
    "breast": (3.7, 13.2), "colorectal": (6.5, 8.0), "colon": (6.5, 8.0), "rectum": (5.0, 7.0),
    "stomach": (6.1, 11.0), "esophagus": (5.0, 15.3), "pancreas": (5.7, 10.1),
    "lung": (4.2, 14.0), "prostate": (5.0, 6.3), "kidney": (4.0, 9.4), "ovary": (5.8, 6.9),
    "uterus": (5.0, 6.5), "cervix": (5.0, 6.2), "bladder": (5.0, 6.0),
    "melanoma": (7.8, 12.3), "bone_sarcoma": (3.8, 3.0), "thyroid": (5.0, 16.2),
    "liver": (4.1, 11.0),
}
#: Organs that surround others: drawn first, as a dashed outline while they hold nothing.
BACKGROUND_ORGANS = ("pleura", "peritoneum", "large_intestine")
#: The top of the body (layout units).
BODY_TOP = 20.2


class Shape(NamedTuple):
    """A part of the silhouette: an ellipse (centre ``x``, ``y``; ``radius`` 0) or a rounded
    rectangle (lower-left corner ``x``, ``y``; corner ``radius``), ``width`` x ``height``."""

    kind: str
    x: float
    y: float
    width: float
    height: float
    radius: float = 0.0


#: The body outline, drawn in this order: head, neck, trunk, arms, legs.
SILHOUETTE: tuple[Shape, ...] = (
    Shape("ellipse", 5.0, 18.3, 3.0, 3.2),
    Shape("box", 4.35, 15.55, 1.3, 1.3, 0.05),
    Shape("box", 1.9, 5.7, 6.2, 10.4, 0.3),
    Shape("box", 0.65, 6.3, 1.3, 9.0, 0.2),
    Shape("box", 8.05, 6.3, 1.3, 9.0, 0.2),
    Shape("box", 2.7, 0.1, 1.8, 6.2, 0.2),
    Shape("box", 5.5, 0.1, 1.8, 6.2, 0.2),
)
SKIN_FILL, SKIN_EDGE = "#f3eee8", "#999999"

#: Organs are filled by the cells in their metastases on this log scale (cells).
BURDEN_CMAP = colormaps["Reds"]
BURDEN_RANGE = (1e3, 1e11)
BURDEN_NORM = LogNorm(vmin=BURDEN_RANGE[0], vmax=BURDEN_RANGE[1])


def organ_fill(organ: str, cells: float) -> tuple[float, float, float, float] | str | None:
    """An organ's fill: ``None`` (outline only) for an empty background organ, ``"white"``
    for an empty organ, else the colour of its burden on :data:`BURDEN_NORM` (RGBA)."""
    if cells <= 0:
        return None if organ in BACKGROUND_ORGANS else "white"
    return BURDEN_CMAP(BURDEN_NORM(max(cells, BURDEN_RANGE[0])))


def drawing_order(layout: dict[str, tuple[float, float, float, float]]) -> list[str]:
    """The organs in the order they are drawn: the background organs first."""
    return list(BACKGROUND_ORGANS) + [o for o in layout if o not in BACKGROUND_ORGANS]


def layout_for(site: str) -> tuple[dict[str, tuple[float, float, float, float]],
                                   tuple[float, float]]:
    """The organ layout for a primary site (its regional nodes beside it) and its position."""
    px, py = PRIMARY_POSITION.get(site, (5.0, 10.0))
    layout = dict(LAYOUT)
    layout["regional_lymph_nodes"] = (px - 1.0 if px > 2.5 else px + 1.0, py + 0.7, 0.7, 0.5)
    return layout, (px, py)


def routes_for(site: str, layout: dict) -> list[tuple[tuple[float, float], str, str, bool]]:
    """The routes out of the primary to draw: (target point, label, colour, dashed)."""
    sp = PRIMARY_SITES.get(site)
    if sp is None:
        return []
    _, py = PRIMARY_POSITION.get(site, (5.0, 10.0))
    drainage = sp.venous_drainage
    lung = LAYOUT["lung"][:2]
    routes = []
    if drainage.get("caval"):
        routes.append(((lung[0] - 0.8, lung[1] - 0.6), "caval veins → lungs", "#1f4e9c", False))
    if drainage.get("portal"):
        routes.append((LAYOUT["liver"][:2], "portal vein → liver", "#9c4e1f", False))
    if drainage.get("pulmonary_vein"):
        routes.append((LAYOUT["brain"][:2], "pulmonary veins → body", "#b8860b", False))
    if drainage.get("vertebral"):
        routes.append(((LAYOUT["bone"][0], py - 1.0), "Batson's plexus → spine", "#555555",
                       False))
    if sp.routes.get("lymph", 0) > 0:
        routes.append((layout["regional_lymph_nodes"][:2], "lymph", "#2e8b57", True))
    return routes


def primary_fill(primary_cells: float) -> str:
    """The primary's star: filled while the tumour is there, white once it is removed."""
    return "white" if primary_cells <= 0 else PRIMARY_COLOR


def star_radius(primary_cells: float) -> float:
    """Outer radius of the primary's star (layout units): 0.3, growing by 1/12 per tenfold
    beyond 10^6 cells."""
    return 0.3 + max(0.0, math.log10(max(primary_cells, 1.0)) - 6.0) / 12.0


def star_points(x: float, y: float, radius: float) -> list[tuple[float, float]]:
    """The ten corners of a five-pointed star centred on (x, y), a point upwards."""
    points = []
    for k in range(10):
        a = math.pi / 2 + k * math.pi / 5
        r = radius if k % 2 == 0 else 0.45 * radius
        points.append((x + r * math.cos(a), y + r * math.sin(a)))
    return points


def dormant_dot(ellipse: tuple[float, float, float, float],
                dormant_cells: float) -> tuple[float, float, float]:
    """The dot that marks dormant cells in an organ: centre (at the top right of the
    organ's ellipse box) and radius (layout units, growing with the log of the count)."""
    x, y, w, h = ellipse
    radius = min(1 / 15 + math.log10(1 + dormant_cells) / 60, 0.2)
    return x + w / 2 - 0.1, y + h / 2 - 0.1, radius
