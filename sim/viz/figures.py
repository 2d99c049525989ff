"""The standard figures (matplotlib, no display needed).

Each function returns a :class:`matplotlib.figure.Figure`; :func:`save` writes it as PNG.
Figures are readable in black and white: hypotheses differ by hatch and marker as well as
colour. They are meant for slides as well as screens: axes say what they show and in which
unit, bands say what they are, and :func:`text_problems` finds overlapping or cut-off text.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm, to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.text import Text
from matplotlib.ticker import MaxNLocator

from ..biology.anatomy import ORGANS, PRIMARY_SITES
from ..biology.stages import STAGE_LABELS
from ..engine.results import PatientResult

HYPOTHESIS_STYLE = {
    "ewing": {"color": "#1f77b4", "hatch": "", "marker": "o"},
    "paget": {"color": "#d62728", "hatch": "//", "marker": "s"},
    "combined": {"color": "#2ca02c", "hatch": "..", "marker": "^"},
    "null": {"color": "#7f7f7f", "hatch": "xx", "marker": "D"},
}


def subplots(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float],
             **kwargs: Any) -> tuple[Figure, Any]:
    """Like ``pyplot.subplots`` without pyplot: a figure no GUI backend owns, so importing
    or calling metasim never changes the user's matplotlib backend (a notebook keeps its
    inline backend, a desktop its windows) and figures can be drawn from any thread."""
    fig = new_figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def new_figure(**kwargs: Any) -> Figure:
    """A figure drawn by the Agg renderer, whatever backend pyplot uses: attaching the
    canvas selects nothing globally."""
    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")


# ------------------------------------------------------------------ layout and contrast checks

def drawn_texts(fig: Figure) -> list[Text]:
    """The non-empty texts a drawn figure shows (tick labels only for ticks in view)."""
    fig.canvas.draw()
    tick_texts: set[int] = set()
    shown: list[Text] = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                tick_texts.update((id(tick.label1), id(tick.label2)))
            if not (ax.get_visible() and ax.axison and axis.get_visible()):
                continue
            lo, hi = sorted(axis.get_view_interval())
            eps = 1e-9 * max(abs(lo), abs(hi), 1e-300)
            for locs, ticks in ((axis.get_majorticklocs(), axis.get_major_ticks),
                                (axis.get_minorticklocs(), axis.get_minor_ticks)):
                for loc, tick in zip(locs, ticks(len(locs)), strict=True):
                    if not lo - eps <= loc <= hi + eps:
                        continue
                    shown += [lab for lab in (tick.label1, tick.label2)
                              if lab.get_visible() and lab.get_text().strip()]
    for t in fig.findobj(Text):
        if id(t) in tick_texts or not t.get_visible() or not t.get_text().strip():
            continue
        if t.axes is not None and not t.axes.get_visible():
            continue
        shown.append(t)
    return list({id(t): t for t in shown}.values())


def _footprint(t: Text, renderer) -> np.ndarray:
    """The four corners (pixels) of a text's rotated box; its axis-aligned extent has the
    same centre."""
    box = t.get_window_extent(renderer)
    angle = t.get_rotation()
    if angle % 180 == 0:
        w, h = box.width, box.height
    elif angle % 90 == 0:
        w, h = box.height, box.width
    else:
        t.set_rotation(0)
        flat = t.get_window_extent(renderer)
        t.set_rotation(angle)
        w, h = flat.width, flat.height
    a = math.radians(angle)
    u, v = np.array([math.cos(a), math.sin(a)]), np.array([-math.sin(a), math.cos(a)])
    c = np.array([(box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2])
    return np.array([c + sx * w / 2 * u + sy * h / 2 * v
                     for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))])


def _overlap(p: np.ndarray, q: np.ndarray, tolerance: float) -> bool:
    """Whether two convex quadrilaterals overlap by more than ``tolerance`` pixels
    (separating-axis test)."""
    for poly in (p, q):
        for k in range(4):
            edge = poly[(k + 1) % 4] - poly[k]
            n = np.array([-edge[1], edge[0]])
            norm = np.hypot(*n)
            if norm == 0:
                continue
            n = n / norm
            a, b = p @ n, q @ n
            if min(a.max(), b.max()) - max(a.min(), b.min()) <= tolerance:
                return False
    return True


def text_problems(fig: Figure, tolerance_px: float = 1.0) -> list[str]:
    """Texts of a figure that overlap one another or are cut off by the figure's edge
    (boxes from the renderer, :meth:`Text.get_window_extent`, rotated with the text).
    Empty: none."""
    texts = drawn_texts(fig)
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]  # an Agg canvas
    edge = fig.bbox
    problems = []
    shapes = []
    for t in texts:
        b = t.get_window_extent(renderer)
        if (b.x0 < edge.x0 - tolerance_px or b.y0 < edge.y0 - tolerance_px
                or b.x1 > edge.x1 + tolerance_px or b.y1 > edge.y1 + tolerance_px):
            problems.append(f"cut off by the figure edge: {t.get_text()!r}")
        shapes.append((t, b, _footprint(t, renderer)))
    for i, (t, a, pa) in enumerate(shapes):
        for u, b, pb in shapes[i + 1:]:
            if (min(a.x1, b.x1) - max(a.x0, b.x0) > tolerance_px
                    and min(a.y1, b.y1) - max(a.y0, b.y0) > tolerance_px
                    and _overlap(pa, pb, tolerance_px)):
                problems.append(f"overlap: {t.get_text()!r} and {u.get_text()!r}")
    return problems


def relative_luminance(color) -> float:
    """WCAG 2 relative luminance of a matplotlib colour."""
    c = np.array(to_rgb(color), dtype=float)
    c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return float(0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2])


def contrast_ratio(a, b) -> float:
    """WCAG 2 contrast ratio of two colours (1 to 21; text needs >= 4.5)."""
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def text_color_on(background) -> str:
    """Black or white, whichever contrasts more with ``background``."""
    return "black" if contrast_ratio("black", background) >= contrast_ratio("white",
                                                                             background) \
        else "white"


def funnel_figure(funnel: Sequence[Mapping], title: str = "") -> Figure:
    """Cells reaching each cascade stage (log scale) with the share lost there."""
    fig, ax = subplots(figsize=(8, 4.5))
    stages = [f["stage"] for f in funnel]
    reached = np.array([max(f["reached"], 0.0) for f in funnel])
    y = np.arange(len(stages))[::-1]
    ax.barh(y, np.where(reached > 0, reached, np.nan), color="#555555", edgecolor="black")
    for yi, f in zip(y, funnel, strict=True):
        if f["reached"] > 0:
            text = f"{f['reached']:.3g}"
            if f["lost"] > 0:
                text += f"   ({100 * f['lost'] / f['reached']:.3g} % lost here)"
            ax.text(f["reached"] * 1.3, yi, text, va="center", fontsize=8)
    ax.set_xscale("log")
    ax.set_yticks(y, [STAGE_LABELS.get(s, s) for s in stages])
    top = reached.max() if reached.max() > 0 else 10.0
    ax.set_xlim(0.5, top * 1e4)
    ax.set_xlabel("cells per patient (mean over replicates, log scale)")
    ax.set_title(title or "The metastatic cascade: where cells are lost")
    ax.grid(axis="x", which="major", alpha=0.3)
    fig.tight_layout()
    return fig


def site_frequency_figure(frequencies: Mapping[str, Mapping[str, Mapping[str, float]]],
                          observed: Mapping[str, float] | None = None, title: str = "",
                          max_organs: int = 16) -> Figure:
    """Fraction of patients with a metastasis per organ at autopsy, 95 % intervals.

    ``frequencies`` maps a label (a hypothesis) to :func:`sim.analysis.site_frequency`;
    ``observed`` (autopsy fractions) is drawn as black diamonds.
    """
    labels = list(frequencies)
    first = frequencies[labels[0]]
    order = sorted(first, key=lambda o: -max(frequencies[h][o]["fraction"] for h in labels))
    if observed:
        order = sorted(first, key=lambda o: -max([observed.get(o, 0.0)]
                                                 + [frequencies[h][o]["fraction"] for h in labels]))
    organs = order[:max_organs]
    x = np.arange(len(organs))
    width = 0.8 / len(labels)
    fig, ax = subplots(figsize=(max(8, 0.6 * len(organs) + 2), 4.8))
    for i, h in enumerate(labels):
        st = HYPOTHESIS_STYLE.get(h, {"color": f"C{i}", "hatch": "", "marker": "o"})
        f = np.array([frequencies[h][o]["fraction"] for o in organs])
        lo = np.array([frequencies[h][o]["low"] for o in organs])
        hi = np.array([frequencies[h][o]["high"] for o in organs])
        xs = x - 0.4 + width * (i + 0.5)
        ax.bar(xs, f, width, color=st["color"], hatch=st["hatch"], edgecolor="black",
               label=h, alpha=0.85)
        ax.errorbar(xs, f, yerr=[f - lo, hi - f], fmt="none", ecolor="black", capsize=2, lw=1)
    if observed:
        obs = [observed.get(o, np.nan) for o in organs]
        ax.plot(x, obs, "D", color="black", markerfacecolor="white", markersize=7,
                label="autopsy (diSibio & French 2008)")
    ax.set_xticks(x, [ORGANS[o].label.split(" (")[0] if o in ORGANS else o for o in organs],
                  rotation=45, ha="right", rotation_mode="anchor")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("fraction of patients with\nmetastases there at autopsy")
    ax.set_title(title or "Where metastases are found (95 % Wilson intervals)")
    ax.legend(fontsize=8, frameon=False)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def timecourse_figure(patients: Sequence[PatientResult], title: str = "") -> Figure:
    """Primary size, cells entering the blood and colonies per organ over time: median over
    patients (line) with the 10th-90th percentile of patients (band)."""
    fig, axes = subplots(1, 3, figsize=(15, 4.8))
    series = _series(patients)
    resections = [p.resection_day for p in patients if p.resection_day is not None]
    for ax, q, name, ylabel in (
            (axes[0], "primary_cells", "primary tumour", "cells (log scale)"),
            (axes[1], "ctc_entered_per_day", "tumour cells entering the blood",
             "cells per day (log scale)")):
        data = series.get((q, ""))
        if q == "primary_cells" and (data is None or not np.nanmax(data[1], initial=0.0) > 0):
            ax.text(0.5, 0.5, "no primary tumour\n(an injection experiment)", ha="center",
                    va="center", transform=ax.transAxes, fontsize=12)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(name)
            continue
        _band(ax, data, "black")
        if data is not None and np.nanmax(data[1], initial=0.0) > 0:
            ax.set_yscale("log")
        ax.set_title(name)
        ax.set_ylabel(ylabel)
        ax.set_xlabel("day of the course")
        if resections:
            ax.axvline(float(np.median(resections)), color="black", ls=":", lw=1,
                       label="resection of the primary (median day)")
            ax.legend(fontsize=9, frameon=False, loc="lower right")
    ax = axes[2]
    organ_series = {o: s for (q, o), s in series.items() if q == "colonies_by_organ" and o}
    # The organs with most colonies: by the median patient, then by the 90th percentile.
    rank = {o: (np.nanmax(np.nanmedian(s[1], axis=0)),
                np.nanmax(np.nanpercentile(s[1], 90, axis=0))) for o, s in organ_series.items()}
    top = sorted(rank, key=lambda o: (-rank[o][0], -rank[o][1]))[:6]
    styles = ["-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1))]
    for i, organ in enumerate(top):
        _band(ax, organ_series[organ], f"C{i}", label=ORGANS[organ].label, ls=styles[i])
    ax.set_title(f"colonies per organ (any size; top {len(top)} organs)")
    ax.set_ylabel("colonies per patient")
    ax.set_xlabel("day of the course")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if top:
        ax.legend(fontsize=9, frameon=False, loc="upper left")
    n = len(patients)
    fig.suptitle(title or "Time course")
    fig.text(0.5, 0.0, f"Line: median of the {n} patients; band: 10th to 90th percentile of "
             "patients (patients whose course has ended are left out from that day on).",
             ha="center", va="bottom", fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def _series(patients: Sequence[PatientResult], points: int = 200) -> dict:
    """(quantity, organ) -> (common day grid, values[patient, day]); NaN after a course ends.

    Organ-level reporters omit zeros, so missing records count as 0.
    """
    end = max(p.days for p in patients)
    grid = np.linspace(0.0, end, points)
    per_patient = []
    for p in patients:
        table: dict = {}
        for d, q, o, v in p.timeseries:
            table.setdefault((q, o), {})[d] = v
        days = np.array(sorted(table.get(("primary_cells", ""), {})))
        per_patient.append((p, days, table))
    keys = {k for _, _, t in per_patient for k in t}
    out = {}
    for key in keys:
        rows = []
        for p, days, table in per_patient:
            lookup = table.get(key, {})
            vals = np.array([lookup.get(d, 0.0) for d in days])
            row = np.interp(grid, days, vals) if len(days) else np.full(points, np.nan)
            row[grid > p.days + 1e-9] = np.nan
            if key[0].endswith("_per_day") and len(days) > 1:
                row[grid < days[1]] = np.nan  # a flux has no value before the first step
            rows.append(row)
        out[key] = (grid, np.array(rows))
    return out


def _band(ax, series, color, label=None, ls="-") -> None:
    if not series:
        return
    grid, values = series
    ok = ~np.all(np.isnan(values), axis=0)
    med = np.nanmedian(values[:, ok], axis=0)
    ax.plot(grid[ok], med, color=color, label=label, ls=ls)
    if len(values) > 1:
        lo, hi = np.nanpercentile(values[:, ok], [10, 90], axis=0)
        ax.fill_between(grid[ok], lo, hi, color=color, alpha=0.15, lw=0)


def observed_vs_simulated_figure(rows: Sequence[Mapping], title: str = "") -> Figure:
    """One panel per hypothesis: autopsy vs simulated site frequency, one point per
    primary x organ, with the mean R^2 of the panel."""
    hyps = list(dict.fromkeys(r["hypothesis"] for r in rows))
    primaries = list(dict.fromkeys(r["primary"] for r in rows))
    markers = "osD^v<>pP*Xhd8H"
    fig, axes = subplots(1, len(hyps), figsize=(4.2 * len(hyps), 4.4), squeeze=False)
    for ax, h in zip(axes[0], hyps, strict=True):
        sub = [r for r in rows if r["hypothesis"] == h]
        for r in sub:
            i = primaries.index(r["primary"])
            obs = [s["observed"] for s in r["sites"].values()]
            sim = [s["simulated"] for s in r["sites"].values()]
            ax.scatter(obs, sim, marker=markers[i % len(markers)], facecolor="none",
                       edgecolor=f"C{i % 10}", label=r["primary"], s=28)
        ax.plot([0, 1], [0, 1], color="black", lw=0.8, ls="--")
        r2 = _finite_mean([r["r2"] for r in sub])
        rho = _finite_mean([r["spearman"] for r in sub])
        ax.set_title(f"{h}: mean R² {r2:.2f}, Spearman {rho:.2f}")
        ax.set_xlabel("autopsy frequency (diSibio & French 2008)")
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_aspect("equal")
    axes[0][0].set_ylabel("simulated frequency")
    axes[0][-1].legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle(title or "Site frequencies: simulation vs autopsy")
    fig.tight_layout()
    return fig


MISSING_COLOR = "#bdbdbd"    # grey, hatched: no value (not the colour map's pale centre)


def weiss_heatmap_figure(indices: Mapping[str, Mapping[str, float]], title: str = "") -> Figure:
    """Weiss's efficiency index per primary x organ on a diverging log scale centred on 1
    (the primary's median organ): red above, blue below, pale yellow near 1. Each cell is
    annotated with its value in black or white, whichever contrasts more; organs the autopsy
    table does not report for a primary are grey and hatched."""
    primaries = list(indices)
    organs = sorted({o for v in indices.values() for o in v})
    data = np.array([[indices[p].get(o, np.nan) for o in organs] for p in primaries], float)
    data = np.where(data > 0, data, np.nan)
    logd = np.log10(data)
    lim = float(np.nanmax(np.abs(logd))) if np.isfinite(logd).any() else 1.0
    lim = max(lim, 0.5)
    norm = LogNorm(vmin=10 ** -lim, vmax=10 ** lim)
    cmap = colormaps["RdYlBu_r"]
    fig, ax = subplots(figsize=(0.62 * len(organs) + 4.5,
                                    max(0.5 * len(primaries) + 3.2, 5.5)))
    ax.set_facecolor(MISSING_COLOR)
    im = ax.imshow(np.ma.masked_invalid(data), cmap=cmap, norm=norm, aspect="auto",
                   interpolation="nearest")
    for i in range(len(primaries)):
        for j in range(len(organs)):
            v = data[i, j]
            if np.isfinite(v):
                ax.text(j, i, _short(v), ha="center", va="center", fontsize=8,
                        color=text_color_on(cmap(norm(v))))
            else:
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor=MISSING_COLOR,
                                           edgecolor="#6e6e6e", hatch="///", linewidth=0))
    ax.set_xticks(range(len(organs)),
                  [ORGANS[o].label.split(" (")[0] if o in ORGANS else o.replace("_", " ")
                   for o in organs], rotation=50, ha="right", rotation_mode="anchor",
                  fontsize=9)
    ax.set_yticks(range(len(primaries)),
                  [f"{PRIMARY_SITES[p].label} primary" if p in PRIMARY_SITES else p
                   for p in primaries], fontsize=9)
    ax.set_xlabel("organ where metastases grow")
    cb = fig.colorbar(im, ax=ax, fraction=0.03, pad=0.02)
    cb.set_label("efficiency index (log scale)\n1 = the primary's median organ")
    decades = [10.0 ** k for k in range(-math.floor(lim), math.floor(lim) + 1)]
    cb.set_ticks(decades, labels=[f"{d:g}" for d in decades])
    cb.ax.minorticks_off()
    if np.isnan(data).any():
        fig.legend(handles=[Patch(facecolor=MISSING_COLOR, edgecolor="#6e6e6e", hatch="///",
                                  label="not in the autopsy table")],
                   loc="lower right", frameon=False, fontsize=9, borderaxespad=0.3)
    ax.set_title(title or "Weiss metastatic efficiency index: autopsy incidence per cell "
                 "delivered, relative to the median organ")
    fig.tight_layout()
    return fig


def _short(v: float) -> str:
    """A cell value in few characters, without exponents: 830, 11, 1.3, 0.72, 0.012."""
    if v >= 10:
        return f"{v:.0f}"
    return f"{v:.2g}"


def _finite_mean(values: Sequence[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def km_figure(clinical: Mapping, title: str = "") -> Figure:
    """Kaplan-Meier metastasis-free survival after resection with its 95 % band (top) and,
    below, when patients relapsed and when those without a relapse were last seen
    (censored), as separate bars."""
    fig, (ax, ax2) = subplots(2, 1, figsize=(9, 7.2), height_ratios=[3, 1.5],
                                  sharex=True)
    t = np.array(clinical["km_timeline_days"], dtype=float) / 365.25
    surv = np.array(clinical["km_survival"], dtype=float)
    n = clinical["patients_resected"]
    ax.step(t, surv, where="post", color="black", lw=2,
            label=f"Kaplan-Meier estimate ({n} patients resected)")
    ax.fill_between(t, clinical["km_low"], clinical["km_high"], step="post", color="grey",
                    alpha=0.3, lw=0, label="95 % interval (log-log; exact binomial before "
                                           "the first relapse)")
    relapses = np.array(clinical.get("relapse_days_after_resection", []), float) / 365.25
    censored = np.array(clinical.get("censored_days_after_resection", []), float) / 365.25
    if censored.size:
        at = surv[np.clip(np.searchsorted(t, censored, side="right") - 1, 0, None)]
        ax.plot(censored, at, "|", color="black", ms=12, mew=1.5,
                label="censored: followed to the end without a relapse")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("fraction of patients free of\ndetectable metastases")
    ax.legend(frameon=False, fontsize=9, loc="lower left")
    ax.set_title(title or "Metastasis-free survival after resection")
    ax.grid(alpha=0.3)
    end = max(t.max() if t.size else 0.0, relapses.max(initial=0.0), censored.max(initial=0.0))
    width = 0.25 if end <= 4 else 0.5 if end <= 10 else 1.0
    bins = width * np.arange(0, math.floor(end / width) + 2)  # the last time inside a bin
    # Stacked bars on the same bins (so each bar stays at its time): relapses (events) dark,
    # censored patients (last seen without a relapse) light and hatched.
    n_rel = np.histogram(relapses, bins)[0]
    n_cen = np.histogram(censored, bins)[0]
    left, w = bins[:-1], np.diff(bins)
    shown = n_rel > 0
    ax2.bar(left[shown], n_rel[shown], w[shown], align="edge", color="#333333",
            edgecolor="black", label=f"relapse: first detectable metastasis ({relapses.size})")
    shown = n_cen > 0
    ax2.bar(left[shown], n_cen[shown], w[shown], bottom=n_rel[shown], align="edge",
            color="#e0e0e0", edgecolor="black", hatch="//",
            label=f"censored: no relapse by the end of the course ({censored.size})")
    q = clinical.get("relapse_days_quantiles")
    if q:
        ax2.axvline(q["50"] / 365.25, color="black", linestyle="--",
                    label="median time to relapse (of those who relapsed)")
    ax2.set_ylabel("patients")
    ax2.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
    ax2.set_xlabel("years after resection")
    ax2.legend(frameon=False, fontsize=9, loc="upper left", bbox_to_anchor=(0.0, -0.32))
    ax2.set_xlim(left=-0.02 * max(end, 1.0))
    fig.tight_layout()
    return fig
