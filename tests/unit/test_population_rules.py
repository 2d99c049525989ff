"""Rules of the population engine (sim/engine/population.py) checked exactly on small
courses: the ledger's count of the cells that died at the arrest stage.

Every arrested cell either extravasates (reaches the extravasation stage), dies
intravascularly (lost at the arrest stage) or is still arrested; so at the end of a course

    reached["arrest"] - reached["extravasation"] - lost["arrest"] = cells still arrested,

the last ``arrested_cells`` of the patient's time series (recorded on its last day). This is
an identity, true for every draw, so the checks are exact whatever the seed."""

from __future__ import annotations

import pytest

from sim import load_scenario
from sim.experiments.replicates import run_replicates

from ..conftest import DATA


def _arrested_at_end(patient) -> float:
    series = [(d, v) for d, name, _, v in patient.timeseries if name == "arrested_cells"]
    day, value = series[-1]
    assert day == patient.days
    return value


@pytest.mark.parametrize("engine", ["population", "mesa"])
@pytest.mark.parametrize(("overrides", "horizon"), [
    # small.toml as it is: most arrested cells extravasate, some (0.05 / 1.0) die.
    ((), 30.0),
    # No extravasation and a high intravascular death rate: nearly every arrested cell dies
    # at the arrest stage within a step or two.
    ((("extravasation.rate_per_day", 0.0),
      ("extravasation.intravascular_death_rate_per_day", 3.0)), 8.0),
])
def test_cells_dying_at_arrest_are_counted_as_lost_there(engine, overrides, horizon):
    """Ledger conservation at the arrest stage, patient by patient: the cells that reached
    arrest and neither extravasated nor are still arrested are exactly the cells lost at
    arrest, and there are some (so the check is not vacuous). An engine that lets arrested
    cells die without writing them to ``lost["arrest"]`` breaks the identity by exactly
    the uncounted deaths and fails here."""
    sc = load_scenario(DATA / "small.toml", [*overrides, ("simulation.engine", engine),
                                             ("simulation.horizon_days", horizon)])
    run = run_replicates(sc, 3, 5, progress=False)
    assert run.engine == engine
    for p in run.patients:
        still = _arrested_at_end(p)
        assert p.reached["arrest"] - p.reached["extravasation"] - p.lost["arrest"] == still, \
            (p.replicate, p.reached, p.lost, still)
        assert p.lost["arrest"] > 0, "no cell died at arrest: nothing checked"


@pytest.mark.parametrize("engine", ["population", "population-daily", "mesa"])
@pytest.mark.parametrize("cluster_size", [2, 5])
def test_the_ledgers_counts_agree_with_each_other(engine, cluster_size):
    """Identities between the ledger's counts that hold for every draw, in both engines (the
    Mesa model's :class:`~sim.engine.ledger.Ledger` and the population engine's arrays):
    cells detaching = cells invading = cells shed; colonies founded by organ add up to the
    colonies founded by unit kind; cells reaching the micrometastasis stage are the
    founders of those colonies (one per single cell, the cluster size per cluster), and
    those reaching the macrometastasis stage the founders of the colonies that switched;
    the deaths in transit by route add up to the transit losses; the shedding recorded
    step by step adds up to the cells shed. Both unit kinds are founded and switch here,
    so a count that overwrites instead of adding, counts a cluster (of 2 cells, or 5) as a
    single cell (or the reverse), or starts from 1 instead of 0 fails; and the primary
    sheds, so cells shed by metastases are fewer than all cells shed."""
    daily = engine == "population-daily"
    engine = engine.removesuffix("-daily")
    sc = load_scenario(DATA / "small.toml", [("simulation.engine", engine),
                                             ("population.daily_steps", daily),
                                             ("clusters.fraction_of_shedding_events", 0.2),
                                             ("clusters.cells_per_cluster", cluster_size)])
    k = sc.clusters.cells_per_cluster
    dt = sc.simulation.dt_days
    run = run_replicates(sc, 3, 5, progress=False)
    assert run.engine == engine
    for p in run.patients:
        founded, switched = p.colonies_founded, p.colonies_survived
        assert min(founded.values()) > 0 and sum(switched.values()) > 0, (founded, switched)
        assert p.reached["detachment"] == p.reached["invasion"] == p.shed_total
        assert sum(p.founded_by_organ.values()) == founded["single"] + founded["cluster"]
        assert p.reached["micrometastasis"] == founded["single"] + k * founded["cluster"]
        assert p.reached["macrometastasis"] == switched["single"] + k * switched["cluster"]
        assert sum(p.lost_in_transit_by_route.values()) == p.lost["transit"] > 0
        shed = [(d, v) for d, name, _, v in p.timeseries if name == "shed_cells_per_day"]
        # One record a step (30 one-day steps and the start): the shedding of every step.
        assert [d for d, _ in shed] == [float(i) for i in range(31)]
        recorded = sum(v for _, v in shed) * dt
        if engine == "mesa" or daily:
            assert recorded == pytest.approx(p.shed_total, abs=1e-6)
        else:
            # Between events the primary loses a Poisson count of cells with the mean of
            # those whose fates the ledger counts, drawn apart from them (the engine's one
            # named approximation): equal in mean, each a sum of Poisson counts of units of
            # at most k cells, so their difference has a standard deviation of at most
            # sqrt(2 k shed); 8 of them: a false failure below 1e-14.
            assert abs(recorded - p.shed_total) <= 8 * (2 * k * p.shed_total) ** 0.5
        assert p.shed_by_metastases < p.shed_total
