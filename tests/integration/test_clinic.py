"""The clinical timeline: interventions, events, outcomes, and the checks against the
literature (Coumans et al. 2013; late relapse from dormant cells)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from sim import MetastasisModel, ScenarioError, make_scenario
from sim.apps.cli import main
from sim.biology.anatomy import ORGAN_KEYS
from sim.config.loading import load_scenario

RESECT = "scenarios/clinical/breast_resection_at_diagnosis.toml"


@pytest.mark.parametrize(("intervention", "message"), [
    ({"kind": "resection"}, "either day"),
    ({"kind": "resection", "day": 10.0, "at": "diagnosis"}, "either day"),
    ({"kind": "local", "day": 10.0}, "needs organ"),
    ({"kind": "systemic", "day": 10.0, "organ": "liver"}, "only for kind"),
    ({"kind": "systemic", "day": 10.0, "kill_rate_per_day": {"zombie": 0.1}}, "zombie"),
    ({"kind": "growth_inhibition", "day": 1.0, "growth_multiplier": 2.0}, "growth_multiplier"),
    ({"kind": "chemo", "day": 1.0}, "kind"),
])
def test_interventions_are_validated(intervention, message):
    with pytest.raises(ScenarioError, match=message):
        make_scenario({"intervention": [intervention]})


def test_resection_at_diagnosis_removes_the_primary_and_is_logged():
    """The resection at diagnosis is logged right after the diagnosis (a metastasis found
    first may come before both), empties the primary, and the primary sheds nothing after
    it: every cell shed from then on is a metastasis's."""
    model = MetastasisModel(RESECT, rng=1, overrides={"simulation.horizon_days": 700})
    by_primary_at_resection = None
    while model.running:
        model.step()
        shed, alive, lost = model.conservation()
        assert shed == alive + lost
        if by_primary_at_resection is None and model.clinic.resection_day is not None:
            by_primary_at_resection = model.ledger.shed_total - model.ledger.shed_by_metastases
    r = model.result()
    events = [e["event"] for e in r.events]
    i = events.index("diagnosis")
    assert events[i + 1] == "resection", events
    assert r.resection_day == r.diagnosis["day"]
    assert model.primary.cells == 0.0
    assert by_primary_at_resection is not None and by_primary_at_resection > 0
    assert model.ledger.shed_total - model.ledger.shed_by_metastases == by_primary_at_resection


def test_local_therapy_treats_one_organ(small_scenario_path):
    """Local therapy with efficacy 1 removes every colony of its organ and no other: at the
    end no colony in that organ is older than the therapy, every other organ keeps colonies
    founded before it, and the cells of the removed colonies are counted as lost."""
    base = load_scenario(small_scenario_path)
    a = MetastasisModel(base, rng=5).run()
    organ = max(a.result().colonies_by_organ, key=a.result().colonies_by_organ.get)
    day = 20.0
    treated = make_scenario(base.to_input(), [("intervention", [
        {"kind": "local", "day": day, "organ": organ, "efficacy": 1.0, "target": "all"}])])
    b = MetastasisModel(treated, rng=5)
    while b.running and b.day < day:
        b.step()
    before = {c.unique_id: c.organ for c in b.colonies}
    assert any(o == ORGAN_KEYS.index(organ) for o in before.values()), "nothing to treat"
    assert any(o != ORGAN_KEYS.index(organ) for o in before.values()), "no control organ"
    b.step()   # the therapy acts at the start of this step
    after = {c.unique_id: c.organ for c in b.colonies}
    survivors = {o for uid, o in after.items() if uid in before}
    assert ORGAN_KEYS.index(organ) not in survivors
    assert survivors, "colonies of the other organs survive"
    shed, alive, lost = b.conservation()
    assert shed == alive + lost
    log = [e for e in b.result().events if e["event"] == "local_therapy"]
    assert len(log) == 1 and log[0]["organ"] == organ and log[0]["day"] == day


def test_growth_inhibition_slows_the_primary():
    base = load_scenario("breast", ["simulation.horizon_days=200"])
    slowed = make_scenario(base.to_input(), [("intervention", [
        {"kind": "growth_inhibition", "day": 0.0, "duration_days": 200.0,
         "growth_multiplier": 0.5}])])
    a = MetastasisModel(base, rng=1).run()
    b = MetastasisModel(slowed, rng=1).run()
    assert b.primary.cells < a.primary.cells


def test_run_writes_events_and_the_km_figure(tmp_path):
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["run", RESECT, "--replicates", "4", "--set",
                                    "primary.diagnosis_diameter_mm=25.0", "--out", str(out)])
    assert res.exit_code == 0, res.output
    header = (out / "events.csv").read_text().splitlines()[0]
    assert header == "replicate,day,event,organ,detail"
    assert "resection" in (out / "events.csv").read_text()
    summ = json.loads((out / "summary.json").read_text())
    assert summ["clinical"]["patients_resected"] == 4
    assert set(summ["clinical"]["metastasis_free_survival"]) == {"1y", "2y", "5y", "10y"}
    assert (out / "figures" / "metastasis_free_survival.png").is_file()


