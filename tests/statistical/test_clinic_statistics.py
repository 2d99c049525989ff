"""The clinical timeline against distributions and the literature: systemic therapy kills what it
targets, metastasis risk grows with the size at resection (Coumans et al. 2013), late relapse
comes from dormant cells. Fixed seeds; tolerances from the variance."""

from __future__ import annotations

import numpy as np
import pytest
from lifelines.statistics import logrank_test

from sim import MetastasisModel, make_scenario
from sim.config.loading import load_scenario
from sim.experiments.executors import ProcessExecutor
from sim.experiments.replicates import run_replicates

from ..stats import binomial_greater_p

RESECT = "scenarios/clinical/breast_resection_at_diagnosis.toml"


def _systemic(base, dormant_kill_rate_per_day: float):
    return make_scenario(base.to_input(), [("intervention", [
        {"kind": "systemic", "day": 10.0, "duration_days": 15.0,
         "kill_rate_per_day": {"micrometastasis": 0.5, "macrometastasis": 0.5,
                               "solitary": 0.5, "arrested": 0.5,
                               "dormant": dormant_kill_rate_per_day}}])])


def _resected(diameter_mm: float, n: int):
    # Removed at exactly this size (no spread of sizes); the patients differ otherwise.
    sc = load_scenario(RESECT, [f"primary.diagnosis_diameter_mm={diameter_mm}",
                                "population.diagnosis_diameter_log_sd=0",
                                "simulation.horizon_days=2600"])
    return run_replicates(sc, n, 11, progress=False, executor=ProcessExecutor(2)).patients


FIVE_YEARS = 5 * 365.25


COUMANS_RISK_AT_2_7_MM = 0.01



def test_systemic_therapy_kills_proliferating_cells_and_spares_dormant_ones(small_scenario_path):
    """Systemic therapy (kill rate 0.5 per day for 15 days: a cell exposed throughout
    survives with e^-7.5 ~ 6e-4) leaves significantly fewer colonies than no therapy, and a
    dormant kill rate of 0 spares dormant cells: significantly more of them remain than
    under the same therapy with dormant cells killed too. Three patients per arm (seeds 4-6),
    the course ending with the therapy (day 25) so that colonies founded after it do not
    count; the summed counts are compared as Poisson counts (one-sided binomial test of one
    count given the sum, p < 1e-3: a correct model fails on ~1 seed in 1,000). Conservation
    holds at every step, and the therapy's start is logged."""
    from sim.engine.agents import Stage

    base = load_scenario(small_scenario_path, ["simulation.horizon_days=25"])
    arms = {"untreated": base, "treated": _systemic(base, 0.0),
            "killing_dormant": _systemic(base, 0.5)}
    colonies = dict.fromkeys(arms, 0)
    dormant = dict.fromkeys(arms, 0)
    for seed in (4, 5, 6):
        for arm, sc in arms.items():
            m = MetastasisModel(sc, rng=seed)
            while m.running:
                m.step()
                s, al, lo = m.conservation()
                assert s == al + lo
            colonies[arm] += len(m.colonies)
            dormant[arm] += m.cohorts.cells_at(Stage.DORMANT)
            if arm == "treated":
                events = [e["event"] for e in m.result().events if "systemic" in e["event"]]
                assert events[0] == "systemic_start"
    a, b = colonies["untreated"], colonies["treated"]
    assert binomial_greater_p(a, a + b, 0.5) < 1e-3, colonies
    spared, killed = dormant["treated"], dormant["killing_dormant"]
    assert binomial_greater_p(spared, spared + killed, 0.5) < 1e-3, dormant


@pytest.mark.slow
# A known miss, kept visible (strict: a fit that meets Coumans makes this fail until the mark
# goes). The breast preset refitted with seeds that lose competence as the tumour grows
# (exponent 0.75, above the ~0.5 Michaelson implies: competent seeds per day then fall with
# size) has seeded before 2.7 mm in many patients: 23 of 60 relapse within 5 years of a
# resection at 2.7 mm, against Coumans' ~1 %. The resection-by-size risk must become a
# target of the fit (docs/model-and-evidence.md, "Population targets").
@pytest.mark.xfail(strict=True, reason="the refitted breast preset relapses after a 2.7 mm "
                   "resection in 23 of 60 patients within 5 years (Coumans: ~1 %)")
def test_metastasis_risk_grows_with_the_size_at_resection():
    """Coumans et al. 2013 (BMC Cancer 13:283): the 5-year metastasis risk of breast cancer
    falls with the size at removal, ~1 % when removed at <= 2.7 mm. Resection at diagnosis
    at 2.7 and 30 mm, 60 patients each (at 20 mm the calibrated breast patient relapses
    too rarely within 7 years for 60 patients to separate the two): (1) metastasis-free
    survival differs (log-rank, p < 0.01) and in the direction of more relapses after the
    later resection; (2) the relapses within 5 years at 2.7 mm are compatible with a 1 % risk (one-sided exact
    binomial test, p > 1e-3: a model with the published 1 % risk fails on ~1 seed in 1,000,
    and 60 patients reject a risk of ~10 % or more)."""
    small, large = _resected(2.7, 60), _resected(30.0, 60)

    def times(ps):
        t = [((p.relapse_day if p.relapse_day is not None else p.days) - p.resection_day)
             for p in ps]
        e = [p.relapse_day is not None for p in ps]
        return np.array(t), np.array(e)

    ts, es = times(small)
    tl, el = times(large)
    assert logrank_test(ts, tl, es, el).p_value < 0.01
    assert el.sum() > es.sum()
    relapsed = int(np.sum(es & (ts <= FIVE_YEARS)))
    known = int(np.sum((es & (ts <= FIVE_YEARS)) | (ts >= FIVE_YEARS)))  # censored before: out
    assert known >= 50, known
    assert binomial_greater_p(relapsed, known, COUMANS_RISK_AT_2_7_MM) > 1e-3, (relapsed, known)


@pytest.mark.slow
def test_late_relapse_from_dormant_cells():
    """Years after the resection, relapses still happen, and most grow from cells that had
    been dormant. Lodged cells that do not go dormant resolve within days, so a relapsing
    colony founded after the resection woke from dormancy, or came from a cell shed by a
    vascularised metastasis already in the body (the only other source of new cells once the
    primary is gone); a colony founded before the resection can also surface years later,
    after waiting at the avascular limit for its angiogenic switch (a mean year)."""
    ps = [p for p in _resected(20.0, 60) if p.relapse_day is not None]
    assert ps
    late = [p for p in ps if p.relapse_day - p.resection_day > 3 * 365]
    assert late, [round((p.relapse_day - p.resection_day) / 365, 1) for p in ps]
    for p in late:
        assert p.relapse_origin == "dormant" or p.relapse_founded_day <= p.resection_day or (
            p.first_macrometastasis_day is not None
            and p.first_macrometastasis_day < p.relapse_founded_day), p
    assert sum(p.relapse_origin == "dormant" for p in late) > len(late) / 2
