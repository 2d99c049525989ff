"""The body map drawn with matplotlib: the body to scale, organs in their places, the primary,
metastases, dormant cells, routes.

Drawn from a running :class:`~sim.engine.model.MetastasisModel`
(:func:`sim.engine.results.body_state`) or its result, for figures, the classroom app's PNG and
``metasim animate``; the classroom app draws the same map as SVG (:mod:`sim.viz.body_svg`).
Both take the silhouette, the organ polygons, the anchors, the routes, the colour scale and
the symbol sizes from :mod:`sim.viz.body_layout` (centimetres, drawn here directly at equal
aspect). Organs are shaded by metastatic burden (cells in colonies, log scale); black dots
mark organs holding dormant cells; a star marks the primary; under anatomical delivery
(Ewing, combined) arrows draw the venous routes (caval veins -> lungs, portal vein -> liver,
pulmonary veins -> body, Batson's plexus -> spine), under uniform delivery (Paget, null) a
legend line says that blood carries cells to every organ alike; the lymph is drawn in both.

Organ names stand in one column right of the body, in the order of their organ's height and
joined to it by a thin line, so that no two names overlap at any size; the symbols are
explained in a legend below the body and the colour scale in a colour bar, drawn into a given
axes (``cax``) or an inset, never by taking space from the map (an animation redraws the map
on every frame).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Circle, FancyArrowPatch, Patch, Polygon, Rectangle

from . import body_svg as svg
from .body_layout import (
    ARRIVED_COLOR,
    BAR_DECADES,
    BODY_BOUNDS,
    BODY_OUTLINE,
    BURDEN_BAR_COLOR,
    BURDEN_CMAP,
    BURDEN_NORM,
    JOURNEY_COLOR,
    PLAIN_ORGAN_NAMES,
    SKIN_EDGE,
    SKIN_FILL,
    TRACK_COLOR,
    UNIFORM_CAPTION,
    anatomical_delivery,
    anchor,
    bar_fraction,
    dormant_dot,
    drawing_list,
    fewest_crossings,
    journey_badges,
    organ_fill,
    primary_fill,
    primary_position,
    routes_for,
    shapes_for,
    star_points,
    star_radius,
)
from .style import new_figure

#: Where the leader lines end and the names start (cm right of the midline).
LEADER_END_X, NAME_X = 28.0, 29.0
#: The drawing area (cm): the body, then the names.
XLIM, YLIM = (BODY_BOUNDS[0] - 1.0, 80.0), (-2.0, 178.0)
#: With bars (``bars=True``) the map takes the app's layout (:mod:`sim.viz.body_svg`) in
#: centimetres: where the leader lines end and the bars start, a full bar's length and each
#: bar's height, where the names start, and the drawing area.
BAR_LEADER_END_X, BAR_X = svg.from_svg(svg.BAR_X - 3, 0)[0], svg.from_svg(svg.BAR_X, 0)[0]
BAR_CM, BAR_HEIGHT = svg.BAR_LENGTH / svg.SCALE, svg.BAR_HEIGHT / svg.SCALE
BARS_NAME_X = svg.from_svg(svg.NAME_X, 0)[0]
BARS_XLIM = (BODY_BOUNDS[0] - 1.0, svg.from_svg(svg.WIDTH, 0)[0])
#: The names' rows: the highest and lowest and the least distance between two (cm).
ROW_TOP, ROW_BOTTOM, ROW_GAP = 172.0, 3.0, 7.6


def label_positions(site: str, organs: Sequence[str] | None = None) -> dict[str, float]:
    """Organ -> the height (cm) of its name: names in the order of their organ's anchor
    height, each as near its anchor as :data:`ROW_GAP` between names allows, inside
    :data:`ROW_TOP`-:data:`ROW_BOTTOM`; then names swap rows where that uncrosses leader
    lines or keeps them off other organs' rings (:func:`~sim.viz.body_layout.fewest_crossings`:
    19-24 crossings per site become 4-8). With ``bars`` the map takes the app's rows instead."""
    return dict(_label_positions(site, tuple(organs if organs is not None
                                             else PLAIN_ORGAN_NAMES)))


@lru_cache(maxsize=64)
def _label_positions(site: str, names: tuple[str, ...]) -> tuple[tuple[str, float], ...]:
    organs = list(names)
    organs.sort(key=lambda o: (-anchor(o, site)[1], anchor(o, site)[0]))
    ys = [min(anchor(o, site)[1], ROW_TOP) for o in organs]
    for i in range(1, len(ys)):
        ys[i] = min(ys[i], ys[i - 1] - ROW_GAP)
    if ys and ys[-1] < ROW_BOTTOM:
        ys[-1] = ROW_BOTTOM
        for i in range(len(ys) - 2, -1, -1):
            ys[i] = max(ys[i], ys[i + 1] + ROW_GAP)
    slot = fewest_crossings([anchor(o, site) for o in organs], ys, LEADER_END_X, max_shift=4,
                            clearance=1.2)
    return tuple((o, ys[slot[i]]) for i, o in enumerate(organs))


def _silhouette(ax: Axes, skin_cells: float, skin_detectable: bool) -> None:
    """The body: every part's outline (the skin, coloured by its burden) under every part's
    fill, so that the parts read as one shape."""
    for outline in BODY_OUTLINE:
        if skin_detectable:
            ax.add_patch(Polygon(outline, closed=True, fill=False, edgecolor="black",
                                 linewidth=5.0, zorder=0))
        if skin_cells > 0:
            ax.add_patch(Polygon(outline, closed=True, fill=False, linewidth=3.0, zorder=0.05,
                                 edgecolor=organ_fill("skin", skin_cells)))
        ax.add_patch(Polygon(outline, closed=True, facecolor="none", edgecolor=SKIN_EDGE,
                             linewidth=1.0, zorder=0.1, gid="skin"))
    for outline in BODY_OUTLINE:
        ax.add_patch(Polygon(outline, closed=True, facecolor=SKIN_FILL, edgecolor="none",
                             zorder=0.2))


def _bars(ax: Axes, y_mid: float, arrived: float, burden: float) -> None:
    """The two bars of a row, as in the app: cells that arrived over cells in metastases,
    each log10(count) long (:func:`~sim.viz.body_layout.bar_fraction`), a white tick every
    three decades."""
    for y, cells, color in ((y_mid + 0.17, arrived, ARRIVED_COLOR),
                            (y_mid - 0.17 - BAR_HEIGHT, burden, BURDEN_BAR_COLOR)):
        ax.add_patch(Rectangle((BAR_X, y), BAR_CM, BAR_HEIGHT, facecolor=TRACK_COLOR,
                               edgecolor="none", zorder=7))
        length = BAR_CM * bar_fraction(cells)
        if length > 0:
            ax.add_patch(Rectangle((BAR_X, y), length, BAR_HEIGHT, facecolor=color,
                                   edgecolor="none", zorder=7.1))
    for k in range(3, BAR_DECADES, 3):
        x = BAR_X + BAR_CM * k / BAR_DECADES
        ax.plot([x, x], [y_mid - 0.17 - BAR_HEIGHT, y_mid + 0.17 + BAR_HEIGHT], color="white",
                lw=1.0, zorder=7.2)


def _journey(ax: Axes, places: Sequence[str], site: str, died: bool, fontsize: float) -> None:
    pts = [anchor(p, site) for p in places]
    xs, ys = zip(*pts, strict=True)
    ax.plot(xs, ys, color="white", lw=5, alpha=0.8, zorder=11, solid_joinstyle="round")
    ax.plot(xs, ys, color=JOURNEY_COLOR, lw=2.4, ls=(0, (4, 2)), zorder=11.1)
    for i, ((x, y), (bx, by)) in enumerate(zip(pts, journey_badges(pts), strict=True)):
        ax.plot([x, bx], [y, by], color=JOURNEY_COLOR, lw=0.7, zorder=11.2)
        ax.text(bx, by, str(i + 1), ha="center", va="center", fontsize=fontsize,
                fontweight="bold", zorder=11.3,
                bbox={"boxstyle": "circle,pad=0.25", "facecolor": "white",
                      "edgecolor": JOURNEY_COLOR, "linewidth": 1.4})
    x, y = pts[-1]
    ax.plot([x], [y], marker="x" if died else "o", ms=9 if died else 7, mew=3,
            color=JOURNEY_COLOR, mec=JOURNEY_COLOR, zorder=11.4)


def _arrow(ax: Axes, a, b, color, style="-", rad=0.2) -> None:
    ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=13, color=color,
                                 linestyle=style, linewidth=1.8, shrinkA=6, shrinkB=2,
                                 connectionstyle=f"arc3,rad={rad}", zorder=6, alpha=0.9))


def body_map(state: dict[str, Any] | Axes, ax: Axes | dict[str, Any] | None = None,
             title: str = "", cax: Axes | None = None, legend: bool = True,
             fontsize: float = 9.0, *, hypothesis: str = "combined",
             bars: bool = False, journey: tuple[Sequence[str], bool] | None = None) -> Figure:
    """Draw the body map of a state from :func:`sim.engine.results.body_state`.

    ``state`` keys: ``site`` (primary site key), ``primary_cells``, ``burden`` (organ -> cells
    in colonies), ``dormant`` (organ -> dormant cells), ``detectable`` (organ -> detectable
    metastases), ``detectable_mm`` (the imaging threshold), ``day``. Into ``ax`` if given
    (cleared first; ``body_map(ax, state)`` is accepted too), with the colour bar in ``cax``
    (cleared first) or an inset beside the map; the map never takes space from other axes.
    Venous routes are drawn under anatomical delivery only (``hypothesis`` ewing or
    combined, the default). With ``bars`` each organ's name has the app's two bars beside it
    (``state["arrived"]``, the cells that arrived, and ``burden``), log10 of the count.
    ``journey`` (the places a followed cell passed, and whether it died) draws its path as
    the app does: a dashed line, a numbered circle per stop, a cross or a dot at the end.
    """
    if isinstance(state, Axes):
        state, ax = ax, state  # type: ignore[assignment]  # called as body_map(ax, state)
    assert isinstance(state, dict)
    if ax is None:
        fig = new_figure(figsize=(8.4, 9.4))
        ax = fig.add_axes((0.02, 0.14, 0.84, 0.80))
        cax = fig.add_axes((0.88, 0.38, 0.025, 0.36))
    else:
        assert isinstance(ax, Axes)
        fig = ax.get_figure()  # type: ignore[assignment]  # a map's axes sit in a Figure
        ax.clear()
    ax.set_xlim(*(BARS_XLIM if bars else XLIM))
    ax.set_ylim(*YLIM)
    ax.set_aspect("equal")
    ax.axis("off")
    burden = state.get("burden") or {}
    dormant = state.get("dormant") or {}
    detectable = state.get("detectable") or {}
    site = state.get("site") or "breast"
    _silhouette(ax, burden.get("skin", 0.0), bool(detectable.get("skin")))
    for z, (organ, outline) in enumerate(drawing_list(site, state.get("sex"))):
        face = organ_fill(organ, burden.get(organ, 0.0))
        det = bool(detectable.get(organ))
        ax.add_patch(Polygon(outline, closed=True, facecolor="none" if face is None else face,
                             edgecolor="black" if det else "#666666",
                             linewidth=2.2 if det else 0.7,
                             linestyle="--" if face is None else "-",
                             zorder=1 + z * 0.01, gid=organ))
    organs = [*shapes_for(site, state.get("sex"))]
    if bars:  # the app's rows, in the app's order
        names = {o: svg.from_svg(0, y)[1] for o, y in svg.row_positions(site, organs).items()}
        leader_end, name_x = BAR_LEADER_END_X, BARS_NAME_X
    else:
        names, leader_end, name_x = label_positions(site, organs), LEADER_END_X, NAME_X
    arrived = state.get("arrived") or {}
    for organ, ly in names.items():
        x, y = anchor(organ, site)
        ax.plot([x, leader_end], [y, ly], color="#8c8c8c", lw=0.6, zorder=7)
        ax.plot([x], [y], marker="o", ms=3, mfc="white", mec="#666666", mew=0.7,
                zorder=7)  # a ring, unlike the sleeping-cell dots
        if bars:
            _bars(ax, ly, arrived.get(organ, 0.0), burden.get(organ, 0.0))
        ax.text(name_x, ly, PLAIN_ORGAN_NAMES.get(organ, organ),
                fontsize=fontsize, ha="left", va="center", zorder=8, color="#222222")
        if dormant.get(organ, 0) > 0:
            dx, dy, r = dormant_dot(organ, dormant[organ], site)
            ax.add_patch(Circle((dx, dy), r, color="black", zorder=9))
    primary_cells = state.get("primary_cells", 1.0)
    removed = primary_cells <= 0
    px, py = primary_position(site)
    ax.add_patch(Polygon(star_points(px, py, star_radius(primary_cells)),
                         facecolor=primary_fill(primary_cells), edgecolor="black",
                         linewidth=1.0, zorder=10, gid="primary"))
    routes = routes_for(site, hypothesis=hypothesis)
    for route in routes:
        _arrow(ax, (px, py), route.target, route.color, "--" if route.dashed else "-",
               rad=0.3 if route.dashed else 0.2)
    if journey is not None and journey[0]:
        _journey(ax, journey[0], site, journey[1], fontsize)
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
                   label="sleeping (dormant) cells"),
            Patch(facecolor="white", edgecolor="black", lw=2,
                  label=f"thick outline: detectable (≥ {mm:g} mm)"),
        ]
        if bars:
            handles += [Patch(facecolor=ARRIVED_COLOR, label="bar: cells that arrived"),
                        Patch(facecolor=BURDEN_BAR_COLOR, label="bar: cells in metastases"),
                        Line2D([], [], ls="none", label="bars: log scale, white ticks at"),
                        Line2D([], [], ls="none", label="1 thousand, million, billion")]
        if journey is not None and journey[0]:
            handles.append(Line2D([], [], color=JOURNEY_COLOR, lw=2.4, ls=(0, (4, 2)),
                                  label="one cell's path (numbers: its stops)"))
        handles += [Line2D([], [], color=r.color, lw=2, ls="--" if r.dashed else "-", label=r.label)
             for r in routes]
        if not anatomical_delivery(hypothesis):
            handles.append(Line2D([], [], ls="none", label=UNIFORM_CAPTION.lower()))
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2,
                  frameon=False, fontsize=fontsize, handlelength=2.2, columnspacing=1.5,
                  borderaxespad=0.2)
    return fig

