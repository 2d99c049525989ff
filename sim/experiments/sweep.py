"""Running a sweep: every run of a design, by any executor, each stored as it ends.

:func:`sweep` builds the design (:mod:`sim.experiments.design`), skips the runs already in
the result store (:mod:`sim.experiments.store`), hands the rest to an executor
(:mod:`sim.experiments.executors`: serial, local processes or Dask) and writes each run's
record as soon as it finishes. A run that raises - or whose worker process dies, e.g. killed
by the out-of-memory killer - is recorded with its error while the sweep goes on. Results are
identical whichever executor runs them, with however many workers, in whatever order they
finish: each run carries its own random stream.

The names a sweep's user needs are importable from here: :func:`load_experiment`,
:func:`build_design`, :class:`ResultStore`, :func:`collect`, :func:`write_tables`.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config.loading import make_scenario
from ..engine.model import simulate
from ..engine.results import PatientResult
from ..io.folder import unmark
from .design import LoadedExperiment, Run, SweepError, build_design
from .executors import Executor, open_executor
from .outcomes import outcome_values
from .progress import progress_bar
from .replicates import choose_engine, simulate_batch
from .seeds import BATCH_PATIENTS, population_batches
from .store import ResultStore, write_tables

__all__ = ["Job", "SweepSummary", "estimate_seconds", "execute", "execute_job", "failed_record",
           "make_jobs", "record", "sweep"]



def _head(run: Run, status: str, error: str, wall_s: float) -> dict[str, Any]:
    row: dict[str, Any] = {"run_id": run.run_id, "scenario": run.scenario,
                           "hypothesis": run.hypothesis, "point": run.point,
                           "replicate": run.replicate, "seed": run.seed,
                           "spawn_key": run.replicate, "status": status, "error": error,
                           "wall_s": wall_s}
    for k, v in run.params:
        row[f"param:{k}"] = v
    return row


def record(run: Run, result: PatientResult, outputs: Sequence[str], wall_s: float) -> dict:
    """The flat, JSON-able row kept for one finished run: the run, its parameters and the
    declared outcomes (:mod:`sim.experiments.outcomes`) its output groups keep."""
    return {**_head(run, "ok", "", wall_s), **outcome_values(result, tuple(outputs))}


def failed_record(run: Run, error: str, wall_s: float = 0.0, tb: str = "") -> dict:
    """The row kept for a run that did not finish (its error instead of its outputs)."""
    return {**_head(run, "error", error, wall_s), "traceback": tb}


@dataclass
class Job:
    """Everything a worker needs for the runs of one job (picklable; no shared state).

    A job is one run (the Mesa model), or the runs of one design point whose replicates the
    population engine simulates together: ``batch`` is then the whole batch of replicates
    (:func:`~sim.experiments.seeds.population_batches`), simulated even when some of them
    are already stored (a resumed sweep gets the same patients as one never interrupted),
    and ``runs`` those to record.
    """

    runs: tuple[Run, ...]
    scenario: dict
    outputs: tuple[str, ...]
    batch: range | None = None

    @property
    def run(self) -> Run:
        """The first run of the job."""
        return self.runs[0]


def make_jobs(loaded: LoadedExperiment, runs: Iterable[Run]) -> Iterator[Job]:
    """The jobs of ``runs``, made one at a time as the executor asks for them: consecutive
    runs of the same design point and population-engine batch go into one job when the
    population engine runs the base scenario (:func:`~sim.experiments.replicates.choose_engine`)."""
    outputs = tuple(loaded.experiment.outputs)
    base_inputs = {label: sc.to_input() for label, sc in loaded.bases.items()}
    engines: dict[tuple[str, int], str] = {}
    group: list[Run] = []

    def flush() -> Iterator[Job]:
        if group:
            first = group[0]
            batch = population_batches(first.replicates)[first.replicate // BATCH_PATIENTS]
            yield Job(tuple(group), base_inputs[first.scenario], outputs, batch)
            group.clear()

    for run in runs:
        key = (run.scenario, run.replicates)
        if key not in engines:
            engines[key] = choose_engine(loaded.bases[run.scenario], run.replicates)
        if engines[key] != "population":
            yield from flush()
            yield Job((run,), base_inputs[run.scenario], outputs)
            continue
        if group and (group[0].scenario, group[0].hypothesis, group[0].point,
                      group[0].replicate // BATCH_PATIENTS) != (
                run.scenario, run.hypothesis, run.point, run.replicate // BATCH_PATIENTS):
            yield from flush()
        group.append(run)
    yield from flush()


def execute_job(job: Job) -> list[dict]:
    """Run one job; any exception becomes an error record for each of its runs (the sweep
    goes on)."""
    first = job.runs[0]
    t0 = time.perf_counter()
    try:
        overrides = [("hypothesis", first.hypothesis), *first.params]
        sc = make_scenario(job.scenario, overrides, source=first.run_id)
        if job.batch is not None and choose_engine(sc, len(job.batch)) == "population":
            results = {p.replicate: p for p in simulate_batch(sc, first.seed, job.batch)}
        else:   # one run, or a point whose parameters need the Mesa model
            results = {run.replicate: simulate(sc, run.stream, run.replicate)
                       for run in job.runs}
        wall = (time.perf_counter() - t0) / len(job.runs)
        return [record(run, results[run.replicate], job.outputs, wall) for run in job.runs]
    except Exception as e:  # recorded with its error, not swallowed
        wall = (time.perf_counter() - t0) / len(job.runs)
        tb = traceback.format_exc(limit=8)
        return [failed_record(run, f"{type(e).__name__}: {e}".strip(), wall, tb)
                for run in job.runs]


def execute(executor: Executor, jobs: Iterable[Job]) -> Generator[dict, None, None]:
    """Each run's record as its job finishes (completion order).

    ``jobs`` is consumed lazily, a few at a time, so it may be a generator over millions of
    runs. A job whose worker dies (or that fails outside the simulation) yields an error
    record for each of its runs; the others go on. Close the generator (or let it finish)
    to stop the workers.
    """
    done_runs = executor.as_completed(execute_job, jobs)
    try:
        for done in done_runs:
            if done.ok:
                yield from done.value
            else:
                for run in done.item.runs:
                    yield failed_record(run, done.error)
    finally:
        done_runs.close()


def estimate_seconds(loaded: LoadedExperiment, runs: int, workers: int) -> float:
    """Wall time the runs of a design will take on ``workers`` workers, estimated before
    anything runs from each base scenario's course (:func:`~sim.experiments.limits.
    estimate_patient`, upper-end constants); design points that change the course's length
    or the cells shed change it accordingly, which this does not see."""
    from .limits import estimate_patient

    per_base = runs / max(1, len(loaded.bases))
    total = sum(estimate_patient(sc, choose_engine(sc, loaded.experiment.replicates))
                .seconds_per_patient * per_base for sc in loaded.bases.values())
    return total / max(1, workers)


@dataclass
class SweepSummary:
    runs: int
    done_before: int
    ran: int
    errors: int
    wall_time_s: float
    errors_sample: list[str] = field(default_factory=list)
    #: Runs stored with an error before this sweep started (run again by it).
    failed_before: int = 0


def sweep(loaded: LoadedExperiment, out: str | Path, executor: str | Executor = "serial",
          workers: int = 1, scheduler: str | None = None, resume: bool = False,
          progress: bool | None = None,
          on_record: Callable[[dict], None] | None = None) -> SweepSummary:
    """Build the design, skip what is done, execute the rest, store each run as it ends.

    ``executor`` is an :class:`~sim.experiments.executors.Executor` or the name of one
    (``"serial"``, ``"processes"`` or ``"dask"``, with ``workers`` and, for Dask, the
    ``scheduler`` address; see :func:`~sim.experiments.executors.open_executor`).

    Memory does not grow with the design: runs are enumerated and handed to the executor
    as it asks for them, and nothing is kept per run but a count.

    Raises
    ------
    SweepError
        Before anything runs, if the design is too large (:func:`check_design_size`); at the
        end, if every run executed failed (see below).
    OutputError
        If ``out`` cannot be created or written (checked by writing there first), or a run
        cannot be stored.
    """
    ex = open_executor(executor, workers, scheduler)
    runs = build_design(loaded)
    store = ResultStore(out)
    store.prepare(loaded, runs, resume)
    unmark(store.folder)   # a finished output again only once this sweep is
    done_before = min(store.done_count(), len(runs))
    failed_before = len(store.failed_ids())
    todo = (r for r in runs if not store.has(r.run_id)) if done_before else iter(runs)
    t0 = time.perf_counter()
    sample: list[str] = []
    bar = progress_bar(progress, total=len(runs), initial=done_before, unit="run",
                       desc=f"sweep ({ex.name})", smoothing=0.05)
    with ex:
        ran, errors = _store_each(execute(ex, make_jobs(loaded, todo)), store, sample, bar,
                                  on_record)

    # Failures are recorded and the sweep goes on; a partial failure is reported in the
    # summary (the command prints how many failed and the first errors, exit status 0, the
    # rows carry status/error). But a sweep in which *every* run executed failed has no
    # result at all - almost always a design that cannot run (a value the simulation rejects
    # at run time, a scenario too large) - so it is an error: the tables are still written
    # (the error records are the only diagnosis) and SweepError (exit status 2) says so.
    if ran and errors == ran:
        write_tables(store)
        raise SweepError(
            f"{loaded.source}: every one of the {ran} run(s) failed; nothing to analyse. "
            f"First error: {sample[0]}. The error of each run is in {store.folder}/results.csv "
            f"(status, error) and its traceback in {store.folder}/runs/")
    return SweepSummary(len(runs), done_before, ran, errors, time.perf_counter() - t0, sample,
                        failed_before)


def _store_each(records: Generator[dict, None, None], store: ResultStore, sample: list[str], bar: Any,
                on_record: Callable[[dict], None] | None) -> tuple[int, int]:
    """Write each record as it arrives; return (runs, failed runs), the first failures in
    ``sample``."""
    ran = errors = 0
    try:
        for row in records:
            store.write(row)
            ran += 1
            if row["status"] != "ok":
                errors += 1
                if len(sample) < 5:
                    sample.append(f"{row['run_id']}: {row['error']}")
            if on_record:
                on_record(row)
            bar.update(1)
    finally:
        records.close()   # stops the workers at once if we leave early (Ctrl-C, an error)
        bar.close()
    return ran, errors
