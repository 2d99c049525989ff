"""Comparison figures of a sweep folder (``metasim plot``), PNG and SVG.

Readable in black and white: hypotheses differ by marker, hatch and line style as well as
colour. Intervals are 95 %: Wilson intervals for fractions of patients, t intervals for means.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from scipy import stats

from .analysis import proportion_interval
from .anatomy import ORGANS, PRIMARY_SITES, TARGET_ORGANS
from .model import FUNNEL_STAGES
from .plots import HYPOTHESIS_STYLE, STAGE_LABELS
from .reference import DISIBIO_2008

LINESTYLES = {"ewing": "-", "paget": "--", "combined": "-.", "null": ":"}
RESPONSE_OUTPUTS = {
    "metastatic_sites": "organs with metastases at autopsy (mean per patient)",
    "macrometastases": "detectable metastases at the end (mean per patient)",
    "died": "patients reaching the lethal burden (fraction)",
}


def save_both(fig, stem: Path) -> list[Path]:
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    fig.savefig(paths[0], dpi=120, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    plt.close(fig)
    return paths


def _style(h: str) -> dict:
    return HYPOTHESIS_STYLE.get(h, {"color": "black", "hatch": "", "marker": "o"})


def _mean_ci(values: np.ndarray) -> tuple[float, float, float]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return (math.nan, math.nan, math.nan)
    m = float(values.mean())
    if values.size < 2 or np.ptp(values) == 0:
        return (m, m, m)
    half = float(stats.t.ppf(0.975, values.size - 1) * values.std(ddof=1) / math.sqrt(values.size))
    return (m, m - half, m + half)


def site_frequency_figure(df, scenario: str, primary: str):
    """Site frequencies per hypothesis side by side, 95 % intervals, autopsy diamonds."""
    sub = df[(df["scenario"] == scenario) & (df["status"] == "ok")]
    hyps = list(dict.fromkeys(sub["hypothesis"]))
    row = PRIMARY_SITES[primary].disibio_row
    observed = DISIBIO_2008.frequencies(row) if row else {}
    means = {o: max(sub[f"site:{o}"].mean(), observed.get(o, 0)) for o in TARGET_ORGANS
             if f"site:{o}" in sub}
    organs = [o for o in sorted(means, key=lambda o: -means[o]) if means[o] > 0][:14]
    fig, ax = plt.subplots(figsize=(max(7, 0.75 * len(organs) + 2), 4.5))
    width = 0.8 / max(len(hyps), 1)
    x = np.arange(len(organs))
    for i, h in enumerate(hyps):
        hs = sub[sub["hypothesis"] == h]
        n = len(hs)
        frac, lo, hi = [], [], []
        for o in organs:
            k = int(hs[f"site:{o}"].sum())
            a, b = proportion_interval(k, n)
            frac.append(k / n if n else math.nan)
            lo.append(a)
            hi.append(b)
        frac = np.array(frac)
        st = _style(h)
        ax.bar(x + (i - (len(hyps) - 1) / 2) * width, frac, width, color=st["color"],
               hatch=st["hatch"], edgecolor="black", label=f"{h} (n = {n})",
               yerr=[frac - np.array(lo), np.array(hi) - frac], capsize=2,
               error_kw={"elinewidth": 0.8})
    if observed:
        ax.scatter(x, [observed.get(o, np.nan) for o in organs], marker="D", color="white",
                   edgecolor="black", zorder=5, s=30, label="autopsy (diSibio & French 2008)")
    ax.set_xticks(x, [ORGANS[o].label for o in organs], rotation=45, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("patients with metastases there at autopsy")
    points = sub["point"].nunique() if "point" in sub else 1
    pooled = f", {points} design points pooled" if points > 1 else ""
    ax.set_title(f"{scenario}: site frequencies by hypothesis (95 % intervals{pooled})")
    ax.legend(fontsize=8, frameon=False)
    return fig


def funnel_by_hypothesis_figure(df, scenario: str):
    """Mean cells reaching each stage per hypothesis (log scale), 95 % intervals."""
    sub = df[(df["scenario"] == scenario) & (df["status"] == "ok")]
    hyps = list(dict.fromkeys(sub["hypothesis"]))
    stages = [s for s in FUNNEL_STAGES if f"reached:{s}" in sub]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    height = 0.8 / max(len(hyps), 1)
    y = np.arange(len(stages))[::-1]
    for i, h in enumerate(hyps):
        hs = sub[sub["hypothesis"] == h]
        m, lo, hi = zip(*(_mean_ci(hs[f"reached:{s}"].to_numpy(float)) for s in stages),
                        strict=True)
        m, lo, hi = np.array(m), np.array(lo), np.array(hi)
        st = _style(h)
        ax.barh(y + (i - (len(hyps) - 1) / 2) * height, np.where(m > 0, m, np.nan), height,
                color=st["color"], hatch=st["hatch"], edgecolor="black", label=h,
                xerr=[np.clip(m - lo, 0, None), np.clip(hi - m, 0, None)], capsize=2)
    ax.set_xscale("log")
    ax.set_yticks(y, [STAGE_LABELS.get(s, s) for s in stages])
    ax.set_xlabel("cells per patient reaching the stage (mean, 95 % interval)")
    ax.set_title(f"{scenario}: the cascade by hypothesis")
    ax.legend(fontsize=8, frameon=False)
    return fig


def response_figure(df, param: str, output: str):
    """An output against a swept parameter, per scenario x hypothesis, with 95 % bands."""
    col = f"param:{param}"
    sub = df[df["status"] == "ok"]
    scens = list(dict.fromkeys(sub["scenario"]))
    fig, axes = plt.subplots(1, len(scens), figsize=(5.5 * len(scens), 4.2), squeeze=False,
                             sharey=True)
    numeric = np.issubdtype(sub[col].dtype, np.number)
    for ax, scen in zip(axes[0], scens, strict=True):
        for h, g in sub[sub["scenario"] == scen].groupby("hypothesis", sort=False):
            xs = sorted(g[col].unique())
            m, lo, hi = zip(*(_mean_ci(g[g[col] == v][output].to_numpy(float)) for v in xs),
                            strict=True)
            st = _style(h)
            xpos = xs if numeric else list(range(len(xs)))
            ax.plot(xpos, m, marker=st["marker"], linestyle=LINESTYLES.get(h, "-"),
                    color=st["color"], label=f"{h} (n = {len(g) // len(xs)} per point)",
                    markerfacecolor="white")
            ax.fill_between(xpos, lo, hi, color=st["color"], alpha=0.15, linewidth=0,
                            hatch=st["hatch"] or None)
            if not numeric:
                ax.set_xticks(xpos, [str(v) for v in xs])
        if numeric and sub[col].min() > 0 and sub[col].max() / sub[col].min() >= 20:
            ax.set_xscale("log")
        ax.set_xlabel(param)
        ax.set_title(scen)
        ax.legend(fontsize=7, frameon=False)
    axes[0][0].set_ylabel(RESPONSE_OUTPUTS.get(output, output))
    fig.suptitle(f"{output} against {param} (mean, 95 % band)")
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
            written += save_both(site_frequency_figure(ok, scen, primary),
                                 figs / f"site_frequency_{scen}")
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
