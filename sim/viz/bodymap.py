"""A schematic body map: organs in their places, the primary, metastases, dormant cells, routes.

Drawn with matplotlib from a running :class:`~sim.engine.model.MetastasisModel` (or its result), for
the classroom app and ``metasim animate``. The figure is a teaching schematic, not anatomy to
scale: a front view of an adult with each target organ as an ellipse where it lies. Organs
are shaded by metastatic burden (cells in colonies, log scale); black dots mark organs holding
dormant cells; a star marks the primary; arrows draw the venous routes (caval → lungs,
portal → liver, pulmonary veins → body, Batson's plexus → spine) and the lymph.

Organ names stand in two columns beside the body, joined to their organ by a thin line, so
that no two names overlap at any size; the routes and symbols are explained in a legend
below the body and the colour scale in a colour bar, drawn into a given axes (``cax``) or an
inset, never by taking space from the map (an animation redraws the map on every frame).
"""

from __future__ import annotations

import math
from typing import Any

from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Ellipse, FancyArrowPatch, FancyBboxPatch, Patch

from ..biology.anatomy import ORGANS, PRIMARY_SITES
from .figures import new_figure

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
#: Which column an organ's name stands in (the regional nodes follow the primary).
LABEL_SIDE: dict[str, str] = {
    "brain": "left", "lung": "left", "adipose": "left", "liver": "left", "adrenal": "left",
    "kidney": "left", "small_intestine": "left", "peritoneum": "left", "bone": "left",
    "thyroid": "right", "pleura": "right", "heart": "right", "skin": "right",
    "distant_lymph_nodes": "right", "spleen": "right", "stomach": "right",
    "pancreas": "right", "large_intestine": "right", "ovary": "right", "muscle": "right",
}
#: The drawing area: the body on x 0-10, y 0-20.2, the name columns either side.
XLIM, YLIM = (-5.2, 15.2), (0.0, 20.4)
LEFT_COLUMN_X, RIGHT_COLUMN_X = 0.35, 9.65


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
    style: dict[str, Any] = {"facecolor": "#f3eee8", "edgecolor": "#999999", "linewidth": 1.2,
                             "zorder": 0}
    ax.add_patch(Ellipse((5.0, 18.3), 3.0, 3.2, **style))                    # head
    ax.add_patch(FancyBboxPatch((4.4, 15.6), 1.2, 1.2, boxstyle="round,pad=0.05", **style))
    ax.add_patch(FancyBboxPatch((2.2, 6.0), 5.6, 9.8, boxstyle="round,pad=0.3", **style))
    for x in (1.3, 8.7):                                                      # arms
        ax.add_patch(FancyBboxPatch((x - 0.45, 6.5), 0.9, 8.6, boxstyle="round,pad=0.2", **style))
    for x in (3.6, 6.4):                                                      # legs
        ax.add_patch(FancyBboxPatch((x - 0.7, 0.3), 1.4, 5.8, boxstyle="round,pad=0.2", **style))


def _arrow(ax, a, b, color, style="-", rad=0.2) -> None:
    ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=13, color=color,
                                 linestyle=style, linewidth=1.8,
                                 connectionstyle=f"arc3,rad={rad}", zorder=6, alpha=0.9))


def label_positions(layout: dict[str, tuple[float, float, float, float]],
                    gap: float = 0.95) -> dict[str, tuple[str, float]]:
    """Organ -> (column, y of its name): names sorted by their organ's height and pushed
    apart to at least ``gap`` layout units, inside the drawing area."""
    sides: dict[str, list[str]] = {"left": [], "right": []}
    for organ, (x, *_rest) in layout.items():
        sides[LABEL_SIDE.get(organ, "left" if x < 5.0 else "right")].append(organ)
    out: dict[str, tuple[str, float]] = {}
    top, bottom = YLIM[1] - 0.6, YLIM[0] + 0.6
    for side, organs in sides.items():
        organs.sort(key=lambda o: -layout[o][1])
        ys = [min(layout[o][1], top) for o in organs]
        for i in range(1, len(ys)):
            ys[i] = min(ys[i], ys[i - 1] - gap)
        if ys and ys[-1] < bottom:
            ys[-1] = bottom
            for i in range(len(ys) - 2, -1, -1):
                ys[i] = max(ys[i], ys[i + 1] + gap)
        out.update({o: (side, y) for o, y in zip(organs, ys, strict=True)})
    return out


def organ_name(organ: str) -> str:
    """The organ's name on the map: ``"bone (skeleton incl. red marrow)"`` -> ``"bone"``."""
    return ORGANS[organ].label.split(" (")[0]


def body_map(state: dict[str, Any], ax=None, title: str = "", cax=None,
             legend: bool = True, fontsize: float = 9.0) -> Figure:
    """Draw the body map of a state from :func:`state_of`.

    ``state`` keys: ``site`` (primary site key), ``primary_cells``, ``burden`` (organ -> cells
    in colonies), ``dormant`` (organ -> dormant cells), ``detectable`` (organ -> detectable
    metastases), ``detectable_mm`` (the imaging threshold), ``day``. Into ``ax`` if given
    (cleared first), with the colour bar in ``cax`` (cleared first) or an inset beside the
    map; the map never takes space from other axes.
    """
    if ax is None:
        fig = new_figure(figsize=(8.4, 9.4))
        ax = fig.add_axes((0.02, 0.14, 0.84, 0.80))
        cax = fig.add_axes((0.88, 0.38, 0.025, 0.36))
    else:
        fig = ax.figure
        ax.clear()
    ax.set_xlim(*XLIM)
    ax.set_ylim(*YLIM)
    ax.set_aspect("equal")
    ax.axis("off")
    _silhouette(ax)
    burden = state.get("burden", {})
    dormant = state.get("dormant", {})
    detectable = state.get("detectable", {})
    cmap = colormaps["Reds"]
    norm = LogNorm(vmin=1e3, vmax=1e11)
    site = state.get("site", "breast")
    layout, (px, py) = layout_for(site)
    names = label_positions(layout)
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
        side, ly = names[organ]
        if side == "left":
            lx, ha, attach = LEFT_COLUMN_X, "right", (x - w / 2, y)
        else:
            lx, ha, attach = RIGHT_COLUMN_X, "left", (x + w / 2, y)
        ax.plot([lx + (0.12 if side == "left" else -0.12), attach[0]], [ly, attach[1]],
                color="#8c8c8c", lw=0.6, zorder=7)
        ax.text(lx, ly, organ_name(organ), fontsize=fontsize, ha=ha, va="center", zorder=8,
                color="#222222")
        if dormant.get(organ, 0) > 0:
            r = min(0.08 + 0.03 * math.log10(1 + dormant[organ]), 0.3)
            ax.add_patch(Ellipse((x + w / 2 - 0.1, y + h / 2 - 0.1), r, r, color="black",
                                 zorder=9))
    primary_cells = state.get("primary_cells", 1.0)
    removed = primary_cells <= 0
    size = 110 + 30 * max(0.0, math.log10(max(primary_cells, 1.0)) - 6)
    ax.scatter([px], [py], marker="*", s=size, color="white" if removed else "#7b2cbf",
               edgecolor="black", zorder=10)
    routes = routes_for(site, layout)
    for target, _label, color, dashed in routes:
        _arrow(ax, (px, py), target, color, "--" if dashed else "-",
               rad=0.3 if dashed else 0.2)
    day = state.get("day")
    ax.set_title(title or (f"day {day:.0f}" if day is not None else ""),
                 fontsize=fontsize + 3)
    sm = ScalarMappable(norm=norm, cmap=cmap)
    if cax is None:
        cax = ax.inset_axes((1.0, 0.3, 0.03, 0.4))
    else:
        cax.clear()
    cb = fig.colorbar(sm, cax=cax)
    cb.set_label("cells in an organ's metastases", fontsize=fontsize)
    cb.ax.tick_params(labelsize=fontsize - 1)
    if legend:
        mm = state.get("detectable_mm", 5.0)
        handles = [
            Line2D([], [], marker="*", ls="none", ms=13, mfc="white" if removed else "#7b2cbf",
                   mec="black", label="primary tumour (removed)" if removed
                   else "primary tumour"),
            Line2D([], [], marker="o", ls="none", ms=6, color="black",
                   label="dormant cells present"),
            Patch(facecolor="white", edgecolor="black", hatch="////", lw=2,
                  label=f"metastasis visible on imaging (≥ {mm:g} mm)"),
        ] + [Line2D([], [], color=color, lw=2, ls="--" if dashed else "-",
                    label=label if label != "lymph" else "lymph vessels → regional nodes")
             for _t, label, color, dashed in routes]
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2,
                  frameon=False, fontsize=fontsize, handlelength=2.2, columnspacing=1.5,
                  borderaxespad=0.2)
    return fig


def state_of(model) -> dict[str, Any]:
    """The body-map state of a running model."""
    from ..biology.anatomy import ORGAN_KEYS
    from ..biology.stages import Stage

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
            "burden": burden, "dormant": dormant, "detectable": detectable, "day": model.day,
            "detectable_mm": model.scenario.colonization.detectable_diameter_mm}
