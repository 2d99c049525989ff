"""Seeds lose competence as the shedding tumours grow: the rule, and both engines using it.

``primary.seed_competence_exponent`` > 0 makes only a share
``(cells / seed_competence_reference_cells) ** -exponent`` of each step's arrivals able to
found a colony (:func:`sim.biology.cascade.competent_seed_share_one`); the others lodge as
a "spent" copy of their subclone (:func:`sim.biology.cascade.lodged_clones`) that
extravasates, sleeps and dies like any lodged cell but never proliferates or wakes. The
tests pin the share's formula, the spent copies' traits, and that each engine moves that
share of its arrivals - no more, no less - into the spent rows.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from sim import load_scenario
from sim.biology.cascade import competent_seed_share_one, lodged_clones
from sim.biology.stages import Stage

from ..conftest import DATA


def test_the_competent_share_follows_the_power_law_above_the_reference_size():
    """1 at or below the reference size and for an exponent of 0; above it
    (cells / reference) ** -exponent exactly. A flipped sign, a missing cap or a
    comparison the wrong way round fails."""
    assert competent_seed_share_one(1e9, 524.0, 0.0) == 1.0
    assert competent_seed_share_one(524.0, 524.0, 0.5) == 1.0
    assert competent_seed_share_one(10.0, 524.0, 0.5) == 1.0
    assert competent_seed_share_one(52_400.0, 524.0, 0.5) == pytest.approx(0.1, rel=1e-12)
    assert competent_seed_share_one(5.24e6, 524.0, 1.0) == pytest.approx(1e-4, rel=1e-12)
    shares = [competent_seed_share_one(c, 524.0, 0.5) for c in (1e3, 1e5, 1e7, 1e9)]
    assert all(a > b for a, b in itertools.pairwise(shares))


def test_spent_copies_exist_only_when_seeds_lose_competence_and_never_found_colonies():
    """Without the rule the lodged subclones are the scenario's; with it each gains a spent
    copy that nothing sheds and that cannot proliferate or wake, but extravasates and sleeps
    as its original does."""
    sc = load_scenario("presets/breast", [("primary.seed_competence_exponent", 0.0)])
    assert lodged_clones(sc.primary.subclones, 0.0) == list(sc.primary.subclones)
    clones = lodged_clones(sc.primary.subclones, 0.5)
    real = len(sc.primary.subclones)
    assert len(clones) == 2 * real
    for original, spent in zip(clones[:real], clones[real:], strict=True):
        assert (spent.fraction, spent.shedding, spent.proliferation, spent.awakening) == \
            (0.0, 0.0, 0.0, 0.0)
        assert (spent.extravasation, spent.dormancy, spent.transit_death) == \
            (original.extravasation, original.dormancy, original.transit_death)


def test_the_shedding_tumours_are_the_primary_and_the_macrometastases():
    """The share is set by the cells of the primary and the vascularised (shedding)
    metastases of each patient; micrometastases and other patients' colonies do not
    count, and inactive patients get 1. Both engines call this function."""
    from sim.engine.step_kernels import LIMIT, MACRO, MICRO, competent_shares
    active = np.array([True, True, False])
    primary = np.array([1e6, 0.0, 1e9])
    row = np.array([0, 0, 1, 1, 2], dtype=np.int64)
    phase = np.array([MACRO, MICRO, MACRO, LIMIT, MACRO], dtype=np.int8)
    cells = np.array([3e6, 5e6, 4e6, 4e6, 1e9])
    theta = competent_shares(active, primary, row, phase, cells, 100.0, 0.5)
    assert theta == pytest.approx([(4e6 / 100.0) ** -0.5, (4e6 / 100.0) ** -0.5, 1.0],
                                  rel=1e-12)


def _scenario(engine: str, daily: bool = True):
    # The small scenario with heavy shedding (tens of thousands of arrivals in a step) and
    # a reference size at a quarter of the primary's: about three quarters are spent (not a
    # half, so that a share drawn the wrong way round shows).
    return load_scenario(DATA / "small.toml", [
        ("simulation.engine", engine),
        ("primary.shedding_rate_per_gram_per_day", 2e6),
        ("primary.seed_competence_exponent", 1.0),
        ("primary.seed_competence_reference_cells", 1.65e7),
        ("population.daily_steps", daily),
        # Records 30 days apart: between events the first step's means stay undrawn.
        ("simulation.horizon_days", 3000.0)])


# Tolerance: the spent units are a binomial draw of the arrivals (~1e5 units here), so
# their share has an SD of at most sqrt(0.25 / n) ~ 0.002; five SDs (a false failure
# about once in 1.7 million runs) is ~0.01.
def _within_five_sd(spent: float, total: float, expected: float) -> None:
    assert total > 1e4, "the scenario must deliver many arrivals for this check"
    sd = math.sqrt(expected * (1 - expected) / total)
    assert abs(spent / total - expected) < 5 * sd


def test_the_mesa_model_lodges_the_spent_share_of_its_arrivals_as_spent_copies():
    """After one step every arrested cohort is a fresh arrival: the units in the spent
    copies are 1 - theta of them, theta from the primary's cells when they lodged."""
    from sim.engine.model import MetastasisModel
    sc = _scenario("mesa")
    model = MetastasisModel(sc, rng=np.random.default_rng(3))
    model.step()
    real = len(sc.primary.subclones)
    theta = competent_seed_share_one(model.primary.cells,
                                     sc.primary.seed_competence_reference_cells, 1.0)
    assert 0.15 < theta < 0.35
    cohorts = model.cohorts[Stage.ARRESTED]
    spent = sum(c.count for c in cohorts if c.clone >= real)
    total = sum(c.count for c in cohorts)
    _within_five_sd(spent, total, 1 - theta)


@pytest.mark.parametrize("daily", [True, False])
def test_the_population_engine_lodges_the_spent_share_of_its_arrivals(daily):
    """The daily reference draws the spent units (binomial, as the Mesa model); between
    events the spent share of the mean arrivals moves exactly (their means are what the
    windows draw from)."""
    from sim.engine.population import PopulationEngine
    from sim.engine.population_layout import ARRESTED
    sc = _scenario("population", daily)
    engine = PopulationEngine(sc, [np.random.SeedSequence(5, spawn_key=(i,)) for i in range(3)],
                              np.random.default_rng(6))
    engine.start()
    engine.step()
    theta = np.array([competent_seed_share_one(float(c),
                                               sc.primary.seed_competence_reference_cells, 1.0)
                      for c in engine.primary])
    assert ((theta > 0.15) & (theta < 0.35)).all()
    spent_rows = np.flatnonzero(engine.spent_row < 0)
    for p in range(3):
        if daily:
            arrived = engine.lodged[ARRESTED][p].astype(float)
            _within_five_sd(arrived[spent_rows].sum(), arrived.sum(), 1 - theta[p])
        else:
            means = engine.pend[p].sum(axis=0)
            assert means[spent_rows].sum() / means.sum() == pytest.approx(1 - theta[p],
                                                                         rel=1e-9)


@pytest.mark.parametrize("engine", ["mesa", "population"])
def test_spent_seeds_lodge_but_found_nothing(engine):
    """With every seed spent (a share ~1e-15) the small scenario founds no colony, though
    its cells still arrive and lodge; as shipped (exponent 0) it founds colonies. An engine
    that ignored the rule founds colonies; one that dropped the spent cells instead of
    lodging them has none lodged."""
    from sim.experiments.replicates import run_replicates

    def run(exponent: float):
        sc = load_scenario(DATA / "small.toml", [
            ("simulation.engine", engine), ("primary.seed_competence_exponent", exponent),
            ("primary.seed_competence_reference_cells", 1.0)])
        return run_replicates(sc, 4, 3, progress=False).patients

    spent = run(2.0)
    assert sum(sum(p.founded_by_organ.values()) for p in spent) == 0
    assert all(p.burden_at_end["lodged"] > 0 for p in spent)
    assert sum(sum(p.founded_by_organ.values()) for p in run(0.0)) > 0


def test_the_competence_is_that_of_the_seeds_a_1e9_cell_tumour_sheds():
    """``colonization.competence`` keeps its meaning when seeds lose competence: a
    competent seed has the competence divided by the competent share at 1e9 cells, so that
    the seeds a tumour of that size sheds have the scenario's competence on average - the
    same seeds whatever size a scenario diagnoses the primary at (a sweep over the size at
    resection must not change them). Without the loss it is the competence itself."""
    from sim.biology.soil import seed_competence
    off = load_scenario("presets/breast", [("primary.seed_competence_exponent", 0.0)])
    assert seed_competence(off) == off.colonization.competence
    on = load_scenario("presets/breast", [("primary.seed_competence_exponent", 0.5)])
    share = (1e9 / on.primary.seed_competence_reference_cells) ** -0.5
    assert seed_competence(on) == pytest.approx(on.colonization.competence / share, rel=1e-12)
    assert seed_competence(on) > 100 * on.colonization.competence
    earlier = load_scenario("presets/breast", [("primary.seed_competence_exponent", 0.5),
                                               ("primary.diagnosis_diameter_mm", 8.0)])
    assert seed_competence(earlier) == seed_competence(on)
