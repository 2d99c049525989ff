"""The body map drawn with matplotlib: organs in their places, the primary, metastases,
dormant cells, routes.

Drawn from a running :class:`~sim.engine.model.MetastasisModel` (:func:`sim.engine.results.body_state`) or its
result, for figures and ``metasim animate``; the classroom app draws the same map as SVG
(:mod:`sim.viz.svg`). Both take the organs, the silhouette, the routes, the colour scale and
the symbol sizes from :mod:`sim.viz.body_layout`. Organs are shaded by metastatic burden
(cells in colonies, log scale); black dots mark organs holding dormant cells; a star marks
the primary; arrows draw the venous routes (caval → lungs, portal → liver, pulmonary veins →
body, Batson's plexus → spine) and the lymph.

Organ names stand in two columns beside the body, joined to their organ by a thin line, so
that no two names overlap at any size; the routes and symbols are explained in a legend
below the body and the colour scale in a colour bar, drawn into a given axes (``cax``) or an
inset, never by taking space from the map (an animation redraws the map on every frame).
"""

from __future__ import annotations

from typing import Any

from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Circle, Ellipse, FancyArrowPatch, FancyBboxPatch, Patch, Polygon

from .body_layout import (
    BACKGROUND_ORGANS,
    BURDEN_CMAP,
    BURDEN_NORM,
    SILHOUETTE,
    SKIN_EDGE,
    SKIN_FILL,
    dormant_dot,
    drawing_order,
    layout_for,
    organ_fill,
    primary_fill,
    routes_for,
    star_points,
    star_radius,
)
from .style import new_figure, organ_label

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


def _silhouette(ax: Axes) -> None:
    style: dict[str, Any] = {"facecolor": SKIN_FILL, "edgecolor": SKIN_EDGE, "linewidth": 1.2,
                             "zorder": 0}
    for s in SILHOUETTE:
        if s.kind == "ellipse":
            ax.add_patch(Ellipse((s.x, s.y), s.width, s.height, **style))
        else:  # a round box grows by its pad on every side: pad = the corner radius
            r = s.radius
            ax.add_patch(FancyBboxPatch((s.x + r, s.y + r), s.width - 2 * r, s.height - 2 * r,
                                        boxstyle=f"round,pad={r}", **style))


def _arrow(ax: Axes, a, b, color, style="-", rad=0.2) -> None:
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


def body_map(state: dict[str, Any], ax: Axes | None = None, title: str = "",
             cax: Axes | None = None, legend: bool = True, fontsize: float = 9.0) -> Figure:
    """Draw the body map of a state from :func:`sim.engine.results.body_state`.

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
        fig = ax.get_figure()  # type: ignore[assignment]  # a map's axes sit in a Figure
        ax.clear()
    ax.set_xlim(*XLIM)
    ax.set_ylim(*YLIM)
    ax.set_aspect("equal")
    ax.axis("off")
    _silhouette(ax)
    burden = state.get("burden", {})
    dormant = state.get("dormant", {})
    detectable = state.get("detectable", {})
    site = state.get("site", "breast")
    layout, (px, py) = layout_for(site)
    names = label_positions(layout)
    for organ in drawing_order(layout):
        x, y, w, h = layout[organ]
        face = organ_fill(organ, burden.get(organ, 0.0))
        ax.add_patch(Ellipse((x, y), w, h, facecolor="none" if face is None else face,
                             edgecolor="black" if detectable.get(organ) else "#666666",
                             linewidth=2.2 if detectable.get(organ) else 0.8,
                             linestyle="--" if face is None else "-",
                             hatch="////" if detectable.get(organ) else None,
                             zorder=1 if organ in BACKGROUND_ORGANS else 3, alpha=0.95))
        side, ly = names[organ]
        if side == "left":
            lx, ha, attach = LEFT_COLUMN_X, "right", (x - w / 2, y)
        else:
            lx, ha, attach = RIGHT_COLUMN_X, "left", (x + w / 2, y)
        ax.plot([lx + (0.12 if side == "left" else -0.12), attach[0]], [ly, attach[1]],
                color="#8c8c8c", lw=0.6, zorder=7)
        ax.text(lx, ly, organ_label(organ), fontsize=fontsize, ha=ha, va="center", zorder=8,
                color="#222222")
        if dormant.get(organ, 0) > 0:
            dx, dy, r = dormant_dot(layout[organ], dormant[organ])
            ax.add_patch(Circle((dx, dy), r, color="black", zorder=9))
    primary_cells = state.get("primary_cells", 1.0)
    removed = primary_cells <= 0
    ax.add_patch(Polygon(star_points(px, py, star_radius(primary_cells)),
                         facecolor=primary_fill(primary_cells), edgecolor="black",
                         linewidth=1.0, zorder=10))
    routes = routes_for(site, layout)
    for target, _label, color, dashed in routes:
        _arrow(ax, (px, py), target, color, "--" if dashed else "-",
               rad=0.3 if dashed else 0.2)
    day = state.get("day")
    ax.set_title(title or (f"day {day:.0f}" if day is not None else ""),
                 fontsize=fontsize + 3)
    sm = ScalarMappable(norm=BURDEN_NORM, cmap=BURDEN_CMAP)
    if cax is None:
        cax = ax.inset_axes((1.0, 0.3, 0.03, 0.4))
    else:
        cax.clear()
    cb = fig.colorbar(sm, cax=cax)
    cb.set_label("cells in an organ's metastases", fontsize=fontsize)
    cb.ax.tick_params(labelsize=fontsize)
    if legend:
        mm = state.get("detectable_mm", 5.0)
        handles = [
            Line2D([], [], marker="*", ls="none", ms=13, mfc=primary_fill(primary_cells),
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
