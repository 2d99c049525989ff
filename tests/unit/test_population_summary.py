"""The population summary of summary.json reports what a clinic would measure, computed from
the patients by its definition: the share diagnosed, the size at diagnosis, synchronous
distant metastases, and survival after diagnosis (Kaplan-Meier)."""

from __future__ import annotations

import pytest

from sim.analysis import population
from sim.analysis.intervals import proportion_interval
from sim.biology.units import diameter_to_cells
from sim.engine.results import PatientResult

YEAR = 365.25


def _patient(i: int, days: float, died: bool, diagnosis: dict | None,
             traits: dict | None = None) -> PatientResult:
    return PatientResult(
        replicate=i, days=days, died=died, reached={}, lost={}, lost_in_transit_by_route={},
        detectable_by_organ={}, autopsy_by_organ={}, founded_by_organ={}, colonies_by_organ={},
        first_detectable_day=None, shed_total=0, shed_by_metastases=0, colonies_founded={},
        colonies_survived={}, diagnosis=diagnosis, traits=traits or {})


def _diagnosis(day: float, diameter_mm: float, distant: int) -> dict:
    return {"day": day, "primary_cells": diameter_to_cells(diameter_mm),
            "distant_detectable": float(distant)}


def test_population_summary_follows_its_definitions():
    """Four diagnosed patients dying 1, 3 and 7 years after diagnosis and one followed 12
    years alive, plus one never diagnosed: survival is 2/4 at 5 years and 1/4 at 10 (no
    censoring before 10 years, so Kaplan-Meier is the plain fraction); one of four has a
    distant metastasis at diagnosis; the median size at diagnosis is the median of the four."""
    patients = [
        _patient(0, 100 + 1 * YEAR, True, _diagnosis(100, 10, 0), {"doubling_time_days": 50.0}),
        _patient(1, 100 + 3 * YEAR, True, _diagnosis(100, 20, 2), {"doubling_time_days": 100.0}),
        _patient(2, 100 + 7 * YEAR, True, _diagnosis(100, 30, 0), {"doubling_time_days": 200.0}),
        _patient(3, 100 + 12 * YEAR, False, _diagnosis(100, 40, 0), {"doubling_time_days": 400.0}),
        _patient(4, 3650, False, None, {"doubling_time_days": 800.0}),
    ]
    out = population(patients)
    assert out["patients"] == 5
    assert out["diagnosed"]["fraction"] == pytest.approx(4 / 5)
    assert (out["diagnosed"]["low"], out["diagnosed"]["high"]) == proportion_interval(4, 5)
    assert out["size_at_diagnosis_mm"]["median"] == pytest.approx(25.0)
    assert out["synchronous_distant_metastasis"]["fraction"] == pytest.approx(0.25)
    assert out["survival_from_diagnosis"]["5y"]["survival"] == pytest.approx(0.5)
    assert out["survival_from_diagnosis"]["10y"]["survival"] == pytest.approx(0.25)
    s5 = out["survival_from_diagnosis"]["5y"]
    assert s5["low"] < 0.5 < s5["high"] and s5["followed_that_long"] == 2
    assert out["traits"]["doubling_time_days"]["median"] == pytest.approx(200.0)


def test_population_summary_without_diagnosed_patients_reports_only_what_exists():
    out = population([_patient(0, 30, False, None)])
    assert out["diagnosed"]["fraction"] == 0.0 and "survival_from_diagnosis" not in out


def test_ctc_shares_count_the_sampled_patients():
    """Samples of 0, 1, 4 and 9 CTCs: 3 of 4 have >= 1 and 1 of 4 has >= 5, with the Wilson
    interval of those counts."""
    patients = [_patient(i, 400, False, {**_diagnosis(100, 20, 0), "ctc_per_7_5ml": c})
                for i, c in enumerate((0.0, 1.0, 4.0, 9.0))]
    ctc = population(patients)["ctc_per_7_5ml_at_diagnosis"]
    assert ctc["at_least_1"]["fraction"] == pytest.approx(0.75)
    assert ctc["at_least_5"]["fraction"] == pytest.approx(0.25)
    assert (ctc["at_least_5"]["low"], ctc["at_least_5"]["high"]) == proportion_interval(1, 4)
    assert ctc["median"] == pytest.approx(2.5)


def test_node_involvement_is_counted_by_size_class_and_marrow_by_aspirate():
    """Node involvement by the primary's size class (<= 20, 20-50, > 50 mm: each patient in
    exactly one class) and DTC-positive aspirates (>= 1 tumour cell), with Wilson intervals."""
    rows = [(15, 0, 0.0), (18, 1, 2.0), (25, 1, 0.0), (40, 0, 1.0), (45, 1, 0.0), (60, 1, 3.0)]
    patients = [_patient(i, 400, False, {**_diagnosis(100, size, 0), "primary_diameter_mm": size,
                                         "node_positive": float(n), "dtc_per_aspirate": d})
                for i, (size, n, d) in enumerate(rows)]
    out = population(patients)
    nodes = out["node_positive_at_diagnosis"]
    assert nodes["all"]["fraction"] == pytest.approx(4 / 6)
    assert (nodes["up_to_20_mm"]["patients"], nodes["up_to_20_mm"]["of"]) == (1, 2)
    assert (nodes["20_to_50_mm"]["patients"], nodes["20_to_50_mm"]["of"]) == (2, 3)
    assert (nodes["over_50_mm"]["patients"], nodes["over_50_mm"]["of"]) == (1, 1)
    dtc = out["dtc_positive_marrow_at_diagnosis"]
    assert dtc["fraction"] == pytest.approx(3 / 6)
    assert (dtc["low"], dtc["high"]) == proportion_interval(3, 6)


def test_initiated_and_metastatic_samples_count_only_assessed_patients():
    """"Initiated at diagnosis" counts the patients whose twin was run (None = not
    assessed); CTCs when metastatic count the patients who had a distant metastasis."""
    patients = []
    for i, (twin, sample) in enumerate([(True, 7.0), (False, None), (True, 2.0), (None, None)]):
        p = _patient(i, 400, False, _diagnosis(100, 20, 0))
        p.initiated_at_diagnosis = twin
        p.metastatic_sample = None if sample is None else {"day": 300.0, "ctc_per_7_5ml": sample}
        patients.append(p)
    out = population(patients)
    assert (out["initiated_at_diagnosis"]["patients"], out["initiated_at_diagnosis"]["of"]) == (2, 3)
    met = out["ctc_per_7_5ml_when_metastatic"]
    assert met["at_least_1"]["fraction"] == 1.0 and met["at_least_5"]["fraction"] == 0.5


def test_median_survival_is_the_kaplan_meier_median():
    """Deaths 1, 2, 3 and 4 years after diagnosis: the Kaplan-Meier curve first falls to one
    half at 2 years; with a fifth patient alive at 10 years it falls below one half at 3."""
    patients = [_patient(i, 100 + y * YEAR, True, _diagnosis(100, 20, 0))
                for i, y in enumerate((1, 2, 3, 4))]
    assert population(patients)["median_survival_from_diagnosis_years"]["median"] == \
        pytest.approx(2.0)
    patients.append(_patient(9, 100 + 10 * YEAR, False, _diagnosis(100, 20, 0)))
    assert population(patients)["median_survival_from_diagnosis_years"]["median"] == \
        pytest.approx(3.0)


def test_survival_after_every_patient_died_is_zero_not_missing():
    """Deaths 1, 2 and 3 years after diagnosis and nobody left: survival at 5 years is 0
    (not "not followed"), with the exact interval for 0 survivors of the one patient still
    followed at the last death."""
    patients = [_patient(i, 100 + y * YEAR, True, _diagnosis(100, 20, 0))
                for i, y in enumerate((1, 2, 3))]
    s5 = population(patients)["survival_from_diagnosis"]["5y"]
    assert s5["survival"] == 0.0 and s5["low"] == 0.0
    assert s5["high"] == pytest.approx(1 - 0.025 ** (1 / 1))


def test_an_empty_size_class_has_no_fraction_and_the_summary_is_valid_json():
    """Every primary at diagnosis below 20 mm: the 20-50 and > 50 mm classes hold nobody,
    their fraction is None (not NaN, which JSON cannot hold), and the summary serialises
    under allow_nan=False as summary.json is written."""
    import json

    patients = [_patient(i, 400, False, {**_diagnosis(100, 12, 0), "primary_diameter_mm": 12.0,
                                         "node_positive": 0.0}) for i in range(3)]
    out = population(patients)
    assert out["node_positive_at_diagnosis"]["over_50_mm"]["fraction"] is None
    assert out["node_positive_at_diagnosis"]["over_50_mm"]["of"] == 0
    json.dumps(out, allow_nan=False)
