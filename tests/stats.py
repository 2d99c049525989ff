"""Statistical helpers shared by the tests (one definition of each test used).

Every statistical test in the suite asks a question of the form "is this draw compatible with
the distribution the code promises?" and fails when the answer is no at a stated
false-failure rate. The seeds are fixed, so a test's outcome is deterministic; the stated
rate is the chance that a *correct* implementation would fail on a fresh seed, i.e. how
unlucky the chosen seed would have to be.

Conventions:

* functions return p-values (or z-scores); the test compares them with its own stated level;
* a one-sided test with no evidence either way returns p = 1 (never 0): a claim that data
  must support fails when there are no data.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

#: z for a two-sided false-failure rate of ~1e-6 per check (|z| > 4.9).
Z_1E6 = float(stats.norm.isf(0.5e-6))


def binomial_p(k: int, n: int, p: float) -> float:
    """Two-sided exact binomial p-value of ``k`` successes in ``n`` trials at rate ``p``."""
    return float(stats.binomtest(int(k), int(n), p).pvalue)


def binomial_greater_p(k: int, n: int, p: float) -> float:
    """One-sided exact binomial p-value for a rate above ``p``; 1.0 when ``n == 0``."""
    if n == 0:
        return 1.0
    return float(stats.binomtest(int(k), int(n), p, alternative="greater").pvalue)


def poisson_p(k: int | float, mu: float) -> float:
    """Two-sided exact Poisson p-value of a count ``k`` with mean ``mu``."""
    k = int(k)
    return float(min(1.0, 2.0 * min(stats.poisson.cdf(k, mu), stats.poisson.sf(k - 1, mu))))


def mean_z(sample: Sequence[float] | np.ndarray, mean: float, variance: float) -> float:
    """z-score of a sample mean against a known mean and per-draw variance."""
    x = np.asarray(sample, dtype=float)
    return float((x.mean() - mean) / np.sqrt(variance / len(x)))


def sign_test_greater_p(a: np.ndarray, b: np.ndarray) -> float:
    """Paired one-sided sign test that event ``a`` is more frequent than event ``b``.

    ``a`` and ``b`` are boolean arrays over the same patients; only the patients with one
    event and not the other carry information. With none, there is no evidence: p = 1.
    """
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(b & ~a))
    return binomial_greater_p(only_a, only_a + only_b, 0.5)


def multinomial_gof_p(observed: Sequence[int] | np.ndarray,
                      probabilities: Sequence[float] | np.ndarray) -> float:
    """Chi-square goodness of fit of counts against multinomial probabilities.

    Outcomes expected fewer than 5 times are pooled into one cell (and that cell into its
    neighbour if it is still below 5), so that the chi-square approximation holds. An
    outcome with probability 0 that was observed gives p = 0.
    """
    obs = np.asarray(observed, dtype=float)
    p = np.asarray(probabilities, dtype=float)
    p = p / p.sum()
    n = obs.sum()
    if np.any((p == 0) & (obs > 0)):
        return 0.0
    expected = p * n
    keep = expected >= 5
    o = np.append(obs[keep], obs[~keep].sum())
    e = np.append(expected[keep], expected[~keep].sum())
    if e[-1] < 5:
        o[-2] += o[-1]
        e[-2] += e[-1]
        o, e = o[:-1], e[:-1]
    if len(o) < 2:
        return 1.0
    return float(stats.chisquare(o, e).pvalue)


def two_proportions_p(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided Fisher exact p-value that ``k1 / n1`` and ``k2 / n2`` share one rate."""
    return float(stats.fisher_exact([[k1, n1 - k1], [k2, n2 - k2]]).pvalue)


def same_distribution_p(counts_a: Sequence[int] | np.ndarray,
                        counts_b: Sequence[int] | np.ndarray) -> float:
    """Chi-square test that two vectors of category counts come from one multinomial
    (categories empty in both are dropped)."""
    table = np.array([counts_a, counts_b], dtype=float)
    table = table[:, table.sum(axis=0) > 0]
    return float(stats.chi2_contingency(table).pvalue)
