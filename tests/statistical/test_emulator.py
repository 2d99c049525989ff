"""The site emulator (sim/experiments/emulator.py) against simulation.

Fixed seeds; each organ's check is a z-score against its standard error with |z| < 4 (a
false failure with probability ~6e-5 per organ if the emulator is right, ~1e-3 over the ~15
organs checked), so a failure means a real disagreement.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim import load_scenario
from sim.biology.anatomy import ORGAN_KEYS
from sim.biology.cascade import birth_death, reaches_probability
from sim.config.errors import ScenarioError
from sim.experiments.emulator import site_emulator
from sim.experiments.replicates import run_replicates

UNTWINNED = [("population.assess_initiated", False)]


@pytest.mark.parametrize("founders", [1, 5])
def test_reaches_probability_is_the_birth_death_process(founders):
    """Kendall's law of the colony's size: 40,000 colonies grown 120 days by the model's own
    birth_death draws reach 300 cells as often as reaches_probability says (z < 4)."""
    rng = np.random.default_rng(8)
    sizes = np.full(40_000, founders)
    for _ in range(120):
        sizes = birth_death(rng, sizes, 0.35, 0.30, 1.0)
    p = float(reaches_probability(founders, 120.0, 300, 0.35, 0.30))
    hit = float(np.mean(sizes >= 300))
    assert 0.01 < p < 0.99
    assert abs(hit - p) < 4 * np.sqrt(p * (1 - p) / len(sizes))
    assert float(reaches_probability(founders, 0.0, 300, 0.35, 0.30)) == 0.0


def _z_ok(diff: np.ndarray, se: np.ndarray, organs: list[str]) -> list[str]:
    return [f"{o}: z = {d / s:.2f}" for o, d, s in zip(organs, diff, se, strict=True)
            if abs(d / s) >= 4]


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["colorectal", "thyroid"])
def test_emulator_at_the_simulated_soil_is_the_cohorts_own_outcome(preset):
    """At the soil it was simulated with, the emulator's probability for each patient and
    organ has the mean of the patient's own outcome (it is its conditional expectation given
    the course): for every organ that 3-97 % of 300 patients have, the mean of
    (outcome - probability) is within 4 standard errors of 0, the standard error
    sqrt(sum P(1 - P)) / n of a Bernoulli outcome with that probability. Colorectal steps a
    day at a time, thyroid five days (a colony's age counts from the step after its
    founding)."""
    em = site_emulator(load_scenario(f"presets/{preset}", UNTWINNED), 5, 300)
    p = em.probabilities()
    seen = em.observed.mean(axis=0)
    keep = (seen > 0.03) & (seen < 0.97)
    assert keep.sum() >= 4  # enough organs for the check to mean something
    diff = (em.observed - p).mean(axis=0)[keep]
    se = np.sqrt((p * (1 - p)).sum(axis=0))[keep] / em.patients
    organs = [o for o, k in zip(ORGAN_KEYS, keep, strict=True) if k]
    assert _z_ok(diff, se, organs) == []


@pytest.mark.slow
def test_emulator_predicts_the_sites_of_another_soil():
    """Doubling the liver's soil: the emulator's site frequencies (from 400 colorectal
    patients at the preset's soil) agree with 400 patients simulated at the doubled soil on
    independent streams, organ by organ (|z| < 4, the two cohorts' binomial variances), and
    the liver's frequency has risen well beyond its error (so the check is not vacuous)."""
    sc = load_scenario("presets/colorectal", UNTWINNED)
    em = site_emulator(sc, 5, 400)
    doubled = {"liver": 2.0 * dict(sc.tropism.affinity).get("liver", 1.0)}
    direct_sc = load_scenario("presets/colorectal",
                              [*UNTWINNED, ("tropism.affinity.liver", doubled["liver"])])
    direct = run_replicates(direct_sc, 400, 6, progress=False).patients
    assert len(direct) == 400
    observed = np.array([[p.autopsy_by_organ.get(o, 0) > 0 for o in ORGAN_KEYS]
                         for p in direct]).mean(axis=0)
    predicted = em.probabilities({"liver": 2.0}).mean(axis=0)
    before = em.probabilities().mean(axis=0)
    liver = ORGAN_KEYS.index("liver")
    se_liver = np.sqrt(before[liver] * (1 - before[liver]) / 400)
    assert predicted[liver] - before[liver] > 4 * se_liver
    keep = (observed + predicted > 0.06) & (observed + predicted < 1.94)
    var = (observed * (1 - observed) + predicted * (1 - predicted)) / 400
    organs = [o for o, k in zip(ORGAN_KEYS, keep, strict=True) if k]
    assert _z_ok((predicted - observed)[keep], np.sqrt(var[keep]), organs) == []


def test_emulator_refuses_what_it_cannot_model():
    """A therapy (it changes the colonies' growth) and an autopsy size at or above the
    avascular limit are refused with the key named, before any simulation."""
    with pytest.raises(ScenarioError, match="intervention"):
        site_emulator(load_scenario("clinical/breast_resection_at_diagnosis"), 1, 10)
    with pytest.raises(ScenarioError, match="autopsy_detectable_diameter_mm"):
        site_emulator(load_scenario("presets/breast", [
            ("colonization.autopsy_detectable_diameter_mm", 3.0)]), 1, 10)
