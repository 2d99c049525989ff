"""Injection experiments: the generic mechanism and the Luzzi 1998 liver assay."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from sim import MetastasisModel, ScenarioError, make_scenario
from sim.apps.cli import main
from sim.config.scenario import load_scenario
from sim.experiments.replicates import run_replicates

ASSAY = "experiments/luzzi_liver_assay"


def _injected(entry: str, cells: int = 20_000, **extra) -> MetastasisModel:
    data = {"hypothesis": "ewing", "primary": {"site": "melanoma", "present": False},
            "injection": [{"entry": entry, "cells": cells, "day": 1.0}],
            "assay": {"report_days": [2.0]}, "simulation": {"horizon_days": 3.0, **extra}}
    return MetastasisModel(data, rng=5).run()


def test_injected_cells_are_conserved_and_the_primary_is_absent():
    model = _injected("portal")
    shed, alive, lost = model.conservation()
    assert shed == 20_000 == alive + lost
    assert model.primary.cells == 0 and model.shed_total == 0


@pytest.mark.parametrize(("entry", "first"), [("portal", "liver"), ("caval", "lung"),
                                              ("vertebral", "bone")])
def test_the_first_capillary_bed_holds_most_injected_cells(entry, first):
    """Tail vein -> lungs, mesenteric vein -> liver, Batson's plexus -> spine (~92 %)."""
    snap = _injected(entry).assay[0]
    arrested = {k.removeprefix("arrested_"): v for k, v in snap.items()
                if k.startswith("arrested_")}
    assert max(arrested, key=arrested.get) == first
    assert arrested[first] == pytest.approx(0.917 * (1 - 0.0027), abs=0.01)


def test_injection_is_validated():
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
    consistency. 20 replicates of 1e5 cells: the sampling error of each mean is far below
    the factor-of-two tolerance the issue asks for.
    """
    run = run_replicates(load_scenario(ASSAY), seed=1998)
    day3 = np.mean([p.assay[0]["arrested_liver"] for p in run.patients])
    ext3 = np.mean([p.assay[0]["extravasated"] for p in run.patients])
    micro3 = np.mean([p.assay[0]["micrometastases_founded"] for p in run.patients])
    dormant13 = np.mean([p.assay[1]["solitary_dormant"] for p in run.patients])
    macro13 = np.mean([p.assay[1]["in_macrometastases"] for p in run.patients])
    for simulated, published in ((day3, 0.87), (ext3, 0.83), (micro3, 0.025),
                                 (dormant13, 0.36), (macro13, 0.0002)):
        assert published / 2 <= simulated <= published * 2, (simulated, published)


@pytest.mark.slow
def test_run_reports_the_assay_in_summary_json(tmp_path):
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
    """Issue 11 item 27: the Luzzi assay was reported as a melanoma patient (an autopsy table
    of zeros, a flat 'primary' panel). With no primary tumour there is no autopsy
    comparison and figures name the injection."""
    import csv
    import json

    from click.testing import CliRunner

    from sim.apps.cli import main

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
