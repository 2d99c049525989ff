"""Injection experiments: the generic mechanism and the Luzzi 1998 liver assay."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from sim import MetastasisModel, ScenarioError, make_scenario
from sim.apps.cli import main
from sim.config.loading import load_scenario
from sim.experiments.replicates import run_replicates

from ..stats import binomial_p

ASSAY = "experiments/luzzi_liver_assay"


def _injected(entry: str, cells: int = 20_000, **extra) -> MetastasisModel:
    data = {"hypothesis": "ewing", "primary": {"site": "melanoma", "present": False},
            "injection": [{"entry": entry, "cells": cells, "day": 1.0}],
            "assay": {"report_days": [2.0]}, "simulation": {"horizon_days": 3.0, **extra}}
    return MetastasisModel(data, rng=5).run()


def test_injected_cells_are_conserved_and_the_primary_is_absent():
    """Every injected cell is alive or lost at the end, and with no primary nothing is
    shed."""
    model = _injected("portal")
    shed, alive, lost = model.conservation()
    assert shed == 20_000 == alive + lost
    assert model.primary.cells == 0 and model.ledger.shed_total == 0


@pytest.mark.parametrize(("entry", "first"), [("portal", "liver"), ("caval", "lung"),
                                              ("vertebral", "bone")])
def test_the_first_capillary_bed_holds_most_injected_cells(entry, first):
    """Tail vein -> lungs, mesenteric vein -> liver, Batson's plexus -> spine (~92 %): the
    first bed holds the most cells, and the number arrested there fits the circulation
    chain's absorption probability for that entry (exact binomial test over the 20,000
    injected cells, p > 1e-6: the false-failure rate). Cells sent to the wrong entry or
    chain fail; the old tolerance of +-1 % was five standard errors picked by hand."""
    from sim.biology.delivery import chain_for

    model = _injected(entry)
    snap = model.assay[0]
    arrested = {k.removeprefix("arrested_"): v for k, v in snap.items()
                if k.startswith("arrested_")}
    assert max(arrested, key=arrested.get) == first
    expected = chain_for(model.scenario).absorption_by_name(entry)[f"arrest:{first}"]
    n = 20_000  # the cells _injected puts in
    count = round(arrested[first] * n)
    assert binomial_p(count, n, expected) > 1e-6, (count, expected)


def test_injection_is_validated():
    """Unknown entry points, empty injections, injections after the horizon and an assay
    without an injection are refused with the key named."""
    with pytest.raises(ScenarioError, match=r"injection\.0\.entry"):
        make_scenario({"injection": [{"entry": "tail", "cells": 10}]})
    with pytest.raises(ScenarioError, match=r"injection\.0\.cells"):
        make_scenario({"injection": [{"entry": "caval", "cells": 0}]})
    with pytest.raises(ScenarioError, match=r"after simulation\.horizon_days"):
        make_scenario({"injection": [{"entry": "caval", "cells": 5, "day": 50.0}],
                       "simulation": {"horizon_days": 10.0}})
    with pytest.raises(ScenarioError, match="add an \\[\\[injection\\]\\]"):
        make_scenario({"assay": {"report_days": [3.0]}})


@pytest.mark.slow
def test_luzzi_assay_within_a_factor_of_two_of_the_paper():
    """Luzzi et al. 1998 (Am J Pathol 153:865), B16F1 cells into the mesenteric vein.

    Most rates of the assay scenario were derived from this paper's fractions (see the file),
    so this checks that the time-resolved model reproduces them at the right days; the
    day-13 macrometastasis fraction is a calibration target (switch rate), checked here for
    consistency. The factor of two is the agreement the model is held to (the paper
    reports fractions of a few mice, not their errors), not a statistical tolerance. What is
    statistical is that the simulated mean is known well enough to judge: the whole 99.9 %
    interval of each mean over the 20 replicates (mean +- 3.29 standard errors) must lie
    inside the band, so a model whose mean sits on the band's edge fails rather than
    passing by the luck of the seed.
    """
    run = run_replicates(load_scenario(ASSAY), seed=1998)
    values = {
        "arrested_liver day 3": ([p.assay[0]["arrested_liver"] for p in run.patients], 0.87),
        "extravasated day 3": ([p.assay[0]["extravasated"] for p in run.patients], 0.83),
        "micrometastases day 3": ([p.assay[0]["micrometastases_founded"] for p in run.patients],
                                  0.025),
        "dormant day 13": ([p.assay[1]["solitary_dormant"] for p in run.patients], 0.36),
        "macrometastases day 13": ([p.assay[1]["in_macrometastases"] for p in run.patients],
                                   0.0002),
    }
    z = 3.29  # two-sided 99.9 %
    for name, (xs, published) in values.items():
        x = np.asarray(xs)
        se = x.std(ddof=1) / np.sqrt(len(x))
        low, high = x.mean() - z * se, x.mean() + z * se
        assert published / 2 <= low and high <= published * 2, (name, low, high, published)


@pytest.mark.slow
def test_run_reports_the_assay_in_summary_json(tmp_path):
    """`metasim run` of the assay writes the report days and, per quantity, a mean inside
    its interval."""
    out = tmp_path / "luzzi"
    res = CliRunner().invoke(main, ["run", ASSAY, "--replicates", "3", "--out", str(out)])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    days = [row["day"] for row in summary["assay"]["report"]]
    assert days == [3.0, 13.0]
    row = summary["assay"]["report"][0]
    for key in ("arrested", "arrested_liver", "extravasated", "solitary_dormant",
                "in_micrometastases", "in_macrometastases"):
        assert row[key]["low"] <= row[key]["mean"] <= row[key]["high"]


def test_an_injection_experiment_is_not_framed_as_a_patient(tmp_path):
    """An injection is not a patient: the Luzzi assay used to be reported as a melanoma
    patient (an autopsy table of zeros, a flat 'primary' panel). With no primary tumour there
    is no autopsy comparison and figures name the injection."""
    import csv

    out = tmp_path / "luzzi"
    res = CliRunner().invoke(main, ["run", "experiments/luzzi_liver_assay", "--replicates", "1",
                                    "--workers", "1", "--out", str(out)],
                             catch_exceptions=False)
    assert res.exit_code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["autopsy_reference"]["site_frequency"] is None
    with (out / "sites.csv").open() as fh:
        assert all(row["autopsy_fraction"] == "" for row in csv.DictReader(fh))
    assert "at autopsy" not in res.output and "Fates of injected cells" in res.output
