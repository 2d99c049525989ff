"""Replicates and comparisons: *what* to run, kept apart from running it.

A run is a list of (scenario, replicate seed) pairs. Replicate streams come from
``numpy.random.SeedSequence(seed).spawn(replicates)``: replicate ``i`` always gets child
``i``, so a result does not depend on how many replicates or workers there are or the order
they finish in. A comparison runs every hypothesis on the *same* children (common random
numbers), so differences between hypotheses are not sampling noise between seeds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from .model import PatientResult, simulate
from .scenario import Scenario


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
    entropy = int(np.random.SeedSequence().entropy % (2**63))
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
                   mapper: Callable[..., Iterable[PatientResult]] | None = None) -> RunResult:
    """Simulate ``replicates`` patients of one scenario.

    Parameters
    ----------
    replicates, seed
        Default to ``simulation.replicates`` and ``simulation.seed``.
    progress
        Show a progress bar (None: only on a terminal).
    mapper
        ``mapper(fn, items)`` executes the runs (serial by default); results are the same
        whichever executes them.
    """
    n = replicates or scenario.simulation.replicates
    seed_value, note = resolve_seed(scenario, seed)
    streams = replicate_streams(seed_value, n)
    t0 = time.perf_counter()
    jobs = [(scenario, s, i) for i, s in enumerate(streams)]
    run = mapper or _serial
    patients = list(tqdm(run(_simulate_job, jobs), total=n, disable=_no_bar(progress),
                         desc=desc or f"{scenario.primary.site} / {scenario.hypothesis}",
                         unit="patient", leave=False))
    return RunResult(scenario, seed_value, patients, time.perf_counter() - t0, note)


def compare(scenario: Scenario, hypotheses: Sequence[str], replicates: int | None = None,
            seed: int | None = None, *, progress: bool | None = None,
            mapper: Callable[..., Iterable[PatientResult]] | None = None) -> dict[str, RunResult]:
    """Run each hypothesis on the same replicate streams."""
    seed_value, note = resolve_seed(scenario, seed)
    out = {}
    for h in hypotheses:
        r = run_replicates(scenario.with_hypothesis(h), replicates, seed_value,
                           progress=progress, desc=f"{scenario.primary.site} / {h}", mapper=mapper)
        r.seed_note = note
        out[h] = r
    return out


def process_mapper(workers: int) -> Callable[..., Iterable[PatientResult]] | None:
    """A ``mapper`` running jobs on ``workers`` local processes (None: serial).

    Results come back in job order, so a run is the same whatever the number of workers.
    """
    if workers <= 1:
        return None

    def mapper(fn, items):
        from concurrent.futures import ProcessPoolExecutor

        items = list(items)
        with ProcessPoolExecutor(max_workers=min(workers, len(items) or 1)) as pool:
            yield from pool.map(fn, items)
    return mapper


def _simulate_job(job: tuple[Scenario, np.random.SeedSequence, int]) -> PatientResult:
    scenario, stream, i = job
    return simulate(scenario, stream, replicate=i)


def _serial(fn, items):
    for item in items:
        yield fn(item)


def _no_bar(progress: bool | None) -> bool | None:
    if progress is None:
        return None  # tqdm: disable when not a terminal
    return not progress
