"""The standard figures of a run, a comparison and a validation (matplotlib, no display
needed).

Each function returns a :class:`matplotlib.figure.Figure`; :func:`save` writes it as PNG.
Figures share the look of :mod:`sim.viz.style`: readable in black and white (hypotheses
differ by hatch and marker as well as colour) and on slides (axes say what they show and in
which unit, bands say what they are). Drawing shared with the sweep figures
(:mod:`sim.viz.sweep_figures`) lives here once: bars with 95 % intervals
(:func:`interval_bars`), the organs to show (:func:`organs_to_show`) and the site-frequency
figure itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MaxNLocator

from ..biology.anatomy import ORGANS, PRIMARY_SITES
from ..biology.stages import STAGE_LABELS
from ..engine.results import PatientResult
from .style import (
    MISSING_COLOR,
    SINGLE_SERIES_COLOR,
    SMALL_FONTSIZE,
    hypothesis_style,
    legend,
    organ_label,
    subplots,
    text_color_on,
)

__all__ = ["funnel_figure", "interval_bars", "km_figure", "observed_vs_simulated_figure",
           "organs_to_show", "site_frequency_figure", "timecourse_figure",
           "weiss_heatmap_figure"]


# ------------------------------------------------------------------ drawing shared with sweeps

def interval_bars(ax: Axes, centers: np.ndarray, mean: Sequence[float],
                  low: Sequence[float], high: Sequence[float], size: float,
                  style: Mapping[str, str], label: str, horizontal: bool = False,
                  log: bool = False) -> None:
    """One series of bars with black 95 % interval whiskers: vertical bars at ``centers``
    (or horizontal ones, ``horizontal``), ``size`` wide, in a hypothesis ``style``. On a
    ``log`` axis bars of 0 are left out."""
    m = np.asarray(mean, dtype=float)
    err = [np.clip(m - np.asarray(low, dtype=float), 0, None),
           np.clip(np.asarray(high, dtype=float) - m, 0, None)]
    shown = np.where(m > 0, m, np.nan) if log else m
    common: dict[str, Any] = {"color": style["color"], "hatch": style["hatch"], "edgecolor": "black",
              "label": label, "alpha": 0.85, "capsize": 2,
              "error_kw": {"ecolor": "black", "elinewidth": 1}}
    if horizontal:
        ax.barh(centers, shown, size, xerr=err, **common)
    else:
        ax.bar(centers, shown, size, yerr=err, **common)


def organs_to_show(frequencies: Mapping[str, Mapping[str, Mapping[str, float]]],
                   observed: Mapping[str, float] | None = None,
                   max_organs: int = 16) -> list[str]:
    """The organs a site-frequency figure shows: most frequent first (the highest of any
    hypothesis and the autopsy fraction), leaving out organs where no simulated patient has
    a metastasis and the autopsy table reports none; at most ``max_organs``."""
    observed = observed or {}
    organs = list(dict.fromkeys(o for freq in frequencies.values() for o in freq))

    def highest(o: str) -> float:
        values = [f[o]["fraction"] for f in frequencies.values() if o in f]
        return max([observed.get(o, 0.0)] + [v for v in values if np.isfinite(v)])

    return [o for o in sorted(organs, key=lambda o: -highest(o)) if highest(o) > 0][:max_organs]


def site_frequency_figure(frequencies: Mapping[str, Mapping[str, Mapping[str, float]]],
                          observed: Mapping[str, float] | None = None, title: str = "",
                          max_organs: int = 16,
                          patients: Mapping[str, int] | None = None) -> Figure:
    """Fraction of patients with a metastasis per organ at autopsy, 95 % intervals, one bar
    per hypothesis (the run's figure and the sweep's).

    ``frequencies`` maps a label (a hypothesis) to organ -> ``fraction``, ``low``, ``high``
    (:func:`sim.analysis.site_frequency`); ``observed`` (autopsy fractions) is drawn as
    diamonds; ``patients`` (label -> number of patients) is added to the legend.
    """
    labels = list(frequencies)
    organs = organs_to_show(frequencies, observed, max_organs)
    x = np.arange(len(organs))
    width = 0.8 / max(len(labels), 1)
    fig, ax = subplots(figsize=(max(8, 0.6 * len(organs) + 2), 4.8))
    for i, h in enumerate(labels):
        rows = [frequencies[h].get(o, {"fraction": np.nan, "low": np.nan, "high": np.nan})
                for o in organs]
        name = f"{h} (n = {patients[h]})" if patients and h in patients else h
        interval_bars(ax, x - 0.4 + width * (i + 0.5), [r["fraction"] for r in rows],
                      [r["low"] for r in rows], [r["high"] for r in rows], width,
                      hypothesis_style(h, i), name)
    if observed:
        ax.plot(x, [observed.get(o, np.nan) for o in organs], "D", color="black",
                markerfacecolor="white", markersize=7, zorder=5,
                label="autopsy (diSibio & French 2008)")
    ax.set_xticks(x, [organ_label(o) for o in organs], rotation=45, ha="right",
                  rotation_mode="anchor")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("fraction of patients with\nmetastases there at autopsy")
    ax.set_title(title or "Where metastases are found (95 % Wilson intervals)")
    legend(ax)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------ one run

def funnel_figure(funnel: Sequence[Mapping], title: str = "") -> Figure:
    """Cells reaching each cascade stage (log scale) with the share lost there."""
    fig, ax = subplots(figsize=(8, 4.5))
    stages = [f["stage"] for f in funnel]
    reached = np.array([max(f["reached"], 0.0) for f in funnel])
    y = np.arange(len(stages))[::-1]
    ax.barh(y, np.where(reached > 0, reached, np.nan), color=SINGLE_SERIES_COLOR,
            edgecolor="black")
    for yi, f in zip(y, funnel, strict=True):
        if f["reached"] > 0:
            text = f"{f['reached']:.3g}"
            if f["lost"] > 0:
                text += f"   ({100 * f['lost'] / f['reached']:.3g} % lost here)"
            ax.text(f["reached"] * 1.3, yi, text, va="center", fontsize=SMALL_FONTSIZE)
    ax.set_xscale("log")
    ax.set_yticks(y, [STAGE_LABELS.get(s, s) for s in stages])
    top = reached.max() if reached.max() > 0 else 10.0
    ax.set_xlim(0.5, top * 1e4)
    ax.set_xlabel("cells per patient (mean over replicates, log scale)")
    ax.set_title(title or "The metastatic cascade: where cells are lost")
    ax.grid(axis="x", which="major", alpha=0.3)
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
            legend(ax, loc="lower right")
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
        legend(ax, loc="upper left")
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
    legend(axes[0][-1], loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle(title or "Site frequencies: simulation vs autopsy")
    fig.tight_layout()
    return fig


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
                ax.text(j, i, _short(v), ha="center", va="center", fontsize=SMALL_FONTSIZE,
                        color=text_color_on(cmap(norm(v))))
            else:
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor=MISSING_COLOR,
                                           edgecolor="#6e6e6e", hatch="///", linewidth=0))
    ax.set_xticks(range(len(organs)),
                  [organ_label(o) for o in organs], rotation=50, ha="right", rotation_mode="anchor",
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
                   loc="lower right", frameon=False, fontsize=SMALL_FONTSIZE, borderaxespad=0.3)
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
    legend(ax, loc="lower left")
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
    legend(ax2, loc="upper left", bbox_to_anchor=(0.0, -0.32))
    ax2.set_xlim(left=-0.02 * max(end, 1.0))
    fig.tight_layout()
    return fig
