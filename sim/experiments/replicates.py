"""Replicates and comparisons: *what* to run, kept apart from running it.

A run is a list of (scenario, replicate seed) pairs. Replicate streams come from
``numpy.random.SeedSequence(seed).spawn(replicates)``: replicate ``i`` always gets child
``i``, so a result does not depend on how many replicates or workers there are or the order
they finish in. A comparison runs every hypothesis on the *same* children (common random
numbers), so differences between hypotheses are not sampling noise between seeds.
"""

from __future__ import annotations

import itertools
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from ..config.scenario import Scenario
from ..engine.model import simulate
from ..engine.results import PatientResult


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


def resolve_seed(scenario: Scenario, seed: int | None) -> tuple[int, str]:
    """The seed to use and how it was chosen."""
    if seed is not None:
        return int(seed), "given on the command line / in the call"
    if scenario.simulation.seed is not None:
        return int(scenario.simulation.seed), "simulation.seed of the scenario"
    entropy = np.random.SeedSequence().entropy
    assert isinstance(entropy, int)  # drawn from the OS when no entropy is given
    entropy = entropy % (2**63)
    return entropy, "drawn from OS entropy (no seed given); recorded here to reproduce"


def replicate_stream(seed: int, replicate: int) -> np.random.SeedSequence:
    """Child ``replicate`` of ``SeedSequence(seed)``, in O(1).

    Identical to ``SeedSequence(seed).spawn(n)[replicate]`` for any ``n > replicate`` (a
    child is the parent's entropy with spawn key ``(replicate,)``), without building the
    ``n - 1`` other children.
    """
    return np.random.SeedSequence(seed, spawn_key=(int(replicate),))


def replicate_streams(seed: int, replicates: int) -> list[np.random.SeedSequence]:
    """Independent child streams, one per replicate."""
    return [replicate_stream(seed, r) for r in range(replicates)]


def run_replicates(scenario: Scenario, replicates: int | None = None, seed: int | None = None,
                   *, progress: bool | None = None, desc: str | None = None,
                   mapper: Callable[..., Iterable[PatientResult]] | None = None,
                   on_patient: Callable[[PatientResult], None] | None = None,
                   keep_timeseries: int | None = None) -> RunResult:
    """Simulate ``replicates`` patients of one scenario.

    Parameters
    ----------
    replicates, seed
        Default to ``simulation.replicates`` and ``simulation.seed``.
    progress
        Show a progress bar (None: only on a terminal). A single long patient (estimated
        over half a minute) gets a bar over its days.
    mapper
        ``mapper(fn, items)`` executes the runs (serial by default) and yields results in
        job order; results are the same whichever executes them.
    on_patient
        Called with each patient as it finishes, in replicate order (e.g. to write its rows
        to disk at once).
    keep_timeseries
        With ``on_patient``: keep the time series of the first this many patients only and
        drop the rest once handed over, so memory does not grow with their number.
    """
    n = replicates or scenario.simulation.replicates
    seed_value, note = resolve_seed(scenario, seed)
    t0 = time.perf_counter()
    run = mapper or _serial
    day_bar = False
    if mapper is None and n == 1 and progress is not False:
        from .limits import estimate_patient

        day_bar = estimate_patient(scenario).seconds_per_patient > 30.0
    jobs = ((scenario, seed_value, i, day_bar) for i in range(n))
    patients = []
    for i, patient in enumerate(tqdm(run(_simulate_job, jobs), total=n,
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
            mapper: Callable[..., Iterable[PatientResult]] | None = None,
            on_patient: Mapping[str, Callable[[PatientResult], None]] | None = None,
            keep_timeseries: int | None = None) -> dict[str, RunResult]:
    """Run each hypothesis on the same replicate streams (``on_patient`` per hypothesis)."""
    seed_value, note = resolve_seed(scenario, seed)
    out = {}
    for h in hypotheses:
        r = run_replicates(scenario.with_hypothesis(h), replicates, seed_value,
                           progress=progress, desc=f"{scenario.primary.site} / {h}", mapper=mapper,
                           on_patient=(on_patient or {}).get(h), keep_timeseries=keep_timeseries)
        r.seed_note = note
        out[h] = r
    return out


class WorkerError(RuntimeError):
    """A worker process died (killed, e.g. by the out-of-memory killer)."""


def available_cores() -> int:
    """Cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def resolve_workers(requested: int | None, oversubscribe: bool = False) -> int:
    """Worker processes to use: all cores by default, never more than the cores unless
    ``oversubscribe`` (each worker holds ~200 MB and more workers than cores add no speed).

    Raises
    ------
    RunTooLargeError
        More workers than cores were asked for without ``oversubscribe``.
    """
    from .limits import RunTooLargeError

    cores = available_cores()
    if requested is None:
        return cores
    if requested > cores and not oversubscribe:
        raise RunTooLargeError(
            f"--workers {requested}: this machine has {cores} core(s); more worker processes "
            f"than cores add memory (~200 MB each), not speed. Use --workers {cores} or fewer, "
            "or add --oversubscribe")
    return requested


def _worker_init(parent_pid: int) -> None:
    """Worker processes leave Ctrl-C to the parent and exit when the parent dies."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass

    def watch() -> None:  # portable fallback (and for a parent that died before prctl)
        while True:
            if os.getppid() != parent_pid:
                os._exit(1)
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True, name="metasim-parent-watch").start()


@contextmanager
def local_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """A process pool whose workers ignore Ctrl-C and exit when the parent dies.

    The workers are started at once, with SIGINT ignored while they start (a Ctrl-C during
    their imports cannot print their tracebacks), from the "spawn" context (so their parent
    is this process, which the parent-death watch relies on). On any exception - Ctrl-C and
    SIGTERM included - queued jobs are cancelled and the workers are killed, so the command
    ends at once instead of waiting for the patients in flight.
    """
    import multiprocessing

    pool = ProcessPoolExecutor(max_workers=workers, initializer=_worker_init,
                               initargs=(os.getpid(),),
                               mp_context=multiprocessing.get_context("spawn"))
    # Each submit starts one worker (spawn: a fresh interpreter). SIGINT is ignored only
    # while they are created, so they start ignoring it (Python keeps an inherited SIG_IGN)
    # and a Ctrl-C during their imports reaches the parent alone.
    previous = signal.getsignal(signal.SIGINT) if _main_thread() else None
    if previous is not None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        warm = [pool.submit(_started) for _ in range(workers)]
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    try:
        for f in warm:
            f.result()
        yield pool
    except BaseException:
        _kill_workers(pool)
        raise
    pool.shutdown(wait=True)


def _started() -> int:
    return os.getpid()


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _kill_workers(pool: ProcessPoolExecutor) -> None:
    """Cancel what is queued and kill the workers (the standard library offers no public
    way: ``shutdown`` waits for running jobs, which can take minutes of simulation)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        try:
            p.kill()
        except (OSError, ValueError):
            pass
    for p in processes:
        p.join(timeout=5)


def ordered_map(pool: ProcessPoolExecutor, fn: Callable, items: Iterable,
                window: int) -> Iterator:
    """``map`` over a pool with at most ``window`` jobs submitted at a time, results in
    item order: memory stays bounded however many items there are."""
    it = iter(items)
    pending: deque = deque(pool.submit(fn, x) for x in itertools.islice(it, window))
    while pending:
        try:
            result = pending.popleft().result()
        except BrokenProcessPool:
            raise WorkerError("a worker process died while simulating (killed, perhaps by the "
                              "out-of-memory killer); nothing was written. Try fewer --workers "
                              "or a smaller scenario") from None
        for x in itertools.islice(it, 1):
            pending.append(pool.submit(fn, x))
        yield result


def process_mapper(workers: int) -> Callable[..., Iterable[PatientResult]] | None:
    """A ``mapper`` running jobs on ``workers`` local processes (None: serial); each call
    starts and ends its own pool (see :func:`shared_mapper` to keep one for many calls).

    Results come back in job order, so a run is the same whatever the number of workers.
    """
    if workers <= 1:
        return None

    def mapper(fn, items):
        with local_pool(workers) as pool:
            yield from ordered_map(pool, fn, items, window=4 * workers)
    return mapper


@contextmanager
def shared_mapper(workers: int) -> Iterator[Callable[..., Iterable[PatientResult]] | None]:
    """A ``mapper`` on one pool of ``workers`` processes kept for the whole ``with`` block,
    so a comparison or a validation over many presets pays the start of the workers once
    (None: serial)."""
    if workers <= 1:
        yield None
        return
    with local_pool(workers) as pool:
        def mapper(fn, items):
            yield from ordered_map(pool, fn, items, window=4 * workers)
        yield mapper


def _simulate_job(job: tuple[Scenario, int, int, bool]) -> PatientResult:
    scenario, seed, i, day_bar = job
    return simulate(scenario, replicate_stream(seed, i), replicate=i, progress=day_bar)


def _serial(fn, items):
    for item in items:
        yield fn(item)


def _no_bar(progress: bool | None) -> bool | None:
    if progress is None:
        return None  # tqdm: disable when not a terminal
    return not progress
