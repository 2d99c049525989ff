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
from matplotlib.ticker import MaxNLocator, NullFormatter

from ..biology.anatomy import PRIMARY_SITES
from ..biology.stages import STAGE_LABELS
from ..engine.results import PatientResult
from .plain import plain_number
from .style import (
    MISSING_COLOR,
    SINGLE_SERIES_COLOR,
    SMALL_FONTSIZE,
    hypothesis_style,
    legend,
    new_figure,
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


#: The quantities of the time course drawn from the cohort's records, one panel each.
_COURSE_PANELS = (("primary_cells", "primary tumour", "cells (log scale)"),
                  ("ctc_entered_per_day", "tumour cells entering the blood",
                   "cells per day (log scale)"))
#: Quantities that count things: never drawn between two whole numbers.
COUNTED = frozenset({"colonies_by_organ", "detectable_by_organ", "micrometastases",
                     "macrometastases", "detectable_metastases"})
#: At most this many organs get a colony panel (those with most colonies).
_MAX_ORGAN_PANELS = 6
#: The percentiles of patients the bands span.
_BAND = (10, 90)


class Cohort:
    """The time series of a cohort of patients on one grid of days, as the time course draws
    them.

    ``days``: the days the courses record on (not a death between two of them) and the
    last day of the longest course. ``values[(quantity,
    organ)]``: one row per patient, for counts (:data:`COUNTED`) the value recorded last on
    or before each day, for other quantities a straight line between records (organ
    reporters omit zeros, so a day without a record for an organ counts 0). A course that
    has ended keeps its last values: a patient who died counts from then on with the values
    of the day of death. Without that rule the dead would leave the median, which then
    jumped at every death (the primary's median fell fourfold when one of eight patients
    died). Rates per day have no value before the first step (NaN). ``died_on`` and
    ``resected_on``: the days patients died and had their primary removed, in order.
    """

    def __init__(self, patients: Sequence[PatientResult]):
        tables = []
        for p in patients:
            table: dict[tuple[str, str], dict[float, float]] = {}
            for d, q, o, v in p.timeseries:
                table.setdefault((q, o), {})[float(d)] = float(v)
            tables.append(table)
        record_days = [np.array(sorted(t.get(("primary_cells", ""), {}))) for t in tables]
        # The days all courses record on; a death between two of them is not one of them (it
        # would be a day on which the others have no record of their own, and their values
        # held from earlier beside the dying patient's new ones made the median flicker).
        schedule = [d[:-1] if p.died else d for p, d in zip(patients, record_days, strict=True)]
        longest = max((float(p.days) for p in patients), default=0.0)  # where lines end
        self.days = np.unique(np.concatenate([*schedule, [0.0, longest]]))
        self.patients = len(patients)
        self.died_on = np.sort([p.days for p in patients if p.died])
        self.resected_on = np.sort([p.resection_day for p in patients
                                    if p.resection_day is not None])
        self.values: dict[tuple[str, str], np.ndarray] = {}
        for key in {k for t in tables for k in t}:
            rows = []
            for table, days in zip(tables, record_days, strict=True):
                lookup = table.get(key, {})
                recorded = np.array([lookup.get(d, 0.0) for d in days])
                if not len(days):
                    rows.append(np.full(len(self.days), np.nan))
                    continue
                if key[0] in COUNTED:
                    last = np.searchsorted(days, self.days + 1e-9, side="right") - 1
                    row = np.where(last >= 0, recorded[np.clip(last, 0, None)], np.nan)
                else:  # between records a straight line; after the last one, held
                    row = np.interp(self.days, days, recorded)
                if key[0].endswith("_per_day") and len(days) > 1:
                    row[self.days < days[1] - 1e-9] = np.nan
                rows.append(row)
            self.values[key] = np.array(rows)

    def quantiles(self, key: tuple[str, str]) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                       np.ndarray]:
        """Days with a value and the median, 10th and 90th percentile of patients there. Each
        is a value some patient has (``inverted_cdf``): a median of counts is a count (two
        patients with 0 colonies and two with 1 give 0, never 0.5)."""
        v = self.values[key]
        ok = np.isfinite(v).any(axis=0)
        q = np.nanquantile(v[:, ok], [0.5, _BAND[0] / 100, _BAND[1] / 100], axis=0,
                           method="inverted_cdf")
        return self.days[ok], q[0], q[1], q[2]

    def top_organs(self) -> list[str]:
        """The organs to show colonies of: those where some patient has a colony, most first
        (by the median patient's highest count, then the 90th percentile's)."""
        rank = {}
        for (q, organ), v in self.values.items():
            if q == "colonies_by_organ" and organ and np.nanmax(v, initial=0.0) > 0:
                _, med, _, high = self.quantiles((q, organ))
                rank[organ] = (float(med.max()), float(high.max()), float(np.nanmax(v)))
        return sorted(rank, key=lambda o: tuple(-r for r in rank[o]))[:_MAX_ORGAN_PANELS]


def timecourse_figure(patients: Sequence[PatientResult], title: str = "") -> Figure:
    """The course of a cohort, one quantity per panel on a shared time axis: patients alive
    (and with their primary removed), the primary's size, the cells entering the blood and
    the colonies in each of the organs with most colonies (one organ per panel, the same
    scale in all). Line: the median patient; band: 10th to 90th percentile of patients; a
    patient who died counts with the values of the day of death (:class:`Cohort`)."""
    cohort = Cohort(patients)
    n = cohort.patients
    organs = cohort.top_organs()
    ncols = 3
    nrows = 1 + max(1, math.ceil(len(organs) / ncols))
    fig = new_figure(figsize=(13.0, 2.6 * nrows + 1.3))
    grid = fig.add_gridspec(nrows, ncols)
    end = float(cohort.days.max(initial=0.0))
    years = end >= 730.0
    scale = 365.25 if years else 1.0
    first: Axes | None = None

    lowest: dict[int, tuple[int, Axes]] = {}  # column -> its lowest panel (with the x axis)

    def panel(row: int, col: int) -> Axes:
        nonlocal first
        ax = fig.add_subplot(grid[row, col], sharex=first)
        first = first or ax
        ax.grid(alpha=0.3)
        if row >= lowest.get(col, (-1, ax))[0]:
            lowest[col] = (row, ax)
        return ax

    ax = panel(0, 0)
    _patients_step(ax, cohort.died_on / scale, n, -1, end / scale, color="black", lw=2,
                   label="alive", gid="alive")
    if len(cohort.resected_on):
        _patients_step(ax, cohort.resected_on / scale, 0, 1, end / scale, color="black",
                       lw=1.5, ls="--", label="primary removed by surgery", gid="resected")
        legend(ax, loc="best")  # matplotlib's "best" keeps the box off the two lines
    ax.set_ylim(-0.05 * n, 1.1 * n)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
    ax.set_title(f"patients (of {n})" if len(cohort.resected_on) else f"patients alive (of {n})")
    ax.set_ylabel("patients")

    for col, (q, name, ylabel) in enumerate(_COURSE_PANELS, start=1):
        ax = panel(0, col)
        key = (q, "")
        values = cohort.values.get(key)
        if values is None or not np.nanmax(values, initial=0.0) > 0:
            ax.text(0.5, 0.5, "no primary tumour\n(an injection experiment)"
                    if q == "primary_cells" else "none", ha="center", va="center",
                    transform=ax.transAxes, fontsize=12)
            ax.set_yticks([])
        else:
            _median_band(ax, cohort, key, "black", log=True)
            ax.set_yscale("log")
            ax.set_ylabel(ylabel + ("; 0 after\nsurgery is not drawn" if q == "primary_cells"
                                    and len(cohort.resected_on) else ""))
        ax.set_title(name)

    organ_axes = []
    for i, organ in enumerate(organs):
        ax = panel(1 + i // ncols, i % ncols)
        _median_band(ax, cohort, ("colonies_by_organ", organ), "C0")
        ax.set_title(f"colonies in the {organ_label(organ)}")
        ax.set_ylabel("colonies, any size\n(log scale above 1)")
        # Patients differ by orders of magnitude (1 and 500 colonies): on a linear axis the
        # median patient's few colonies lay flat on 0. Linear from 0 to 1, so 0 is shown.
        ax.set_yscale("symlog", linthresh=1.0, linscale=0.4)
        organ_axes.append(ax)
    if not organs:
        ax = panel(1, 0)
        ax.text(0.5, 0.5, "no patient has a colony", ha="center", va="center",
                transform=ax.transAxes, fontsize=12)
        ax.set_yticks([])
        ax.set_title("colonies")
    if organ_axes:
        most = max(np.nanmax(cohort.values[("colonies_by_organ", o)]) for o in organs)
        decades = max(1, math.ceil(math.log10(max(most, 1.0)) + 0.05))
        for ax in organ_axes:  # one scale: a higher line is more colonies
            ax.set_ylim(-0.1, 10.0 ** decades)
            ax.set_yticks([0, *(10 ** k for k in range(decades + 1))],
                          ["0", *(plain_number(10 ** k) for k in range(decades + 1))])
            ax.yaxis.set_minor_formatter(NullFormatter())

    for ax in fig.axes:
        is_bottom = any(ax is b for _, b in lowest.values())
        ax.tick_params(axis="x", labelbottom=is_bottom)
        if is_bottom:
            ax.set_xlabel("years since the start" if years else "days since the start")
    first_ax = fig.axes[0]
    first_ax.set_xlim(0, end / scale if end > 0 else 1.0)
    first_ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole years or days

    note = (f"Line: the median patient; band: {_BAND[0]}th to {_BAND[1]}th percentile of "
            f"patients ({n} patients; both are values actual patients have)."
            if n > 1 else "One patient: the line is that patient.")
    fig.suptitle(title or "Time course")
    fig.text(0.5, 0.005, note + "\nA patient who died counts with their values on the day "
             "of death from then on, so a death does not make the lines jump.",
             ha="center", va="bottom", fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def _patients_step(ax: Axes, days: np.ndarray, start: int, change: int, end: float,
                   **style: Any) -> None:
    """A number of patients that starts at ``start`` and changes by ``change`` on each of
    ``days`` (sorted), drawn as steps up to ``end``."""
    counts = start + change * np.arange(len(days) + 1)
    ax.step([0.0, *days, end], [*counts, counts[-1]], where="post", **style)


def _median_band(ax: Axes, cohort: Cohort, key: tuple[str, str], color: str,
                 log: bool = False) -> None:
    """The median patient and the 10th-90th percentile band of ``key`` (a count is held
    until its next record: steps); on a ``log`` axis values of 0 are left out."""
    days, med, low, high = cohort.quantiles(key)
    if log:
        # 0 has no place on a log axis: a median of 0 is not drawn, and a band whose lower
        # edge is 0 reaches down to half the smallest value drawn (the axis' bottom).
        values = cohort.values[key]
        floor = 0.5 * float(np.nanmin(np.where(values > 0, values, np.nan)))
        low = np.where((low > 0) | ~(high > 0), low, floor)
        med, low, high = (np.where(v > 0, v, np.nan) for v in (med, low, high))
    x = days / (365.25 if cohort.days.max(initial=0.0) >= 730.0 else 1.0)
    counted = key[0] in COUNTED
    ax.plot(x, med, drawstyle="steps-post" if counted else "default", color=color, lw=2,
            gid=f"median:{key[0]}:{key[1]}")
    if cohort.patients > 1:
        ax.fill_between(x, low, high, step="post" if counted else None, color=color,
                        alpha=0.2, lw=0, gid=f"band:{key[0]}:{key[1]}")


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
