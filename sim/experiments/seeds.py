"""Seeds and random streams: one convention for every experiment.

A run is reproduced from one integer, its *seed*; every branch of it is defined in
:mod:`sim.streams` (re-exported here). Replicate ``i`` draws from child ``i`` of
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
from ..streams import (
    BATCH_PATIENTS,
    DESIGN_SPAWN_KEY,
    POPULATION_SPAWN_KEY,
    batch_stream,
    design_stream,
    patient_generator,
    population_batches,
    replicate_stream,
    replicate_streams,
)


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
