"""Fast SVG drawings for the classroom app: the body map, the funnel and the time course.

The body map is the one of :mod:`sim.viz.bodymap` (matplotlib, used for animations and
figures): both take the organs, the silhouette, the routes, the colour scale and the symbol
sizes from :mod:`sim.viz.body_layout`. It is written as SVG text so that a redraw takes
milliseconds: the app redraws after every step. Hypotheses keep their colours and dash
patterns (:data:`sim.viz.style.HYPOTHESIS_STYLE`) so the pictures read in black and white.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

from matplotlib.colors import to_hex

from ..biology.stages import FUNNEL_STAGES, STAGE_LABELS
from .body_layout import (
    BODY_TOP,
    BURDEN_CMAP,
    BURDEN_NORM,
    BURDEN_RANGE,
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
from .style import PRIMARY_COLOR, hypothesis_style, organ_label

S = 30.0  # pixels per layout unit


def _xy(x: float, y: float) -> tuple[float, float]:
    """Layout units (y up) -> SVG pixels (y down)."""
    return x * S, (BODY_TOP - y) * S


def body_map_svg(state: dict, title: str = "") -> str:
    """The body map of a :func:`sim.engine.results.body_state` state as an SVG string."""
    w, h = 10 * S + 90, BODY_TOP * S + 40
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 -30 {w:.0f} {h + 30:.0f}" '
           f'width="100%" role="img" aria-label="body map" class="body-map">',
           '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
           'patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="6" stroke="black" '
           'stroke-width="1.2"/></pattern></defs>',
           f'<text x="{w / 2:.0f}" y="-10" text-anchor="middle" font-size="15" '
           f'font-family="sans-serif">{html.escape(title)}</text>']
    skin = f'fill="{SKIN_FILL}" stroke="{SKIN_EDGE}" stroke-width="1.5"'
    for shape in SILHOUETTE:
        if shape.kind == "ellipse":
            cx, cy = _xy(shape.x, shape.y)
            out.append(f'<ellipse cx="{cx:.0f}" cy="{cy:.0f}" rx="{shape.width * S / 2:.0f}" '
                       f'ry="{shape.height * S / 2:.0f}" {skin}/>')
        else:
            x, y = _xy(shape.x, shape.y + shape.height)
            out.append(f'<rect x="{x:.0f}" y="{y:.0f}" width="{shape.width * S:.0f}" '
                       f'height="{shape.height * S:.0f}" rx="{shape.radius * S:.0f}" {skin}/>')
    burden, dormant = state.get("burden", {}), state.get("dormant", {})
    detectable = state.get("detectable", {})
    site = state.get("site", "breast")
    layout, (px, py) = layout_for(site)
    for organ in drawing_order(layout):
        x0, y0, ew, eh = layout[organ]
        x, y = _xy(x0, y0)
        cells = burden.get(organ, 0.0)
        face = organ_fill(organ, cells)
        bg = face is None
        fill = "none" if face is None else to_hex(face)
        det = detectable.get(organ, 0) > 0
        stroke = 'stroke="black" stroke-width="3"' if det else (
            'stroke="#666" stroke-width="1" stroke-dasharray="4,3"' if bg else
            'stroke="#666" stroke-width="1"')
        label = organ_label(organ)
        tip = f"{label}: {cells:.3g} cells in metastases, {dormant.get(organ, 0):,} dormant cells"
        out.append(f'<ellipse cx="{x:.0f}" cy="{y:.0f}" rx="{ew * S / 2:.0f}" '
                   f'ry="{eh * S / 2:.0f}" fill="{fill}" {stroke} data-organ="{organ}">'
                   f'<title>{html.escape(tip)}</title></ellipse>')
        if det:
            out.append(f'<ellipse cx="{x:.0f}" cy="{y:.0f}" rx="{ew * S / 2:.0f}" '
                       f'ry="{eh * S / 2:.0f}" fill="url(#hatch)" opacity="0.5"/>')
        if not bg:
            out.append(f'<text x="{x:.0f}" y="{y + eh * S / 2 + 10:.0f}" font-size="9" '
                       f'text-anchor="middle" font-family="sans-serif" fill="#333">'
                       f'{html.escape(label)}</text>')
        if dormant.get(organ, 0) > 0:
            dx, dy, r = dormant_dot(layout[organ], dormant[organ])
            cx, cy = _xy(dx, dy)
            out.append(f'<circle cx="{cx:.0f}" cy="{cy:.0f}" r="{r * S:.1f}" fill="black"/>')
    routes = [(t, label, color, "5,3" if dashed else "")
              for t, label, color, dashed in routes_for(site, layout)]
    out.append('<defs><marker id="arr" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
               'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
               'fill="context-stroke"/></marker></defs>')
    x1, y1 = _xy(px, py)
    for (tx, ty), label, color, dash in routes:
        x2, y2 = _xy(tx, ty)
        mx, my = (x1 + x2) / 2 + (y2 - y1) * 0.15, (y1 + y2) / 2 - (x2 - x1) * 0.15
        out.append(f'<path d="M{x1:.0f},{y1:.0f} Q{mx:.0f},{my:.0f} {x2:.0f},{y2:.0f}" '
                   f'fill="none" stroke="{color}" stroke-width="2" stroke-dasharray="{dash}" '
                   f'marker-end="url(#arr)" opacity="0.85"/>')
        out.append(f'<text x="{mx:.0f}" y="{my:.0f}" font-size="9" fill="{color}" '
                   f'font-family="sans-serif" text-anchor="middle" '
                   f'paint-order="stroke" stroke="white" stroke-width="3">{html.escape(label)}</text>')
    primary_cells = state.get("primary_cells", 1.0)
    out.append(_star(px, py, primary_cells))
    # Legend and colour scale: one swatch per decade of the burden scale.
    lx = 10 * S + 10
    low, high = (round(math.log10(v)) for v in BURDEN_RANGE)
    for i, e in enumerate(range(low, high + 1)):
        yy = 120 + (high - low - i) * 22
        out.append(f'<rect x="{lx:.0f}" y="{yy}" width="14" height="22" '
                   f'fill="{to_hex(BURDEN_CMAP(BURDEN_NORM(10.0 ** e)))}" stroke="#999" '
                   f'stroke-width="0.5"/><text x="{lx + 18:.0f}" y="{yy + 15}" font-size="9" '
                   f'font-family="sans-serif">1e{e}</text>')
    out.append(f'<text x="{lx:.0f}" y="98" font-size="9" font-family="sans-serif">cells in</text>'
               f'<text x="{lx:.0f}" y="110" font-size="9" font-family="sans-serif">metastases'
               f'</text>')
    mm = state.get("detectable_mm", 5.0)
    primary = "★ primary (removed)" if primary_cells <= 0 else "★ primary"
    out.append(f'<text x="6" y="{h - 8:.0f}" font-size="10" font-family="sans-serif">'
               f'{primary} · ● dormant cells · hatched: detectable (≥ {mm:g} mm)</text>')
    out.append("</svg>")
    return "".join(out)


def _star(x: float, y: float, primary_cells: float) -> str:
    """The primary's star at layout point (x, y), as large and filled as on the matplotlib
    map."""
    pts = " ".join("{:.1f},{:.1f}".format(*_xy(u, v))
                   for u, v in star_points(x, y, star_radius(primary_cells)))
    return (f'<polygon points="{pts}" fill="{primary_fill(primary_cells)}" stroke="black" '
            f'stroke-width="1"><title>primary tumour</title></polygon>')


def funnel_svg(rows: Sequence[tuple[str, Sequence[float]]]) -> str:
    """Cells reaching each cascade step (log scale), one bar per hypothesis.

    ``rows``: (hypothesis, reached per stage in FUNNEL_STAGES order).
    """
    width, label_w, row_h = 560, 190, 26
    bar_h = (row_h - 6) / max(len(rows), 1)
    height = row_h * len(FUNNEL_STAGES) + 40
    span = 15.0  # decades shown: 1 .. 1e15
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
           f'width="100%" class="funnel" role="img" aria-label="cascade funnel">']
    for s_i, stage in enumerate(FUNNEL_STAGES):
        y0 = 10 + s_i * row_h
        out.append(f'<text x="{label_w - 6}" y="{y0 + row_h / 2 + 3:.0f}" font-size="11" '
                   f'text-anchor="end" font-family="sans-serif">{STAGE_LABELS[stage]}</text>')
        for r_i, (hyp, reached) in enumerate(rows):
            v = float(reached[s_i])
            if v <= 0:
                continue
            bw = (width - label_w - 60) * min(math.log10(v) + 0.3, span) / span
            st = hypothesis_style(hyp, r_i)
            y = y0 + 3 + r_i * bar_h
            out.append(f'<rect x="{label_w}" y="{y:.1f}" width="{max(bw, 2):.1f}" '
                       f'height="{bar_h - 1:.1f}" fill="{to_hex(st["color"])}" stroke="black" '
                       f'stroke-width="0.5" stroke-dasharray="{st["dasharray"]}"/>'
                       f'<text x="{label_w + max(bw, 2) + 4:.1f}" y="{y + bar_h - 3:.1f}" '
                       f'font-size="9" font-family="sans-serif">{v:.3g}'
                       f'{" (" + hyp + ")" if len(rows) > 1 else ""}</text>')
    ya = 10 + row_h * len(FUNNEL_STAGES) + 14
    for d in range(0, 16, 3):
        x = label_w + (width - label_w - 60) * d / span
        out.append(f'<text x="{x:.0f}" y="{ya}" font-size="9" font-family="sans-serif" '
                   f'text-anchor="middle">1e{d}</text>')
    out.append("</svg>")
    return "".join(out)


def timecourse_svg(series: Sequence[tuple[str, Sequence[dict]]]) -> str:
    """Primary, metastases and dormant cells over time (log scale)."""
    width, height, left, bottom = 560, 240, 50, 30
    days = [h["day"] for _, hist in series for h in hist] or [0.0, 1.0]
    dmax = max(max(days), 1.0)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
           f'width="100%" class="timecourse" role="img" aria-label="time course">']

    def px(day: float, cells: float) -> tuple[float, float]:
        x = left + (width - left - 10) * day / dmax
        y = (height - bottom) - (height - bottom - 10) * min(math.log10(max(cells, 1.0)), 13) / 13
        return x, y

    for e in range(0, 14, 2):
        _, y = px(0, 10 ** e)
        out.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.0f}" y2="{y:.0f}" '
                   f'stroke="#ddd"/><text x="{left - 4}" y="{y + 3:.0f}" font-size="9" '
                   f'text-anchor="end" font-family="sans-serif">1e{e}</text>')
    out.append(f'<text x="{width / 2:.0f}" y="{height - 4}" font-size="10" text-anchor="middle" '
               f'font-family="sans-serif">day (0 - {dmax:.0f})</text>')
    legend_y = 14
    for i, (hyp, hist) in enumerate(series):
        hyp_color = to_hex(hypothesis_style(hyp, i)["color"])
        for key, color, dash, name in (("primary", PRIMARY_COLOR, "", "primary"),
                                       ("metastases", hyp_color, "6,3", "metastases"),
                                       ("dormant", hyp_color, "2,2", "dormant cells")):
            if key == "primary" and hyp != series[0][0]:
                continue
            pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in (px(h["day"], h[key]) for h in hist))
            out.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2" '
                       f'stroke-dasharray="{dash}"/>')
            label = name if key == "primary" else f"{name} ({hyp})"
            out.append(f'<line x1="{left + 10}" x2="{left + 34}" y1="{legend_y}" y2="{legend_y}" '
                       f'stroke="{color}" stroke-width="2" stroke-dasharray="{dash}"/>'
                       f'<text x="{left + 38}" y="{legend_y + 3}" font-size="9" '
                       f'font-family="sans-serif">{html.escape(label)}</text>')
            legend_y += 12
    out.append("</svg>")
    return "".join(out)
