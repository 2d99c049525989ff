"""The model: conservation, reproducibility, engines that agree, the hypotheses' effects."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from sim import FUNNEL_STAGES, MetastasisModel
from sim.config.loading import load_scenario
from sim.engine.agents import Phase, Stage
from sim.engine.model import simulate
from sim.experiments.seeds import replicate_streams

from .stats import binomial_greater_p, same_distribution_p, two_proportions_p

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
    """Conservation holds over a long course with ~10^10 cells shed (aggregated cohorts,
    colonies and their shedding all active)."""
    model = MetastasisModel("breast", rng=3, overrides={"simulation.horizon_days": 400,
                                                        "primary.initial_diameter_mm": 10.0})
    model.run()
    shed, alive, lost = model.conservation()
    assert shed == alive + lost and shed > 1e10


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


def _outputs(patients):
    return {
        **{f"reached_{s}": [p.reached[s] for p in patients]
           for s in ("transit", "arrest", "extravasation", "dormancy", "micrometastasis",
                     "macrometastasis")},
        "lost_transit": [p.lost["transit"] for p in patients],
        "colonies": [sum(p.colonies_by_organ.values()) for p in patients],
    }


@pytest.mark.slow
@pytest.mark.parametrize("other", [{"simulation.aggregate": False},
                                   {"simulation.circulation": "walk"}],
                         ids=["single-cell", "walk"])
def test_aggregated_engine_matches_reference_in_distribution(small_scenario_path, other):
    """Two-sample tests over 200 seeds per engine (independent streams per engine).

    Exactness means every p-value is uniform on [0, 1]; with ~9 outputs tested at a
    Bonferroni-corrected 0.001 / 9 each, a false alarm has probability ~0.1 %. The seeds are
    fixed, so the outcome is deterministic.
    """
    sc = load_scenario(small_scenario_path)
    ref_sc = load_scenario(small_scenario_path, [f"{k}={str(v).lower()}" if isinstance(v, bool)
                                                 else f'{k}="{v}"' for k, v in other.items()])
    n = 200
    agg = [simulate(sc, s, i) for i, s in enumerate(replicate_streams(101, n))]
    ref = [simulate(ref_sc, s, i) for i, s in enumerate(replicate_streams(202, n))]
    oa, orf = _outputs(agg), _outputs(ref)
    alpha = 1e-3 / (len(oa) + 1)
    for key in oa:
        res = stats.mannwhitneyu(oa[key], orf[key])
        assert res.pvalue > alpha, (key, np.mean(oa[key]), np.mean(orf[key]), res.pvalue)
    lung_a = sum(p.colonies_by_organ["lung"] > 0 for p in agg)
    lung_r = sum(p.colonies_by_organ["lung"] > 0 for p in ref)
    table = [[lung_a, n - lung_a], [lung_r, n - lung_r]]
    assert stats.fisher_exact(table).pvalue > alpha, table


def _colonies(scenario, hypothesis, n, horizon_days, seed=1, scale=100):
    """Colonies per organ per patient, with the colonisation hazard raised ``scale``-fold.

    Where colonies form is set by delivery x affinity; the overall colonisation scale only
    sets how many form. Raising it (and shortening the course from a 20 mm primary) gives
    every patient enough colonies for a paired test to have power, without changing the
    question asked.
    """
    base = [f"hypothesis={hypothesis}", f"simulation.horizon_days={horizon_days}",
            "primary.initial_diameter_mm=20.0"]
    sc = load_scenario(scenario, base)
    sc = load_scenario(scenario, [
        *base,
        f"colonization.proliferation_rate_per_day={scale * sc.colonization.proliferation_rate_per_day}",
        f"colonization.awakening_rate_per_day={scale * sc.colonization.awakening_rate_per_day}"])
    patients = [simulate(sc, s, i) for i, s in enumerate(replicate_streams(seed, n))]
    organs = patients[0].colonies_by_organ
    return {o: np.array([p.colonies_by_organ[o] for p in patients]) for o in organs}


def _first_distant(colonies):
    distant = [o for o in colonies if "lymph" not in o]
    return sorted(distant, key=lambda o: -colonies[o].mean())


@pytest.mark.slow
def test_ewing_sends_colorectal_to_the_liver_and_breast_to_the_lungs():
    """Under Ewing's anatomy the first capillary bed collects most colonies: paired one-sided
    Wilcoxon test (same patients, first vs second organ) over 10 patients, p < 0.01."""
    crc = _colonies("colorectal", "ewing", 10, horizon_days=900)
    first, second = _first_distant(crc)[:2]
    assert first == "liver", {o: crc[o].mean() for o in _first_distant(crc)[:4]}
    assert stats.wilcoxon(crc["liver"], crc[second], alternative="greater").pvalue < 0.01
    br = _colonies("breast", "ewing", 10, horizon_days=500)
    first, second = _first_distant(br)[:2]
    assert first == "lung", {o: br[o].mean() for o in _first_distant(br)[:4]}
    assert stats.wilcoxon(br["lung"], br[second], alternative="greater").pvalue < 0.01


@pytest.mark.slow
def test_combined_puts_prostate_bone_above_lung_and_ewing_does_not():
    """Prostate: under combined bone collects more colonies than the lung, under Ewing the
    lung more than bone (paired one-sided Wilcoxon over 10 patients, p < 0.01 each; the
    colonisation hazard raised as in _colonies so that each patient has colonies)."""
    pro = _colonies("prostate", "combined", 10, horizon_days=1200, scale=1000)
    assert stats.wilcoxon(pro["bone"], pro["lung"], alternative="greater").pvalue < 0.01
    ew = _colonies("prostate", "ewing", 10, horizon_days=1200)
    assert stats.wilcoxon(ew["lung"], ew["bone"], alternative="greater").pvalue < 0.01


def test_selection_enriches_the_aggressive_subclone_among_colonies():
    """Cells that complete the cascade are a selected subset: the aggressive clone (5 % of
    the primary and of the cells shed - its shedding trait is 1 - with 5x proliferation and
    2x invasion in the breast preset) founds more than its 5 % share of colonies. One-sided
    exact binomial test of the colonies' clones against 5 %, p < 1e-6 (the rate at which a
    model without selection would pass by luck); a model ignoring the traits fails."""
    model = MetastasisModel("breast", rng=9, overrides={
        "simulation.horizon_days": 600, "colonization.proliferation_rate_per_day": 1e-8,
        "primary.initial_diameter_mm": 10.0})
    clones = model.scenario.primary.subclones
    weights = np.array([c.fraction * c.shedding for c in clones])
    shed_share = float(weights[1] / weights.sum())
    assert shed_share == pytest.approx(0.05)
    model.run()
    clones = [c.clone for c in model.colonies]
    aggressive = int(np.sum(np.array(clones) == 1))
    assert binomial_greater_p(aggressive, len(clones), shed_share) < 1e-6, (aggressive,
                                                                            len(clones))


def test_uniform_delivery_changes_where_cells_arrive_not_how_many(small_scenario_path):
    """Uniform delivery moves arrests between organs but keeps the probability that a cell
    in transit arrests somewhere (the chain's death per pass is the same). Two tests on one
    seed per hypothesis: the arrested fraction of cells in transit does not differ (Fisher
    exact, p > 1e-3: the false-failure rate), and the organs they arrest in do (chi-square
    contingency, p < 1e-6). Counts are divided by the cluster size, since a cluster's cells
    share one fate: conservative, the units are independent."""
    results, by_organ = {}, {}
    for h in ("ewing", "null"):
        model = MetastasisModel(small_scenario_path, rng=1, hypothesis=h).run()
        k = model.scenario.clusters.cells_per_cluster
        results[h] = model.result()
        by_organ[h] = model.ledger.arrested_by_organ // k
    ew, nu = results["ewing"], results["null"]
    assert two_proportions_p(ew.reached["arrest"] // k, ew.reached["transit"] // k,
                             nu.reached["arrest"] // k, nu.reached["transit"] // k) > 1e-3
    assert same_distribution_p(by_organ["ewing"], by_organ["null"]) < 1e-6


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
        "simulation.horizon_days": 500, "colonization.proliferation_rate_per_day": 1e-7,
        "colonization.angiogenic_switch_rate_per_day": 0.1})
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
        "simulation.horizon_days": 400})
    model.run()
    d = model.result().diagnosis
    assert d is not None and 0 < d["day"] < 400
    assert d["primary_cells"] >= diameter_to_cells(8.0)
    # Shedding at the published rate disseminates cells long before 8 mm.
    assert d["disseminated_cells"] >= d["distant_cells"] > 0
    late = MetastasisModel("breast", rng=5, overrides={
        "primary.initial_diameter_mm": 5.0, "primary.diagnosis_diameter_mm": 150.0,
        "simulation.horizon_days": 50})
    assert late.run().result().diagnosis is None
    early = MetastasisModel("breast", rng=5, overrides={
        "primary.initial_diameter_mm": 20.0, "simulation.horizon_days": 5})
    d0 = early.result().diagnosis
    assert d0["day"] == 0.0 and d0["disseminated_cells"] == 0.0


def test_at_diagnosis_summary_counts_patients_with_disease():
    """The at-diagnosis summary counts, for each kind of disease, the diagnosed patients
    that have it (from each patient's diagnosis record), with the project's one interval
    rule; undiagnosed patients are counted apart. Six patients, two of whom never reach the
    diagnosis size in a 60-day course."""
    from sim.analysis import at_diagnosis
    from sim.analysis.intervals import proportion_interval

    sc = load_scenario("breast", ["primary.initial_diameter_mm=5.0",
                                  "simulation.horizon_days=300"])
    short = load_scenario("breast", ["primary.initial_diameter_mm=5.0",
                                     "simulation.horizon_days=60"])
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
    """Issue 12 item 2: the day is steps x dt, not a running sum of dt (dt = 0.1 over 3650
    days used to take 36,501 steps and end on day 3650.1). A course takes ceil(horizon / dt)
    steps and ends on the first step boundary at or past the horizon."""
    m = MetastasisModel("presets/breast", rng=1, overrides={
        "simulation.dt_days": dt, "simulation.horizon_days": 50.0,
        "primary.shedding_rate_per_gram_per_day": 0.0})
    m.run()
    assert m.step_count == steps
    assert m.day == pytest.approx(last_day, abs=1e-12)
    assert m.day == m.step_count * dt
