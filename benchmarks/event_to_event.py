"""The population engine against the Mesa model, measured the way the README's table
"The population engine from event to event" states it.

Usage: ``python -m benchmarks.event_to_event [--mesa N] [--quick]`` (about 6 minutes on 2
cores; ``--quick``: fewer patients, for a look).

Every ratio is of two timings in this one run, on the same patients (the breast preset as
shipped, the twin of "initiated at diagnosis" off unless said): seconds per course of the
population engine in one process for a batch of 100, with its quiet stretches and without
(every step in Python: the same courses), the Mesa model's seconds per course on the first
``N`` of the same patients, the cost per patient of batches of 20 against batches of 250,
and the wall time of ``metasim run presets/breast --replicates 500`` with and without the
twin. Prints the results as JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from sim import MetastasisModel, load_scenario
from sim.engine.population import PopulationEngine
from sim.experiments.seeds import replicate_stream

ROOT = Path(__file__).resolve().parent.parent
NO_TWIN = [("population.assess_initiated", False)]


def _batch(n: int, first: int, stretches: bool = True, seed: int = 5) -> tuple[float, float]:
    """(seconds, patient-days) of one batch of ``n`` breast patients, one process."""
    sc = load_scenario("presets/breast", NO_TWIN)
    streams = [replicate_stream(seed, i) for i in range(first, first + n)]
    engine = PopulationEngine(sc, streams, np.random.default_rng(seed))
    engine.stretches = stretches
    t0 = time.perf_counter()
    results = engine.run()
    return time.perf_counter() - t0, float(sum(r.days for r in results))


def _mesa(n: int, seed: int = 5) -> float:
    """Seconds per course of the Mesa model on the first ``n`` of the same patients."""
    sc = load_scenario("presets/breast", NO_TWIN)
    t0 = time.perf_counter()
    for i in range(n):
        model = MetastasisModel(sc, rng=np.random.default_rng(replicate_stream(seed, i)))
        while model.running:
            model.step()
    return (time.perf_counter() - t0) / n


def _cli(replicates: int, twin: bool) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "sim.apps.cli", "run", "presets/breast", "--replicates",
               str(replicates), "--out", str(Path(tmp) / "out"), "--seed", "9"]
        if not twin:
            cmd += ["--set", "population.assess_initiated=false"]
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
        return time.perf_counter() - t0


def main(argv: list[str]) -> dict:
    quick = "--quick" in argv
    mesa_n = int(argv[argv.index("--mesa") + 1]) if "--mesa" in argv else (2 if quick else 5)
    _batch(5, 0)                                # compile (numba caches) outside the timings
    n = 30 if quick else 100
    t, days = _batch(n, 0)
    t_python, _ = _batch(n, 0, stretches=False)
    mesa = _mesa(mesa_n)
    total = 60 if quick else 250
    small = sum(_batch(20, i)[0] for i in range(0, total, 20)) / total
    large = _batch(total, 0)[0] / total
    out = {
        "batch_patients": n,
        "ms_per_course": t / n * 1e3,
        "us_per_patient_day": t / days * 1e6,
        "ms_per_course_without_stretches": t_python / n * 1e3,
        "mesa_s_per_course": mesa,
        "ratio_to_mesa": mesa / (t / n),
        "cohort_20_ms_per_patient": small * 1e3,
        "cohort_250_ms_per_patient": large * 1e3,
        "cohort_ratio_20_to_250": small / large,
    }
    if not quick:
        out["cli_500_no_twin_s"] = _cli(500, False)
        out["cli_500_with_twin_s"] = _cli(500, True)
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
