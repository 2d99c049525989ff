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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from tqdm.auto import tqdm

from ..config.schema import Scenario
from ..engine.model import simulate
from ..engine.results import PatientResult
from .executors import Executor, SerialExecutor
from .seeds import replicate_stream, resolve_seed


@dataclass
class RunResult:
    """Replicates of one scenario."""

    scenario: Scenario
    seed: int
    patients: list[PatientResult]
    wall_time_s: float
    seed_note: str = ""
    extra: dict = field(default_factory=dict)

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
    if ex.in_process and n == 1 and progress is not False:
        from .limits import estimate_patient

        day_bar = estimate_patient(scenario).seconds_per_patient > 30.0
    jobs = ((scenario, seed_value, i, day_bar) for i in range(n))
    patients = []
    for i, patient in enumerate(tqdm(ex.map(_simulate_job, jobs), total=n,
                                     disable=_no_bar(progress) or day_bar,
                                     desc=desc or f"{scenario.primary.site} / "
                                                  f"{scenario.hypothesis}",
                                     unit="patient", leave=False)):
        if on_patient is not None:
            on_patient(patient)
            if keep_timeseries is not None and i >= keep_timeseries:
                patient.timeseries = []
        patients.append(patient)
    return RunResult(scenario, seed_value, patients, time.perf_counter() - t0, note)


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


def _simulate_job(job: tuple[Scenario, int, int, bool]) -> PatientResult:
    scenario, seed, i, day_bar = job
    return simulate(scenario, replicate_stream(seed, i), replicate=i, progress=day_bar)


def _no_bar(progress: bool | None) -> bool | None:
    if progress is None:
        return None  # tqdm: disable when not a terminal
    return not progress


__all__ = ["RunResult", "compare", "run_replicates"]
