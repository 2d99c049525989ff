"""The standard figures (matplotlib, no display needed).

Each function returns a :class:`matplotlib.figure.Figure`; :func:`save` writes it as PNG.
Figures are readable in black and white: hypotheses differ by hatch and marker as well as
colour.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from .anatomy import ORGANS
from .model import PatientResult

HYPOTHESIS_STYLE = {
    "ewing": {"color": "#1f77b4", "hatch": "", "marker": "o"},
    "paget": {"color": "#d62728", "hatch": "//", "marker": "s"},
    "combined": {"color": "#2ca02c", "hatch": "..", "marker": "^"},
    "null": {"color": "#7f7f7f", "hatch": "xx", "marker": "D"},
}
STAGE_LABELS = {
    "detachment": "shed from the tumour", "invasion": "invading the stroma",
    "transit": "in transit (blood, lymph, cavity)", "arrest": "arrested in an organ",
    "extravasation": "extravasated (solitary)", "dormancy": "dormant",
    "micrometastasis": "founded a micrometastasis",
    "macrometastasis": "angiogenic switch (macro)",
}


def save(fig: Figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def funnel_figure(funnel: Sequence[Mapping], title: str = "") -> Figure:
    """Cells reaching each cascade stage (log scale) with the share lost there."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
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
    fig, ax = plt.subplots(figsize=(max(8, 0.6 * len(organs) + 2), 4.8))
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
    ax.set_xticks(x, [ORGANS[o].label if o in ORGANS else o for o in organs], rotation=45,
                  ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("patients with metastases there at autopsy")
    ax.set_title(title or "Where metastases are found (95 % Wilson intervals)")
    ax.legend(fontsize=8, frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return fig


def timecourse_figure(patients: Sequence[PatientResult], title: str = "") -> Figure:
    """Primary size, CTC influx and colonies per organ over time (median and range)."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    series = _series(patients)
    for ax, q, label in ((axes[0], "primary_cells", "primary tumour (cells)"),
                         (axes[1], "ctc_entered_per_day", "cells entering the blood per day")):
        data = series.get((q, ""))
        _band(ax, data, "black")
        if data is not None and np.nanmax(data[1], initial=0.0) > 0:
            ax.set_yscale("log")
        ax.set_title(label)
        ax.set_xlabel("day")
    ax = axes[2]
    organ_series = {o: s for (q, o), s in series.items() if q == "colonies_by_organ" and o}
    final = {o: np.nanmax(np.nanmedian(s[1], axis=0)) for o, s in organ_series.items()}
    top = sorted(final, key=lambda o: -final[o])[:6]
    styles = ["-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1))]
    for i, organ in enumerate(top):
        _band(ax, organ_series[organ], f"C{i}", label=ORGANS[organ].label, ls=styles[i])
    ax.set_title("colonies per organ (any size)")
    ax.set_xlabel("day")
    if top:
        ax.legend(fontsize=8, frameon=False)
    fig.suptitle(title or "Time course (median over patients, band: 10-90 %)")
    fig.tight_layout()
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
    fig, axes = plt.subplots(1, len(hyps), figsize=(4.2 * len(hyps), 4.4), squeeze=False)
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


def weiss_heatmap_figure(indices: Mapping[str, Mapping[str, float]], title: str = "") -> Figure:
    """Weiss's efficiency index (log10) per primary x organ; annotated with the value."""
    primaries = list(indices)
    organs = sorted({o for v in indices.values() for o in v})
    data = np.array([[indices[p].get(o, np.nan) for o in organs] for p in primaries])
    logd = np.log10(data)
    fig, ax = plt.subplots(figsize=(0.55 * len(organs) + 3, 0.45 * len(primaries) + 2))
    lim = np.nanmax(np.abs(logd)) if np.isfinite(logd).any() else 1.0
    im = ax.imshow(logd, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    for i in range(len(primaries)):
        for j in range(len(organs)):
            if np.isfinite(data[i, j]):
                ax.text(j, i, f"{data[i, j]:.2g}", ha="center", va="center", fontsize=6)
    ax.set_xticks(range(len(organs)), organs, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(primaries)), primaries, fontsize=8)
    fig.colorbar(im, ax=ax, label="log10 efficiency index (1 = median organ)")
    ax.set_title(title or "Weiss metastatic efficiency index: autopsy incidence / cells delivered")
    fig.tight_layout()
    return fig


def _finite_mean(values: Sequence[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def km_figure(clinical: Mapping, title: str = "") -> Figure:
    """Kaplan-Meier metastasis-free survival after resection, 95 % band, with the relapse
    times as a histogram below."""
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(7, 6), height_ratios=[3, 1], sharex=True)
    t = np.array(clinical["km_timeline_days"]) / 365.25
    ax.step(t, clinical["km_survival"], where="post", color="black",
            label=f"metastasis-free (n = {clinical['patients_resected']})")
    ax.fill_between(t, clinical["km_low"], clinical["km_high"], step="post", color="grey",
                    alpha=0.3, label="95 % interval")
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("free of detectable metastases")
    ax.legend(frameon=False, fontsize=8)
    ax.set_title(title)
    q = clinical.get("relapse_days_quantiles")
    relapses = [v for v in clinical.get("km_timeline_days", []) if v > 0]
    if q:
        ax2.axvline(q["50"] / 365.25, color="black", linestyle="--", label="median relapse")
        ax2.legend(frameon=False, fontsize=8)
    ax2.set_xlabel("years after resection")
    ax2.set_yticks([])
    ax2.hist(np.array(relapses) / 365.25, bins=20, color="#777777", edgecolor="black")
    return fig
