"""Posterior predictive figures of a calibration (``metasim calibrate``).

* :func:`predictive_targets_figure`: each population target, the published share with its
  95 % interval beside the 90 % posterior predictive interval of each hypothesis (the shares
  of the accepted ABC particles' simulated cohorts);
* :func:`predictive_sites_figure`: each organ's autopsy frequency beside the 90 % posterior
  predictive interval of the count in a cohort the size of the autopsy table's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from .figures import interval_bars
from .style import hypothesis_style, legend, organ_label, subplots


def predictive_targets_figure(labels: Sequence[str], observed: Sequence[tuple[float, float, float]],
                              predicted: Mapping[str, Sequence[tuple[float, float, float]]],
                              title: str) -> Figure:
    """``observed``: (share, low, high) per target; ``predicted[hypothesis]``: (median, 5 %,
    95 %) per target."""
    x = np.arange(len(labels))
    hyps = list(predicted)
    width = 0.8 / max(len(hyps), 1)
    fig, ax = subplots(figsize=(max(8.0, 1.4 * len(labels) + 2), 5.2))
    for i, h in enumerate(hyps):
        rows = predicted[h]
        interval_bars(ax, x - 0.4 + width * (i + 0.5), [r[0] for r in rows], [r[1] for r in rows],
                      [r[2] for r in rows], width, hypothesis_style(h, i),
                      f"{h}: posterior predictive, 90 %")
    obs = np.array(observed, dtype=float)
    ax.errorbar(x, obs[:, 0], yerr=[obs[:, 0] - obs[:, 1], obs[:, 2] - obs[:, 0]], fmt="D",
                color="black", markerfacecolor="white", markersize=7, capsize=4, zorder=5,
                label="published (95 % interval)")
    ax.set_xticks(x, list(labels), rotation=30, ha="right", rotation_mode="anchor")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("share of patients")
    ax.set_title(title)
    legend(ax)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def predictive_sites_figure(organs: Sequence[str], observed: Sequence[float],
                            predicted: Mapping[str, Sequence[tuple[float, float, float]]],
                            patients: int, title: str) -> Figure:
    """``observed``: autopsy fraction per organ; ``predicted[hypothesis]``: (median, 5 %,
    95 %) of the predicted fraction in ``patients`` autopsies."""
    order = np.argsort(-np.asarray(observed))
    organs = [organs[i] for i in order]
    obs = np.asarray(observed)[order]
    x = np.arange(len(organs))
    hyps = list(predicted)
    width = 0.8 / max(len(hyps), 1)
    fig, ax = subplots(figsize=(max(8.0, 0.6 * len(organs) + 2), 5.0))
    for i, h in enumerate(hyps):
        rows = [predicted[h][j] for j in order]
        interval_bars(ax, x - 0.4 + width * (i + 0.5), [r[0] for r in rows], [r[1] for r in rows],
                      [r[2] for r in rows], width, hypothesis_style(h, i),
                      f"{h}: posterior predictive, 90 %")
    ax.plot(x, obs, "D", color="black", markerfacecolor="white", markersize=7, zorder=5,
            label=f"autopsy (diSibio & French 2008, n = {patients})")
    ax.set_xticks(x, [organ_label(o) for o in organs], rotation=45, ha="right",
                  rotation_mode="anchor")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("fraction of patients with\nmetastases there at autopsy")
    ax.set_title(title)
    legend(ax)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


__all__ = ["predictive_sites_figure", "predictive_targets_figure"]
