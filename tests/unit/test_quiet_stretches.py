"""The population engine's quiet stretches change nothing: the same courses, bit for bit.

:func:`sim.engine.step_kernels.quiet_stretch` runs the steps in which nothing can happen
that the Python step acts on (no diagnosis, no organ's first metastasis at the imaging
size, no intervention, record or sample, no lethal burden, symptoms or relapse within
reach) in one compiled call, with the same compiled pieces the Python step calls. So a
batch run with stretches and the same batch run one Python step at a time must give
identical results: every number of every patient. A stretch that skipped a piece of the
step (the lodging of arrivals, a detection's day, a switch's bookkeeping), drew in another
order, or ran through a step the Python step would have acted on, changes some course and
fails here. The scenarios cover the twin's resection and relapse watch (breast as shipped),
a therapy, a growth inhibition and a resection (colorectal with interventions) and seeds
whose competence falls with the tumours' size (breast from 1 mm)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from sim import load_scenario
from sim.engine.population import PopulationEngine


def _results(scenario, n: int, stretches: bool) -> tuple[list[str], PopulationEngine]:
    streams = [np.random.SeedSequence(11, spawn_key=(i,)) for i in range(n)]
    engine = PopulationEngine(scenario, streams, np.random.default_rng(12))
    engine.stretches = stretches
    out = [json.dumps(dataclasses.asdict(r), sort_keys=True, default=str) for r in engine.run()]
    return out, engine


@pytest.mark.parametrize("preset, overrides, n", [
    ("presets/breast", [("simulation.horizon_days", 1500.0)], 16),
    ("presets/colorectal", [("simulation.horizon_days", 1200.0), ("intervention", [
        {"kind": "resection", "at": "diagnosis", "delay_days": 20.0},
        {"kind": "systemic", "at": "diagnosis", "delay_days": 40.0, "duration_days": 120.0},
        {"kind": "growth_inhibition", "day": 300.0, "duration_days": 60.0,
         "growth_multiplier": 0.5}])], 16),
    # Seeds whose competence falls with the shedding tumours' size: the stretch moves the
    # spent arrivals as the Python step does.
    ("presets/breast", [("simulation.horizon_days", 1500.0),
                        ("primary.initial_diameter_mm", 1.0),
                        ("primary.seed_competence_exponent", 0.5),
                        ("colonization.competence", 3e-6)], 16),
])
def test_quiet_stretches_give_the_same_courses_bit_for_bit(preset, overrides, n):
    sc = load_scenario(preset, overrides)
    with_stretches, engine = _results(sc, n, True)
    without, _ = _results(sc, n, False)
    assert with_stretches == without
    # The stretches really ran (a test that never used them would prove nothing).
    assert engine.stretched_steps > 0
