"""When the first distant metastasis was seeded: its founding day in both engines, and the
primary's size that day (``summaries.founding_size_mm``, compared with Tubiana & Koscielny
1991's median size at dissemination)."""

from __future__ import annotations

import math

import pytest

from sim import load_scenario
from sim.analysis.summaries import founding_size_mm
from sim.biology.units import cells_to_diameter_mm
from sim.engine.results import PatientResult
from sim.experiments.replicates import run_replicates

from ..conftest import DATA


def _patient(founded: float | None, resection: float | None = None) -> PatientResult:
    ts = [(0.0, "primary_cells", "", 1e6), (100.0, "primary_cells", "", 1e8),
          (100.0, "shed_cells_per_day", "", 5.0)]
    return PatientResult(
        replicate=0, days=100.0, died=False, reached={}, lost={},
        lost_in_transit_by_route={}, detectable_by_organ={}, autopsy_by_organ={},
        founded_by_organ={}, colonies_by_organ={}, first_detectable_day=None, shed_total=0,
        shed_by_metastases=0, colonies_founded={}, colonies_survived={}, timeseries=ts,
        resection_day=resection, first_distant_founded_day=founded)


def test_the_seeding_size_is_the_primary_on_the_founding_day():
    """Between records the primary is interpolated on a log scale (day 50 of a growth from
    1e6 to 1e8 cells: 1e7), other series are ignored, outside the records the nearest is
    taken; no metastasis, or a founding after the primary's removal, gives no size."""
    assert founding_size_mm(_patient(50.0)) == pytest.approx(cells_to_diameter_mm(1e7))
    assert founding_size_mm(_patient(150.0)) == pytest.approx(cells_to_diameter_mm(1e8))
    assert founding_size_mm(_patient(None)) is None
    assert founding_size_mm(_patient(50.0, resection=40.0)) is None
    assert founding_size_mm(_patient(30.0, resection=40.0)) is not None


@pytest.mark.parametrize("engine", ["mesa", "population"])
def test_both_engines_date_the_seeding_of_the_first_distant_metastasis(engine):
    """In the small scenario, imaging at 0.15 mm (distant metastases within 60 days): every
    patient with a detectable distant metastasis has its founding day, on or after the
    course's start and before it became detectable, and a seeding size between the
    primary's smallest and largest recorded sizes; patients without one have none. An engine that kept the
    detection day, the first colony's day or no day fails."""
    sc = load_scenario(DATA / "small.toml", [("simulation.engine", engine),
                                             ("simulation.horizon_days", 60.0),
                                             ("colonization.detectable_diameter_mm", 0.15)])
    patients = run_replicates(sc, 6, 5, progress=False).patients
    seen = 0
    for p in patients:
        if p.first_distant_detectable_day is None:
            assert p.first_distant_founded_day is None
            continue
        seen += 1
        founded = p.first_distant_founded_day
        assert founded is not None and 0.0 <= founded < p.first_distant_detectable_day
        size = founding_size_mm(p)
        primary = [v for _, name, _, v in p.timeseries if name == "primary_cells"]
        assert size is not None and not math.isnan(size)
        assert cells_to_diameter_mm(min(primary)) - 1e-9 <= size \
            <= cells_to_diameter_mm(max(primary)) + 1e-9
    assert seen
