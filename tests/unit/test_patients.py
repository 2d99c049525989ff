"""A patient's traits are the ones its course uses: the primary grows with the patient's
doubling time, sheds at its rate, is diagnosed at its size, and its lodged cells colonise
with its competence."""

from __future__ import annotations

import numpy as np
import pytest

from sim import MetastasisModel
from sim.biology.cascade import gompertz_rate_from_doubling
from sim.biology.patients import MAX_SHEDDING_RATE_PER_GRAM_PER_DAY, draw_traits, median_traits
from sim.biology.soil import affinity_vector
from sim.biology.units import diameter_to_cells
from sim.config.loading import load_scenario
from sim.engine.cohorts import LodgedCells

SPREADS = [("population.doubling_time_log_sd", 0.9), ("population.shedding_log_sd", 1.0),
           ("population.diagnosis_diameter_log_sd", 0.3), ("population.colonization_log_sd", 0.5)]


def test_the_model_uses_the_patients_traits(small_scenario_path):
    sc = load_scenario(small_scenario_path, SPREADS)
    m = MetastasisModel(sc, rng=8)
    t = m.traits
    assert t != median_traits(sc)
    p = sc.primary
    assert m.primary.gompertz_rate_per_day == pytest.approx(gompertz_rate_from_doubling(
        t.doubling_time_days, diameter_to_cells(p.diagnosis_diameter_mm),
        p.carrying_capacity_cells), rel=1e-12)
    assert m.dissemination.shedding_rate_per_gram_per_day == t.shedding_rate_per_gram_per_day
    assert m.diagnosis_cells == pytest.approx(diameter_to_cells(t.diagnosis_diameter_mm))
    expected = LodgedCells(sc, affinity_vector(sc) * t.colonization_multiplier, sc.simulation.dt_days)
    np.testing.assert_array_equal(m.lodged.p_solitary, expected.p_solitary)
    np.testing.assert_array_equal(m.lodged.p_dormant, expected.p_dormant)


def test_the_median_patient_draws_nothing(small_scenario_path):
    """Without spread, or with heterogeneity off, the generator is not touched (so a
    teaching scenario of one patient keeps its course)."""
    zero = [f"population.{k}=0" for k in ("doubling_time_log_sd", "shedding_log_sd",
                                          "diagnosis_diameter_log_sd", "colonization_log_sd")]
    for over in (zero, ["population.heterogeneity=false"]):
        sc = load_scenario(small_scenario_path, over)
        rng = np.random.default_rng(1)
        state = rng.bit_generator.state
        assert draw_traits(sc, rng) == median_traits(sc)
        assert rng.bit_generator.state == state


def test_a_drawn_shedding_rate_is_capped_at_the_schemas_bound(small_scenario_path):
    """The largest spread on the highest allowed median cannot exceed the bound that keeps
    cell counts finite."""
    sc = load_scenario(small_scenario_path, [
        ("primary.shedding_rate_per_gram_per_day", MAX_SHEDDING_RATE_PER_GRAM_PER_DAY),
        ("population.shedding_log_sd", 3.0)])
    rates = [draw_traits(sc, np.random.default_rng(i)).shedding_rate_per_gram_per_day
             for i in range(50)]
    assert max(rates) == MAX_SHEDDING_RATE_PER_GRAM_PER_DAY
    assert min(rates) < MAX_SHEDDING_RATE_PER_GRAM_PER_DAY
