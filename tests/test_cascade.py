"""Each cascade step: probabilities, edge cases and exactness of the splits."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from sim.biology import cascade as c
from sim.biology import units as u


def test_step_probability_converges_to_rate_times_dt():
    assert u.step_probability(0.0, 5.0) == 0.0
    assert u.step_probability(1.0, 1.0) == pytest.approx(1 - math.exp(-1))
    assert u.step_probability(0.3, 1e-6) == pytest.approx(0.3e-6, rel=1e-6)
    # Two half steps survive like one full step (the dt-convergence the design relies on).
    p_half = u.step_probability(0.7, 0.5)
    assert (1 - p_half) ** 2 == pytest.approx(1 - u.step_probability(0.7, 1.0))


@given(p=st.floats(0, 1), m=st.floats(0, 50))
def test_scale_probability_stays_a_probability_and_is_monotone(p, m):
    q = u.scale_probability(p, m)
    assert 0.0 <= q <= 1.0
    assert u.scale_probability(p, 1.0) == pytest.approx(p)
    assert u.scale_probability(p, m + 1.0) >= q - 1e-12


def test_scale_probability_multiplies_small_probabilities():
    assert u.scale_probability(1e-6, 5.0) == pytest.approx(5e-6, rel=1e-5)
    assert u.scale_probability(0.5, 2.0) == pytest.approx(0.75)
    assert u.scale_probability(1.0, 0.0) == 0.0


@given(rates=st.lists(st.floats(0, 100), min_size=1, max_size=5), dt=st.floats(0.001, 30))
def test_competing_risks_sum_to_one_and_share_in_proportion(rates, dt):
    p = u.competing_risks(rates, dt)
    assert p.sum() == pytest.approx(1.0)
    assert (p >= 0).all()
    total = sum(rates)
    if total > 0:
        assert p[-1] == pytest.approx(math.exp(-total * dt), abs=1e-12)
        for r, pi in zip(rates, p[:-1], strict=False):
            assert pi == pytest.approx((1 - math.exp(-total * dt)) * r / total, abs=1e-12)


def test_split_conserves_and_handles_zero():
    rng = np.random.default_rng(1)
    assert c.split(rng, 0, np.array([0.5, 0.5])).tolist() == [0, 0]
    s = c.split(rng, 1_000_003, np.array([0.2, 0.3, 0.5]))
    assert s.sum() == 1_000_003


def test_detachment_has_poisson_mean_and_cluster_share():
    """Mean shed cells = rate x mass x dt; tolerance 5 standard errors of the mean."""
    rng = np.random.default_rng(2)
    reps, mass, rate, dt, f, k = 2000, 0.5, 1000.0, 1.0, 0.1, 5
    cells = []
    clusters = []
    for _ in range(reps):
        s, cl = c.detachment(rng, mass, rate, dt, np.array([0.7, 0.3]), f, k)
        cells.append(s.sum() + k * cl.sum())
        clusters.append(cl.sum() / (s.sum() + cl.sum()))
    cells = np.array(cells, dtype=float)
    expected = rate * mass * dt
    assert abs(cells.mean() - expected) < 5 * cells.std() / math.sqrt(reps)
    assert np.mean(clusters) == pytest.approx(f, abs=5 * math.sqrt(f * (1 - f) / (reps * 450)))
    s, cl = c.detachment(rng, 0.0, rate, dt, np.array([1.0]), f, k)
    assert s.sum() == 0 and cl.sum() == 0


def test_invasion_edges():
    rng = np.random.default_rng(3)
    assert c.invasion(rng, 0, 0.5) == 0
    assert c.invasion(rng, 100, 0.0) == 0
    assert c.invasion(rng, 100, 1.0) == 100


def test_arrest_and_extravasation_conserve():
    rng = np.random.default_rng(4)
    p = u.competing_risks([0.95, 0.05], 1.0)
    out, died = c.arrest_and_extravasation(rng, 10_000, p[0], p[1])
    assert 0 <= out + died <= 10_000
    assert out > died


def test_birth_death_mean_and_extinction_are_exact():
    """Kendall's exact draw: mean n0 e^{(b-d)t}; P(extinct by t) = alpha(t)^n0.

    Tolerances: 5 standard errors from the exact variance of a linear birth-death process,
    Var = n0 (b+d)/(b-d) e^{(b-d)t} (e^{(b-d)t} - 1).
    """
    rng = np.random.default_rng(5)
    b, d, t, n0, reps = 0.35, 0.30, 10.0, 3, 200_000
    sizes = c.birth_death(rng, np.full(reps, n0), b, d, t)
    g = math.exp((b - d) * t)
    mean = n0 * g
    var = n0 * (b + d) / (b - d) * g * (g - 1)
    assert abs(sizes.mean() - mean) < 5 * math.sqrt(var / reps)
    alpha = d * (g - 1) / (b * g - d)
    p0 = alpha ** n0
    assert abs((sizes == 0).mean() - p0) < 5 * math.sqrt(p0 * (1 - p0) / reps)


def test_birth_death_matches_a_gillespie_simulation():
    """Two-sample KS test of the exact draw against an event-by-event simulation."""
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
    rng = np.random.default_rng(7)
    assert c.birth_death(rng, np.array([0, 5]), 0.0, 0.0, 1.0).tolist() == [0, 5]
    assert c.birth_death(rng, np.array([0]), 0.3, 0.3, 1.0).tolist() == [0]
    crit = c.birth_death(rng, np.full(50_000, 10), 0.3, 0.3, 2.0)  # critical: mean constant
    assert abs(crit.mean() - 10) < 5 * math.sqrt(10 * 2 * 0.3 * 2.0 / 50_000)
    assert c.extinction_probability(0.35, 0.30) == pytest.approx(0.30 / 0.35)
    assert c.extinction_probability(0.2, 0.3) == 1.0
    assert c.extinction_probability(0.35, 0.30, founders=5) == pytest.approx((0.30 / 0.35) ** 5)


def test_gompertz_exact_solution():
    a, K, n0 = 0.002, 1e12, 1e9
    one = c.gompertz(n0, a, K, 10.0)
    two = c.gompertz(c.gompertz(n0, a, K, 5.0), a, K, 5.0)
    assert one == pytest.approx(two, rel=1e-12)
    assert c.gompertz(K, a, K, 100.0) == pytest.approx(K)
    # Doubling time at the starting size matches the requested one (to first order).
    rate = c.gompertz_rate_from_doubling(52.0, 5e8, 3.1e12)
    assert rate * math.log(3.1e12 / 5e8) == pytest.approx(math.log(2) / 52.0)
    grown = c.gompertz(5e8, rate, 3.1e12, 0.01)
    assert math.log(grown / 5e8) / 0.01 == pytest.approx(math.log(2) / 52.0, rel=1e-3)


def test_angiogenic_switch_edges():
    """Certain and impossible switches, and one answer per waiting colony."""
    rng = np.random.default_rng(8)
    assert c.angiogenic_switch(rng, 0, 0.5).shape == (0,)
    assert c.angiogenic_switch(rng, 7, 1.0).all()
    assert not c.angiogenic_switch(rng, 7, 0.0).any()


def test_birth_death_does_not_overflow_for_large_growth():
    rng = np.random.default_rng(9)
    out = c.birth_death(rng, np.array([1, 1, 1]), 30.0, 0.3, 30.0)
    assert (out >= 0).all()


def test_step_functions_split_many_cohorts_at_once():
    """The model calls each step with arrays of cohorts; every cohort is conserved."""
    rng = np.random.default_rng(10)
    counts = np.array([0, 5, 1000, 123456])
    p = u.competing_risks([0.95, 0.05], 1.0)
    ext, died = c.arrest_and_extravasation(rng, counts, np.full(4, p[0]), np.full(4, p[1]))
    assert ext.shape == died.shape == (4,) and ((ext + died) <= counts).all()
    rows = np.tile(u.competing_risks([0.54, 0.43, 0.03], 1.0), (4, 1))
    d, dorm, prolif = c.solitary_cell_fate(rng, counts, rows)
    assert ((d + dorm + prolif) <= counts).all() and d[0] == dorm[0] == prolif[0] == 0
    died2, awake = c.dormancy(rng, counts, np.tile(u.competing_risks([1e-3, 1e-4], 1.0), (4, 1)))
    assert ((died2 + awake) <= counts).all()
