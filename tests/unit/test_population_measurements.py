"""The population engine's measurements at diagnosis read the right patient's state: the
disseminated disease (``results.disease_at_diagnosis``, the rule both engines call), the
marrow aspirate's bone cells and the blood sample's rate of entry. Each is recomputed here
from the engine's arrays with plain loops, in a batch of several patients and with 2-day
steps, at the moment of each diagnosis.

Found by mutation testing ``sim/engine/population_clinic.py``: a snapshot that took every
other patient's colonies, counted units instead of cells (clusters hold 5), summed the
wrong axis, flipped the phase test, a marrow sample of every organ but bone, or a blood
rate multiplied by the step instead of divided, or measuring again every step, all passed
the quick tier before."""

from __future__ import annotations

import numpy as np
import pytest

from sim import load_scenario
from sim.biology.anatomy import ORGAN_KEYS
from sim.engine import population_clinic
from sim.engine.population import PopulationEngine
from sim.engine.population_layout import DORMANT, MACRO
from sim.engine.results import disease_at_diagnosis
from sim.experiments.replicates import batch_engine

BONE = ORGAN_KEYS.index("bone")


def test_measurements_at_diagnosis_read_the_patient_s_own_state(monkeypatch):
    sc = load_scenario("presets/breast", [("population.assess_initiated", False),
                                          # From 5 mm: most patients diagnosed by day 700.
                                          ("primary.initial_diameter_mm", 5.0),
                                          ("simulation.dt_days", 2.0),
                                          ("simulation.horizon_days", 700.0)])
    engine = batch_engine(sc, 4, range(8))
    assert isinstance(engine, PopulationEngine)
    seen: list[int] = []
    marrow_args: list[tuple[int, float]] = []
    blood_args: list[tuple[int, float]] = []
    current: dict[str, int] = {}
    real_marrow, real_blood = population_clinic.marrow_sample, population_clinic.blood_sample

    def marrow(stream, bone_cells):
        marrow_args.append((current["row"], bone_cells))
        return real_marrow(stream, bone_cells)

    def blood(stream, rate, *args):
        blood_args.append((current["row"], rate))
        return real_blood(stream, rate, *args)

    monkeypatch.setattr(population_clinic, "marrow_sample", marrow)
    monkeypatch.setattr(population_clinic, "blood_sample", blood)
    snapshot, measure = engine._diagnosis_snapshot, engine._measure_at_diagnosis

    def checked_snapshot(r: int, day: float) -> dict:
        got = snapshot(r, day)
        c = engine.colonies
        mine = [i for i in range(len(c)) if int(c.row[i]) == r]
        by_organ = np.zeros(len(ORGAN_KEYS))
        dormant = 0.0
        for place in range(engine.lodged.shape[2]):
            cells = float(engine.unit_cells[place])
            by_organ[engine.row_organ[place]] += cells * float(engine.lodged[:, r, place].sum())
            dormant += cells * float(engine.lodged[DORMANT, r, place])
        want = disease_at_diagnosis(
            day, float(engine.primary[r]), by_organ, dormant,
            np.array([c.organ[i] for i in mine], dtype=np.int64),
            np.array([c.cells[i] for i in mine]),
            np.array([c.phase[i] == MACRO for i in mine], dtype=bool),
            engine.detectable_cells)
        assert got == pytest.approx(want)
        seen.append(r)
        return got

    def checked_measure(r: int) -> None:
        current["row"] = r
        measure(r)
        bone = sum(float(engine.unit_cells[p]) * float(engine.lodged[:, r, p].sum())
                   for p in range(engine.lodged.shape[2]) if engine.row_organ[p] == BONE)
        assert marrow_args[-1] == (r, pytest.approx(bone))
        assert blood_args[-1] == (r, pytest.approx(float(engine.step_ctc[r]) / 2.0))

    engine._diagnosis_snapshot = checked_snapshot    # type: ignore[method-assign]
    engine._measure_at_diagnosis = checked_measure   # type: ignore[method-assign]
    engine.run()
    assert len(set(seen)) >= 4 and marrow_args
    # Each diagnosed patient is measured once, at its diagnosis.
    measured = [r for r, _ in marrow_args]
    assert sorted(measured) == sorted(set(measured)) == sorted(set(seen))
    # The batch's patients differ: a snapshot of someone else's state would show it.
    assert len({round(d, 6) for _, d in marrow_args}) > 1


def test_a_local_therapy_treats_only_its_patient_s_organ():
    """The population engine's local therapy (efficacy 1, every metastasis of the lung),
    checked at each start in a batch of several patients: afterwards that patient has no
    lung colony left, keeps every colony elsewhere, the other patients keep all of theirs,
    and the event names the cells killed: that patient's lung colonies before. A selection
    of another patient's colonies, of the other organs, or of every patient's lung, fails
    (found by mutation testing ``population_clinic.start``)."""
    import re
    sc = load_scenario("tests/data/small.toml", [
        ("simulation.engine", "population"),
        ("intervention", [{"kind": "local", "day": 25.0, "organ": "lung", "efficacy": 1.0,
                           "target": "all"}])])
    engine = batch_engine(sc, 3, range(4))
    assert isinstance(engine, PopulationEngine)
    lung = ORGAN_KEYS.index("lung")
    start = engine._start
    checked: list[float] = []

    def checked_start(r: int, j: int, day: float) -> None:
        c = engine.colonies
        before = [(int(c.row[i]), int(c.organ[i]), float(c.cells[i])) for i in range(len(c))]
        start(r, j, day)
        c = engine.colonies
        after = [(int(c.row[i]), int(c.organ[i]), float(c.cells[i])) for i in range(len(c))
                 if c.cells[i] > 0]
        kept = [x for x in before if not (x[0] == r and x[1] == lung)]
        assert sorted(after) == sorted(kept)
        killed = sum(x[2] for x in before if x[0] == r and x[1] == lung)
        detail = engine.events[engine.patient[r]][-1]["detail"]
        logged = float(re.search(r": (\S+) cells killed", detail).group(1))
        assert logged == pytest.approx(killed, rel=1e-2)
        checked.append(killed)

    engine._start = checked_start                    # type: ignore[method-assign]
    engine.run()
    assert len(checked) == 4 and any(k > 0 for k in checked)
