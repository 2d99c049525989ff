"""Fast SVG charts for the classroom app: the cascade funnel, the time course and the site
frequencies of many patients. (The body map is :mod:`sim.viz.body_svg`.)

Written as SVG text so that a redraw takes milliseconds: the app redraws after every step.
Each chart has a ``viewBox`` :data:`CHART_WIDTH` units wide and no width or height of its
own: the app lets it fill its column at up to 1.3 times that width, and the column is never
narrower than 0.85 of it at 1024 x 768, so the smallest text (:data:`FONT` units) stays at 14
screen pixels or more (checked in the browser tests). Numbers are written in words ("2.6
trillion") and time in years and months. Hypotheses keep their colours and dash patterns
(:data:`sim.viz.style.HYPOTHESIS_STYLE`) so the pictures also read in black and white.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

from matplotlib.colors import to_hex

from ..biology.stages import FUNNEL_STAGES
from .plain import HYPOTHESIS_NAMES, STEP_NAMES, organ_name, plain_number
from .style import PRIMARY_COLOR, hypothesis_style

#: Width of every chart's viewBox (user units).
CHART_WIDTH = 720
#: The font size of every text (user units): 14 px or more at the smallest scale the app uses.
FONT = 17
#: One patient's lines in the time course (two patients take their hypotheses' colours).
METASTASIS_COLOR, DORMANT_COLOR = "#c62828", "#333333"
#: Text width per character, as a share of the font size (a generous estimate for sans-serif,
#: used to keep texts apart).
CHAR_WIDTH = 0.6


def _text(x: float, y: float, text: str, anchor: str = "start", size: int = FONT,
          weight: str = "normal", fill: str = "#222", cls: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" font-family="sans-serif" '
            f'text-anchor="{anchor}" font-weight="{weight}" fill="{fill}"{c}>'
            f'{html.escape(text)}</text>')


def _open(height: float, cls: str, label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {CHART_WIDTH} {height:.0f}" '
            f'class="{cls} chart" role="img" aria-label="{html.escape(label)}">')


def text_width(text: str, size: int = FONT) -> float:
    """An upper estimate of a text's width (user units)."""
    return len(text) * CHAR_WIDTH * size


def _hyp_color(hyp: str, i: int) -> str:
    return to_hex(hypothesis_style(hyp, i)["color"])


def survival_shares(reached: Sequence[float], lost: Sequence[float]) -> list[float | None]:
    """The share of the cells reaching each step that have not died there (so far); None for
    a step no cell reached yet."""
    return [None if r <= 0 else max(0.0, min(1.0, (r - x) / r))
            for r, x in zip(reached, lost, strict=True)]


def funnel_svg(rows: Sequence[tuple[str, Sequence[float], Sequence[float]]]) -> str:
    """The cascade as a table: per step, the cells that reached it (in words) and the share
    that survived it (a bar from 0 to 100 %, linear), one line per hypothesis.

    ``rows``: (hypothesis, reached per stage, lost per stage), stages in FUNNEL_STAGES order.
    A linear bar shows what a log scale hides: most cells die at each step.
    """
    n = max(len(rows), 1)
    name_w, count_x, bar_x, bar_w = 10, 300, 440, 190
    line_h = 24
    row_h = line_h * n + 8
    top = 62
    height = top + row_h * len(FUNNEL_STAGES) + 10
    out = [_open(height, "funnel", "cascade funnel"),
           _text(name_w, 20, "Step of the journey", weight="bold"),
           _text(count_x + 110, 20, "Cells that got here", "end", weight="bold"),
           _text(bar_x, 20, "% of them that made it", weight="bold")]
    for k in (0, 50, 100):
        x = bar_x + bar_w * k / 100
        out.append(f'<line x1="{x:.0f}" x2="{x:.0f}" y1="{top - 6}" y2="{height - 10}" '
                   f'stroke="#ccc" stroke-width="1"/>')
    out.append(_text(bar_x, top - 10, "0", "middle", size=FONT))
    out.append(_text(bar_x + bar_w, top - 10, "100 %", "middle", size=FONT))
    shares = [survival_shares(r, lost) for _, r, lost in rows]
    for s_i, stage in enumerate(FUNNEL_STAGES):
        y0 = top + s_i * row_h
        if s_i % 2 == 0:
            out.append(f'<rect x="0" y="{y0 - 2}" width="{CHART_WIDTH}" height="{row_h}" '
                       f'fill="#f4f4f4"/>')
        out.append(_text(name_w, y0 + line_h - 6, STEP_NAMES[stage]))
        for r_i, (hyp, reached, _lost) in enumerate(rows):
            y = y0 + r_i * line_h
            color = _hyp_color(hyp, r_i)
            v = float(reached[s_i])
            out.append(_text(count_x + 110, y + line_h - 6, plain_number(v), "end",
                             fill=color if n > 1 else "#222"))
            share = shares[r_i][s_i]
            if share is None:
                out.append(_text(bar_x + 4, y + line_h - 6, "no cells yet", fill="#555"))
                continue
            w = bar_w * share
            st = hypothesis_style(hyp, r_i)
            out.append(f'<rect x="{bar_x}" y="{y + 4}" width="{max(w, 1.5):.1f}" '
                       f'height="{line_h - 8}" fill="{color}" stroke="black" stroke-width="0.6" '
                       f'stroke-dasharray="{st["dasharray"]}"><title>{html.escape(STEP_NAMES[stage])}'
                       f': {share:.1%} survived</title></rect>')
            pct = f"{share:.0%}" if share >= 0.01 or share == 0 else f"{share:.1%}" \
                if share >= 0.001 else "< 0.1%"
            out.append(_text(bar_x + bar_w + 8, y + line_h - 6, pct, cls="funnel-pct"))
    out.append("</svg>")
    return "".join(out)


_Y_TICKS = ((1.0, "1"), (1e3, "1 thousand"), (1e6, "1 million"), (1e9, "1 billion"),
            (1e12, "1 trillion"))


def _year_ticks(dmax: float) -> list[tuple[float, str]]:
    """Ticks on a time axis of ``dmax`` days: months under a year and a half, else years."""
    if dmax <= 548:
        step = 3 if dmax > 180 else 1
        return [(m * 30.44, f"{m} mo") for m in range(0, int(dmax / 30.44) + 1, step)]
    years = dmax / 365.25
    step = 1 if years <= 8 else 2 if years <= 16 else 5
    return [(y * 365.25, f"{y} y") for y in range(0, int(years) + 1, step)]


def timecourse_svg(series: Sequence[tuple[str, Sequence[dict]]],
                   events: Sequence[tuple[float, str]] = ()) -> str:
    """The primary, the metastases and the dormant cells over time (log scale with ticks in
    words), one set of lines per hypothesis; ``events`` (day, short label) are drawn as
    dotted vertical lines labelled along the top, each label moved down a line when it would
    touch the one before."""
    left, right, bottom = 120, 20, 44
    legend: list[tuple[str, str, str]] = []  # (label, colour, dash)
    single = len(series) == 1
    for i, (hyp, _hist) in enumerate(series):
        color = _hyp_color(hyp, i)
        if i == 0:
            legend.append(("primary tumour", PRIMARY_COLOR, ""))
        name = HYPOTHESIS_NAMES.get(hyp, hyp).split(" (")[0] if len(series) > 1 else ""
        legend.append((f"metastases{' (' + name + ')' if name else ''}",
                       METASTASIS_COLOR if single else color, "8,4"))
        legend.append((f"dormant cells{' (' + name + ')' if name else ''}",
                       DORMANT_COLOR if single else color, "2,3"))
    # Legend rows: items laid out left to right, wrapping before the chart's edge.
    items, x, y = [], 10.0, 22.0
    for label, color, dash in legend:
        w = 44 + text_width(label) + 16
        if x + w > CHART_WIDTH:
            x, y = 10.0, y + 26
        items.append((x, y, label, color, dash))
        x += w
    n_events = len(events)
    plot_top = y + 20 + (28 * min(n_events, 3) if n_events else 0)
    plot_h = 230
    height = plot_top + plot_h + bottom
    days = [h["day"] for _, hist in series for h in hist] or [0.0, 1.0]
    dmax = max(max(days), 30.0)
    out = [_open(height, "timecourse", "time course")]
    for lx, ly, label, color, dash in items:
        out.append(f'<line x1="{lx:.0f}" x2="{lx + 36:.0f}" y1="{ly - 6:.0f}" y2="{ly - 6:.0f}" '
                   f'stroke="{color}" stroke-width="3" stroke-dasharray="{dash}"/>')
        out.append(_text(lx + 44, ly, label))

    def px(day: float, cells: float) -> tuple[float, float]:
        xx = left + (CHART_WIDTH - left - right) * day / dmax
        yy = plot_top + plot_h - plot_h * min(math.log10(max(cells, 1.0)), 13.0) / 13.0
        return xx, yy

    for value, label in _Y_TICKS:
        _, yy = px(0, value)
        out.append(f'<line x1="{left}" x2="{CHART_WIDTH - right}" y1="{yy:.0f}" y2="{yy:.0f}" '
                   f'stroke="#ddd"/>')
        out.append(_text(left - 6, yy + 6, label, "end"))
    for day, label in _year_ticks(dmax):
        xx, _ = px(day, 1)
        out.append(_text(xx, plot_top + plot_h + 22, label, "middle"))
    out.append(_text(left + (CHART_WIDTH - left - right) / 2, height - 4,
                     "time since the start (mo = months, y = years)", "middle"))
    row_end = [-1e9] * 3  # where the last label of each row above the plot ends
    for day, label in sorted(events):
        xx, _ = px(day, 1)
        w = text_width(label)
        tx = min(max(xx - w / 2, 10.0), CHART_WIDTH - right - w)
        row = next((k for k in range(3) if tx > row_end[k] + 8), None)
        ty = y + 28 * ((row if row is not None else 2) + 1)
        out.append(f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="{ty + 6:.1f}" '
                   f'y2="{plot_top + plot_h:.1f}" stroke="#555" stroke-dasharray="3,3"/>')
        if row is not None:  # no room left above the plot: the line stays, unlabelled
            row_end[row] = tx + w
            out.append(_text(tx, ty, label, cls="event-mark"))
    for i, (hyp, hist) in enumerate(series):
        color = _hyp_color(hyp, i)
        for key, c, dash in (("primary", PRIMARY_COLOR, ""),
                             ("metastases", METASTASIS_COLOR if single else color, "8,4"),
                             ("dormant", DORMANT_COLOR if single else color, "2,3")):
            if key == "primary" and i > 0:
                continue
            pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in (px(h["day"], h[key]) for h in hist))
            out.append(f'<polyline points="{pts}" fill="none" stroke="{c}" stroke-width="3" '
                       f'stroke-dasharray="{dash}"/>')
    out.append("</svg>")
    return "".join(out)


def site_frequency_svg(freq: Mapping[str, Mapping[str, float]],
                       observed: Mapping[str, float] | None, n_patients: int,
                       organs: Sequence[str] | None = None, top: int = 8) -> str:
    """Share of patients with metastases in each organ: one column per hypothesis and one for
    the autopsy series, a bar from 0 to 100 % in each cell with the percentage written on it.

    ``freq``: {hypothesis: {organ: fraction}}; ``observed``: {organ: fraction} or None.
    Shows ``organs`` or the ``top`` organs by their largest share."""
    hyps = list(freq)
    if organs is None:
        organs = sorted({o for f in freq.values() for o in f} | set(observed or {}),
                        key=lambda o: -max([f.get(o, 0.0) for f in freq.values()]
                                           + [(observed or {}).get(o, 0.0)]))[:top]
    columns = [(h, HYPOTHESIS_NAMES.get(h, h).split(" (")[0], _hyp_color(h, i))
               for i, h in enumerate(hyps)]
    if observed:
        columns.append(("autopsy", "Autopsies", "#444444"))
    name_w = 190
    col_w = (CHART_WIDTH - name_w - 10) / max(len(columns), 1)
    row_h, top_y = 30, 62
    height = top_y + row_h * len(organs) + 12
    out = [_open(height, "site-frequency", "where metastases were found"),
           _text(10, 22, f"Patients with metastases there ({n_patients} simulated per "
                         "hypothesis)", weight="bold")]
    for c_i, (_key, label, color) in enumerate(columns):
        out.append(_text(name_w + c_i * col_w + col_w / 2, 50, label, "middle", fill=color,
                         weight="bold"))
    for o_i, organ in enumerate(organs):
        y = top_y + o_i * row_h
        if o_i % 2 == 0:
            out.append(f'<rect x="0" y="{y}" width="{CHART_WIDTH}" height="{row_h}" '
                       f'fill="#f4f4f4"/>')
        out.append(_text(10, y + row_h - 9, organ_name(organ)))
        for c_i, (key, _label, color) in enumerate(columns):
            v = (observed or {}).get(organ) if key == "autopsy" else freq[key].get(organ, 0.0)
            x0 = name_w + c_i * col_w + 4
            if v is None:
                out.append(_text(x0 + 4, y + row_h - 9, "not reported", fill="#555"))
                continue
            out.append(f'<rect x="{x0:.1f}" y="{y + 5}" width="{max((col_w - 12) * v, 1):.1f}" '
                       f'height="{row_h - 10}" fill="{color}" opacity="0.35"/>')
            out.append(_text(x0 + 4, y + row_h - 9, f"{v:.0%}"))
    out.append("</svg>")
    return "".join(out)
