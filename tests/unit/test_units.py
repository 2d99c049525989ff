"""Units and rate conversions (sim.biology.units) and the deterministic parts of the cascade: each
against its definition."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

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


def test_gompertz_exact_solution():
    """The Gompertz step is the exact solution (two half steps = one step; K is a fixed
    point), and the rate derived from a doubling time gives that doubling time."""
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
