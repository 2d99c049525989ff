"""Patients differ as the ``[population]`` section says: each trait is
log-normal around the scenario's value with the stated spread, the draws are the patient's
own, every hypothesis sees the same patients, and without spread nothing changes."""

from __future__ import annotations

import math
from dataclasses import asdict

import numpy as np
from scipy import stats

from sim import MetastasisModel
from sim.biology.patients import TRAITS
from sim.config.loading import load_scenario
from sim.experiments.replicates import compare
from sim.experiments.seeds import replicate_stream

SPREADS = {"population.doubling_time_log_sd": 0.9, "population.shedding_log_sd": 1.0,
           "population.diagnosis_diameter_log_sd": 0.3, "population.colonization_log_sd": 0.5}


def _traits(path, n: int, seed: int, overrides: dict) -> list[dict[str, float]]:
    sc = load_scenario(path, list(overrides.items()))
    return [MetastasisModel(sc, rng=np.random.default_rng(replicate_stream(seed, i))).traits
            .as_dict() for i in range(n)]


def test_each_trait_is_log_normal_around_the_scenario_value(small_scenario_path):
    """log(trait / scenario value) / spread is standard normal for every trait (KS test of
    400 patients; p < 1e-4 fails: false-failure rate 4e-4 for the four traits together).
    Power at this size (simulated): a spread 1.5x too wide fails 78 % of the time, a median
    off by 0.3 spreads 88 %; a spread only 1.2x off mostly passes."""
    sc = load_scenario(small_scenario_path)
    median = {"doubling_time_days": sc.primary.doubling_time_days,
              "shedding_rate_per_gram_per_day": sc.primary.shedding_rate_per_gram_per_day,
              "diagnosis_diameter_mm": sc.primary.diagnosis_diameter_mm,
              "colonization_multiplier": 1.0}
    sd = dict(zip(TRAITS, SPREADS.values(), strict=True))
    patients = _traits(small_scenario_path, 400, 21, SPREADS)
    for trait in TRAITS:
        z = np.array([math.log(p[trait] / median[trait]) / sd[trait] for p in patients])
        assert stats.kstest(z, "norm").pvalue > 1e-4, trait
    # The traits are drawn independently: no pair correlates (|r| < 4.4 / sqrt(n), a
    # false-failure rate of 1e-5 per pair).
    logs = np.log([[p[t] for t in TRAITS] for p in patients])
    r = np.corrcoef(logs, rowvar=False)
    assert np.all(np.abs(r[np.triu_indices(len(TRAITS), 1)]) < 4.4 / math.sqrt(len(patients)))


def test_one_spread_does_not_change_the_other_traits_of_a_patient(small_scenario_path):
    """The four normals are drawn whatever spreads are set, so adding a shedding spread
    leaves each patient's doubling time as it was."""
    one = _traits(small_scenario_path, 20, 3, {"population.doubling_time_log_sd": 0.9})
    two = _traits(small_scenario_path, 20, 3, {"population.doubling_time_log_sd": 0.9,
                                               "population.shedding_log_sd": 1.0})
    assert [p["doubling_time_days"] for p in one] == [p["doubling_time_days"] for p in two]
    assert [p["shedding_rate_per_gram_per_day"] for p in one] != \
        [p["shedding_rate_per_gram_per_day"] for p in two]


def test_without_heterogeneity_every_patient_is_the_scenario_patient(small_scenario_path):
    """``population.heterogeneity = false`` (or no spread) draws nothing: the course is the
    one the scenario gave before populations existed, number for number."""
    off = {**SPREADS, "population.heterogeneity": False}
    base = MetastasisModel(small_scenario_path, rng=5).run().result()
    same = MetastasisModel(small_scenario_path, rng=5, overrides=off).run().result()
    assert asdict(base) == asdict(same)
    varied = MetastasisModel(small_scenario_path, rng=5, overrides=SPREADS).run().result()
    assert varied.traits != base.traits


def test_every_hypothesis_of_a_comparison_sees_the_same_patients(small_scenario_path):
    """Common random numbers: replicate i has the same traits under each hypothesis, and
    different replicates differ."""
    sc = load_scenario(small_scenario_path, list(SPREADS.items()))
    runs = compare(sc, ["ewing", "paget"], replicates=3, seed=4, progress=False)
    ewing = [p.traits for p in runs["ewing"].patients]
    paget = [p.traits for p in runs["paget"].patients]
    assert ewing == paget
    assert len({p["doubling_time_days"] for p in ewing}) == 3
