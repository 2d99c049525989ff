"""The random streams: every branch of a seed, in one place.

A run is reproduced from one integer, its seed. Everything random in metasim draws from a
child of ``numpy.random.SeedSequence(seed)``, and the children are told apart by their
*spawn keys*:

============================  ==============================================================
spawn key                     stream
============================  ==============================================================
``(i,)``, ``i < 2**31``       replicate (patient) ``i``: its traits and, in the Mesa model,
                              its course (:func:`replicate_stream`)
``(i, 2**31 + 1)``            patient ``i``'s measurements (CTCs, DTCs, nodes): apart from
                              its course, so measuring never changes it
                              (:func:`measurement_stream`)
``(2**31,)``                  a design's own draws (random or Latin-hypercube points)
``(2**31 + 2, b)``            the courses of the population engine's batch ``b``
``(2**31 + 3, ...)``          a calibration's simulations, never shared with the replicate
                              streams that validation uses (:func:`calibration_seed`)
============================  ==============================================================

Replicate indices stay below ``2**31`` (at most 10^6 are allowed), so no two streams can
coincide. This module imports nothing of metasim: the engine, the experiments and the
calibration all take their streams from here.
"""

from __future__ import annotations

import numpy as np

#: Spawn key of a design's own stream: far above any replicate index (at most 10^6).
DESIGN_SPAWN_KEY = 2**31
#: Spawn key (appended to the patient's) of the stream that measurements draw from.
MEASUREMENT_SPAWN_KEY = 2**31 + 1
#: Spawn key (after the seed) of the population engine's batch streams.
POPULATION_SPAWN_KEY = 2**31 + 2
#: Spawn key (after the seed) of a calibration's simulations.
CALIBRATION_SPAWN_KEY = 2**31 + 3
#: Patients the population engine steps together (fixed: see :func:`population_batches`;
#: large enough that numpy's cost per call is spread thin, benchmarks/README.md).
BATCH_PATIENTS = 250


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


def measurement_stream(seed_sequence: np.random.SeedSequence) -> np.random.Generator:
    """The stream a patient's measurements draw from: a child of its own stream, apart from
    its course (measuring never changes the course)."""
    ss = seed_sequence
    return np.random.default_rng(np.random.SeedSequence(
        ss.entropy, spawn_key=(*ss.spawn_key, MEASUREMENT_SPAWN_KEY)))


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


def calibration_seed(seed: int, *path: int) -> int:
    """A 32-bit seed for one simulation of a calibration (``path`` names it: generation,
    batch, slot...), from the calibration's own branch of ``SeedSequence(seed)``."""
    ss = np.random.SeedSequence(seed, spawn_key=(CALIBRATION_SPAWN_KEY, *(int(p) for p in path)))
    return int(ss.generate_state(1, np.uint32)[0])


__all__ = [
    "BATCH_PATIENTS",
    "CALIBRATION_SPAWN_KEY",
    "DESIGN_SPAWN_KEY",
    "MEASUREMENT_SPAWN_KEY",
    "POPULATION_SPAWN_KEY",
    "batch_stream",
    "calibration_seed",
    "design_stream",
    "measurement_stream",
    "patient_generator",
    "population_batches",
    "replicate_stream",
    "replicate_streams",
]
