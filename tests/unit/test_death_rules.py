"""How a course ends: organ failure or the whole-body burden (``clinic.death_causes``, the
rule both engines call), and what the results and the summary say of it; and the blood
sample at a metastatic burden (``clinic.metastatic_burden_reached``)."""

from __future__ import annotations

import numpy as np
import pytest

from sim import MetastasisModel, load_scenario
from sim.analysis.summaries import deaths
from sim.biology.anatomy import ORGAN_KEYS, TARGET_ORGANS
from sim.engine.clinic import (
    WHOLE_BODY,
    cause_of_death,
    death_causes,
    metastatic_burden_reached,
)
from sim.engine.population import PopulationEngine
from sim.engine.results import PatientResult, burden_by_site
from sim.experiments.replicates import batch_engine, run_replicates

from ..conftest import DATA

LUNG, BRAIN, LIVER, REGIONAL = (ORGAN_KEYS.index(o) for o in ("lung", "brain", "liver",
                                                              "regional_lymph_nodes"))


def _organs(**cells: float) -> np.ndarray:
    out = np.zeros(len(ORGAN_KEYS))
    for organ, n in cells.items():
        out[ORGAN_KEYS.index(organ)] = n
    return out


def test_an_organ_fails_at_its_burden_and_before_the_whole_body():
    """Exact cases of the rule: an organ fails when the tumour in it reaches its burden (at
    the burden, not only above it); the primary counts in the organ it grows in and
    nowhere else; lodged single cells count towards the whole body but not towards an
    organ; of two failing organs the one furthest past its burden is named; and the
    whole-body burden (the primary, every colony and the lodged cells) ends the course only
    where no organ failed. A rule that compared with >, forgot the primary's organ, counted
    it in another, counted lodged cells in an organ, left the colonies out of the whole
    body, or put the whole body first fails one of these rows."""
    lethal = np.full(len(ORGAN_KEYS), np.inf)
    lethal[[LUNG, BRAIN, LIVER]] = 100.0, 10.0, 1000.0
    rows = [  # (primary, colonies by organ, lodged, primary organ) -> cause
        (0.0, _organs(brain=10.0), 0.0, -1, BRAIN),
        (0.0, _organs(brain=9.99), 0.0, -1, -1),
        (60.0, _organs(lung=40.0), 0.0, LUNG, LUNG),
        (60.0, _organs(lung=40.0), 0.0, -1, -1),
        (60.0, _organs(liver=990.0), 0.0, LUNG, -1),
        (0.0, _organs(lung=99.0), 5000.0, -1, WHOLE_BODY),
        (0.0, _organs(lung=99.0), 1.0, -1, -1),
        (0.0, _organs(lung=200.0, brain=30.0), 0.0, -1, BRAIN),
        (0.0, _organs(lung=500.0, brain=30.0), 0.0, -1, LUNG),
        (2000.0, _organs(brain=10.0), 0.0, -1, BRAIN),
        (2000.0, _organs(), 0.0, -1, WHOLE_BODY),
        (1100.0, _organs(), 0.0, -1, WHOLE_BODY),           # at the burden exactly
        (600.0, _organs(lung=90.0, bone=500.0), 0.0, -1, WHOLE_BODY),   # colonies count
        (600.0, _organs(lung=90.0, bone=400.0), 0.0, -1, -1),
    ]
    for primary, organs, lodged, host, want in rows:
        got = death_causes(np.array([primary]), organs[None], np.array([lodged]), host,
                           1100.0, lethal)
        assert got.tolist() == [want], (primary, organs[organs > 0], lodged, host)
    assert cause_of_death(BRAIN) == "brain"
    assert cause_of_death(WHOLE_BODY) == "whole_body_burden"
    assert cause_of_death(-1) is None


def test_the_primary_grows_in_its_site_s_organ():
    """A lung primary counts towards the lungs, a colon primary towards the large
    intestine; a breast primary (no organ of the model's) towards none, and a bone sarcoma
    (one bone, not the marrow of the skeleton) towards none either."""
    from sim.engine.clinic import primary_organ_index
    site = {s: load_scenario(f"presets/{s}") for s in ("lung", "colon", "breast",
                                                        "bone_sarcoma")}
    assert primary_organ_index(site["lung"]) == LUNG
    assert primary_organ_index(site["colon"]) == ORGAN_KEYS.index("large_intestine")
    assert primary_organ_index(site["breast"]) == -1
    assert primary_organ_index(site["bone_sarcoma"]) == -1


def test_a_scenario_s_organ_burdens_replace_only_their_own_defaults():
    """Setting the brain's burden keeps the other organs' defaults, and the resolved
    scenario shows every burden in use (so ``metasim params`` and scenario.json do)."""
    default = load_scenario("presets/breast").simulation.organ_lethal_burden_cells
    assert {"brain", "lung", "liver", "bone"} <= set(default)
    sc = load_scenario("presets/breast", [("simulation.organ_lethal_burden_cells",
                                           {"brain": 1e9})])
    burdens = sc.simulation.organ_lethal_burden_cells
    assert burdens["brain"] == 1e9 and burdens["lung"] == default["lung"]
    assert sc.simulation.organ_lethal_cells == burdens


def test_the_metastatic_burden_counts_the_distant_colonies_from_the_burden_on():
    """``metastatic_burden_reached``: the colonies outside the regional nodes, from the
    burden itself (>=); the regional nodes never count."""
    rows = np.array([_organs(lung=600.0, bone=400.0), _organs(lung=999.0),
                     _organs(regional_lymph_nodes=5000.0, lung=999.0)])
    assert metastatic_burden_reached(rows, 1000.0).tolist() == [True, False, False]


def _failing(engine: str, threshold: float) -> list[PatientResult]:
    sc = load_scenario(DATA / "small.toml", [
        ("simulation.engine", engine), ("simulation.horizon_days", 60.0),
        ("simulation.organ_lethal_burden_cells", dict.fromkeys(TARGET_ORGANS, threshold))])
    return run_replicates(sc, 8, 3, progress=False).patients


@pytest.mark.parametrize("engine", ["mesa", "population"])
def test_a_failing_organ_ends_the_course_and_is_named(engine):
    """Both engines, with every organ failing at 3,000 cells of tumour (the small
    scenario's colonies pass that within 60 days): the patients who die, die of an organ;
    the death is logged once, on the last day, naming that organ; the result's
    ``cause_of_death`` is that organ and its burden at the end holds at least 3,000 cells
    there, below the whole-body burden. An engine that ignored the organ burdens (every
    course would run its 60 days), named another organ, or logged the wrong day fails."""
    patients = _failing(engine, 3000.0)
    died = [p for p in patients if p.died]
    assert died
    for p in died:
        assert p.cause_of_death in TARGET_ORGANS
        assert p.burden_at_end[p.cause_of_death] >= 3000.0
        assert p.burden_at_end["primary"] + p.burden_at_end["metastases"] < 1e12
        logged = [e for e in p.events if e["event"] == "death"]
        assert [(e["day"], e["organ"]) for e in logged] == [(p.days, p.cause_of_death)]
        assert logged[0]["detail"].startswith("organ failure")
    for p in patients:
        assert p.died == (p.cause_of_death is not None)
        assert p.died or p.days == 60.0


def _watched_run(overrides: list, watch) -> tuple[list[PatientResult], list]:
    """Breast as shipped, 16 patients over 1,500 days with ``overrides``; after every Python
    step and every quiet stretch the active rows' colonies are drawn to date and ``watch``
    (engine, rows) lists the rows the engine let past a rule."""
    sc = load_scenario("presets/breast", [
        ("population.assess_initiated", False), ("simulation.horizon_days", 1500.0),
        *overrides])
    engine = batch_engine(sc, 3, range(16))
    assert isinstance(engine, PopulationEngine)
    second_half, stretch = engine._second_half, engine._quiet_steps
    late: list = []

    def check() -> None:
        rows = np.flatnonzero(engine.active)
        if len(rows):
            engine._bring_up(rows, engine.step_count - 1)
            late.extend(watch(engine, rows))

    def second_half_and_check(*args) -> None:
        second_half(*args)
        check()

    def stretch_and_check() -> bool:
        ran = stretch()
        if ran:
            check()
        return ran

    engine._second_half = second_half_and_check     # type: ignore[method-assign]
    engine._quiet_steps = stretch_and_check          # type: ignore[method-assign]
    return engine.run(), late


def test_the_population_engine_never_leaves_a_failed_organ_alive():
    """The population engine's micrometastases may wait for an event to grow, and its
    quiet stretches run many steps in one compiled call; neither may carry a patient past an
    organ's failure. Every organ failing at 5x10^5 cells (below the size the waiting
    colonies are kept under, so that waiting ones can reach it): after every Python step
    and every stretch no active patient's organ may hold its lethal burden. Measured on this
    seed: a bound on the waiting colonies that leaves out the organ burdens leaves 13 of the
    16 patients alive past their organ's failure, a stretch that does not check them 12.
    The check draws the colonies, so it changes the courses, not the rule."""
    def failed(engine: PopulationEngine, rows: np.ndarray) -> list:
        over = engine._organ_burden()[rows] >= engine.organ_lethal
        return rows[over.any(axis=1)].tolist()

    results, late = _watched_run(
        [("simulation.organ_lethal_burden_cells", dict.fromkeys(TARGET_ORGANS, 5e5))], failed)
    assert not late
    assert any(r.cause_of_death in TARGET_ORGANS for r in results)


def test_the_population_engine_samples_blood_when_the_metastatic_burden_is_reached():
    """The same watch for the blood sample at a metastatic burden (3x10^5 cells outside the
    regional nodes): after every step and stretch, no active patient has reached it
    unsampled. A stretch that did not look, or a bound that left out the waiting colonies,
    samples late; measured on this seed, without the stretch's check 11 of 16 patients."""
    def unsampled(engine: PopulationEngine, rows: np.ndarray) -> list:
        reached = metastatic_burden_reached(engine._organ_burden()[rows], 3e5)
        return rows[reached & ~engine.burden_sampled[rows]].tolist()

    results, late = _watched_run([("clinical.metastatic_sample_burden_cells", 3e5)],
                                 unsampled)
    assert not late
    sampled = [r for r in results if r.burden_sample is not None]
    assert sampled
    assert all(r.burden_sample["metastatic_cells"] >= 3e5 for r in sampled)


def test_the_mesa_model_samples_blood_on_the_day_the_metastatic_burden_is_reached():
    """Stepped by hand: the sample's day is the first step end at which the colonies outside
    the regional nodes hold the burden (3,000 cells in the small scenario), and its
    ``metastatic_cells`` is that burden; a patient who never reaches it has no sample."""
    sc = load_scenario(DATA / "small.toml", [("simulation.horizon_days", 60.0),
                                             ("clinical.metastatic_sample_burden_cells", 3e3)])
    seen = 0
    for seed in range(4):
        model = MetastasisModel(sc, rng=seed)
        first = None
        while model.running:
            model.step()
            organ = model.colonies.by_organ(len(ORGAN_KEYS), cells=True)
            distant = organ.sum() - organ[REGIONAL]
            if first is None and distant >= 3e3:
                first = (model.day, distant)
        if first is None:
            assert model.burden_sample is None
        else:
            seen += 1
            assert model.burden_sample is not None
            assert (model.burden_sample["day"], model.burden_sample["metastatic_cells"]) \
                == first
            assert model.burden_sample["ctc_per_7_5ml"] >= 0
    assert seen


def _patient(cause: str | None, primary: float, **organs: float) -> PatientResult:
    return PatientResult(
        replicate=0, days=1.0, died=cause is not None, reached={}, lost={},
        lost_in_transit_by_route={}, detectable_by_organ={}, autopsy_by_organ={},
        founded_by_organ={}, colonies_by_organ={}, first_detectable_day=None, shed_total=0,
        shed_by_metastases=0, colonies_founded={}, colonies_survived={},
        cause_of_death=cause, burden_at_end=burden_by_site(primary, _organs(**organs), 5.0))


def test_the_summary_counts_causes_and_where_the_burden_was():
    """``summaries.deaths`` on four made-up patients (one alive): causes counted, the
    metastatic share of the tumour at death (0.1, 0.75, 0.9 -> median 0.75), deaths in
    which the metastases outweigh the primary (2 of 3), and the organ holding most
    metastatic cells per death; the lodged cells are neither primary nor metastases."""
    patients = [_patient("whole_body_burden", 9.0, lung=1.0),
                _patient("brain", 1.0, brain=3.0),
                _patient("liver", 1.0, liver=8.0, bone=1.0),
                _patient(None, 100.0)]
    out = deaths(patients)
    assert out["cause_of_death"] == {"whole_body_burden": 1, "brain": 1, "liver": 1}
    b = out["burden_at_death"]
    assert b["deaths"] == 3
    assert b["median_metastatic_share"] == pytest.approx(0.75)
    assert b["fraction_metastases_outweigh_primary"] == pytest.approx(2 / 3)
    assert b["largest_metastatic_organ"] == {"lung": 1, "brain": 1, "liver": 1}
    assert patients[0].burden_at_end == {"primary": 9.0, "metastases": 1.0, "lodged": 5.0,
                                         "lung": 1.0}


def test_an_organ_failure_is_told_in_plain_words():
    """The timeline's sentence and the app's status name the failing organ (a class sees
    "the tumour in the lungs stopped it working", not "grew too large")."""
    from sim.viz.plain import death_words, event_sentence
    assert "lung" in event_sentence("death", "lung") and "too large" not in \
        event_sentence("death", "lung")
    assert "too large" in event_sentence("death")
    assert "lung" in death_words("lung") and "lung" in death_words("lung", short=True)
    assert "too large" in death_words("whole_body_burden") and death_words(None) == ""
