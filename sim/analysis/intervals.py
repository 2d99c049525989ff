"""Confidence intervals: one rule for each kind of quantity, used by every table and figure.

* a share of patients (a site frequency, the fraction who died): the Wilson score interval
  (:func:`proportion_interval`, :func:`fraction_interval`);
* the mean of a count per patient (metastatic sites, metastases): a percentile bootstrap of
  the mean, which never leaves the range of the data (:func:`count_mean_interval`);
* the mean of a continuous quantity (cells per patient, fractions of injected cells): the
  Student t interval (:func:`mean_interval`);
* a survival probability: log-log Greenwood (lifelines) once an event has happened, and the
  exact binomial interval of those still followed before the first event
  (:func:`survival_interval_without_events`).

All are 95 % unless a caller asks otherwise.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


def proportion_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials (scipy.stats.binomtest)."""
    if n == 0:
        return (0.0, 1.0)
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def mean_interval(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95 % t interval (for mean cell numbers, far from 0)."""
    values = values[np.isfinite(values)]
    if values.size == 0:
        return (math.nan, math.nan, math.nan)
    m = float(values.mean())
    if values.size < 2 or np.ptp(values) == 0:
        return (m, m, m)
    half = float(stats.t.ppf(0.975, values.size - 1) * values.std(ddof=1) / math.sqrt(values.size))
    return (m, m - half, m + half)


def count_mean_interval(values: np.ndarray, resamples: int = 4000,
                  seed: int = 0) -> tuple[float, float, float]:
    """Mean of a count per patient (>= 0) and its 95 % interval.

    A percentile bootstrap of the mean (fixed seed, so figures are reproducible): its bounds
    are means of resampled patients, so they never leave the range of the data and never go
    below 0, unlike a t interval on few, skewed counts. When every patient has 0 the
    bootstrap collapses; the interval is then the exact Poisson one for a total of 0,
    ``[0, -ln(0.025) / n]``.
    """
    values = values[np.isfinite(values)]
    n = values.size
    if n == 0:
        return (math.nan, math.nan, math.nan)
    m = float(values.mean())
    if np.all(values == 0):
        return (0.0, 0.0, -math.log(0.025) / n)
    if n < 2 or np.ptp(values) == 0:
        return (m, m, m)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, n, size=(resamples, n))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return (m, float(max(lo, 0.0)), float(hi))


def fraction_interval(values: np.ndarray) -> tuple[float, float, float]:
    """Share of patients (values 0/1 or booleans) and its 95 % Wilson interval."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    n = values.size
    if n == 0:
        return (math.nan, math.nan, math.nan)
    k = int(values.sum())
    lo, hi = proportion_interval(k, n)
    return (k / n, lo, hi)


def survival_interval_without_events(followed: int,
                                     confidence: float = 0.95) -> tuple[float, float]:
    """95 % interval of a survival probability when no event happened before ``t``.

    Exact (Clopper-Pearson) binomial interval for ``followed`` patients followed to ``t``,
    all of them event-free: ``[(alpha / 2) ** (1 / n), 1]``. It ignores the patients censored
    before ``t``, so it is conservative (wider) under censoring; the Greenwood family of
    intervals collapses to ``[1, 1]`` here, which claims certainty no finite sample gives.
    """
    if followed <= 0:
        return (0.0, 1.0)
    ci = stats.binomtest(followed, followed).proportion_ci(confidence_level=confidence,
                                                           method="exact")
    return float(ci.low), float(ci.high)


def survival_interval_after_all_events(at_risk: int,
                                       confidence: float = 0.95) -> tuple[float, float]:
    """95 % interval of a survival probability after the curve has fallen to 0: the exact
    (Clopper-Pearson) interval for 0 survivors of the ``at_risk`` patients still followed at
    the last event, ``[0, 1 - (alpha / 2) ** (1 / n)]`` (the Greenwood family collapses to
    ``[0, 0]`` there)."""
    if at_risk <= 0:
        return (0.0, 1.0)
    ci = stats.binomtest(0, at_risk).proportion_ci(confidence_level=confidence, method="exact")
    return float(ci.low), float(ci.high)


__all__ = ["count_mean_interval", "fraction_interval", "mean_interval", "proportion_interval",
           "survival_interval_without_events"]
