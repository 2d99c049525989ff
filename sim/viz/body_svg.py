"""The body map as SVG text for the classroom app: the body drawn to scale, each organ's name
in a column to its right with two bars (cells that arrived, cells in metastases), and a
legend below the names.

The geometry is :mod:`sim.viz.body_layout` (centimetres, y up), the same the matplotlib map
(:mod:`sim.viz.bodymap`) draws; here it is scaled by :data:`SCALE` user units per centimetre
(y down). The picture is :data:`WIDTH` x :data:`HEIGHT` user units with no width or height of
its own (the app sizes it), and every text is at least :data:`FONT` units high, so that at the
smallest scale the app uses (0.82) no text falls below 14 screen pixels.

Layout, in user units::

    title                                   (top)
    body (left, x <= 152)   leader -> [bars] organ name    (21 rows of ROW_PITCH)
                                      [legend: bar key, scale, star, outline]
    route key / caption (below the feet)

Drawn as strings only (no matplotlib figure): a call takes about a millisecond, so the app
can redraw after every step.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from functools import lru_cache

from matplotlib.colors import to_hex

from .body_layout import (  # PLAIN_ORGAN_NAMES is imported from here by the app
    ARRIVED_COLOR,
    BACKGROUND_ORGANS,
    BAR_DECADES,
    BODY_BOUNDS,
    BODY_HEIGHT_CM,
    BODY_OUTLINE,
    BURDEN_BAR_COLOR,
    JOURNEY_COLOR,
    PLAIN_ORGAN_NAMES,
    SKIN_EDGE,
    SKIN_FILL,
    TRACK_COLOR,
    UNIFORM_CAPTION,
    Outline,
    Point,
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

#: The picture's size (user units).
WIDTH, HEIGHT = 440, 680
#: The font size of every text but the title (user units) and of the title.
FONT, TITLE_FONT = 17, 20
#: Text width per character as a share of the font size: a generous estimate for sans-serif.
CHAR_WIDTH = 0.6
#: User units per centimetre of body, and where the body stands: its left edge and its top.
SCALE = 2.95
BODY_LEFT, BODY_TOP_Y = 4.0, 34.0
#: The bars: where they start, their full length (10^12 cells) and each bar's height.
BAR_X, BAR_LENGTH, BAR_HEIGHT = 160.0, 66.0, 6.5
#: A leader line passing this near (user units) another organ's ring (radius 2.2) seems to
#: leave that organ too; the rows are ordered to avoid it.
LEADER_CLEARANCE = 3.5
#: Where the organ names start, the first row's top and the row pitch.
NAME_X, ROWS_TOP, ROW_PITCH = 232.0, 36.0, 20.5
#: Where the route key or the caption starts: below the feet.
KEY_TOP = 556.0

_SCALES = ((1e12, "trillion"), (1e9, "billion"), (1e6, "million"), (1e3, "thousand"))


def cells_in_words(x: float) -> str:
    """A cell count in words, two significant figures: 8.3e9 -> "8.3 billion", 1.6e5 ->
    "160 thousand", 950 -> "950"."""
    if not math.isfinite(x) or x <= 0:
        return "0"
    for scale, word in _SCALES:
        if x >= scale * 0.9995:
            v = x / scale
            if v >= 1000:
                return f"{v:,.0f} {word}"
            return f"{v:.2g} {word}" if v < 100 else f"{v:.0f} {word}"
    return f"{x:,.0f}"


def to_svg(x: float, y: float) -> Point:
    """Layout centimetres (y up) -> SVG user units (y down)."""
    return (BODY_LEFT + (x - BODY_BOUNDS[0]) * SCALE,
            BODY_TOP_Y + (BODY_HEIGHT_CM - y) * SCALE)


def from_svg(u: float, v: float) -> Point:
    """SVG user units -> layout centimetres (the inverse of :func:`to_svg`)."""
    return (u - BODY_LEFT) / SCALE + BODY_BOUNDS[0], BODY_HEIGHT_CM - (v - BODY_TOP_Y) / SCALE


def bar_length(cells: float) -> float:
    """A bar's length (user units): log10 of the count, from 0 at 1 cell to
    :data:`BAR_LENGTH` at 10^12 cells (and beyond)."""
    return BAR_LENGTH * bar_fraction(cells)


@lru_cache(maxsize=256)
def _points(outline: Outline) -> str:
    return " ".join("{:.1f},{:.1f}".format(*to_svg(x, y)) for x, y in outline)


def _text(x: float, y: float, text: str, *, size: int = FONT, anchor_: str = "start",
          cls: str = "", fill: str = "#222", weight: str = "normal") -> str:
    c = f' class="{cls}"' if cls else ""
    w = f' font-weight="{weight}"' if weight != "normal" else ""
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor_}" '
            f'fill="{fill}"{w}{c}>{html.escape(text)}</text>')


def row_positions(site: str, organs: Sequence[str]) -> dict[str, float]:
    """Organ -> the y (user units) of its row's middle, one :data:`ROW_PITCH` apart: rows
    first sorted by the height of the organ's anchor, then swapped (by up to four rows) where
    that uncrosses leader lines or keeps them off other organs' rings
    (:func:`~sim.viz.body_layout.fewest_crossings`). Over the 18 primary sites, crossings
    go from 119 in height order (6-9 per site) to 36 (1-3), and lines through another
    organ's ring from 63 to 6 (0-2)."""
    return dict(_rows(site, tuple(organs)))


@lru_cache(maxsize=64)
def _rows(site: str, organs: tuple[str, ...]) -> tuple[tuple[str, float], ...]:
    order = sorted(organs, key=lambda o: (-anchor(o, site)[1], anchor(o, site)[0]))
    ys = [ROWS_TOP + ROW_PITCH * (i + 0.5) for i in range(len(order))]
    slot = fewest_crossings([to_svg(*anchor(o, site)) for o in order], ys, BAR_X - 3,
                            max_shift=4, clearance=LEADER_CLEARANCE)
    return tuple((o, ys[slot[i]]) for i, o in enumerate(order))


def _tooltip(organ: str, arrived: float, burden: float, dormant: float,
             detectable: int) -> str:
    parts = [f"{cells_in_words(arrived)} cells arrived",
             f"{cells_in_words(burden)} cells in metastases"]
    if detectable:
        parts.append(f"{detectable} metastas{'is' if detectable == 1 else 'es'} big enough "
                     f"to see")
    if dormant:
        parts.append(f"{cells_in_words(dormant)} dormant cells")
    return f"{PLAIN_ORGAN_NAMES.get(organ, organ)}: " + ", ".join(parts)


def _bars(y_mid: float, arrived: float, burden: float) -> list[str]:
    out = []
    for y, cells, color in ((y_mid - BAR_HEIGHT - 0.5, arrived, ARRIVED_COLOR),
                            (y_mid + 0.5, burden, BURDEN_BAR_COLOR)):
        out.append(f'<rect x="{BAR_X:.1f}" y="{y:.1f}" width="{BAR_LENGTH:.1f}" '
                   f'height="{BAR_HEIGHT}" fill="{TRACK_COLOR}"/>')
        length = bar_length(cells)
        if length > 0:
            out.append(f'<rect class="bar" x="{BAR_X:.1f}" y="{y:.1f}" width="{length:.2f}" '
                       f'height="{BAR_HEIGHT}" fill="{color}"/>')
    # a white tick every three decades, across both bars: 1 thousand, million, billion
    for k in range(3, BAR_DECADES, 3):
        x = BAR_X + BAR_LENGTH * k / BAR_DECADES
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y_mid - BAR_HEIGHT - 0.5:.1f}" '
                   f'y2="{y_mid + BAR_HEIGHT + 0.5:.1f}" stroke="white" stroke-width="1.2"/>')
    return out


def _arrow_markers(colors: Sequence[str]) -> str:
    return "".join(
        f'<marker id="arrow-{c[1:]}" viewBox="0 0 10 10" refX="8" refY="5" markerWidth="5" '
        f'markerHeight="5" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        f'fill="{c}"/></marker>' for c in dict.fromkeys(colors))


def _route_path(start: Point, end: Point, start_gap: float, bend: float = 0.22) -> str:
    (x1, y1), (x2, y2) = start, end
    d = math.hypot(x2 - x1, y2 - y1) or 1.0
    ux, uy = (x2 - x1) / d, (y2 - y1) / d
    x1, y1 = x1 + ux * start_gap, y1 + uy * start_gap
    x2, y2 = x2 - ux * 4, y2 - uy * 4
    mx, my = (x1 + x2) / 2 - uy * d * bend, (y1 + y2) / 2 + ux * d * bend
    return f"M{x1:.1f},{y1:.1f} Q{mx:.1f},{my:.1f} {x2:.1f},{y2:.1f}"


def body_map_svg(state: dict, *, title: str = "", hypothesis: str = "combined",
                 journey: Sequence[str] | None = None, journey_died: bool = False) -> str:
    """The body map of a state as an SVG string.

    ``state`` is :func:`sim.engine.results.body_state`'s: ``site``, ``primary_cells``,
    ``burden`` (organ -> cells in metastases), ``arrived`` (organ -> cells that arrived
    there), ``dormant``, ``detectable`` (organ -> detectable metastases), ``detectable_mm``,
    ``day``; any may be missing. Venous routes are drawn only under anatomical delivery
    (``hypothesis`` ewing or combined). ``journey``: places one followed cell passed (organ
    keys, ``"primary"``, ``"heart"``), drawn as a dashed path with numbered stops, ending in
    a cross if ``journey_died``, else a dot.
    """
    site = state.get("site") or "breast"
    burden = state.get("burden") or {}
    arrived = state.get("arrived") or {}
    dormant = state.get("dormant") or {}
    detectable = state.get("detectable") or {}
    primary_cells = float(state.get("primary_cells", 1.0))
    mm = state.get("detectable_mm", 5.0)
    sex = state.get("sex")
    organs = [*shapes_for(site, sex)]
    tips = {o: html.escape(_tooltip(o, arrived.get(o, 0), burden.get(o, 0.0),
                                    dormant.get(o, 0), detectable.get(o, 0))) for o in organs}
    routes = routes_for(site, hypothesis=hypothesis)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
           f'class="body-map" role="img" aria-label="body map" font-family="sans-serif">',
           f'<defs>{_arrow_markers([r.color for r in routes])}</defs>']
    if title:
        out.append(_text(6, 24, title, size=TITLE_FONT, cls="map-title", weight="bold"))

    # the body: every part's outline (the skin, coloured by its burden) under every part's
    # fill, so that the parts read as one shape
    skin_cells = burden.get("skin", 0.0)
    if detectable.get("skin"):
        out += [f'<polygon points="{_points(o)}" fill="none" stroke="black" stroke-width="8" '
                f'stroke-linejoin="round"/>' for o in BODY_OUTLINE]
    if skin_cells > 0:
        color = to_hex(organ_fill("skin", skin_cells))  # type: ignore[arg-type]
        out += [f'<polygon points="{_points(o)}" fill="none" stroke="{color}" '
                f'stroke-width="5" stroke-linejoin="round"/>' for o in BODY_OUTLINE]
    skin_tip = tips["skin"]
    out += [f'<polygon data-organ="skin" points="{_points(o)}" fill="none" '
            f'stroke="{SKIN_EDGE}" stroke-width="1.4" stroke-linejoin="round">'
            f'<title>{skin_tip}</title></polygon>' for o in BODY_OUTLINE]
    out += [f'<polygon points="{_points(o)}" fill="{SKIN_FILL}"/>' for o in BODY_OUTLINE]

    for organ, outline in drawing_list(site, sex):
        cells = burden.get(organ, 0.0)
        face = organ_fill(organ, cells)
        fill = "none" if face is None else to_hex(face)
        if detectable.get(organ):
            stroke = 'stroke="black" stroke-width="3"'
        elif organ in BACKGROUND_ORGANS and face is None:
            stroke = 'stroke="#777" stroke-width="1.2" stroke-dasharray="4,3"'
        else:
            stroke = 'stroke="#666" stroke-width="1"'
        out.append(f'<polygon data-organ="{organ}" points="{_points(outline)}" fill="{fill}" '
                   f'{stroke} stroke-linejoin="round"><title>{tips[organ]}</title></polygon>')

    # sleeping (dormant) cells: a black dot above the organ, growing with the log of the count
    for organ, cells in sorted(dormant.items()):
        if cells > 0 and organ in tips:
            dx, dy, dot_radius = dormant_dot(organ, cells, site)
            cx, cy = to_svg(dx, dy)
            out.append(f'<circle class="dormant-dot" data-organ="{organ}" cx="{cx:.1f}" '
                       f'cy="{cy:.1f}" r="{dot_radius * SCALE:.1f}" fill="black" stroke="white" '
                       f'stroke-width="0.8"><title>{tips[organ]}</title></circle>')

    # routes out of the primary, then the primary's star on top
    px, py = to_svg(*primary_position(site))
    radius = star_radius(primary_cells) * SCALE
    for r in routes:
        dash = ' stroke-dasharray="6,4"' if r.dashed else ""
        out.append(f'<path class="route" data-route="{r.key}" '
                   f'd="{_route_path((px, py), to_svg(*r.target), radius * 0.8)}" fill="none" '
                   f'stroke="{r.color}" stroke-width="2.6"{dash} '
                   f'marker-end="url(#arrow-{r.color[1:]})"><title>{html.escape(r.label)}'
                   f'</title></path>')
    star = " ".join("{:.1f},{:.1f}".format(*to_svg(x, y))
                    for x, y in star_points(*primary_position(site), star_radius(primary_cells)))
    removed = primary_cells <= 0
    out.append(f'<polygon class="primary-star" points="{star}" fill="{primary_fill(primary_cells)}" '
               f'stroke="black" stroke-width="1.2"><title>primary tumour'
               f'{" (removed)" if removed else ""}: {cells_in_words(primary_cells)} cells'
               f'</title></polygon>')

    # the rows: leader line, bars and name of every organ
    rows = row_positions(site, organs)
    for organ, y_mid in rows.items():
        a_x, a_y = to_svg(*anchor(organ, site))
        n_arr, n_met = arrived.get(organ, 0.0), burden.get(organ, 0.0)
        out.append(f'<g class="organ-row" data-organ="{organ}"><title>{tips[organ]}</title>'
                   f'<line x1="{a_x:.1f}" y1="{a_y:.1f}" x2="{BAR_X - 3:.1f}" y2="{y_mid:.1f}" '
                   f'stroke="#8c8c8c" stroke-width="0.8"/>'
                   f'<circle cx="{a_x:.1f}" cy="{a_y:.1f}" r="2.2" fill="white" stroke="#666" '
                   f'stroke-width="1"/>')  # a ring: not a sleeping-cell dot
        out += _bars(y_mid, n_arr, n_met)
        out.append(_text(NAME_X, y_mid + 6, PLAIN_ORGAN_NAMES.get(organ, organ),
                         cls="organ-label"))
        out.append("</g>")

    out += _legend(ROWS_TOP + ROW_PITCH * len(rows), primary_cells, mm, bool(journey))
    out += _route_key(routes, hypothesis)
    if journey:
        out += _journey(journey, site, journey_died)
    out.append("</svg>")
    return "".join(out)


def _legend(top: float, primary_cells: float, mm: float, journey: bool = False) -> list[str]:
    """The bar key, the bars' scale in words, the star, the outline of a detectable
    metastasis and, when one is drawn, a followed cell's path: rows below the organ names."""
    out = ['<g class="legend">']
    y = top + ROW_PITCH / 2 + 2
    for color, text in ((ARRIVED_COLOR, "cells that arrived"),
                        (BURDEN_BAR_COLOR, "cells in metastases")):
        out.append(f'<rect x="{BAR_X:.1f}" y="{y - 4:.1f}" width="{BAR_LENGTH * 0.4:.1f}" '
                   f'height="8" fill="{color}"/>')
        if color == BURDEN_BAR_COLOR:  # the organs' fill: the same cells, light to dark red
            for k, cells in enumerate((1e4, 1e7, 1e10)):
                fill = to_hex(organ_fill("liver", cells))  # type: ignore[arg-type]
                out.append(f'<rect x="{BAR_X + BAR_LENGTH * 0.4 + 6 + 9 * k:.1f}" '
                           f'y="{y - 7:.1f}" width="9" height="14" fill="{fill}" '
                           f'stroke="#666" stroke-width="0.5"/>')
        out.append(_text(NAME_X, y + 6, text))
        y += ROW_PITCH
    out.append(_text(BAR_X, y + 6, "cells (log scale):"))
    y += ROW_PITCH
    for k, word in ((3, "1 thousand"), (6, "1 million"), (9, "1 billion"), (12, "1 trillion")):
        length = bar_length(10.0 ** k)
        out.append(f'<rect x="{BAR_X:.1f}" y="{y - 3.5:.1f}" width="{BAR_LENGTH:.1f}" '
                   f'height="7" fill="{TRACK_COLOR}"/>'
                   f'<rect x="{BAR_X:.1f}" y="{y - 3.5:.1f}" width="{length:.1f}" height="7" '
                   f'fill="#777"/>'
                   f'<line x1="{BAR_X + length:.1f}" x2="{BAR_X + length:.1f}" '
                   f'y1="{y - 7:.1f}" y2="{y + 7:.1f}" stroke="#222" stroke-width="1.2"/>')
        out.append(_text(NAME_X, y + 6, word))
        y += ROW_PITCH
    star = " ".join(f"{u:.1f},{v:.1f}" for u, v in star_points(BAR_X + 10, 0, 8))
    out.append(f'<polygon points="{star}" transform="translate(0,{y:.1f}) scale(1,-1)" '
               f'fill="{primary_fill(primary_cells)}" stroke="black" stroke-width="1"/>')
    out.append(_text(NAME_X, y + 6, "primary (removed)" if primary_cells <= 0
                     else "primary tumour"))
    y += ROW_PITCH
    out.append(f'<rect x="{BAR_X + 1:.1f}" y="{y - 6:.1f}" width="24" height="12" fill="white" '
               f'stroke="black" stroke-width="3"/>')
    out.append(_text(NAME_X, y + 6, f"detectable (≥ {mm:g} mm)"))
    if journey:
        y += ROW_PITCH
        out.append(f'<line x1="{BAR_X:.1f}" x2="{BAR_X + 26:.1f}" y1="{y:.1f}" y2="{y:.1f}" '
                   f'stroke="{JOURNEY_COLOR}" stroke-width="3.5" stroke-dasharray="9,5"/>'
                   f'<circle cx="{BAR_X + 44:.1f}" cy="{y:.1f}" r="10" fill="white" '
                   f'stroke="{JOURNEY_COLOR}" stroke-width="2"/>')
        out.append(_text(BAR_X + 44, y + 6, "1", anchor_="middle", weight="bold"))
        out.append(_text(NAME_X, y + 6, "one cell's path"))
    out.append("</g>")
    return out


def _route_key(routes: Sequence, hypothesis: str) -> list[str]:
    """Below the feet: a line of each route's colour and its name, and under uniform
    delivery the caption that blood carries cells everywhere alike."""
    out = ['<g class="route-key">']
    y = KEY_TOP + ROW_PITCH / 2
    out.append(f'<circle cx="{BODY_LEFT + 12:.1f}" cy="{y:.1f}" r="5" fill="black"/>')
    out.append(_text(BODY_LEFT + 27, y + 6, "sleeping cells"))
    y += ROW_PITCH
    if not anatomical_delivery(hypothesis):
        words, line = UNIFORM_CAPTION.split(), ""
        lines = []
        for w in words:  # wrap at 14 characters: the space below the feet
            if line and len(line) + 1 + len(w) > 14:
                lines.append(line)
                line = w
            else:
                line = f"{line} {w}".strip()
        lines.append(line)
        for text in lines:
            out.append(_text(BODY_LEFT + 2, y + 6, text, cls="map-caption"))
            y += ROW_PITCH
    for r in routes:
        dash = ' stroke-dasharray="6,4"' if r.dashed else ""
        out.append(f'<line x1="{BODY_LEFT + 2:.1f}" x2="{BODY_LEFT + 22:.1f}" y1="{y:.1f}" '
                   f'y2="{y:.1f}" stroke="{r.color}" stroke-width="3"{dash}/>')
        out.append(_text(BODY_LEFT + 27, y + 6, r.short, fill=r.color))
        y += ROW_PITCH
    out.append("</g>")
    return out


def _journey(places: Sequence[str], site: str, died: bool) -> list[str]:
    """One followed cell's path: a thick dashed line through its places, a numbered circle
    at each stop, a cross (died) or a dot (still there) at the end."""
    pts = [to_svg(*anchor(p, site)) for p in places]
    d = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
    out = ['<g class="journey">',
           f'<polyline points="{d}" fill="none" stroke="white" stroke-width="7" '
           f'stroke-linejoin="round" opacity="0.8"/>',
           f'<polyline points="{d}" fill="none" stroke="{JOURNEY_COLOR}" stroke-width="3.5" '
           f'stroke-dasharray="9,5" stroke-linejoin="round"/>']
    badges = [to_svg(*b) for b in
              journey_badges([anchor(p, site) for p in places], from_svg(0, KEY_TOP - 12)[1])]
    for i, ((x, y), (bx, by)) in enumerate(zip(pts, badges, strict=True)):
        out.append(f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{bx:.1f}" y2="{by:.1f}" '
                   f'stroke="{JOURNEY_COLOR}" stroke-width="1"/>'
                   f'<circle cx="{bx:.1f}" cy="{by:.1f}" r="11" fill="white" '
                   f'stroke="{JOURNEY_COLOR}" stroke-width="2"/>')
        out.append(_text(bx, by + 6, str(i + 1), anchor_="middle", weight="bold",
                         cls="journey-step"))
    x, y = pts[-1]
    if died:
        out.append(f'<path d="M{x - 6:.1f},{y - 6:.1f} L{x + 6:.1f},{y + 6:.1f} '
                   f'M{x - 6:.1f},{y + 6:.1f} L{x + 6:.1f},{y - 6:.1f}" stroke="white" '
                   f'stroke-width="7"/><path d="M{x - 6:.1f},{y - 6:.1f} L{x + 6:.1f},'
                   f'{y + 6:.1f} M{x - 6:.1f},{y + 6:.1f} L{x + 6:.1f},{y - 6:.1f}" '
                   f'stroke="{JOURNEY_COLOR}" stroke-width="3.5" class="journey-end">'
                   f'<title>the cell died here</title></path>')
    else:
        out.append(f'<circle class="journey-end" cx="{x:.1f}" cy="{y:.1f}" r="6" '
                   f'fill="{JOURNEY_COLOR}" stroke="white" stroke-width="2">'
                   f'<title>the cell is still here</title></circle>')
    out.append("</g>")
    return out
