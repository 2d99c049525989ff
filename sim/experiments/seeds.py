"""Seeds and random streams: one convention for every experiment.

A run is reproduced from one integer, its *seed*. Replicate ``i`` draws from child ``i`` of
``numpy.random.SeedSequence(seed)`` (:func:`replicate_stream`), whatever the number of
replicates, workers or executor, and whatever order the replicates finish in; every
hypothesis of a comparison, every point of a sweep and every iteration of a calibration
reuses the same children (common random numbers), so differences between them are not
noise between seeds. A design's own draws (random or Latin-hypercube points) come from a
child of its own, :func:`design_stream`, apart from every replicate's.

"No seed" has one meaning: :func:`resolve_seed` takes the scenario's ``simulation.seed``,
and when that is unset too, draws a fresh seed from the operating system's entropy and
returns it with a note, so the run is recorded (``metadata.json``) and can be reproduced.
An experiment file always has a seed (``seed = 1`` unless it says otherwise): a sweep is
stored run by run and resumed, which needs the same streams every time.
"""

from __future__ import annotations

import numpy as np

from ..config.schema import Scenario

#: Spawn key of a design's own stream: far above any replicate index (at most 10^6).
DESIGN_SPAWN_KEY = 2**31
#: Spawn key (after the seed) of the population engine's batch streams.
POPULATION_SPAWN_KEY = 2**31 + 2
#: Patients the population engine steps together (fixed: see :func:`population_batches`;
#: large enough that numpy's cost per call is spread thin, benchmarks/README.md).
BATCH_PATIENTS = 250


def resolve_seed(scenario: Scenario, seed: int | None,
                 unset: int | None = None) -> tuple[int, str]:
    """The seed to use and how it was chosen.

    ``seed`` if given, else the scenario's ``simulation.seed``, else ``unset`` if given (a
    command whose output must not vary, such as an animation for slides), else a seed drawn
    from OS entropy (recorded, so the run can be reproduced).
    """
    if seed is not None:
        return int(seed), "given on the command line / in the call"
    if scenario.simulation.seed is not None:
        return int(scenario.simulation.seed), "simulation.seed of the scenario"
    if unset is not None:
        return int(unset), "the fixed default of this command (no seed given)"
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


def patient_generator(seed: int, replicate: int = 0) -> np.random.Generator:
    """The generator of patient ``replicate`` of ``seed``: ``metasim animate --seed S`` and
    the classroom app show the same patient as replicate 0 of ``metasim run --seed S``."""
    return np.random.default_rng(replicate_stream(seed, replicate))


def replicate_streams(seed: int, replicates: int) -> list[np.random.SeedSequence]:
    """Independent child streams, one per replicate (:func:`replicate_stream` of each)."""
    return [replicate_stream(seed, r) for r in range(replicates)]


def design_stream(seed: int) -> np.random.Generator:
    """The generator of a design's own draws (sample points), apart from the replicates'."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(DESIGN_SPAWN_KEY,)))


def batch_stream(seed: int, batch: int) -> np.random.SeedSequence:
    """The stream of the courses of the population engine's batch ``batch`` (patients
    ``batch * BATCH_PATIENTS`` onwards, :func:`population_batches`); each patient's traits
    and measurements still come from its own :func:`replicate_stream`."""
    return np.random.SeedSequence(seed, spawn_key=(POPULATION_SPAWN_KEY, int(batch)))


def population_batches(replicates: int) -> list[range]:
    """The patients of each batch of the population engine, in order. Batches are fixed by
    the patients' numbers, never by the number of workers, so a seed gives the same
    patients whatever runs them."""
    return [range(b, min(b + BATCH_PATIENTS, replicates))
            for b in range(0, replicates, BATCH_PATIENTS)]


def describe_population_streams(seed: int) -> str:
    """How the population engine's courses draw their random numbers (``metadata.json``)."""
    return (f"population engine: patients in batches of {BATCH_PATIENTS} (0-"
            f"{BATCH_PATIENTS - 1}, ...); batch b draws its courses from SeedSequence({seed}, "
            f"spawn_key=({POPULATION_SPAWN_KEY}, b)); each patient's traits and measurements "
            "come from its replicate stream")


def describe_streams(seed: int, replicates: int) -> str:
    """How the replicate streams of a run were derived (for ``metadata.json``)."""
    return (f"numpy.random.SeedSequence({seed}).spawn({replicates}); replicate i uses child i "
            "with numpy's default PCG64 Generator")


__all__ = [
    "BATCH_PATIENTS",
    "DESIGN_SPAWN_KEY",
    "POPULATION_SPAWN_KEY",
    "batch_stream",
    "describe_population_streams",
    "describe_streams",
    "design_stream",
    "patient_generator",
    "population_batches",
    "replicate_stream",
    "replicate_streams",
    "resolve_seed",
]
