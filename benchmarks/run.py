"""Speed of the aggregated engine at the scale of a real patient, measured in one run.

Usage: ``python -m benchmarks [--quick] [--out benchmarks/results.json] [--no-readme]``

Measures, with every figure relative to a baseline timed in the same run so that results from
different machines compare:

1. **patient-year**: wall time and peak memory (resident set size of a fresh process) of one
   simulated patient-year, ``scenarios/benchmarks/patient_year.toml`` (a breast primary from
   1e8 cells shedding at 3.2e6 cells/g/day, ~3e9 cells through the cascade);
2. **scaling**: the same with 1x, 10x and 100x the cells shed (a primary of 10x and 100x
   the starting mass), as time ratios to 1x - the aggregated engine's cost should follow
   live cohorts and colonies, not cells shed;
3. **engines**: aggregated vs single-cell (``simulation.aggregate = false``) on
   ``scenarios/benchmarks/engine_comparison.toml`` (>= 1e5 cells shed): the time ratio, and a
   two-sample comparison of their outputs over many seeds (Mann-Whitney U on funnel counts,
   time to the first colony and colony count; Fisher's exact test on the fraction of patients
   with a colony in each organ), with a Holm correction over all the tests;
4. **throughput**: patient-years per minute on all local cores;
5. **preset course**: seconds per full untreated course of the breast preset (its varied
   patients, to the lethal burden or 10 years), without and with the resected twin that
   "initiated at diagnosis" needs (target: under 1 s a course);
6. **population engine**: the same courses with ``sim/engine/population.py``, one process,
   as a ratio to the Mesa model's seconds per preset course above (target >= 100x);
   its cost per patient for cohorts of 100 and 1,000 patients (CPU seconds per patient summed
   over the batches) and 10,000 (wall time x processes; target: flat or falling); and those
   10,000 courses on all cores in a fresh process (wall time and peak memory of the parent
   and of the largest worker; target under a minute and 2 GB). ``--quick`` runs them too.

``--quick`` runs fewer seeds (about 15 minutes on 2 cores, most of them the population
engine's 10,000 courses, which both modes run); the full run takes ~25 minutes.
The report is written as JSON and as a Markdown table into ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from scipy import stats

from sim import __version__
from sim.biology.anatomy import TARGET_ORGANS
from sim.biology.stages import FUNNEL_STAGES
from sim.config.loading import load_scenario
from sim.engine.model import simulate
from sim.engine.results import PatientResult
from sim.experiments.executors import ProcessExecutor
from sim.experiments.replicates import run_replicates, simulate_batch
from sim.experiments.seeds import population_batches, replicate_stream

ROOT = Path(__file__).resolve().parent.parent
BREAST = ROOT / "scenarios" / "presets" / "breast.toml"
PATIENT_YEAR = ROOT / "scenarios" / "benchmarks" / "patient_year.toml"
ENGINES = ROOT / "scenarios" / "benchmarks" / "engine_comparison.toml"
README = Path(__file__).resolve().parent / "README.md"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


# ------------------------------------------------------------------------------ jobs
def _timed(job: tuple[str, list[str], int, int]) -> tuple[float, PatientResult]:
    path, overrides, seed, i = job
    sc = load_scenario(path, overrides)
    stream = replicate_stream(seed, i)
    t0 = time.perf_counter()
    result = simulate(sc, stream, i)
    return time.perf_counter() - t0, result


def _timed_with_memory(job) -> tuple[float, float, int]:
    """In a fresh process: wall time, peak resident memory (MB), cells shed."""
    wall, result = _timed(job)
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1 / 1024 / 1024 if sys.platform == "darwin" else 1 / 1024  # bytes vs kB
    return wall, rss_kb * scale, result.shed_total


def _fresh(job):
    """Run ``job`` in a new worker process (its peak memory is this job's alone)."""
    return next(iter(ProcessExecutor(1).map(_timed_with_memory, [job])))


def _median_time(path, overrides, seeds: int, seed: int = 1) -> tuple[float, list[PatientResult]]:
    _timed((str(path), overrides, seed + 1000, 0))  # warm-up: chains built, caches filled
    times, results = [], []
    for i in range(seeds):
        t, r = _timed((str(path), overrides, seed, i))
        times.append(t)
        results.append(r)
    return statistics.median(times), results


# ------------------------------------------------------------------------------ parts
def patient_year(repeats: int) -> dict:
    runs = [_fresh((str(PATIENT_YEAR), [], 1, i)) for i in range(repeats)]
    walls = [r[0] for r in runs]
    return {"scenario": "scenarios/benchmarks/patient_year.toml", "repeats": repeats,
            "median_wall_s": statistics.median(walls), "max_wall_s": max(walls),
            "peak_rss_mb": max(r[1] for r in runs),
            "cells_shed_median": float(np.median([r[2] for r in runs]))}


def scaling(repeats: int) -> list[dict]:
    """Cost against work: the patient-year with 1x, 10x and 100x the cells shed, by a primary
    of 10x and 100x the starting mass (shedding per gram as in the scenario). Raising the
    shedding rate instead no longer works: shed cells leave the primary, and at 10x the rat
    rate a 0.1 g tumour loses more cells than it grows."""
    sc = load_scenario(PATIENT_YEAR)
    base_mm = sc.primary.initial_diameter_mm
    rows = []
    for factor in (1, 10, 100):
        over = [f"primary.initial_diameter_mm={base_mm * factor ** (1 / 3):.6g}"]
        t, results = _median_time(PATIENT_YEAR, over, repeats, seed=3)
        rows.append({"shedding_factor": factor, "median_wall_s": t,
                     "cells_shed_median": float(np.median([r.shed_total for r in results]))})
    for r in rows:
        r["time_ratio_to_1x"] = r["median_wall_s"] / rows[0]["median_wall_s"]
    return rows


def _outputs(results: list[PatientResult]) -> dict[str, np.ndarray]:
    out = {f"reached_{s}": np.array([r.reached[s] for r in results]) for s in FUNNEL_STAGES}
    out["colonies"] = np.array([sum(r.colonies_by_organ.values()) for r in results])
    out["first_colony_day"] = np.array([_first_colony_day(r) for r in results])
    return out


def _first_colony_day(r: PatientResult) -> float:
    days = [t for t, name, _, v in r.timeseries if name == "micrometastases" and v > 0]
    return min(days) if days else float("inf")


def _holm(pvalues: dict[str, float]) -> dict[str, float]:
    """Holm-adjusted p-values (step-down, monotone)."""
    keys = sorted(pvalues, key=lambda k: pvalues[k])
    m, running, out = len(keys), 0.0, {}
    for i, k in enumerate(keys):
        running = max(running, min(1.0, (m - i) * pvalues[k]))
        out[k] = running
    return out


def engines(seeds: int, timing_seeds: int, workers: int) -> dict:
    t_agg, _ = _median_time(ENGINES, [], timing_seeds, seed=5)
    t_one, _ = _median_time(ENGINES, ["simulation.aggregate=false"], timing_seeds, seed=5)
    # Outputs: independent seeds for the two engines (two-sample tests).
    jobs_a: list[tuple[str, list[str], int, int]] = [(str(ENGINES), [], 101, i)
                                                     for i in range(seeds)]
    jobs_s = [(str(ENGINES), ["simulation.aggregate=false"], 202, i) for i in range(seeds)]
    with ProcessExecutor(workers) as pool:
        agg = [r for _, r in pool.map(_timed, jobs_a)]
        one = [r for _, r in pool.map(_timed, jobs_s)]
    oa, os_ = _outputs(agg), _outputs(one)
    pvalues: dict[str, float] = {}
    means: dict[str, tuple[float | None, float | None]] = {}
    for key in oa:
        if np.ptp(np.concatenate([oa[key], os_[key]])) == 0:
            continue
        pvalues[key] = float(stats.mannwhitneyu(oa[key], os_[key]).pvalue)
        finite_a, finite_s = oa[key][np.isfinite(oa[key])], os_[key][np.isfinite(os_[key])]
        means[key] = (float(finite_a.mean()) if finite_a.size else None,
                      float(finite_s.mean()) if finite_s.size else None)
    for organ in TARGET_ORGANS:
        ka = sum(1 for r in agg if r.colonies_by_organ[organ] > 0)
        ks = sum(1 for r in one if r.colonies_by_organ[organ] > 0)
        if ka + ks == 0 or ka + ks == 2 * seeds:
            continue
        key = f"site_{organ}"
        pvalues[key] = float(stats.fisher_exact([[ka, seeds - ka], [ks, seeds - ks]]).pvalue)
        means[key] = (ka / seeds, ks / seeds)
    adjusted = _holm(pvalues)
    tests = [{"output": k, "aggregated": means[k][0], "single_cell": means[k][1],
              "p": pvalues[k], "p_holm": adjusted[k]} for k in pvalues]
    return {"scenario": "scenarios/benchmarks/engine_comparison.toml",
            "seeds_per_engine": seeds, "timing_seeds": timing_seeds,
            "cells_shed_median": float(np.median([r.shed_total for r in agg])),
            "median_wall_s_aggregated": t_agg, "median_wall_s_single_cell": t_one,
            "speedup": t_one / t_agg, "tests": tests,
            "min_p_holm": min(adjusted.values()) if adjusted else None,
            "significant_at_0.05": [k for k in pvalues if adjusted[k] < 0.05]}


def preset_course(patients: int) -> dict:
    """Seconds per course of the breast preset's patients, one process, with and without
    the twin course of population.assess_initiated."""
    out: dict = {"scenario": "scenarios/presets/breast.toml", "patients": patients}
    for key, twin in (("without_twin", "false"), ("with_twin", "true")):
        over = [f"population.assess_initiated={twin}"]
        times = [_timed((str(BREAST), over, 17, i))[0] for i in range(patients)]
        out[key] = {"median_s": statistics.median(times), "mean_s": statistics.fmean(times),
                    "max_s": max(times)}
    return out


def _batch_timed(job: tuple[str, list[str], int, range]) -> tuple[float, int, float]:
    """One batch of the population engine: wall time, patients, patient-days simulated."""
    path, overrides, seed, replicates = job
    sc = load_scenario(path, overrides)
    t0 = time.perf_counter()
    out = simulate_batch(sc, seed, replicates)
    return time.perf_counter() - t0, len(out), sum(r.days for r in out)


def _cohort_in_fresh_process(job: tuple[str, list[str], int, int, int]) -> dict:
    """In a fresh process: ``n`` courses on ``workers`` worker processes (the executor of
    ``metasim run``), their time series dropped as ``metasim run`` does once written."""
    path, overrides, seed, n, workers = job
    sc = load_scenario(path, overrides)
    t0 = time.perf_counter()
    with ProcessExecutor(workers) as pool:
        run = run_replicates(sc, n, seed, progress=False, executor=pool,
                             on_patient=lambda p: None, keep_timeseries=0)
    wall = time.perf_counter() - t0
    scale = 1 / 1024 / 1024 if sys.platform == "darwin" else 1 / 1024
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * scale
    return {"patients": n, "workers": workers, "engine": run.engine, "wall_s": wall,
            "peak_rss_mb_parent": own, "peak_rss_mb_largest_worker": children}


def population_engine(mesa_s_per_course: float, batch: int, cohorts: tuple[int, ...],
                      big_cohort: int, workers: int) -> dict:
    """The population engine on the breast preset's untreated courses (no twin)."""
    over = ["population.assess_initiated=false"]
    t, n, days = _batch_timed((str(BREAST), over, 17, range(batch)))
    out: dict = {"batch_patients": n, "s_per_course": t / n, "us_per_patient_day": t / days * 1e6,
                 "mesa_s_per_course": mesa_s_per_course, "ratio": mesa_s_per_course / (t / n)}
    scaling = []
    for size in cohorts:
        jobs = [(str(BREAST), over, 23, b) for b in population_batches(size)]
        with ProcessExecutor(workers) as pool:
            timed = list(pool.map(_batch_timed, jobs))
        cpu = sum(x[0] for x in timed)
        scaling.append({"patients": size, "cpu_s_per_patient": cpu / size})
    out["scaling"] = scaling
    # A new interpreter (worker processes cannot start workers of their own), so that the
    # peak memory is this cohort's alone.
    job = (str(BREAST), over, 29, big_cohort, workers)
    code = ("import json, sys; from benchmarks.run import _cohort_in_fresh_process as f; "
            f"print(json.dumps(f({job!r})))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=True)
    co = out["cohort"] = json.loads(done.stdout.strip().splitlines()[-1])
    # The big cohort's cost per patient: its wall time on all workers (an upper bound on the
    # CPU time, which includes passing results between processes).
    scaling.append({"patients": big_cohort, "cpu_s_per_patient":
                    co["wall_s"] * co["workers"] / big_cohort, "from_wall_time": True})
    return out


def throughput(patients: int, workers: int) -> dict:
    jobs: list[tuple[str, list[str], int, int]] = [(str(PATIENT_YEAR), [], 11, i)
                                                   for i in range(patients)]
    t0 = time.perf_counter()
    with ProcessExecutor(workers) as pool:
        list(pool.map(_timed, jobs))
    wall = time.perf_counter() - t0
    return {"workers": workers, "patient_years": patients, "wall_s": wall,
            "patient_years_per_minute": patients / wall * 60}


# ------------------------------------------------------------------------------ report
def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def markdown(report: dict) -> str:
    py, sc, en, th = (report["patient_year"], report["scaling"], report["engines"],
                      report["throughput"])
    lines = [f"Measured {report['date']} on {report['machine']}, Python {report['python']}, "
             f"metasim {report['metasim']}{' (--quick)' if report['quick'] else ''}.", "",
             "| measure | value | target |", "|---|---|---|",
             f"| one patient-year, wall time (median of {py['repeats']}) | "
             f"{py['median_wall_s']:.2f} s | < 5 s |",
             f"| one patient-year, peak memory (fresh process) | {py['peak_rss_mb']:.0f} MB | < 500 MB |",
             f"| cells shed in the patient-year | {py['cells_shed_median']:.3g} | — |"]
    for r in sc[1:]:
        lines.append(f"| {r['shedding_factor']}x the primary's mass ({r['cells_shed_median']:.3g} "
                     f"cells shed), time ratio to 1x | {r['time_ratio_to_1x']:.2f} | < 2 (at 100x) |")
    lines += [f"| aggregated vs single-cell engine, time ratio ({en['cells_shed_median']:.3g} "
              f"cells shed) | {en['speedup']:.0f}x ({en['median_wall_s_single_cell']:.2f} s vs "
              f"{en['median_wall_s_aggregated']:.3f} s) | >= 100x |",
              f"| outputs, aggregated vs single-cell ({en['seeds_per_engine']} seeds each, "
              f"{len(en['tests'])} tests) | smallest Holm-adjusted p = "
              f"{en['min_p_holm']:.2f}; significant: {', '.join(en['significant_at_0.05']) or 'none'}"
              " | no significant difference |",
              f"| batch throughput, {th['workers']} processes | "
              f"{th['patient_years_per_minute']:.0f} patient-years/min | — |"]
    pc = report.get("preset_course")
    if pc:
        for key, label in (("without_twin", "without"), ("with_twin", "with")):
            r = pc[key]
            lines.append(f"| breast preset, one full untreated course {label} the resected twin "
                         f"(mean of {pc['patients']} patients; median, max) | "
                         f"{r['mean_s']:.2f} s ({r['median_s']:.2f} s, {r['max_s']:.2f} s) | "
                         f"{'< 1 s' if key == 'without_twin' else '—'} |")
    pe = report.get("population_engine")
    if pe:
        co = pe["cohort"]
        lines.append(f"| population engine, breast course ({pe['batch_patients']} patients in one "
                     f"process) | {pe['s_per_course'] * 1e3:.0f} ms a course "
                     f"({pe['us_per_patient_day']:.0f} us a patient-day) | — |")
        lines.append(f"| population engine vs Mesa model, courses per minute, one process | "
                     f"{pe['ratio']:.0f}x | >= 100x |")
        for r in pe["scaling"]:
            how = "wall x processes" if r.get("from_wall_time") else "CPU"
            lines.append(f"| population engine, cost per patient, cohort of {r['patients']:,} | "
                         f"{r['cpu_s_per_patient'] * 1e3:.0f} ms ({how}) | flat or falling |")
        lines.append(f"| {co['patients']:,} breast courses, {co['workers']} processes | "
                     f"{co['wall_s']:.0f} s; peak memory {co['peak_rss_mb_parent']:.0f} MB "
                     f"(parent), {co['peak_rss_mb_largest_worker']:.0f} MB (largest worker) | "
                     "< 60 s, < 2 GB |")
    lines += ["", "Output comparison (Mann-Whitney U for counts and days, Fisher's exact test "
              "for the fraction of patients with a colony in an organ; p before and after Holm):",
              "", "| output | aggregated | single-cell | p | p (Holm) |", "|---|---|---|---|---|"]
    for t in en["tests"]:
        a, s = t["aggregated"], t["single_cell"]
        lines.append(f"| {t['output']} | {'' if a is None else f'{a:.4g}'} | "
                     f"{'' if s is None else f'{s:.4g}'} | {t['p']:.3f} | {t['p_holm']:.3f} |")
    return "\n".join(lines)


def write_readme(report: dict, path: Path = README) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else f"{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    path.write_text(f"{head}{BEGIN}\n{markdown(report)}\n{END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="fewer seeds (about 15 minutes on 2 cores)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results.json",
                    help="JSON report (default: benchmarks/results.json)")
    ap.add_argument("--no-readme", action="store_true", help="do not update benchmarks/README.md")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args(argv)
    q = args.quick
    t0 = time.perf_counter()
    report = {"metasim": __version__, "date": datetime.now(UTC).isoformat(timespec="seconds"),
              "machine": _machine(), "python": platform.python_version(), "quick": q}
    print("patient-year ...", flush=True)
    report["patient_year"] = patient_year(2 if q else 5)
    print("scaling with the shedding rate ...", flush=True)
    report["scaling"] = scaling(1 if q else 3)
    print("aggregated vs single-cell engine ...", flush=True)
    report["engines"] = engines(seeds=16 if q else 200, timing_seeds=2 if q else 5,
                                workers=args.workers)
    print("breast preset courses ...", flush=True)
    report["preset_course"] = preset_course(5 if q else 20)
    print("population engine ...", flush=True)
    report["population_engine"] = population_engine(
        report["preset_course"]["without_twin"]["mean_s"], batch=250,
        cohorts=(100, 1000), big_cohort=10_000,
        workers=args.workers)
    print("throughput on all cores ...", flush=True)
    report["throughput"] = throughput(4 * args.workers if q else 20 * args.workers, args.workers)
    report["benchmark_wall_s"] = time.perf_counter() - t0
    print(markdown(report))
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if not args.no_readme:
        write_readme(report)
    return report


if __name__ == "__main__":
    main()
