"""Time one simulated patient on each engine setting, as ratios within one run.

Usage: ``python -m benchmarks [--quick] [--out benchmarks/results.json]``

Engine settings: aggregated cohorts with the exact absorbing chain (the default), aggregated
with the pass-by-pass walk, and one agent per cell (the reference model). The single-cell
engine can only run the small test scenario; the aggregated engine also runs a full untreated
breast course (10^12 cells shed). Timings are medians over repeats with different seeds;
speed is reported as ratios against the default engine measured in the same run, so results
from different machines compare.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from sim import __version__
from sim.experiments import replicate_streams
from sim.model import simulate
from sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent
SMALL = ROOT / "tests" / "data" / "small.toml"


def time_patients(scenario, repeats: int, seed: int = 1) -> tuple[float, int]:
    times, shed = [], []
    for i, stream in enumerate(replicate_streams(seed, repeats)):
        t0 = time.perf_counter()
        r = simulate(scenario, stream, i)
        times.append(time.perf_counter() - t0)
        shed.append(r.shed_total)
    return statistics.median(times), int(np.median(shed))


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    args = ap.parse_args(argv)
    reps = 3 if args.quick else 10
    cases = [
        ("small, aggregated, absorbing chain", SMALL, []),
        ("small, aggregated, pass-by-pass walk", SMALL, ['simulation.circulation="walk"']),
        ("small, single-cell (reference)", SMALL, ["simulation.aggregate=false"]),
        ("breast preset, aggregated, absorbing chain", "breast", []),
        ("breast preset, aggregated, pass-by-pass walk", "breast", ['simulation.circulation="walk"']),
    ]
    rows = []
    for name, path, overrides in cases:
        sc = load_scenario(path, overrides)
        n = max(2, reps // 3) if "breast" in name else reps
        median_s, shed = time_patients(sc, n)
        rows.append({"case": name, "median_s_per_patient": median_s, "cells_shed": shed,
                     "repeats": n})
    base = {"small": rows[0]["median_s_per_patient"], "breast": rows[3]["median_s_per_patient"]}
    for r in rows:
        r["ratio_to_default_engine"] = r["median_s_per_patient"] / base[r["case"].split(",")[0].split()[0]]
    report = {"metasim": __version__, "date": datetime.now(UTC).isoformat(timespec="seconds"),
              "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
              "python": platform.python_version(), "rows": rows}
    print(f"{'case':<48} {'s/patient':>10} {'ratio':>7} {'cells shed':>12}")
    for r in rows:
        print(f"{r['case']:<48} {r['median_s_per_patient']:>10.3f} "
              f"{r['ratio_to_default_engine']:>7.2f} {r['cells_shed']:>12.3g}")
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
