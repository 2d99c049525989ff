"""What a run will cost, estimated before it starts, and the limits that follow from it.

A scenario can ask for more than a machine can give: a million replicate patients, the
single-cell engine over a year of shedding, a tiny step over a long horizon. Each of these
used to start and fail (or run for hours) without a word. :func:`estimate_patient` predicts
the cost of one patient course from the scenario alone - steps, the cells the primary sheds
along its mean growth curve, seconds and memory - and :func:`check_run` refuses, before any
simulation, what cannot fit in memory or exceeds the single-cell engine's agent limit, and
returns the estimate so that the caller can warn about long runs.

The constants are measured (``benchmarks/``, 2-core AMD EPYC, Python 3.11) and stated with
their source; the estimates are for warnings and refusals, so they err on the high side.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from ..biology.cascade import gompertz, gompertz_rate_from_doubling
from ..biology.units import cells_to_grams, diameter_to_cells
from ..config.schema import Scenario

#: Wall time of one step of the aggregated engine, seconds. Measured: 0.36 ms (one
#: patient-year of benchmarks/, dt = 1 day) to 1.5 ms (a full untreated breast preset course,
#: 1,360 steps in 2.1 s, when colonies are many); the high end.
SECONDS_PER_STEP = 1.5e-3
#: Wall time of one patient-day of the population engine, seconds. Measured (2026-11-26,
#: after the transit draws were merged; benchmarks/README.md): 65 us a patient-day for a
#: batch of 250 breast courses, 78 us for a cohort of 100; kept at the earlier high end
#: (92-136 us) as the margin for presets with more occupied places.
SECONDS_PER_PATIENT_STEP_POPULATION = 2e-4
#: Wall time per unit (cell or cluster) shed, single-cell engine: 3.90 s for 1.54e5 cells in
#: benchmarks/ (engine comparison), 25 us, rounded up.
SECONDS_PER_SINGLE_CELL_UNIT = 3e-5
#: Agents the single-cell engine may create over one course. At the rate above, about a
#: minute per patient; beyond it the reference engine is the wrong tool (use the aggregated
#: one, which is exact in distribution).
MAX_SINGLE_CELL_UNITS = 2_000_000
#: Memory a finished patient keeps while the run goes on (its result without the time
#: series, which is written to disk as it arrives), bytes: deep size measured 11 KB (breast,
#: colon presets) to 20 KB (clinical/late_relapse, many events); the high end, with margin.
#: tests/unit/test_limits.py checks the bound on several scenarios.
BYTES_PER_PATIENT = 30_000
#: Patients whose full time series are kept in memory for the time-course figure; the rest
#: are written to timeseries.csv as they finish and dropped.
TIMESERIES_KEPT = 200
#: Memory of one recorded day of a patient's time series: ~34 rows (one per reporter and
#: organ) of ~106 bytes each, measured; rounded up to 40 rows of 120 bytes.
BYTES_PER_TIMESERIES_RECORD = 40 * 120
#: Memory of one worker process (Python, numpy, Mesa and the package imported, one patient
#: in progress): ~200-220 MB measured; with the population engine's batch of 250 patients and
#: their time series, 335 MB (benchmarks/, 10,000 breast courses); rounded up.
BYTES_PER_WORKER = 350_000_000
#: Fraction of the available memory a run may plan to use.
MEMORY_FRACTION = 0.8
#: Estimated total time above which the command line warns before starting, seconds.
WARN_SECONDS = 600.0


class RunTooLargeError(ValueError):
    """The run cannot fit (memory, agents); the message gives the estimate and the limit."""


@dataclass(frozen=True)
class CostEstimate:
    """Predicted cost of one patient course (upper-end estimates)."""

    steps: int
    units_shed: float
    seconds_per_patient: float
    single_cell: bool

    def describe(self, replicates: int = 1, workers: int = 1) -> str:
        total = self.seconds_per_patient * replicates / max(1, min(workers, replicates))
        return (f"{self.steps:,} steps per patient, ~{self.units_shed:.2g} cells shed, about "
                f"{human_seconds(self.seconds_per_patient)} per patient, "
                f"{human_seconds(total)} in all for {replicates:,} patient(s) on "
                f"{min(workers, replicates)} worker(s)")


def human_seconds(s: float) -> str:
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    if s < 2 * 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} days"


def mean_course(scenario: Scenario) -> tuple[int, float]:
    """Steps of the course and units (cells, clusters) the primary sheds, mean growth curve.

    The median patient's primary grows deterministically (Gompertz, as in the model) and
    sheds ``shedding_rate_per_gram_per_day`` x mass ** ``shedding_mass_exponent``, times the
    mean of the patients' log-normal shedding multiplier (``exp(sd^2 / 2)``) when patients
    differ; the course ends at the horizon or when the primary alone reaches the lethal
    burden (metastases would end it sooner, so this is an upper end). A resection (at a day
    or at diagnosis) removes its fraction of the primary. Metastases' own shedding is left
    out.
    """
    p, sim = scenario.primary, scenario.simulation
    injected = float(sum(inj.cells for inj in scenario.injection))
    if not p.present:
        return steps_of(scenario), injected
    dt = sim.dt_days
    rate = gompertz_rate_from_doubling(p.doubling_time_days,
                                       diameter_to_cells(p.diagnosis_diameter_mm),
                                       p.carrying_capacity_cells)
    f, k = scenario.clusters.fraction_of_shedding_events, scenario.clusters.cells_per_cluster
    cells_per_unit = (1.0 - f) + f * k
    shedding = sum(c.fraction * c.shedding for c in p.subclones)
    if scenario.population.varies:
        shedding *= math.exp(scenario.population.shedding_log_sd ** 2 / 2.0)
    exponent = p.shedding_mass_exponent
    diagnosis_cells = diameter_to_cells(p.diagnosis_diameter_mm)
    resections = [iv for iv in scenario.intervention if iv.kind == "resection"]
    cells, total, diagnosed = p.initial_cells, 0.0, None
    steps = 0
    for step in range(steps_of(scenario)):
        steps += 1
        day = step * dt  # in steps, as the model counts time
        if diagnosed is None and cells >= diagnosis_cells:
            diagnosed = day
        for iv in list(resections):
            when = iv.day if iv.day is not None else (
                None if diagnosed is None else diagnosed + iv.delay_days)
            if when is not None and day >= when:
                cells *= 1.0 - iv.fraction_removed
                resections.remove(iv)
        if cells <= 0.0:  # resected whole: nothing more to shed or grow
            continue
        total += p.shedding_rate_per_gram_per_day * shedding * cells_to_grams(cells) ** exponent \
            * dt
        cells = float(gompertz(cells, rate, p.carrying_capacity_cells, dt))
        if cells >= sim.lethal_burden_cells:
            break
    return steps, total / cells_per_unit + injected


def steps_of(scenario: Scenario) -> int:
    """Steps of one full course (:attr:`sim.config.schema.Simulation.n_steps`)."""
    return scenario.simulation.n_steps


def estimate_patient(scenario: Scenario, engine: str = "mesa") -> CostEstimate:
    """Cost of one patient course with ``engine`` ("mesa" or "population"), predicted from
    the scenario alone."""
    steps, units = mean_course(scenario)
    single = not scenario.simulation.aggregate
    per_step = SECONDS_PER_PATIENT_STEP_POPULATION if engine == "population" else SECONDS_PER_STEP
    seconds = steps * per_step + (units * SECONDS_PER_SINGLE_CELL_UNIT if single else 0.0)
    return CostEstimate(steps, units, seconds, single)


def available_memory_bytes() -> int:
    """Memory this process may still use: the smaller of MemAvailable (Linux) and what its
    container's memory limit leaves (cgroup v2 ``memory.max`` - ``memory.current``), else
    the physical memory."""
    limit = _cgroup_room()
    host = _host_available()
    return min(host, limit) if limit is not None else host


def _cgroup_room() -> int | None:
    try:
        root = Path("/sys/fs/cgroup")
        text = (root / "memory.max").read_text().strip()
        if text == "max":
            return None
        return max(0, int(text) - int((root / "memory.current").read_text().strip()))
    except (OSError, ValueError):
        return None


def _host_available() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 8 * 1024**3


def timeseries_bytes(scenario: Scenario) -> int:
    """Memory of one patient's time series over the full horizon (an upper end: a course
    that ends early records less). The model records every ``max(dt, min(30, horizon/100))``
    days (:class:`sim.engine.model.MetastasisModel`)."""
    sim = scenario.simulation
    every = max(sim.dt_days, min(30.0, sim.horizon_days / 100.0))
    return (math.ceil(sim.horizon_days / every) + 2) * BYTES_PER_TIMESERIES_RECORD


def run_memory_bytes(scenario: Scenario, replicates: int) -> int:
    """Memory the results of ``replicates`` patients hold until the run is written."""
    return (replicates * BYTES_PER_PATIENT
            + min(replicates, TIMESERIES_KEPT) * timeseries_bytes(scenario))


def check_run(scenario: Scenario, replicates: int, workers: int = 1, runs: int = 1,
              available_bytes: int | None = None, engine: str = "mesa") -> CostEstimate:
    """Refuse, before any simulation, a run that cannot fit; return its cost estimate.

    Parameters
    ----------
    replicates
        Patients per run; ``runs`` runs of that size (hypotheses compared) are held at once.

    Raises
    ------
    RunTooLargeError
        The single-cell engine would create more than :data:`MAX_SINGLE_CELL_UNITS` agents
        in one course, or the results would need more than :data:`MEMORY_FRACTION` of the
        available memory. The message gives the estimate, the limit and what to change.
    """
    est = estimate_patient(scenario, engine)
    if est.single_cell and est.units_shed > MAX_SINGLE_CELL_UNITS:
        raise RunTooLargeError(
            f"simulation.aggregate = false: the single-cell engine would create about "
            f"{est.units_shed:.3g} agents in one course (about "
            f"{human_seconds(est.seconds_per_patient)} per patient); at most "
            f"{MAX_SINGLE_CELL_UNITS:,} are allowed. Use simulation.aggregate = true (exact "
            "in distribution), or a shorter simulation.horizon_days or lower "
            "primary.shedding_rate_per_gram_per_day")
    need = run_memory_bytes(scenario, replicates) * runs + workers * BYTES_PER_WORKER
    have = available_memory_bytes() if available_bytes is None else available_bytes
    if need > MEMORY_FRACTION * have:
        most = max(1, int((MEMORY_FRACTION * have / runs
                           - TIMESERIES_KEPT * timeseries_bytes(scenario)) // BYTES_PER_PATIENT))
        raise RunTooLargeError(
            f"{replicates:,} replicate patients x {runs} run(s) would hold about "
            f"{need / 1e9:.3g} GB of results in memory; {have / 1e9:.3g} GB are available "
            f"(at most about {most:,} patients here). Use fewer replicates, or `metasim sweep`,"
            " which writes each patient to disk as it finishes")
    return est
