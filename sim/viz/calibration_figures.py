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


def _bars(ax, x: np.ndarray, predicted: Mapping[str, Sequence[tuple[float, float, float]]],
          order: Sequence[int]) -> None:
    """One bar series per hypothesis: the median with its 90 % interval."""
    hyps = list(predicted)
    width = 0.8 / max(len(hyps), 1)
    for i, h in enumerate(hyps):
        rows = [predicted[h][j] for j in order]
        interval_bars(ax, x - 0.4 + width * (i + 0.5), [r[0] for r in rows], [r[1] for r in rows],
                      [r[2] for r in rows], width, hypothesis_style(h, i),
                      f"{h}: posterior predictive, 90 %")


def _finish(fig: Figure, ax, labels: Sequence[str], rotation: int, ylabel: str,
            title: str) -> Figure:
    ax.set_xticks(np.arange(len(labels)), list(labels), rotation=rotation, ha="right",
                  rotation_mode="anchor")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    legend(ax)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def predictive_targets_figure(labels: Sequence[str], observed: Sequence[tuple[float, float, float]],
                              predicted: Mapping[str, Sequence[tuple[float, float, float]]],
                              title: str) -> Figure:
    """``observed``: (share, low, high) per target; ``predicted[hypothesis]``: (median, 5 %,
    95 %) per target."""
    x = np.arange(len(labels))
    fig, ax = subplots(figsize=(max(8.0, 1.4 * len(labels) + 2), 5.2))
    _bars(ax, x, predicted, range(len(labels)))
    obs = np.array(observed, dtype=float)
    ax.errorbar(x, obs[:, 0], yerr=[obs[:, 0] - obs[:, 1], obs[:, 2] - obs[:, 0]], fmt="D",
                color="black", markerfacecolor="white", markersize=7, capsize=4, zorder=5,
                label="published (95 % interval)")
    return _finish(fig, ax, list(labels), 30, "share of patients", title)


def predictive_sites_figure(organs: Sequence[str], observed: Sequence[float],
                            predicted: Mapping[str, Sequence[tuple[float, float, float]]],
                            patients: int, title: str) -> Figure:
    """``observed``: autopsy fraction per organ; ``predicted[hypothesis]``: (median, 5 %,
    95 %) of the predicted fraction in ``patients`` autopsies."""
    order = [int(i) for i in np.argsort(-np.asarray(observed))]
    organs = [organs[i] for i in order]
    obs = np.asarray(observed)[order]
    x = np.arange(len(organs))
    fig, ax = subplots(figsize=(max(8.0, 0.6 * len(organs) + 2), 5.0))
    _bars(ax, x, predicted, order)
    ax.plot(x, obs, "D", color="black", markerfacecolor="white", markersize=7, zorder=5,
            label=f"autopsy (diSibio & French 2008, n = {patients})")
    return _finish(fig, ax, [organ_label(o) for o in organs], 45,
                   "fraction of patients with\nmetastases there at autopsy", title)


__all__ = ["predictive_sites_figure", "predictive_targets_figure"]
