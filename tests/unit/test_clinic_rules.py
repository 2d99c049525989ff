"""Rules of the clinical timeline (sim/engine/clinic.py and its twin in the population engine,
sim/engine/population.py), checked exactly on small courses: growth inhibition acts on the
micrometastases too, not only on the primary.

``growth_inhibition`` multiplies every growth rate by ``growth_multiplier``; a
micrometastasis grows by a birth-death process whose *birth* rate is the one multiplied. At
``growth_multiplier = 0`` a micrometastasis can therefore only lose cells (the birth-death
draw with birth rate 0 never adds a cell, for any draw), so no colony may ever hold more
cells than founded it: an exact check, whatever the seed."""

from __future__ import annotations

import numpy as np
import pytest

from sim import MetastasisModel, load_scenario
from sim.biology.cascade import birth_death
from sim.engine.population import PopulationEngine
from sim.experiments.replicates import batch_engine

from ..conftest import DATA


def _scenario(multiplier: float | None):
    sc = load_scenario(DATA / "small.toml")
    if multiplier is None:
        return sc
    return load_scenario(DATA / "small.toml", [("intervention", [
        {"kind": "growth_inhibition", "day": 0.0, "duration_days": 30.0,
         "growth_multiplier": multiplier}])])


def _largest_growth_mesa(multiplier: float | None, seed: int) -> tuple[float, int]:
    """(largest cells / founders of any colony after any step, colony-steps seen): the Mesa
    model, stepped by hand, its colonies looked at after every step."""
    model = MetastasisModel(_scenario(multiplier), rng=seed)
    largest, seen = 0.0, 0
    while model.running:
        model.step()
        for c in model.colonies:
            largest = max(largest, c.cells / c.founders)
            seen += 1
    return largest, seen


def _largest_growth_population(multiplier: float | None, seed: int) -> tuple[float, int]:
    """The same for the population engine (3 patients), its colonies looked at right after
    each step's growth and after each growth of the micrometastases that waited for an event
    to grow in one draw (both places apply the multiplier)."""
    engine = batch_engine(_scenario(multiplier), seed, range(3))
    assert isinstance(engine, PopulationEngine)
    grow, catch_up = engine._advance_colonies, engine._bring_up_colonies
    record = {"largest": 0.0, "seen": 0}

    def look() -> None:
        c = engine.colonies
        if len(c):
            record["largest"] = max(record["largest"], float((c.cells / c.founders).max()))
            record["seen"] += len(c)

    def grow_and_look(gm: np.ndarray, **kw) -> None:
        grow(gm, **kw)
        look()

    def catch_up_and_look(rows: np.ndarray, target: int) -> None:
        catch_up(rows, target)
        look()

    engine._advance_colonies = grow_and_look        # type: ignore[method-assign]
    engine._bring_up_colonies = catch_up_and_look   # type: ignore[method-assign]
    engine.run()
    return record["largest"], record["seen"]


@pytest.mark.parametrize("run", [_largest_growth_mesa, _largest_growth_population],
                         ids=["mesa", "population"])
def test_growth_inhibition_stops_micrometastases_growing(run):
    """With growth inhibition at multiplier 0 for the whole course, no colony ever holds more
    cells than its founders, although colonies are founded and watched over many steps;
    without it the same course has colonies that grew (so the check can fail). An engine
    whose inhibition skips the micrometastases (acting on the primary and the
    macrometastases only) lets them grow at their full birth rate and fails here."""
    largest, seen = run(0.0, 3)
    assert seen >= 50, f"only {seen} colony-steps: nothing checked"
    assert largest <= 1.0
    grown, _ = run(None, 3)
    assert grown > 1.0


def test_a_micrometastasis_grows_by_the_inhibited_birth_rate_mesa():
    """The Mesa model's colonies under a multiplier of 0.5, one step: the sizes of 400
    one-cell micrometastases are exactly the birth-death draws at birth rate 0.5 x b (the
    same generator state), not those at the full rate b. A step of growth that ignores the
    multiplier for micrometastases draws other sizes and fails here."""
    model = MetastasisModel(_scenario(None), rng=1)
    col = model.scenario.colonization
    model.colonies.found(organ=3, clone=0, cluster_size=1, n=400, origin="solitary", day=0.0)
    model.colonies.advance(np.random.default_rng(9), 0.5, 0.0, 1.0)
    expected = birth_death(np.random.default_rng(9), np.ones(400, dtype=np.int64),
                           0.5 * col.micrometastasis_birth_rate_per_day,
                           col.micrometastasis_death_rate_per_day, model.dt)
    full = birth_death(np.random.default_rng(9), np.ones(400, dtype=np.int64),
                       col.micrometastasis_birth_rate_per_day,
                       col.micrometastasis_death_rate_per_day, model.dt)
    assert [c.cells for c in model.colonies] == expected[expected > 0].astype(float).tolist()
    assert expected.tolist() != full.tolist()


def test_a_micrometastasis_grows_by_the_inhibited_birth_rate_population():
    """The population engine, the same: 400 one-cell micrometastases of one patient whose
    growth multiplier is 0.5 this step are the birth-death draws at birth rate 0.5 x b, and
    another patient's, at multiplier 1, those at the full rate (each group one draw, in
    order of the multipliers). Skipping the multiplier for micrometastases fails here."""
    engine = batch_engine(_scenario(None), 1, range(2))
    col = engine.scenario.colonization
    n = 400
    rows = np.repeat([0, 1], n)
    engine.colonies.append(row=rows, organ=np.full(2 * n, 3), clone=np.zeros(2 * n),
                           founders=np.ones(2 * n), cells=np.ones(2 * n),
                           phase=np.zeros(2 * n), founded_day=np.zeros(2 * n),
                           origin=np.zeros(2 * n))
    engine.rng = np.random.default_rng(9)
    engine.day, engine.step_end_day = 0.0, engine.dt
    engine._advance_colonies(np.array([0.5, 1.0]))
    rng = np.random.default_rng(9)
    half = birth_death(rng, np.ones(n, dtype=np.int64),
                       0.5 * col.micrometastasis_birth_rate_per_day,
                       col.micrometastasis_death_rate_per_day, engine.dt)
    full = birth_death(rng, np.ones(n, dtype=np.int64), col.micrometastasis_birth_rate_per_day,
                       col.micrometastasis_death_rate_per_day, engine.dt)
    c = engine.colonies
    assert c.cells[c.row == 0].tolist() == half[half > 0].astype(float).tolist()
    assert c.cells[c.row == 1].tolist() == full[full > 0].astype(float).tolist()


def test_a_relapse_is_dated_from_the_first_founded_colony_at_the_imaging_size():
    """Both engines' rule (``first_relapse``): among colonies at or above the imaging size,
    the one founded first; on a tie, the first in founding order; none below the size. A
    rule that took the largest colony, the last founded, or counted colonies just below the
    size fails one of these."""
    from sim.engine.clinic import first_relapse
    cells = [10.0, 500.0, 200.0, 200.0, 99.0]
    founded = [1.0, 30.0, 20.0, 20.0, 0.0]
    assert first_relapse(cells, founded, 100.0) == 2
    assert first_relapse(cells, founded, 300.0) == 1
    assert first_relapse(cells, founded, 501.0) is None
    assert first_relapse([100.0], [5.0], 100.0) == 0


def test_symptoms_come_once_per_organ_in_founding_order():
    """Both engines' rule (``new_symptoms``): an organ whose colonies together reach the
    threshold, not yet symptomatic, in the order its first colony was founded. Summing per
    colony instead of per organ, re-reporting a symptomatic organ or sorting by organ
    number fails here."""
    from sim.engine.clinic import new_symptoms
    organ = [7, 3, 7, 3, 5]
    cells = [60.0, 30.0, 50.0, 80.0, 500.0]
    assert new_symptoms(organ, cells, 100.0, set()) == [7, 3, 5]
    assert new_symptoms(organ, cells, 100.0, {3}) == [7, 5]
    assert new_symptoms(organ, cells, 111.0, set()) == [5]


def test_a_kill_is_binomial_below_a_billion_cells_and_log_kill_above():
    """Both engines' rule (``cascade.kill_cells``): below 10^9 cells each colony is one
    binomial draw (the same draws as numpy's, from the same generator state); above, the
    expected fraction is removed; a remainder below one cell is none; p = 0 leaves a colony
    untouched. Treating every colony by the expected fraction, or drawing for large ones,
    fails here."""
    from sim.biology.cascade import kill_cells
    cells = np.array([1000.0, 5e8, 2e9, 1.5, 40.0])
    p = np.array([0.3, 0.3, 0.25, 0.5, 0.0])
    out = kill_cells(np.random.default_rng(4), cells, p)
    expected = np.random.default_rng(4).binomial(np.array([1000, 500_000_000, 1]),
                                                 1.0 - np.array([0.3, 0.3, 0.5]))
    assert out[[0, 1, 3]].tolist() == expected.astype(float).tolist()
    assert out[2] == 1.5e9 and out[4] == 40.0
    assert kill_cells(np.random.default_rng(0), np.array([2e9]), 1.0 - 1e-10)[0] == 0.0


def test_interventions_start_in_the_step_they_fall_in_and_end_at_its_start():
    """Both engines' schedule rule: an intervention scheduled for day x starts in the step
    [now, now + dt) that holds x, on day x (now, if x has passed); one ending on day y is
    over at the start of the step from y on. Starting a step late (x <= now), or ending one
    step late (y < now), fails here; arrays are compared element by element."""
    from sim.engine.clinic import intervention_due, intervention_over, intervention_start_day
    assert intervention_due(10.5, 10.0, 1.0) and intervention_due(9.0, 10.0, 1.0)
    assert not intervention_due(11.0, 10.0, 1.0)
    assert intervention_start_day(10.5, 10.0) == 10.5
    assert intervention_start_day(9.0, 10.0) == 10.0
    assert intervention_over(10.0, 10.0) and not intervention_over(10.5, 10.0)
    assert intervention_due(np.array([10.0, 11.0, np.inf]), 10.0, 1.0).tolist() == \
        [True, False, False]


def test_therapies_running_together_multiply_growth_and_add_kill_rates():
    """Both engines' rule for therapies that overlap: growth multipliers multiply, kill
    rates add per compartment; a therapy not running (0 in its row) adds nothing. A rule
    that kept only the last therapy, or added multipliers, fails here."""
    from sim.config.schema import Intervention
    from sim.engine.clinic import combined_growth_multiplier, combined_kill_rates
    half = Intervention(kind="growth_inhibition", day=0.0, duration_days=5.0,
                        growth_multiplier=0.5)
    tenth = Intervention(kind="growth_inhibition", day=0.0, duration_days=5.0,
                         growth_multiplier=0.1)
    chemo = Intervention(kind="systemic", day=0.0, duration_days=5.0,
                         kill_rate_per_day={"dormant": 0.2})
    assert combined_growth_multiplier([(half, 1.0), (tenth, 1.0), (chemo, 1.0)]) == 0.5 * 0.1
    rows = combined_growth_multiplier([(half, np.array([True, False])),
                                       (tenth, np.array([True, True]))])
    assert rows.tolist() == [0.5 * 0.1, 0.1]
    assert combined_kill_rates([(half, 1.0)]) is None
    both = combined_kill_rates([(chemo, 1.0), (chemo, 1.0)])
    assert both is not None and both["dormant"] == 0.4
    # A therapy of another kind listed first is passed over, not the end of the list.
    after_other = combined_kill_rates([(half, 1.0), (chemo, 1.0)])
    assert after_other is not None and after_other["dormant"] == 0.2
    per_row = combined_kill_rates([(chemo, np.array([True, False])), (chemo, np.array([1, 1]))])
    assert per_row is not None and per_row["dormant"].tolist() == [0.4, 0.2]


def test_a_colony_step_moves_each_colony_at_most_one_phase():
    """Both engines' colony step (``colonies.step_colonies``): a micrometastasis grows by
    the birth-death draw (the same draws as ``birth_death`` from the same generator state)
    and is capped at the avascular size, where it waits; a colony that waited switches with
    ``p_switch`` (1 here: always) and only then grows by Gompertz the next step; a
    macrometastasis grows by Gompertz with its own multiplier. Switching a colony in the
    step it reached the limit, growing one the step it switched, or using one multiplier
    for all fails here."""
    from sim.biology.cascade import gompertz
    from sim.engine.colonies import LIMIT, MACRO, MICRO, step_colonies
    col = load_scenario(DATA / "small.toml").colonization
    cap = 50.0
    phase = np.array([MICRO, MICRO, LIMIT, MACRO, MACRO])
    cells = np.array([3.0, 49.0, cap, 1e6, 1e6])
    gm = np.array([1.0, 1.0, 1.0, 1.0, 0.5])
    rng = np.random.default_rng(11)
    step = step_colonies(rng, phase, cells, gm, col, 1.0, cap, 1.0)
    expected = birth_death(np.random.default_rng(11), np.array([3, 49]),
                           col.micrometastasis_birth_rate_per_day,
                           col.micrometastasis_death_rate_per_day, 1.0)
    assert step.cells[:2].tolist() == np.minimum(expected, cap).astype(float).tolist()
    assert step.phase[:2].tolist() == [LIMIT if n >= cap else MICRO for n in expected]
    assert step.died[:2].tolist() == (expected == 0).tolist()
    assert step.cells[2] == cap and step.phase[2] == MACRO and step.switched.tolist() == \
        [False, False, True, False, False]
    for i, g in ((3, 1.0), (4, 0.5)):
        assert step.cells[i] == gompertz(1e6, col.macrometastasis_gompertz_rate_per_day * g,
                                         col.macrometastasis_carrying_capacity_cells, 1.0)


def _systemic(duration_days: float) -> list:
    return [("intervention", [{"kind": "systemic", "day": 0.0, "duration_days": duration_days,
                               "kill_rate_per_day": {"arrested": 1e6, "solitary": 1e6,
                                                     "dormant": 1e6}}])]


@pytest.mark.parametrize("engine", ["mesa", "population"])
def test_a_systemic_therapy_kills_the_lodged_cells_each_step(engine):
    """Both engines' systemic kill: at a kill rate of 10^6 a day every arrested, solitary and
    dormant cell dies at the end of each step (the step probability is 1), so over a
    course under therapy no cell reaches dormancy, no colony is founded, and every cell that
    extravasated is lost at extravasation; the therapy's start and end are logged on their
    days. The same patients without the therapy have dormant cells and colonies (so the
    checks can fail). An engine that skipped the kill of a stage, killed before the step's
    moves, or logged the end on another day fails here."""
    from sim.experiments.replicates import run_replicates

    def run(over: list) -> list:
        sc = load_scenario(DATA / "small.toml", [("simulation.engine", engine), *over])
        return run_replicates(sc, 3, 3, progress=False).patients

    for p in run(_systemic(40.0)):
        assert p.reached["dormancy"] == 0 and sum(p.colonies_founded.values()) == 0
        assert p.reached["extravasation"] > 0
        assert p.lost["extravasation"] == p.reached["extravasation"]
    untreated = run([])
    assert all(p.reached["dormancy"] > 0 for p in untreated)
    assert sum(sum(p.colonies_founded.values()) for p in untreated) > 0
    for p in run(_systemic(10.0)):
        assert [(e["day"], e["event"]) for e in p.events
                if e["event"].startswith("systemic")] == [(0.0, "systemic_start"),
                                                         (10.0, "systemic_end")]


def _kill_only(compartments: tuple[str, ...], day: float) -> list:
    rates = dict.fromkeys(("circulating", "arrested", "solitary", "dormant",
                           "micrometastasis", "macrometastasis"), 0.0)
    rates.update(dict.fromkeys(compartments, 1e6))
    return [("intervention", [{"kind": "systemic", "day": day, "duration_days": 40.0,
                               "kill_rate_per_day": rates}])]


@pytest.mark.parametrize("engine", ["mesa", "population"])
def test_a_systemic_therapy_kills_colonies_and_circulating_cells(engine):
    """Both engines' systemic kill of the colonies and of the cells in transit. A kill rate
    of 10^6 a day on micro- and macrometastases from day 20 (colonies exist by then) leaves
    no colony alive at day 30, although colonies were founded and their founders are counted
    lost;
    the same rate on circulating cells from day 0 lets no cell arrest, every cell in transit
    being lost there. Untreated, the same patients have live colonies and arrested cells.
    An engine that skipped the colonies' kill, used the wrong compartment's rate, or let
    killed circulating cells arrive fails here."""
    from sim.experiments.replicates import run_replicates

    def run(over: list) -> list:
        sc = load_scenario(DATA / "small.toml", [("simulation.engine", engine), *over])
        return run_replicates(sc, 3, 3, progress=False).patients

    untreated = run([])
    assert all(sum(p.colonies_by_organ.values()) > 0 and p.reached["arrest"] > 0
               for p in untreated)
    for p in run(_kill_only(("micrometastasis", "macrometastasis"), 20.0)):
        assert sum(p.colonies_by_organ.values()) == 0
        assert sum(p.colonies_founded.values()) > 0 and p.lost["micrometastasis"] > 0
    for p in run(_kill_only(("circulating",), 0.0)):
        assert p.reached["arrest"] == 0 and p.reached["extravasation"] == 0
        assert p.lost["transit"] == p.reached["transit"] > 0


@pytest.mark.parametrize("engine", ["mesa", "population"])
def test_relapse_and_symptoms_are_logged_once_on_their_day(engine):
    """Both engines' end-of-step watch, wired to the rules tested above: after a resection
    on day 8 (imaging size lowered to the avascular size, symptoms at 1,500 cells, so that
    they come within a 40-day course), each patient's relapse is logged once, on its
    ``relapse_day`` after the resection, naming the days since the resection and the
    colony's founding day and origin as the result records them; symptoms come at most once
    per organ, and in some patient at all; an organ's first metastasis at the imaging size is
    logged once, the first on the day the result records. Without the resection nobody
    relapses. The
    interventions start on their days although listed out of order, delayed, or started by
    an event. An engine that logged on another day, re-logged, took the interval from the
    wrong end, never watched, or scheduled by list order or without the delay fails here."""
    from sim.experiments.replicates import run_replicates
    watch = [("colonization.detectable_diameter_mm", 0.1),
             ("clinical.symptom_burden_cells", 1500.0), ("simulation.horizon_days", 40.0)]

    def run(over: list) -> list:
        sc = load_scenario(DATA / "small.toml", [("simulation.engine", engine), *watch, *over])
        return run_replicates(sc, 4, 3, progress=False).patients

    # Listed out of order, with a delay, and one started by an event (all without effect on
    # the course: multiplier 1, kill rates 0): each starts on its own day.
    no_kill = dict.fromkeys(("circulating", "arrested", "solitary", "dormant",
                             "micrometastasis", "macrometastasis"), 0.0)
    schedule = [{"kind": "growth_inhibition", "day": 20.0, "duration_days": 5.0,
                 "growth_multiplier": 1.0},
                {"kind": "resection", "day": 5.0, "delay_days": 3.0},
                {"kind": "systemic", "at": "first_detection", "delay_days": 2.0,
                 "duration_days": 1.0, "kill_rate_per_day": no_kill}]
    symptomatic = 0
    for p in run([("intervention", schedule)]):
        starts = {e["event"]: e["day"] for e in p.events
                  if e["event"] in ("resection", "growth_inhibition_start", "systemic_start")}
        assert starts["resection"] == 8.0 and starts["growth_inhibition_start"] == 20.0
        assert p.first_detectable_day is not None
        assert starts["systemic_start"] == p.first_detectable_day + 2.0
        assert p.resection_day == 8.0 and p.relapse_day is not None and p.relapse_day > 8.0
        assert p.relapse_founded_day is not None and p.relapse_founded_day <= p.relapse_day
        relapses = [e for e in p.events if e["event"] == "relapse"]
        assert [e["day"] for e in relapses] == [p.relapse_day]
        assert relapses[0]["detail"] == (
            f"{p.relapse_day - 8.0:g} days after resection; the colony was founded on day "
            f"{p.relapse_founded_day:g} by a {p.relapse_origin} cell")
        organs = [e["organ"] for e in p.events if e["event"] == "symptoms"]
        assert len(organs) == len(set(organs))
        symptomatic += bool(organs)
        detected = [(e["day"], e["organ"]) for e in p.events
                    if e["event"] == "metastasis_detected"]
        assert detected[0][0] == p.first_detectable_day
        assert len({o for _, o in detected}) == len(detected)
    assert symptomatic > 0
    for p in run([]):
        assert p.relapse_day is None and p.relapse_origin is None
        assert p.relapse_founded_day is None
        assert not any(e["event"] == "relapse" for e in p.events)


def test_a_partial_resection_leaves_the_rest_of_the_primary():
    """Both engines' resection rule (``clinic.resected_cells``): removing a fraction f leaves
    (1 - f) of the cells, removing all leaves none. Dividing instead of multiplying, adding
    the fraction, or removing everything whatever the fraction fails here."""
    from sim.engine.clinic import resected_cells
    assert resected_cells(1e9, 0.9) == pytest.approx(1e8)
    assert resected_cells(1e9, 0.0) == 1e9
    assert resected_cells(3e8, 1.0) == 0.0


@pytest.mark.parametrize("engine", ["mesa", "population"])
def test_a_local_therapy_of_the_detectable_metastases_spares_the_small_ones(engine):
    """Both engines' local therapy: on day 25 the same patients' lung metastases (the
    courses are identical up to the therapy) are treated with efficacy 1, either all of
    them or only those at the imaging size. Treating all kills at least as many cells in
    every patient and more in some (the small colonies are spared otherwise). An engine
    that ignored ``target`` fails here."""
    import re

    from sim.experiments.replicates import run_replicates

    def killed(target: str) -> list[float]:
        sc = load_scenario(DATA / "small.toml", [
            ("simulation.engine", engine), ("colonization.detectable_diameter_mm", 0.1),
            ("intervention", [{"kind": "local", "day": 25.0, "organ": "lung",
                               "efficacy": 1.0, "target": target}])])
        out = []
        for p in run_replicates(sc, 4, 3, progress=False).patients:
            (detail,) = [e["detail"] for e in p.events if e["event"] == "local_therapy"]
            match = re.search(r": (\S+) cells killed", detail)
            assert match is not None
            out.append(float(match.group(1)))
        return out

    every, detectable = killed("all"), killed("detectable")
    assert all(a >= d for a, d in zip(every, detectable, strict=True))
    assert any(a > d for a, d in zip(every, detectable, strict=True))
