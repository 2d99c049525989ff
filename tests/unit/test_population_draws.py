"""The population engine's draws have the distributions of the Mesa model's.

Each construction the population engine uses instead of the Mesa model's draw is checked
against the draw it replaces, with fixed seeds: a chi-square goodness-of-fit test at
p > 0.001 (a false failure at most once in a thousand seeds), or a mean compared with its
expectation within 4 standard errors (about once in 16,000).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from sim import MetastasisModel, load_scenario
from sim.config.errors import ScenarioError
from sim.engine.model import patient_traits
from sim.engine.population import PopulationEngine, categorical_counts
from sim.experiments.replicates import choose_engine, run_replicates
from sim.experiments.seeds import replicate_stream


def _gof(counts: np.ndarray, expected_p: np.ndarray) -> float:
    keep = expected_p > 0
    exp = expected_p[keep] * counts.sum()
    return float(stats.chisquare(counts[keep], exp).pvalue)


def test_categorical_counts_draw_the_multinomial():
    """Unit-by-unit placement in each row's cumulative distribution: the counts of each row
    add up to its units, an outcome of probability 0 never occurs, and the first outcome's
    count fits Binomial(7, 0.45) over 20,000 draws (p > 0.001)."""
    rng = np.random.default_rng(6)
    p = np.array([[0.45, 0.0, 0.35, 0.2], [0.0, 0.0, 1.0, 0.0]])
    n = np.array([7, 3])
    first = []
    for _ in range(20_000):
        c = categorical_counts(rng, n, p)
        assert c.sum(axis=1).tolist() == [7, 3]
        assert c[0, 1] == 0 and c[1].tolist() == [0, 0, 3, 0]
        first.append(c[0, 0])
    assert _gof(np.bincount(first, minlength=8), stats.binom.pmf(np.arange(8), 7, 0.45)) > 1e-3


def test_both_engines_simulate_the_same_patients():
    """A patient's traits come from its own stream in both engines: the population engine
    reproduces the Mesa model's first draw (Mesa's Model takes one integer before the
    traits), so patient i has the same doubling time, shedding, size at diagnosis and
    competence whichever engine runs it."""
    sc = load_scenario("presets/breast")
    for i in range(3):
        mesa = MetastasisModel(sc, rng=np.random.default_rng(replicate_stream(5, i))).traits
        assert patient_traits(sc, replicate_stream(5, i)) == mesa
    pop = run_replicates(load_scenario("presets/breast", [("simulation.horizon_days", 10.0)]),
                         3, 5, progress=False)
    assert pop.engine == "population"
    assert [p.traits for p in pop.patients] == [
        patient_traits(sc, replicate_stream(5, i)).as_dict() for i in range(3)]


def test_a_seed_gives_the_same_population_and_another_seed_another():
    """Reproducible: the same scenario and seed give identical patients; another seed
    gives other courses (so the first check is not vacuous)."""
    sc = load_scenario("presets/breast", [("simulation.horizon_days", 200.0)])
    a = run_replicates(sc, 6, 3, progress=False).patients
    b = run_replicates(sc, 6, 3, progress=False).patients
    c = run_replicates(sc, 6, 4, progress=False).patients
    assert [p.reached for p in a] == [p.reached for p in b]
    assert [p.timeseries for p in a] == [p.timeseries for p in b]
    assert [p.reached for p in a] != [p.reached for p in c]


def test_the_twin_is_assessed_for_every_diagnosed_patient():
    """With population.assess_initiated, every diagnosed patient gets a yes or no
    (initiated at diagnosis), an undiagnosed one None; without it, None for all."""
    over = [("simulation.horizon_days", 400.0), ("primary.diagnosis_diameter_mm", 8.0)]
    on = run_replicates(load_scenario("presets/breast", [*over, ("population.assess_initiated",
                                                                 True)]), 8, 2,
                        progress=False).patients
    assert any(p.diagnosis is not None for p in on)
    for p in on:
        assert (p.initiated_at_diagnosis is None) == (p.diagnosis is None)
    off = run_replicates(load_scenario("presets/breast", [*over, ("population.assess_initiated",
                                                                  False)]), 8, 2,
                         progress=False).patients
    assert all(p.initiated_at_diagnosis is None for p in off)


def test_which_engine_runs_a_scenario():
    """The population engine for two patients or more, the Mesa model for one, for the
    scenarios only it runs, and whatever simulation.engine says; asking the population engine
    for an injection experiment is refused with the key named."""
    breast = load_scenario("presets/breast")
    assert choose_engine(breast, 2) == "population"
    assert choose_engine(breast, 1) == "mesa"
    assert choose_engine(load_scenario("presets/breast", [("simulation.aggregate", False)]),
                         50) == "mesa"
    assert choose_engine(load_scenario("presets/breast", [("simulation.engine", "mesa")]),
                         50) == "mesa"
    with pytest.raises(ScenarioError, match=r"simulation\.engine"):
        load_scenario("experiments/luzzi_liver_assay", [("simulation.engine", "population")])
    with pytest.raises(ValueError, match="population engine does not run"):
        PopulationEngine(load_scenario("experiments/luzzi_liver_assay"),
                         [replicate_stream(1, 0)], np.random.default_rng(1))


def _shed_ledger_holds(p) -> None:
    r, lost = p.reached, p.lost
    assert r["detachment"] == r["invasion"] == p.shed_total
    assert r["transit"] == r["invasion"] - lost["invasion"] >= 0
    assert r["arrest"] == r["transit"] - lost["transit"] >= 0
    assert sum(p.lost_in_transit_by_route.values()) == lost["transit"]
    assert min(lost.values()) >= 0


@pytest.mark.parametrize("engine", ["mesa", "population"])
def test_every_shed_cell_is_counted_once(engine):
    """The funnel of shed cells adds up for every patient: shed = invaded, invaded - failed
    = in transit, in transit - died in transit = arrested, and the deaths by route add up
    to the deaths in transit. The population engine splits the cells that did not arrest
    into their outcomes only when they are looked at (a record or a blood sample, here every
    3 days, and the end of the course): a unit split twice or never would break these
    equalities. The Mesa model obeys them too (they are the model's, not the engine's)."""
    sc = load_scenario("presets/breast", [("simulation.horizon_days", 300.0),
                                          ("primary.initial_diameter_mm", 18.0),
                                          ("simulation.engine", engine)])
    patients = run_replicates(sc, 6 if engine == "population" else 2, 11,
                              progress=False).patients
    assert all(p.shed_total > 0 and p.reached["arrest"] > 0 for p in patients)
    for p in patients:
        _shed_ledger_holds(p)
