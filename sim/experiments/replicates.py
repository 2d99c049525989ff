"""Replicates and comparisons: *what* to run, kept apart from running it.

A run is a list of (scenario, replicate) jobs; replicate ``i`` draws from child ``i`` of
``SeedSequence(seed)`` (:mod:`sim.experiments.seeds`), so a result does not depend on how
many replicates or workers there are, on the executor (:mod:`sim.experiments.executors`) or
on the order they finish in. A comparison runs every hypothesis on the *same* children
(common random numbers), so differences between hypotheses are not sampling noise between
seeds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..config.schema import Scenario
from ..engine.model import simulate
from ..engine.population import PopulationEngine
from ..engine.results import PatientResult
from .executors import Executor, SerialExecutor
from .progress import progress_bar
from .seeds import batch_stream, population_batches, replicate_stream, resolve_seed


@dataclass
class RunResult:
    """Replicates of one scenario."""

    scenario: Scenario
    seed: int
    patients: list[PatientResult]
    wall_time_s: float
    seed_note: str = ""
    extra: dict = field(default_factory=dict)
    #: The engine that simulated the patients ("mesa" or "population").
    engine: str = "mesa"

    @property
    def replicates(self) -> int:
        return len(self.patients)


def run_replicates(scenario: Scenario, replicates: int | None = None, seed: int | None = None,
                   *, progress: bool | None = None, desc: str | None = None,
                   executor: Executor | None = None,
                   on_patient: Callable[[PatientResult], None] | None = None,
                   keep_timeseries: int | None = None) -> RunResult:
    """Simulate ``replicates`` patients of one scenario.

    Parameters
    ----------
    replicates, seed
        Default to ``simulation.replicates`` and the seed :func:`~sim.experiments.seeds.resolve_seed`
        chooses (``simulation.seed``, else one drawn from OS entropy and recorded).
    progress
        Show a progress bar (None: only on a terminal). A single long patient (estimated
        over half a minute) run in this process gets a bar over its days.
    executor
        Runs the patients (default: this process, one after the other); results are the
        same whichever executes them.
    on_patient
        Called with each patient as it finishes, in replicate order (e.g. to write its rows
        to disk at once).
    keep_timeseries
        With ``on_patient``: keep the time series of the first this many patients only and
        drop the rest once handed over, so memory does not grow with their number.
    """
    ex = executor or SerialExecutor()
    n = replicates or scenario.simulation.replicates
    seed_value, note = resolve_seed(scenario, seed)
    t0 = time.perf_counter()
    day_bar = False
    engine = choose_engine(scenario, n)
    if engine == "population":
        stream: Iterable[PatientResult] = (
            p for batch in ex.map(_simulate_batch_job, ((scenario, seed_value, b)
                                                        for b in population_batches(n)))
            for p in batch)
    else:
        if ex.in_process and n == 1 and progress is not False:
            from .limits import estimate_patient

            day_bar = estimate_patient(scenario).seconds_per_patient > 30.0
        stream = ex.map(_simulate_job, ((scenario, seed_value, i, day_bar) for i in range(n)))
    patients = []
    for i, patient in enumerate(progress_bar(progress and not day_bar, stream, total=n,
                                             desc=desc or f"{scenario.primary.site} / "
                                                          f"{scenario.hypothesis}",
                                             unit="patient", leave=False)):
        if on_patient is not None:
            on_patient(patient)
            if keep_timeseries is not None and i >= keep_timeseries:
                patient.timeseries = []
        patients.append(patient)
    return RunResult(scenario, seed_value, patients, time.perf_counter() - t0, note,
                     engine=engine)


def choose_engine(scenario: Scenario, replicates: int) -> str:
    """The engine that simulates ``replicates`` patients of ``scenario``:
    ``simulation.engine`` when set; else the population engine for two patients or more
    (the same biology, many times faster: :mod:`sim.engine.population`) unless the scenario
    needs the Mesa model (:meth:`~sim.config.schema.Scenario.population_engine_blockers`);
    else the Mesa model (one patient, with its day-by-day progress)."""
    if scenario.simulation.engine is not None:
        return scenario.simulation.engine
    if replicates >= 2 and not scenario.population_engine_blockers():
        return "population"
    return "mesa"


def compare(scenario: Scenario, hypotheses: Sequence[str], replicates: int | None = None,
            seed: int | None = None, *, progress: bool | None = None,
            executor: Executor | None = None,
            on_patient: Mapping[str, Callable[[PatientResult], None]] | None = None,
            keep_timeseries: int | None = None) -> dict[str, RunResult]:
    """Run each hypothesis on the same replicate streams (``on_patient`` per hypothesis),
    on one ``executor`` whose workers are kept for the whole comparison."""
    ex = executor or SerialExecutor()
    seed_value, note = resolve_seed(scenario, seed)
    out = {}
    with ex:
        for h in hypotheses:
            r = run_replicates(scenario.with_hypothesis(h), replicates, seed_value,
                               progress=progress, desc=f"{scenario.primary.site} / {h}",
                               executor=ex, on_patient=(on_patient or {}).get(h),
                               keep_timeseries=keep_timeseries)
            r.seed_note = note
            out[h] = r
    return out


def batch_engine(scenario: Scenario, seed: int, replicates: range,
                 **options: Any) -> PopulationEngine:
    """The population engine for patients ``replicates`` (one batch of
    :func:`~sim.experiments.seeds.population_batches`) of ``scenario``, with the batch's own
    stream; ``options`` go to :class:`PopulationEngine`."""
    from .seeds import BATCH_PATIENTS

    rng = np.random.default_rng(batch_stream(seed, replicates.start // BATCH_PATIENTS))
    return PopulationEngine(scenario, [replicate_stream(seed, r) for r in replicates], rng,
                            replicates, **options)


def simulate_batch(scenario: Scenario, seed: int, replicates: range) -> list[PatientResult]:
    """Patients ``replicates`` (one batch of :func:`~sim.experiments.seeds.population_batches`)
    of ``scenario`` with the population engine."""
    return batch_engine(scenario, seed, replicates).run()


def _simulate_batch_job(job: tuple[Scenario, int, range]) -> list[PatientResult]:
    return simulate_batch(*job)


def _simulate_job(job: tuple[Scenario, int, int, bool]) -> PatientResult:
    scenario, seed, i, day_bar = job
    return simulate(scenario, replicate_stream(seed, i), replicate=i, progress=day_bar)


__all__ = ["RunResult", "batch_engine", "choose_engine", "compare", "run_replicates",
           "simulate_batch"]
