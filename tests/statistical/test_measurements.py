"""The CTC measurement at diagnosis (sim.biology.measurements): its mean follows from the
entry rate, the clearance half-life and the blood volume; the count is Poisson around it;
and measuring never changes the patient's course."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim import MetastasisModel
from sim.biology.anatomy import ORGAN_KEYS
from sim.biology.measurements import (
    BLOOD_VOLUME_ML,
    MARROW_NUCLEATED_CELLS,
    MARROW_SAMPLE_CELLS,
    NODE_METASTASIS_MIN_DIAMETER_MM,
    ctc_per_sample_expected,
    dtc_per_aspirate_expected,
)
from sim.biology.units import diameter_to_cells
from sim.config.loading import load_scenario
from sim.engine.model import initiated_at_diagnosis, resected_at_diagnosis
from sim.engine.results import diagnosis_snapshot
from sim.experiments.seeds import patient_generator, replicate_stream


def test_expected_ctcs_follow_the_residence_model():
    """10^6 cells a day with a 1.7 h half-life (mean residence 1.7 / ln 2 h) in a woman's
    3.9 L: 10^6 x (1.7 / ln 2 / 24) x 7.5 / 3900 CTCs in 7.5 mL; doubling the half-life or
    halving the volume doubles it."""
    base = ctc_per_sample_expected(1e6, 1.7, "female")
    assert base == pytest.approx(1e6 * 1.7 / math.log(2) / 24 * 7.5 / 3900)
    assert ctc_per_sample_expected(1e6, 3.4, "female") == pytest.approx(2 * base)
    assert ctc_per_sample_expected(1e6, 1.7, "male") == pytest.approx(
        base * BLOOD_VOLUME_ML["female"] / BLOOD_VOLUME_ML["male"])
    # Cells retained by the first capillary bed never reach an arm vein: only the passing
    # share is sampled.
    assert ctc_per_sample_expected(1e6, 1.7, "female", retained_share=0.917) == \
        pytest.approx(0.083 * base)


def test_expected_dtcs_follow_the_marrow_sampling_model():
    """An aspirate of 2e6 of the marrow's 7.5e11 nucleated cells (Braun 2005; Harrison 1962)
    holds on average that share of the marrow's tumour cells."""
    assert dtc_per_aspirate_expected(7.5e5) == pytest.approx(
        7.5e5 * MARROW_SAMPLE_CELLS / MARROW_NUCLEATED_CELLS)
    assert dtc_per_aspirate_expected(7.5e5) == pytest.approx(2.0)


def test_ctc_counts_are_poisson_around_their_mean(small_scenario_path):
    """Over 40 diagnosed patients the summed counts are Poisson with the summed means
    (|z| < 4.4: false-failure rate 1e-5), and each patient's mean is the model's at the
    step of diagnosis."""
    sc = load_scenario(small_scenario_path, [("primary.diagnosis_diameter_mm", 5.4),
                                             ("primary.shedding_rate_per_gram_per_day", 1.2e6),
                                             ("population.shedding_log_sd", 0.5),
                                             ("population.doubling_time_log_sd", 0.0),
                                             ("population.diagnosis_diameter_log_sd", 0.0)])
    counts, means = [], []
    for i in range(40):
        m = MetastasisModel(sc, rng=patient_generator(31, i)).run()
        assert m.diagnosis is not None
        counts.append(m.diagnosis["ctc_per_7_5ml"])
        means.append(m.diagnosis["ctc_per_7_5ml_expected"])
        assert means[-1] == pytest.approx(ctc_per_sample_expected(
            m.diagnosis["ctc_entering_blood_per_day"], sc.circulation.ctc_half_life_hours,
            sc.sex, sc.circulation.arrest_probability_per_pass))
        assert m.diagnosis["dtc_per_aspirate_expected"] == pytest.approx(
            dtc_per_aspirate_expected(m.diagnosis["bone_marrow_dtc_cells"]))
    total, mu = sum(counts), sum(means)
    assert mu > 20, "too few CTCs for the test to say anything"
    assert abs(total - mu) / math.sqrt(mu) < 4.4


def test_measuring_does_not_change_the_course(small_scenario_path, monkeypatch):
    """The sample is drawn from a stream of its own: the same patient with the blood sample
    skipped has the same course, number for number."""
    over = {"primary.diagnosis_diameter_mm": 5.4}
    seen = MetastasisModel(small_scenario_path, rng=patient_generator(5), overrides=over).run()
    assert seen.diagnosis is not None and "ctc_per_7_5ml" in seen.diagnosis

    def skip(model):
        model._measure_at_step_end = False

    monkeypatch.setattr(MetastasisModel, "_measure_at_diagnosis", skip)
    unseen = MetastasisModel(small_scenario_path, rng=patient_generator(5), overrides=over).run()
    assert unseen.diagnosis is not None and "ctc_per_7_5ml" not in unseen.diagnosis
    a, b = seen.result(), unseen.result()
    assert a.reached == b.reached and a.lost == b.lost and a.timeseries == b.timeseries


def test_node_involvement_needs_a_nodal_metastasis_of_at_least_0_2_mm(small_scenario_path):
    """pN1mi (AJCC 8th edition): a regional-node colony just below 0.2 mm leaves the nodes
    negative, one at 0.2 mm makes them positive; a colony elsewhere does not count."""
    m = MetastasisModel(small_scenario_path, rng=patient_generator(1))
    threshold = diameter_to_cells(NODE_METASTASIS_MIN_DIAMETER_MM)
    regional, lung = ORGAN_KEYS.index("regional_lymph_nodes"), ORGAN_KEYS.index("lung")
    m.colonies.found(lung, 0, 1, 1, "solitary", 0.0)
    big_elsewhere = next(iter(m.colonies))
    big_elsewhere.cells = 10 * threshold
    assert diagnosis_snapshot(m, 0.0)["node_positive"] == 0.0
    m.colonies.found(regional, 0, 1, 1, "solitary", 0.0)
    node = next(c for c in m.colonies if c.organ == regional)
    node.cells = math.floor(threshold * 0.99)
    assert diagnosis_snapshot(m, 0.0)["node_positive"] == 0.0
    node.cells = math.ceil(threshold)
    assert diagnosis_snapshot(m, 0.0)["node_positive"] == 1.0


def test_the_resected_twin_is_the_same_patient_until_diagnosis(small_scenario_path):
    """"Initiated at diagnosis" compares a patient with its twin whose primary is removed at
    diagnosis: on the same stream the twin's course is identical up to diagnosis (the same
    diagnosis record, measurements included) and differs only after it."""
    sc = load_scenario(small_scenario_path, [("primary.diagnosis_diameter_mm", 5.4),
                                             ("population.heterogeneity", False),
                                             ("simulation.horizon_days", 120.0)])
    for i in range(3):
        main = MetastasisModel(sc, rng=np.random.default_rng(replicate_stream(4, i))).run()
        twin = MetastasisModel(resected_at_diagnosis(sc),
                               rng=np.random.default_rng(replicate_stream(4, i))).run()
        assert main.diagnosis is not None
        assert twin.diagnosis == main.diagnosis
        assert twin.clinic.resection_day is not None and twin.primary.cells == 0.0
        assert initiated_at_diagnosis(sc, replicate_stream(4, i)) == (
            twin.colonies.first_distant_detectable_day is not None)
