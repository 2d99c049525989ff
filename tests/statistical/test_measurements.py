"""The CTC measurement at diagnosis (sim.biology.measurements): its mean follows from the
entry rate, the clearance half-life and the blood volume; the count is Poisson around it;
and measuring never changes the patient's course."""

from __future__ import annotations

import math

import pytest

from sim import MetastasisModel
from sim.biology.measurements import BLOOD_VOLUME_ML, ctc_per_sample_expected
from sim.config.loading import load_scenario
from sim.experiments.seeds import patient_generator


def test_expected_ctcs_follow_the_residence_model():
    """10^6 cells a day with a 1.7 h half-life (mean residence 1.7 / ln 2 h) in a woman's
    3.9 L: 10^6 x (1.7 / ln 2 / 24) x 7.5 / 3900 CTCs in 7.5 mL; doubling the half-life or
    halving the volume doubles it."""
    base = ctc_per_sample_expected(1e6, 1.7, "female")
    assert base == pytest.approx(1e6 * 1.7 / math.log(2) / 24 * 7.5 / 3900)
    assert ctc_per_sample_expected(1e6, 3.4, "female") == pytest.approx(2 * base)
    assert ctc_per_sample_expected(1e6, 1.7, "male") == pytest.approx(
        base * BLOOD_VOLUME_ML["female"] / BLOOD_VOLUME_ML["male"])


def test_ctc_counts_are_poisson_around_their_mean(small_scenario_path):
    """Over 40 diagnosed patients the summed counts are Poisson with the summed means
    (|z| < 4.4: false-failure rate 1e-5), and each patient's mean is the model's at the
    step of diagnosis."""
    sc = load_scenario(small_scenario_path, [("primary.diagnosis_diameter_mm", 5.4),
                                             ("primary.shedding_rate_per_gram_per_day", 1e5),
                                             ("population.shedding_log_sd", 1.0)])
    counts, means = [], []
    for i in range(40):
        m = MetastasisModel(sc, rng=patient_generator(31, i)).run()
        assert m.diagnosis is not None
        counts.append(m.diagnosis["ctc_per_7_5ml"])
        means.append(m.diagnosis["ctc_per_7_5ml_expected"])
        assert means[-1] == pytest.approx(ctc_per_sample_expected(
            m.diagnosis["ctc_entering_blood_per_day"], sc.circulation.ctc_half_life_hours,
            sc.sex))
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
