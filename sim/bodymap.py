"""A schematic body map: organs in their places, the primary, metastases, dormant cells, routes.

Drawn with matplotlib from a running :class:`~sim.model.MetastasisModel` (or its result), for
the classroom app and ``metasim animate``. The figure is a teaching schematic, not anatomy to
scale: a front view of an adult with each target organ as an ellipse where it lies. Organs
are shaded by metastatic burden (cells in colonies, log scale); black dots mark organs holding
dormant cells; a star marks the primary; arrows draw the venous routes (caval → lungs,
portal → liver, pulmonary veins → body, Batson's plexus → spine) and the lymph.
"""

from __future__ import annotations

import math
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.patches import Ellipse, FancyArrowPatch, FancyBboxPatch

from .anatomy import ORGANS, PRIMARY_SITES

#: (x, y, width, height) of each organ on a 10 x 20 canvas (head at the top).
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
#: Where each primary site sits (organ layout key or own coordinates).
PRIMARY_POSITION: dict[str, tuple[float, float]] = {
    "breast": (3.7, 13.2), "colorectal": (6.5, 8.0), "colon": (6.5, 8.0), "rectum": (5.0, 7.0),
    "stomach": (6.1, 11.0), "esophagus": (5.0, 15.3), "pancreas": (5.7, 10.1),
    "lung": (4.2, 14.0), "prostate": (5.0, 6.3), "kidney": (4.0, 9.4), "ovary": (5.8, 6.9),
    "uterus": (5.0, 6.5), "cervix": (5.0, 6.2), "bladder": (5.0, 6.0),
    "melanoma": (7.8, 12.3), "bone_sarcoma": (3.8, 3.0), "thyroid": (5.0, 16.2),
    "liver": (4.1, 11.0),
}
BACKGROUND_ORGANS = ("pleura", "peritoneum", "large_intestine")  # drawn first, outline only


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


def _silhouette(ax) -> None:
    style = {"facecolor": "#f3eee8", "edgecolor": "#999999", "linewidth": 1.2, "zorder": 0}
    ax.add_patch(Ellipse((5.0, 18.3), 3.0, 3.2, **style))                    # head
    ax.add_patch(FancyBboxPatch((4.4, 15.6), 1.2, 1.2, boxstyle="round,pad=0.05", **style))
    ax.add_patch(FancyBboxPatch((2.2, 6.0), 5.6, 9.8, boxstyle="round,pad=0.3", **style))
    for x in (1.3, 8.7):                                                      # arms
        ax.add_patch(FancyBboxPatch((x - 0.45, 6.5), 0.9, 8.6, boxstyle="round,pad=0.2", **style))
    for x in (3.6, 6.4):                                                      # legs
        ax.add_patch(FancyBboxPatch((x - 0.7, 0.3), 1.4, 5.8, boxstyle="round,pad=0.2", **style))


def _arrow(ax, a, b, label, color, style="-", rad=0.2) -> None:
    ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=11, color=color,
                                 linestyle=style, linewidth=1.3,
                                 connectionstyle=f"arc3,rad={rad}", zorder=6, alpha=0.85))
    mx, my = (a[0] + b[0]) / 2, (a[1] + b[1]) / 2
    ax.text(mx, my, label, fontsize=6.5, color=color, ha="center", va="center", zorder=7,
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.7, "pad": 0.5})


def body_map(state: dict[str, Any], ax=None, title: str = "") -> Figure:
    """Draw the body map of a state from :func:`state_of`.

    ``state`` keys: ``site`` (primary site key), ``primary_cells``, ``burden`` (organ -> cells
    in colonies), ``dormant`` (organ -> dormant cells), ``detectable`` (organ -> detectable
    metastases), ``day``.
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.6, 8.0))
    else:
        fig = ax.figure
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 20.2)
    ax.set_aspect("equal")
    ax.axis("off")
    _silhouette(ax)
    burden = state.get("burden", {})
    dormant = state.get("dormant", {})
    detectable = state.get("detectable", {})
    cmap = plt.get_cmap("Reds")
    norm = LogNorm(vmin=1e3, vmax=1e11)
    site = state.get("site", "breast")
    layout, (px, py) = layout_for(site)
    ordered = list(BACKGROUND_ORGANS) + [o for o in layout if o not in BACKGROUND_ORGANS]
    for organ in ordered:
        x, y, w, h = layout[organ]
        cells = burden.get(organ, 0.0)
        background = organ in BACKGROUND_ORGANS and cells <= 0
        face = "none" if background else (cmap(norm(max(cells, 1e3))) if cells > 0 else "white")
        ax.add_patch(Ellipse((x, y), w, h, facecolor=face,
                             edgecolor="black" if detectable.get(organ) else "#666666",
                             linewidth=2.2 if detectable.get(organ) else 0.8,
                             linestyle="--" if background else "-",
                             hatch="////" if detectable.get(organ) else None,
                             zorder=1 if organ in BACKGROUND_ORGANS else 3, alpha=0.95))
        if not background:
            ax.text(x, y - h / 2 - 0.18, ORGANS[organ].label.split(" (")[0], fontsize=5.5,
                    ha="center", va="top", zorder=8, color="#333333")
        if dormant.get(organ, 0) > 0:
            r = min(0.08 + 0.03 * math.log10(1 + dormant[organ]), 0.3)
            ax.add_patch(Ellipse((x + w / 2 - 0.1, y + h / 2 - 0.1), r, r, color="black",
                                 zorder=9))
    size = 80 + 25 * max(0.0, math.log10(max(state.get("primary_cells", 1.0), 1.0)) - 6)
    ax.scatter([px], [py], marker="*", s=size, color="#7b2cbf", edgecolor="black", zorder=10,
               label="primary tumour")
    for target, label, color, dashed in routes_for(site, layout):
        _arrow(ax, (px, py), target, label, color, "--" if dashed else "-",
               rad=0.3 if dashed else 0.2)
    day = state.get("day")
    ax.set_title(title or (f"day {day:.0f}" if day is not None else ""), fontsize=10)
    sm = plt.cm.ScalarMappable(norm=norm, cmap=cmap)
    cb = fig.colorbar(sm, ax=ax, fraction=0.035, pad=0.01, shrink=0.5)
    cb.set_label("cells in metastases", fontsize=7)
    cb.ax.tick_params(labelsize=6)
    ax.text(0.2, 0.15, "★ primary   ● dormant cells   hatched: detectable (≥ 5 mm)",
            fontsize=6, zorder=10)
    return fig


def state_of(model) -> dict[str, Any]:
    """The body-map state of a running model."""
    from .agents import Stage
    from .anatomy import ORGAN_KEYS

    burden: dict[str, float] = {}
    detectable: dict[str, int] = {}
    for c in model.colonies:
        organ = ORGAN_KEYS[c.organ]
        burden[organ] = burden.get(organ, 0.0) + c.cells
        if c.cells >= model.detectable_cells:
            detectable[organ] = detectable.get(organ, 0) + 1
    dormant: dict[str, int] = {}
    for c in model.cohorts[Stage.DORMANT]:
        organ = ORGAN_KEYS[c.organ]
        dormant[organ] = dormant.get(organ, 0) + c.count * c.cluster_size
    return {"site": model.scenario.primary.site, "primary_cells": model.primary.cells,
            "burden": burden, "dormant": dormant, "detectable": detectable, "day": model.day}
