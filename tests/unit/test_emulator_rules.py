"""The site emulator's arithmetic (sim/experiments/emulator.py) against its closed form, on a
founding exposure built by hand (no simulation), so the checks are exact.

The rule: a colony founded in the step that starts on day ``t`` first grows in the next
step, so at the end ``E`` of the course it has grown ``E - t - dt`` days; the exposure of a
bin is spread evenly over the bin's steps, so the probability of reaching the autopsy size
is averaged over them:

    Lambda_po = sum over bins b, unit kinds k of exposure[b, p, o, k]
                * mean over the steps s of bin b of reaches(founders_k, E_p - s * dt - dt).
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from sim import load_scenario
from sim.biology.anatomy import ORGAN_KEYS
from sim.biology.cascade import reaches_probability
from sim.biology.units import diameter_to_cells
from sim.experiments.emulator import BIN_DAYS, SiteEmulator, _expected

from ..conftest import DATA

#: Seven steps of 4 days: steps start on days 0, 4, 8 (bin 0: three steps), 12, 16 (bin 1)
#: and 20, 24 (bin 2). Growth parameters chosen so that reaching the autopsy size (0.03 mm,
#: 14 cells) has a clearly different probability at every age from 4 to 24 days.
OVERRIDES = [("simulation.dt_days", 4.0), ("simulation.horizon_days", 28.0),
             ("colonization.autopsy_detectable_diameter_mm", 0.03),
             ("colonization.micrometastasis_birth_rate_per_day", 0.3),
             ("colonization.micrometastasis_death_rate_per_day", 0.1),
             ("colonization.avascular_diameter_mm", 2.0),
             ("clusters.cells_per_cluster", 5)]


def test_colony_age_counts_from_the_step_after_founding_averaged_over_the_bin():
    """Unit exposure in one bin and unit kind per organ (organ 0: bin 0, single cells;
    organ 1: bin 1; organ 2: bin 2; organ 3: bin 0, clusters), for a patient whose course
    ends on day 28 and one whose course ends on day 18: each organ's expected colonies
    equal the closed form written out step by step (for the first patient, ages 24, 20 and
    16 days in bin 0, 12 and 8 in bin 1, 4 and 0 in bin 2). A colony age one step off
    (counted from the founding step itself, or a step too late), or a bin's probability
    not averaged over its own steps (bins here hold three steps or two), gives other
    numbers and fails here."""
    sc = load_scenario(DATA / "small.toml", OVERRIDES)
    assert BIN_DAYS == 10.0 and sc.simulation.n_steps == 7
    col = sc.colonization
    threshold = diameter_to_cells(col.autopsy_detectable_diameter_mm)

    def reach(founders: int, age: float) -> float:
        return float(reaches_probability(founders, age, threshold,
                                         col.micrometastasis_birth_rate_per_day,
                                         col.micrometastasis_death_rate_per_day))

    bins = int(sc.simulation.horizon_days // BIN_DAYS) + 2     # as the engine records it
    exposure = np.zeros((bins, 2, len(ORGAN_KEYS), 2))
    exposure[0, :, 0, 0] = 1.0
    exposure[1, :, 1, 0] = 1.0
    exposure[2, :, 2, 0] = 1.0
    exposure[0, :, 3, 1] = 1.0
    end = np.array([28.0, 18.0])
    got = _expected(sc, exposure, end)
    for p, e in enumerate(end.tolist()):
        expected = [
            (reach(1, e - 4) + reach(1, e - 8) + reach(1, e - 12)) / 3,  # days 0, 4, 8
            (reach(1, e - 16) + reach(1, e - 20)) / 2,                   # days 12, 16
            (reach(1, e - 24) + reach(1, e - 28)) / 2,                   # days 20, 24
            (reach(5, e - 4) + reach(5, e - 8) + reach(5, e - 12)) / 3,  # clusters of 5
        ]
        assert got[p, :4] == pytest.approx(expected, rel=1e-12, abs=1e-300), p
        assert not got[p, 4:].any()
    # The closed form is not degenerate: a step more or less of growth changes every term.
    ages = np.arange(0.0, 28.0, 4.0)
    for founders in (1, 5):
        r = [reach(founders, a) for a in ages]
        assert r[0] == 0.0 and all(b > a * 1.004 for a, b in pairwise(r))
    # Exposure adds up: twice the exposure, twice the expected colonies.
    assert _expected(sc, 2 * exposure, end) == pytest.approx(2 * got, rel=1e-12)


def test_probabilities_are_poisson_zero_class_of_the_scaled_intensity():
    """P_io(r) = 1 - exp(-r_o Lambda_io), and the site frequency its mean over patients,
    exactly."""
    sc = load_scenario(DATA / "small.toml")
    lam = np.zeros((2, len(ORGAN_KEYS)))
    liver, lung = ORGAN_KEYS.index("liver"), ORGAN_KEYS.index("lung")
    lam[0, liver], lam[1, liver], lam[0, lung] = 0.5, 2.0, 1.0
    em = SiteEmulator(sc, lam, np.zeros(lam.shape, dtype=bool))
    p = em.probabilities({"liver": 3.0})
    assert p[0, liver] == pytest.approx(1 - np.exp(-1.5), rel=1e-14)
    assert p[1, liver] == pytest.approx(1 - np.exp(-6.0), rel=1e-14)
    assert p[0, lung] == pytest.approx(1 - np.exp(-1.0), rel=1e-14)
    assert em.frequencies({"liver": 3.0})["liver"] == pytest.approx(
        (2 - np.exp(-1.5) - np.exp(-6.0)) / 2, rel=1e-14)
