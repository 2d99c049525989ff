"""Comparison figures of a sweep folder (``metasim plot``), PNG and SVG.

Readable in black and white: hypotheses differ by marker, hatch and line style as well as
colour. Intervals are 95 %: Wilson intervals for fractions of patients; for the mean of a
count per patient (never negative) a percentile bootstrap, which stays inside the range of
the data (exact Poisson upper bound when every patient has 0); t intervals for mean cell
numbers in the funnel. Axes are labelled in plain words with units
(:func:`parameter_label`, :func:`output_label`). Bars with intervals and the site-frequency
figure are the ones of :mod:`sim.viz.figures`, the look that of :mod:`sim.viz.style`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

from ..analysis.intervals import (
    count_mean_interval,
    fraction_interval,
    mean_interval,
    proportion_interval,
)
from ..biology.anatomy import PRIMARY_SITES, TARGET_ORGANS
from ..biology.reference import DISIBIO_2008
from ..biology.stages import FUNNEL_STAGES, STAGE_LABELS
from .figures import interval_bars, site_frequency_figure
from .plain import HYPOTHESIS_NAMES
from .style import SMALL_FONTSIZE, hypothesis_style, legend, save_both, subplots

__all__ = ["DODGE", "OUTPUT_KIND", "PARAMETER_LABELS", "RESPONSE_OUTPUTS",
           "funnel_by_hypothesis_figure", "output_label", "parameter_label",
           "plot_sweep", "readable_key", "response_figure", "response_interval",
           "sensitivity_figure", "site_frequencies"]
RESPONSE_OUTPUTS = {
    "metastatic_sites": "organs with metastases at autopsy (mean per patient)",
    "macrometastases": "vascularised metastases at the end (mean per patient)",
    "detectable_metastases": "detectable metastases at the end (mean per patient)",
    "died": "patients reaching the lethal burden (fraction)",
}
#: How each response output is summarised: "count" (mean of a count per patient, bootstrap
#: interval) or "fraction" (share of patients, Wilson interval).
OUTPUT_KIND = {"metastatic_sites": "count", "macrometastases": "count",
               "detectable_metastases": "count", "died": "fraction"}
#: Plain names with units of the parameters experiments sweep; other keys fall back to
#: :func:`readable_key`.
PARAMETER_LABELS = {
    "circulation.ctc_half_life_hours": "half-life of tumour cells in the blood (hours)",
    "circulation.arrest_probability_per_pass": "share held by the first capillary bed",
    "circulation.transit_death_fraction": "share of circulating cells that die (not arrest)",
    "circulation.pass_time_minutes": "time for one circulation of the blood (minutes)",
    "invasion.success_probability": "chance that an invading cell reaches a vessel",
    "primary.initial_diameter_mm": "primary tumour diameter at the start (mm)",
    "primary.diagnosis_diameter_mm": "primary tumour diameter at diagnosis (mm)",
    "primary.doubling_time_days": "primary tumour doubling time (days)",
    "primary.shedding_rate_per_gram_per_day": "cells shed per day by a 1 g tumour",
    "extravasation.rate_per_day": "extravasation rate (per day)",
    "colonization.solitary_death_rate_per_day": "death rate of solitary cells (per day)",
    "colonization.dormancy_rate_per_day": "rate of entering dormancy (per day)",
    "colonization.proliferation_rate_per_day": "rate of starting to proliferate (per day)",
    "colonization.competence": "colonisation competence (multiplier)",
    "colonization.awakening_rate_per_day": "rate of waking from dormancy (per day)",
    "colonization.dormant_death_rate_per_day": "death rate of dormant cells (per day)",
    "colonization.angiogenic_switch_rate_per_day": "angiogenic switch rate (per day)",
    "clusters.fraction_of_shedding_events": "share of shedding events that are clusters",
    "tropism.strength": "strength of organ tropism (exponent)",
    "lymph.node_arrest_probability": "chance of arrest per lymph-node group",
    "simulation.dt_days": "time step (days)",
    "simulation.horizon_days": "length of the simulated course (days)",
}
_UNIT_SUFFIXES = (("_per_gram_per_day", "per gram per day"), ("_per_day", "per day"),
                  ("_hours", "hours"), ("_days", "days"), ("_minutes", "minutes"),
                  ("_mm", "mm"), ("_cells", "cells"))


def readable_key(key: str) -> str:
    """A scenario key in words: ``"colonization.micrometastasis_birth_rate_per_day"`` ->
    ``"colonization: micrometastasis birth rate (per day)"``."""
    section, _, name = key.rpartition(".")
    unit = ""
    for suffix, words in _UNIT_SUFFIXES:
        if name.endswith(suffix) and name != suffix.lstrip("_"):
            name, unit = name[: -len(suffix)], f" ({words})"
            break
    text = name.replace("_", " ") + unit
    return f"{section.replace('_', ' ')}: {text}" if section else text


def parameter_label(key: str) -> str:
    """Plain name with unit of a swept parameter."""
    return PARAMETER_LABELS.get(key, readable_key(key))


def output_label(key: str) -> str:
    """Plain name with unit of a response output."""
    return RESPONSE_OUTPUTS.get(key, readable_key(key))


def response_interval(values: np.ndarray, output: str) -> tuple[float, float, float]:
    """Mean and 95 % interval of a response output, by its kind (:data:`OUTPUT_KIND`)."""
    kind = OUTPUT_KIND.get(output)
    if kind == "fraction":
        return fraction_interval(values)
    if kind == "count":
        return count_mean_interval(values)
    return mean_interval(values)


def _with_log_note(label: str) -> str:
    """``"half-life (hours)"`` -> ``"half-life (hours, log scale)"``."""
    if label.endswith(")"):
        return label[:-1] + ", log scale)"
    return label + " (log scale)"


def _log_ticks(ax, values) -> None:
    """Plain-number ticks on a log x axis: at the swept values when there are few, else at
    1-2-5 steps; labels that would overlap are dropped (the first and last are kept)."""
    values = sorted(float(v) for v in values)
    if len(values) <= 12:
        ticks = values
    else:
        lo, hi = math.floor(math.log10(values[0])), math.ceil(math.log10(values[-1]))
        ticks = [m * 10.0 ** e for e in range(lo, hi + 1) for m in (1, 2, 5)
                 if values[0] <= m * 10.0 ** e <= values[-1]]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    labels = [t.label1 for t in ax.xaxis.get_major_ticks(len(ticks))]
    boxes = [lab.get_window_extent(renderer) for lab in labels]
    keep = [0]
    for i in range(1, len(ticks)):
        if boxes[i].x0 > boxes[keep[-1]].x1 + 4:
            keep.append(i)
    if len(ticks) > 1 and keep[-1] != len(ticks) - 1:
        while len(keep) > 1 and boxes[len(ticks) - 1].x0 <= boxes[keep[-1]].x1 + 4:
            keep.pop()
        keep.append(len(ticks) - 1)
    kept = [ticks[i] for i in keep]
    ax.xaxis.set_major_formatter(FuncFormatter(
        lambda v, _pos: f"{v:g}" if any(math.isclose(v, k) for k in kept) else ""))


def site_frequencies(df, scenario: str) -> tuple[dict[str, dict[str, dict[str, float]]],
                                                  dict[str, int]]:
    """Per hypothesis of a scenario in a sweep table: organ -> share of patients with a
    metastasis there (``fraction``, 95 % Wilson ``low`` and ``high``, as
    :func:`sim.analysis.site_frequency`), and the number of patients."""
    sub = df[(df["scenario"] == scenario) & (df["status"] == "ok")]
    frequencies: dict[str, dict[str, dict[str, float]]] = {}
    patients: dict[str, int] = {}
    for h in dict.fromkeys(sub["hypothesis"]):
        hs = sub[sub["hypothesis"] == h]
        n = patients[h] = len(hs)
        frequencies[h] = {}
        for o in TARGET_ORGANS:
            if f"site:{o}" in hs:
                k = int(hs[f"site:{o}"].sum())
                low, high = proportion_interval(k, n)
                frequencies[h][o] = {"fraction": k / n if n else math.nan, "low": low,
                                     "high": high}
    return frequencies, patients


def funnel_by_hypothesis_figure(df, scenario: str):
    """Mean cells reaching each stage per hypothesis (log scale), 95 % intervals."""
    sub = df[(df["scenario"] == scenario) & (df["status"] == "ok")]
    hyps = list(dict.fromkeys(sub["hypothesis"]))
    stages = [s for s in FUNNEL_STAGES if f"reached:{s}" in sub]
    fig, ax = subplots(figsize=(8, 4.5))
    height = 0.8 / max(len(hyps), 1)
    y = np.arange(len(stages))[::-1]
    for i, h in enumerate(hyps):
        hs = sub[sub["hypothesis"] == h]
        m, lo, hi = zip(*(mean_interval(hs[f"reached:{s}"].to_numpy(float)) for s in stages),
                        strict=True)
        interval_bars(ax, y + (i - (len(hyps) - 1) / 2) * height, m, lo, hi, height,
                      hypothesis_style(h, i), h, horizontal=True, log=True)
    ax.set_xscale("log")
    ax.set_yticks(y, [STAGE_LABELS.get(s, s) for s in stages])
    ax.set_xlabel("cells per patient reaching the stage (mean, 95 % interval)")
    ax.set_title(f"{scenario}: the cascade by hypothesis")
    legend(ax)
    fig.tight_layout()
    return fig


#: How far apart (a share of the x axis' span) the points of neighbouring hypotheses are
#: drawn, so that hypotheses giving the same value at a point stay visible side by side.
DODGE = 0.012


def _dodged(xs: list[float], shift: float, log: bool, span: float) -> np.ndarray:
    """``xs`` moved sideways by ``shift`` shares of the axis ``span`` (decades on a ``log``
    axis, else units)."""
    x = np.asarray(xs, dtype=float)
    return x * 10.0 ** (shift * span) if log else x + shift * span


def _patients_per_point(counts: list[int]) -> str:
    """``[8, 8]`` -> ``"8 patients per point"``; ``[6, 8]`` -> ``"6 to 8 patients per
    point"``."""
    lo, hi = min(counts), max(counts)
    text = f"{lo}" if lo == hi else f"{lo} to {hi}"
    return f"{text} patient{'s' if hi != 1 else ''} per point"


def response_figure(df, param: str, output: str):
    """An output against a swept parameter, per scenario x hypothesis: mean per patient (or
    share of patients) with its 95 % band (:func:`response_interval`).

    Hypotheses differ by colour, marker and line style, and each is drawn slightly to the
    side (:data:`DODGE`): where two agree (ewing and combined often give the same 0) both
    stay visible. The legend stands below the panels, never on the data."""
    col = f"param:{param}"
    sub = df[df["status"] == "ok"]
    scens = list(dict.fromkeys(sub["scenario"]))
    hyps = [str(h) for h in dict.fromkeys(sub["hypothesis"])]
    fig, axes = subplots(1, len(scens), figsize=(6.2 * len(scens), 5.4), squeeze=False,
                         sharey=True)
    numeric = np.issubdtype(sub[col].dtype, np.number)
    log_x = bool(numeric and sub[col].min() > 0 and sub[col].max() / sub[col].min() >= 20)
    if numeric:
        lo, hi = float(sub[col].min()), float(sub[col].max())
        span = (math.log10(hi / lo) if log_x else hi - lo) or 1.0
    else:
        span = float(max(sub[col].nunique() - 1, 1))
    kind = OUTPUT_KIND.get(output)
    handles: dict[str, Any] = {}
    for ax, scen in zip(axes[0], scens, strict=True):
        rows = sub[sub["scenario"] == scen]
        counts = []
        for h, g in rows.groupby("hypothesis", sort=False):
            i = hyps.index(str(h))
            xs = sorted(g[col].unique())
            counts += [int((g[col] == v).sum()) for v in xs]
            m, low, high = zip(*(response_interval(g[g[col] == v][output].to_numpy(float),
                                                   output) for v in xs), strict=True)
            st = hypothesis_style(str(h), i)
            shift = DODGE * (i - (len(hyps) - 1) / 2)
            xpos = _dodged(xs if numeric else list(range(len(xs))), shift, log_x, span)
            (line,) = ax.plot(xpos, m, marker=st["marker"], linestyle=st["linestyle"],
                              color=st["color"], markerfacecolor="white", markersize=7,
                              label=HYPOTHESIS_NAMES.get(str(h), str(h)), gid=f"mean:{h}")
            handles.setdefault(str(h), line)
            ax.fill_between(xpos, low, high, color=st["color"], alpha=0.15, linewidth=0,
                            hatch=st["hatch"] or None)
            if not numeric:
                ax.set_xticks(range(len(xs)), [str(v) for v in xs])
        if log_x:
            ax.set_xscale("log")
        ax.set_xlabel(_with_log_note(parameter_label(param)) if log_x
                      else parameter_label(param))
        ax.set_title(f"{scen} ({_patients_per_point(counts)})")
        ax.grid(alpha=0.3)
    if kind == "fraction":
        axes[0][0].set_ylim(0.0, 1.0)
    elif kind == "count":
        axes[0][0].set_ylim(bottom=0.0)
    axes[0][0].set_ylabel(output_label(output))
    band = {"count": "band: 95 % bootstrap interval of the mean",
            "fraction": "band: 95 % Wilson interval"}.get(kind or "", "band: 95 % t interval")
    line = "share of patients" if kind == "fraction" else "mean"
    fig.suptitle(f"{output_label(output)}\nagainst {parameter_label(param)}"
                 + ("\n" if len(scens) == 1 else " ") + f"(line: {line}; {band})")
    ncol = len(hyps) if len(scens) > 1 else min(len(hyps), 2)
    rows_of_legend = math.ceil(len(hyps) / max(ncol, 1))
    height = fig.get_figheight()
    note_in, legend_in = 0.32, 0.28 * rows_of_legend + 0.1
    if len(hyps) > 1:
        fig.text(0.5, 0.04 / height, "Hypotheses are drawn slightly apart sideways; "
                 "lines overlap where hypotheses agree.", ha="center", va="bottom",
                 fontsize=SMALL_FONTSIZE)
    fig.legend([handles[h] for h in hyps if h in handles],
               [HYPOTHESIS_NAMES.get(h, h) for h in hyps if h in handles],
               loc="lower center", bbox_to_anchor=(0.5, note_in / height), ncol=ncol,
               fontsize=SMALL_FONTSIZE + 1, frameon=False)
    fig.tight_layout(rect=(0, (note_in + legend_in) / height, 1, 1))
    if log_x:
        for ax in axes[0]:
            _log_ticks(ax, sub[col].unique())
    return fig


def plot_sweep(folder: str | Path) -> list[Path]:
    """Every comparison figure of a sweep folder into ``folder/figures``."""
    import pandas as pd

    folder = Path(folder)
    df = pd.read_csv(folder / "results.csv")
    manifest: dict[str, Any] = __import__("json").loads(
        (folder / "experiment.json").read_text(encoding="utf-8"))
    ok = df[df["status"] == "ok"] if "status" in df else df
    written: list[Path] = []
    figs = folder / "figures"
    if ok.empty:
        return written
    for scen in dict.fromkeys(ok["scenario"]):
        primary = manifest["primaries"][scen]
        if any(c.startswith("site:") for c in ok):
            frequencies, patients = site_frequencies(ok, scen)
            row = PRIMARY_SITES[primary].disibio_row
            points = ok[ok["scenario"] == scen]["point"].nunique() if "point" in ok else 1
            pooled = f", {points} design points pooled" if points > 1 else ""
            fig = site_frequency_figure(
                frequencies, DISIBIO_2008.frequencies(row) if row else None,
                f"{scen}: site frequencies by hypothesis (95 % Wilson intervals{pooled})",
                patients=patients)
            written += save_both(fig, figs / f"site_frequency_{scen}")
        if any(c.startswith("reached:") for c in ok):
            written += save_both(funnel_by_hypothesis_figure(ok, scen), figs / f"funnel_{scen}")
    params = [c.removeprefix("param:") for c in ok if c.startswith("param:")]
    for p in params:
        if ok[f"param:{p}"].nunique() < 2:
            continue
        for output in RESPONSE_OUTPUTS:
            if output in ok:
                safe = p.replace(".", "_")
                written += save_both(response_figure(ok, p, output),
                                     figs / f"response_{output}_vs_{safe}")
    return written


def sensitivity_figure(indices, method: str, title: str):
    """Sensitivity indices of one output, one bar per parameter with its 95 % interval:
    Sobol first-order and total indices, or Morris mu* (``indices``: rows of
    :func:`sim.experiments.sensitivity.analyse` for one scenario, hypothesis and output)."""
    fig, ax = subplots(figsize=(9, 0.6 * len(indices) + 2.2))
    fig.set_layout_engine("constrained")
    y = np.arange(len(indices))
    if method == "sobol":
        ax.barh(y + 0.2, indices["S1"], 0.4, xerr=indices["S1_conf"], color="#bbbbbb",
                edgecolor="black", label="first order S1", capsize=2)
        ax.barh(y - 0.2, indices["ST"], 0.4, xerr=indices["ST_conf"], color="#444444",
                edgecolor="black", hatch="//", label="total ST", capsize=2)
        ax.set_xlabel("Sobol index (95 % bootstrap interval)")
    else:
        ax.barh(y, indices["mu_star"], 0.6, xerr=indices["mu_star_conf"], color="#777777",
                edgecolor="black", label="mu* (importance)", capsize=2)
        ax.set_xlabel("Morris mu* (mean |elementary effect|, 95 % interval)")
    ax.set_yticks(y, [parameter_label(str(p)) for p in indices["parameter"]])
    ax.set_title(title)
    legend(ax)
    return fig
