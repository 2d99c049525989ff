"""The model: conservation, reproducibility, engines that agree, the hypotheses' effects."""

from __future__ import annotations

import numpy as np
import pytest

from sim import FUNNEL_STAGES, MetastasisModel
from sim.config.loading import load_scenario
from sim.engine.agents import Phase, Stage
from sim.engine.model import simulate
from sim.experiments.seeds import replicate_streams

ENGINES = [({"simulation.aggregate": True}, "aggregated"),
           ({"simulation.aggregate": False}, "single-cell"),
           ({"simulation.circulation": "walk"}, "walk")]


@pytest.mark.parametrize(("overrides", "name"), ENGINES)
def test_every_shed_cell_is_in_exactly_one_place_at_every_step(small_scenario_path, overrides,
                                                               name):
    """Conservation at every step end, for each engine: cells shed = cells alive + cells
    lost, and no stage loses more cells than reached it. The run reaches macrometastasis,
    so every stage's bookkeeping is exercised."""
    model = MetastasisModel(small_scenario_path, rng=11, overrides=overrides)
    steps = 0
    while model.running:
        model.step()
        steps += 1
        shed, alive, lost = model.conservation()
        assert shed == alive + lost, (name, steps)
        # Stage counters are consistent: nothing is lost at a stage it never reached.
        assert (model.ledger.lost <= model.ledger.reached).all()
    assert steps == 30
    assert model.ledger.shed_total > 1000
    assert model.ledger.reached[FUNNEL_STAGES.index("macrometastasis")] > 0


def test_conservation_on_a_full_breast_course():
    """Conservation holds over a long course with ~10^10 cells shed (9e9 on this seed) (aggregated cohorts,
    colonies and their shedding all active): the breast patient shedding at the rat tumour's
    3.2e6 cells per gram per day (Butler & Gullino 1975), ~250x its calibrated rate."""
    model = MetastasisModel("breast", rng=3, overrides={"simulation.horizon_days": 400,
                                                        "primary.initial_diameter_mm": 10.0,
                                                        "primary.shedding_rate_per_gram_per_day": 3.2e6,
                                                        "primary.shedding_mass_exponent": 1.0,
                                                        "population.heterogeneity": False})
    model.run()
    shed, alive, lost = model.conservation()
    assert shed == alive + lost and shed > 5e9


def test_same_seed_gives_identical_results_and_different_seeds_differ(small_scenario_path):
    """A seed fixes the whole course; another seed gives another course (a model that
    ignored its seed, or drew from a global generator, fails one of the two)."""
    sc = load_scenario(small_scenario_path)
    a = simulate(sc, np.random.SeedSequence(5))
    b = simulate(sc, np.random.SeedSequence(5))
    c = simulate(sc, np.random.SeedSequence(6))
    assert a == b
    assert a.reached != c.reached


def test_model_rng_accepts_int_generator_and_seed_sequence(small_scenario_path):
    """A SeedSequence and a Generator made from it give the same course, and an int seed
    is reproducible: one randomness convention."""
    r1 = MetastasisModel(small_scenario_path, rng=np.random.SeedSequence(3)).run().result()
    r2 = MetastasisModel(small_scenario_path,
                         rng=np.random.default_rng(np.random.SeedSequence(3))).run().result()
    assert r1 == r2
    assert MetastasisModel(small_scenario_path, rng=4).run().result() == \
        MetastasisModel(small_scenario_path, rng=4).run().result()


def test_lethal_burden_ends_the_course():
    """A tumour burden above the lethal threshold ends the course before the horizon."""
    model = MetastasisModel({"primary": {"initial_diameter_mm": 100.0},
                             "simulation": {"lethal_burden_cells": 6e11, "dt_days": 5.0}}, rng=1)
    model.run()
    assert model.died
    assert model.day < model.horizon_days


def test_data_collector_records_the_named_quantities(small_scenario_path):
    """Mesa's DataCollector records the named quantities from day 0 to the horizon, and
    the primary grows over the course."""
    model = MetastasisModel(small_scenario_path, rng=2).run()
    mv = model.datacollector.model_vars
    assert {"primary_cells", "ctc_entered_per_day", "dormant_cells",
            "colonies_by_organ"} <= set(mv)
    assert mv["day"][0] == 0.0 and mv["day"][-1] == pytest.approx(30.0)
    assert mv["primary_cells"][-1] > mv["primary_cells"][0]


def test_agents_are_mesa_agents_with_counts(small_scenario_path):
    """Lodged cells are Mesa agents carrying a count: aggregated, at most one cohort per
    (stage, organ, clone, unit size); with aggregation off every agent is one cell."""
    model = MetastasisModel(small_scenario_path, rng=2)
    for _ in range(10):
        model.step()
    cohorts = [a for a in model.agents if hasattr(a, "count")]
    assert cohorts and all(a.count >= 1 for a in cohorts)
    assert {a.stage for a in cohorts} <= {Stage.ARRESTED, Stage.SOLITARY, Stage.DORMANT}
    # Aggregation: at most one cohort per (stage, organ, clone, unit size).
    keys = [(a.stage, a.organ, a.clone, a.cluster_size) for a in cohorts]
    assert len(keys) == len(set(keys))
    single = MetastasisModel(small_scenario_path, rng=2,
                             overrides={"simulation.aggregate": False})
    for _ in range(10):
        single.step()
    assert all(a.count == 1 for a in single.agents if hasattr(a, "count"))


def test_colony_phases_progress_in_order(small_scenario_path):
    """A vascularised colony switched on or after the day it was founded, and a live colony
    holds at least one cell; the run has macrometastases, so the check is not vacuous."""
    model = MetastasisModel(small_scenario_path, rng=5).run()
    macro = [c for c in model.colonies if c.phase is Phase.MACRO]
    assert macro
    for c in macro:
        assert c.switched_day is not None and c.switched_day >= c.founded_day
    assert all(c.cells >= 1 for c in model.colonies)


def test_metastases_shed_cells_into_their_outflow():
    """Vascularised colonies shed like the primary (by mass) into their organ's drainage."""
    model = MetastasisModel("breast", rng=4, overrides={
        "simulation.horizon_days": 500, "colonization.competence": 1e-3,
        "colonization.angiogenic_switch_rate_per_day": 0.1,
        # From 5 mm, every seed equally competent: as this course was sized.
        "primary.initial_diameter_mm": 5.0, "primary.seed_competence_exponent": 0.0})
    model.run()
    assert any(c.phase is Phase.MACRO for c in model.colonies)
    assert model.ledger.shed_by_metastases > 0
    shed, alive, lost = model.conservation()
    assert shed == alive + lost


def test_walk_copes_with_cavity_probabilities_that_round_below_zero():
    """Regression: cavity probabilities whose remainder rounds below zero crashed the
    step-by-step walk; the course now runs and conserves cells."""
    model = MetastasisModel({"primary": {"site": "ovary"}, "cavity": {
        "implantation_probability": 0.676, "lymphatic_drainage_probability": 0.324},
        "simulation": {"circulation": "walk", "horizon_days": 5}}, rng=1)
    model.run()
    shed, alive, lost = model.conservation()
    assert shed > 0 and shed == alive + lost


def test_colonies_below_the_avascular_limit_can_be_detected(small_scenario_path):
    """With a detection size below the avascular limit, avascular colonies are detected
    too (detection is by size, not by phase)."""
    model = MetastasisModel(small_scenario_path, rng=3, overrides={
        "colonization.detectable_diameter_mm": 0.05})
    model.run()
    detected = [c for c in model.colonies if c.detected_day is not None]
    assert detected and model.colonies.first_detectable_day is not None
    assert any(c.phase is not Phase.MACRO for c in detected)


def test_diagnosis_is_recorded_when_the_primary_reaches_its_size():
    """The diagnosis event fires once, the first step the primary is at least the diagnosis
    size, and records the disseminated disease then; a course that starts above the size is
    diagnosed at day 0 with nothing disseminated yet."""
    from sim.biology.units import diameter_to_cells

    model = MetastasisModel("breast", rng=5, overrides={
        "primary.initial_diameter_mm": 5.0, "primary.diagnosis_diameter_mm": 8.0,
        "simulation.horizon_days": 400, "population.heterogeneity": False})
    model.run()
    d = model.result().diagnosis
    assert d is not None and 0 < d["day"] < 400
    assert d["primary_cells"] >= diameter_to_cells(8.0)
    # Shedding at the calibrated rate disseminates cells long before 8 mm.
    assert d["disseminated_cells"] >= d["distant_cells"] > 0
    late = MetastasisModel("breast", rng=5, overrides={
        "primary.initial_diameter_mm": 5.0, "primary.diagnosis_diameter_mm": 150.0,
        "simulation.horizon_days": 50, "population.heterogeneity": False})
    assert late.run().result().diagnosis is None
    early = MetastasisModel("breast", rng=5, overrides={
        "primary.initial_diameter_mm": 20.0, "simulation.horizon_days": 5,
        "population.heterogeneity": False})
    d0 = early.result().diagnosis
    assert d0["day"] == 0.0 and d0["disseminated_cells"] == 0.0


def test_at_diagnosis_summary_counts_patients_with_disease():
    """The at-diagnosis summary counts, for each kind of disease, the diagnosed patients
    that have it (from each patient's diagnosis record), with the project's one interval
    rule; undiagnosed patients are counted apart. Six patients, two of whom never reach the
    diagnosis size in a 60-day course."""
    from sim.analysis import at_diagnosis
    from sim.analysis.intervals import proportion_interval

    # The median breast patient (its growth sets who reaches the diagnosis size in time).
    sc = load_scenario("breast", ["primary.initial_diameter_mm=5.0",
                                  "simulation.horizon_days=300", "population.heterogeneity=false"])
    short = load_scenario("breast", ["primary.initial_diameter_mm=5.0",
                                     "simulation.horizon_days=60",
                                     "population.heterogeneity=false"])
    patients = [simulate(sc if i < 4 else short, s, i)
                for i, s in enumerate(replicate_streams(4, 6))]
    diagnosed = [p.diagnosis for p in patients if p.diagnosis is not None]
    summ = at_diagnosis(patients)
    assert summ["patients_diagnosed"] == len(diagnosed) == 4
    assert summ["patients_not_diagnosed"] == 2
    for name, key in (("disseminated", "disseminated_cells"), ("distant", "distant_cells"),
                      ("with_micrometastasis", "colonies"),
                      ("with_detectable_metastasis", "detectable")):
        k = sum(d[key] > 0 for d in diagnosed)
        assert summ[f"fraction_{name}"] == k / 4, name
        low, high = proportion_interval(k, 4)
        assert (summ[f"fraction_{name}_low"], summ[f"fraction_{name}_high"]) == (low, high)
    # Shedding at the published rate disseminates cells before 8 mm in every patient.
    assert summ["fraction_disseminated"] == 1.0


def test_results_do_not_depend_on_the_number_of_worker_processes(small_scenario_path):
    """Replicate streams are derived from the seed alone: serial and two worker processes
    give identical patients."""
    from sim.experiments.executors import ProcessExecutor
    from sim.experiments.replicates import run_replicates

    sc = load_scenario(small_scenario_path)
    serial = run_replicates(sc, 4, 9, progress=False)
    parallel = run_replicates(sc, 4, 9, progress=False, executor=ProcessExecutor(2))
    for a, b in zip(serial.patients, parallel.patients, strict=True):
        assert a.reached == b.reached and a.autopsy_by_organ == b.autopsy_by_organ
        assert a.timeseries == b.timeseries


@pytest.mark.parametrize(("dt", "steps", "last_day"), [(0.1, 500, 50.0), (0.3, 167, 50.1),
                                                        (7.0, 8, 56.0)])
def test_time_is_counted_in_steps(dt, steps, last_day):
    """The day is steps x dt, not a running sum of dt (dt = 0.1 over 3650
    days used to take 36,501 steps and end on day 3650.1). A course takes ceil(horizon / dt)
    steps and ends on the first step boundary at or past the horizon."""
    m = MetastasisModel("presets/breast", rng=1, overrides={
        "simulation.dt_days": dt, "simulation.horizon_days": 50.0,
        "primary.shedding_rate_per_gram_per_day": 0.0})
    m.run()
    assert m.step_count == steps
    assert m.day == pytest.approx(last_day, abs=1e-12)
    assert m.day == m.step_count * dt
