"""Each cascade step: probabilities, edge cases and exactness of the splits.

Statistical tests draw with fixed seeds and compare with the exact distribution the step
promises (tests/stats.py), at the false-failure rate stated in each test."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from sim.biology import cascade as c
from sim.biology import units as u

from ..stats import binomial_p, mean_z, multinomial_gof_p, poisson_p


def test_split_follows_the_multinomial_and_handles_zero():
    """A split of one cohort has the multinomial distribution: over 2,000 cohorts of 50
    units, the pooled outcome counts fit the probabilities (chi-square, p > 1e-6: the
    false-failure rate per run), and every cohort is conserved. A split that dropped units,
    normalised wrongly or swapped outcomes fails; zero units split into zeros."""
    rng = np.random.default_rng(1)
    assert c.split(rng, 0, np.array([0.5, 0.5])).tolist() == [0, 0]
    probs = np.array([0.2, 0.3, 0.5])
    draws = np.array([c.split(rng, 50, probs) for _ in range(2000)])
    assert (draws.sum(axis=1) == 50).all()
    assert multinomial_gof_p(draws.sum(axis=0), probs) > 1e-6
    # Unnormalised and slightly negative weights (rounding) are normalised the same way.
    draws = np.array([c.split(rng, 50, np.array([2.0, 3.0, 5.0, -1e-17])) for _ in range(2000)])
    assert draws[:, 3].sum() == 0
    assert multinomial_gof_p(draws[:, :3].sum(axis=0), probs) > 1e-6


def test_detachment_has_poisson_counts_split_by_clone_and_cluster_share():
    """Shedding is a Poisson process: single cells of clone i ~ Poisson(E events x w_i x
    (1 - f)) and clusters ~ Poisson(E events x w_i x f), with E events = rate x mass x dt /
    (1 - f + f k) so that the expected cells are rate x mass x dt. Totals over 2,000 steps
    are tested against these means with exact Poisson tests at p > 1e-6 each (four
    checks: false-failure rate ~4e-6 per run). A wrong cluster share, cells counted as
    events, or weights ignored moves a mean by tens of standard errors."""
    rng = np.random.default_rng(2)
    reps, mass, rate, dt, f, k = 2000, 0.5, 1000.0, 1.0, 0.1, 5
    weights = np.array([0.7, 0.3])
    singles = np.zeros(2, dtype=np.int64)
    clusters = np.zeros(2, dtype=np.int64)
    for _ in range(reps):
        s, cl = c.detachment(rng, mass, rate, dt, weights, f, k)
        singles += s
        clusters += cl
    events = rate * mass * dt / (1 - f + f * k)
    for i, w in enumerate(weights):
        assert poisson_p(singles[i], reps * events * w * (1 - f)) > 1e-6, (i, singles[i])
        assert poisson_p(clusters[i], reps * events * w * f) > 1e-6, (i, clusters[i])
    s, cl = c.detachment(rng, 0.0, rate, dt, np.array([1.0]), f, k)
    assert s.sum() == 0 and cl.sum() == 0


def test_invasion_is_binomial_with_exact_edges():
    """Survivors of invasion ~ Binomial(n, p): a cohort of 100,000 at p = 0.3 passes an
    exact binomial test at p > 1e-6 (the false-failure rate); p = 0 and 1 are exact."""
    rng = np.random.default_rng(3)
    assert c.invasion(rng, 0, 0.5) == 0
    assert c.invasion(rng, 100, 0.0) == 0
    assert c.invasion(rng, 100, 1.0) == 100
    assert binomial_p(c.invasion(rng, 100_000, 0.3), 100_000, 0.3) > 1e-6


def test_arrest_and_extravasation_split_in_the_given_proportions():
    """(extravasated, died) of an arrested cohort are the first two cells of a multinomial
    with (p_extravasate, p_die, rest): 1,000 cohorts of 100 fit the probabilities
    (chi-square p > 1e-6: the false-failure rate). Returning the outcomes in the wrong order
    or drawing them from the wrong probabilities fails."""
    rng = np.random.default_rng(4)
    p = u.competing_risks([0.6, 0.2], 1.0)
    out = np.array([c.arrest_and_extravasation(rng, 100, p[0], p[1]) for _ in range(1000)])
    counts = [out[:, 0].sum(), out[:, 1].sum(), 100 * 1000 - out.sum()]
    assert multinomial_gof_p(counts, p) > 1e-6, (counts, p * 100_000)


def test_birth_death_mean_and_extinction_are_exact():
    """Kendall's exact draw: mean n0 e^{(b-d)t}; P(extinct by t) = alpha(t)^n0.

    Tolerances: 5 standard errors (two-sided false-failure rate 6e-7 per check) from the
    exact variance of a linear birth-death process,
    Var = n0 (b+d)/(b-d) e^{(b-d)t} (e^{(b-d)t} - 1), and from the binomial variance of the
    extinct fraction.
    """
    rng = np.random.default_rng(5)
    b, d, t, n0, reps = 0.35, 0.30, 10.0, 3, 200_000
    sizes = c.birth_death(rng, np.full(reps, n0), b, d, t)
    g = math.exp((b - d) * t)
    mean = n0 * g
    var = n0 * (b + d) / (b - d) * g * (g - 1)
    assert abs(mean_z(sizes, mean, var)) < 5
    alpha = d * (g - 1) / (b * g - d)
    p0 = alpha ** n0
    assert binomial_p(int((sizes == 0).sum()), reps, p0) > 1e-6


def test_birth_death_matches_a_gillespie_simulation():
    """Two-sample KS test of the exact draw against an event-by-event simulation of 4,000
    colonies each; p > 1e-3 is the false-failure rate (the p-value is uniform when the two
    agree). A wrong geometric parameter or a lost survivor shifts the distribution."""
    rng = np.random.default_rng(6)
    b, d, t, n0, reps = 0.5, 0.3, 4.0, 2, 4000
    exact = c.birth_death(rng, np.full(reps, n0), b, d, t)
    gill = np.empty(reps, dtype=np.int64)
    for i in range(reps):
        n, clock = n0, 0.0
        while n > 0:
            clock += rng.exponential(1.0 / ((b + d) * n))
            if clock > t:
                break
            n += 1 if rng.random() < b / (b + d) else -1
        gill[i] = n
    res = stats.ks_2samp(exact, gill)
    assert res.pvalue > 1e-3, res


def test_birth_death_edge_cases():
    """No rates: sizes unchanged; an empty colony stays empty; the critical process (b = d,
    its own branch of the code) keeps the mean, within 5 standard errors of its exact
    variance 2 b t per founder (false-failure rate 6e-7), and goes extinct with the exact
    probability (b t / (1 + b t))^n0 (binomial test, p > 1e-6)."""
    rng = np.random.default_rng(7)
    assert c.birth_death(rng, np.array([0, 5]), 0.0, 0.0, 1.0).tolist() == [0, 5]
    assert c.birth_death(rng, np.array([0]), 0.3, 0.3, 1.0).tolist() == [0]
    n0, b, t, reps = 10, 0.3, 2.0, 50_000
    crit = c.birth_death(rng, np.full(reps, n0), b, b, t)
    assert abs(mean_z(crit, n0, n0 * 2 * b * t)) < 5
    extinct = (b * t / (1 + b * t)) ** n0
    assert binomial_p(int((crit == 0).sum()), reps, extinct) > 1e-6


def test_birth_death_shrinking_colonies_die_out_at_the_exact_rate():
    """Subcritical (b < d, the third branch): P(extinct by t) from one founder is
    alpha = d (g - 1) / (b g - d) with g = e^{(b-d)t}; binomial test over 100,000
    colonies, p > 1e-6 (the false-failure rate)."""
    rng = np.random.default_rng(11)
    b, d, t, reps = 0.2, 0.5, 3.0, 100_000
    out = c.birth_death(rng, np.ones(reps, dtype=np.int64), b, d, t)
    g = math.exp((b - d) * t)
    alpha = d * (g - 1) / (b * g - d)
    assert binomial_p(int((out == 0).sum()), reps, alpha) > 1e-6


def test_angiogenic_switch_is_bernoulli_per_waiting_colony():
    """One answer per waiting colony, each True with the given probability: certain and
    impossible switches are exact, and 1,000,000 colonies at p = 0.02 pass an exact binomial
    test (p > 1e-6, the false-failure rate)."""
    rng = np.random.default_rng(8)
    assert c.angiogenic_switch(rng, 0, 0.5).shape == (0,)
    assert c.angiogenic_switch(rng, 7, 1.0).all()
    assert not c.angiogenic_switch(rng, 7, 0.0).any()
    switched = c.angiogenic_switch(rng, 1_000_000, 0.02)
    assert switched.shape == (1_000_000,)
    assert binomial_p(int(switched.sum()), 1_000_000, 0.02) > 1e-6


def test_birth_death_does_not_overflow_for_large_growth():
    """(b - d) t = 891 overflows e^{(b-d)t} in floating point; the draw divides through by
    it, so colonies still go extinct with the limiting probability d / b (binomial test over
    20,000 founders, p > 1e-6: the false-failure rate) and survivors stay positive instead
    of wrapping round or raising."""
    rng = np.random.default_rng(9)
    b, d, reps = 30.0, 0.3, 20_000
    out = c.birth_death(rng, np.ones(reps, dtype=np.int64), b, d, 30.0)
    assert (out >= 0).all()
    assert binomial_p(int((out == 0).sum()), reps, d / b) > 1e-6


def test_step_functions_split_many_cohorts_at_once():
    """The model calls each step with arrays of cohorts, one probability row per cohort.
    Each cohort must be split with its own row: cohorts of 100,000 cells with different rows
    are each compared with their expected counts (chi-square per cohort, p > 1e-6 each:
    false-failure rate ~1e-5 over the nine cohorts), and an empty cohort gives zeros. A
    row applied to the wrong cohort, or outcomes returned in the wrong order, fails."""
    rng = np.random.default_rng(10)
    n = 100_000
    counts = np.array([0, n, n])
    arrest = np.array([[0.6, 0.1, 0.3], [0.1, 0.6, 0.3], [0.3, 0.3, 0.4]])
    ext, died = c.arrest_and_extravasation(rng, counts, arrest[:, 0], arrest[:, 1])
    assert ext.shape == died.shape == (3,) and ext[0] == died[0] == 0
    for i in (1, 2):
        assert multinomial_gof_p([ext[i], died[i], n - ext[i] - died[i]], arrest[i]) > 1e-6
    fate = np.array([[0.5, 0.3, 0.1, 0.1], [0.1, 0.1, 0.5, 0.3], [0.25, 0.25, 0.25, 0.25]])
    d, dorm, prolif = c.solitary_cell_fate(rng, counts, fate)
    assert d[0] == dorm[0] == prolif[0] == 0
    for i in (1, 2):
        obs = [d[i], dorm[i], prolif[i], n - d[i] - dorm[i] - prolif[i]]
        assert multinomial_gof_p(obs, fate[i]) > 1e-6, (i, obs)
    sleep = np.array([[0.5, 0.1, 0.4], [0.1, 0.5, 0.4], [0.2, 0.2, 0.6]])
    died2, awake = c.dormancy(rng, counts, sleep)
    assert died2[0] == awake[0] == 0
    for i in (1, 2):
        assert multinomial_gof_p([died2[i], awake[i], n - died2[i] - awake[i]], sleep[i]) > 1e-6
