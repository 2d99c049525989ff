"""One preset's Bayesian calibration, end to end, against its target of 30 minutes.

Usage: ``python -m benchmarks.calibration [PRESET] [WORKERS]`` (default breast, 2 workers):
what ``metasim calibrate presets/PRESET`` runs with its default settings. Prints, as JSON,
the wall time, the ABC-SMC generations and simulated cohorts, and the cost of one ABC
particle (a cohort of ``--cohort`` patients) against a baseline measured in the same run:
one course of the same preset in a batch of 250 (the population engine's batch), so the
ratio says how much a particle's small batch costs per patient against the engine's best.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time

from sim import load_scenario
from sim.experiments.executors import ProcessExecutor
from sim.experiments.inference import Settings, calibrate_preset, calibration_scenario
from sim.experiments.replicates import batch_engine

TARGET_S = 1800.0


def main(argv: list[str]) -> dict:
    preset = argv[0] if argv else "breast"
    workers = int(argv[1]) if len(argv) > 1 else 2
    sc = load_scenario(f"presets/{preset}")
    settings = Settings()
    base = calibration_scenario(sc, "combined")
    t0 = time.perf_counter()
    batch_engine(base, 11, range(250)).run()
    per_patient_250 = (time.perf_counter() - t0) / 250
    t0 = time.perf_counter()
    batch_engine(base, 12, range(settings.cohort)).run()
    per_patient_cohort = (time.perf_counter() - t0) / settings.cohort
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        cal = calibrate_preset(sc, tmp, seed=1, settings=settings,
                               executor=ProcessExecutor(workers))
        wall = time.perf_counter() - t0
    out = {"preset": preset, "workers": workers, "settings": settings.__dict__,
           "wall_s": round(wall, 1), "target_s": TARGET_S, "within_target": wall < TARGET_S,
           "abc_generations": cal.course.generations if cal.course else 0,
           "abc_simulated_cohorts": cal.course.simulations if cal.course else 0,
           "abc_wall_s": round(cal.course.wall_time_s, 1) if cal.course else 0.0,
           "seconds_per_patient_batch_250": round(per_patient_250, 4),
           "seconds_per_patient_cohort": round(per_patient_cohort, 4),
           "cohort_cost_ratio": round(per_patient_cohort / per_patient_250, 2)}
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
