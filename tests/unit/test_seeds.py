"""The seeding convention (sim/experiments/seeds.py): replicate ``i`` of seed ``s`` draws
from child ``i`` of ``numpy.random.SeedSequence(s)``, as ``metadata.json`` tells the user
(``describe_streams``). Exact checks: a stream is compared with numpy's own
``SeedSequence(s).spawn(n)[i]`` by the state it generates."""

from __future__ import annotations

import numpy as np
import pytest

from sim import load_scenario
from sim.engine.model import patient_traits
from sim.experiments.replicates import run_replicates
from sim.experiments.seeds import (
    describe_streams,
    design_stream,
    patient_generator,
    replicate_stream,
    replicate_streams,
)

from ..conftest import DATA


def _state(ss: np.random.SeedSequence) -> list[int]:
    return ss.generate_state(8).tolist()


@pytest.mark.parametrize("seed", [0, 1, 7, 2**40 + 3])
def test_replicate_i_is_child_i_of_the_seed_sequence(seed):
    """For every replicate i of n: ``replicate_stream(seed, i)``, ``replicate_streams(seed,
    n)[i]`` and ``patient_generator(seed, i)`` are numpy's ``SeedSequence(seed).spawn(n)[i]``
    (same generated state, same first draws), and n does not change child i. A stream
    shifted by one child (replicate i drawing from child i + 1, or i - 1) differs from
    child i in its state and fails here."""
    n = 6
    children = np.random.SeedSequence(seed).spawn(n)
    streams = replicate_streams(seed, n)
    assert len(streams) == n
    for i, child in enumerate(children):
        assert _state(replicate_stream(seed, i)) == _state(child), i
        assert _state(streams[i]) == _state(child), i
        assert _state(replicate_stream(seed, i)) == _state(
            np.random.SeedSequence(seed).spawn(i + 1)[i]), i
        assert patient_generator(seed, i).random(4).tolist() == \
            np.random.default_rng(child).random(4).tolist(), i
    # The children differ from each other (so the equalities above pin the index).
    assert len({tuple(_state(c)) for c in children}) == n
    # The design's own stream is none of the replicates'.
    assert design_stream(seed).random(4).tolist() not in [
        np.random.default_rng(c).random(4).tolist() for c in children]
    assert f"SeedSequence({seed}).spawn({n}); replicate i uses child i" in \
        describe_streams(seed, n)


@pytest.mark.parametrize("engine", ["population", "mesa"])
def test_a_runs_patient_i_has_the_traits_of_child_i(engine):
    """End to end, with either engine: patient i of ``run_replicates(..., seed=11)`` has the
    traits that child i of ``SeedSequence(11)`` gives (``patient_traits``, the draws of the
    Mesa model's start), and every patient's differ (the population spreads are on), so a
    run whose replicate i took another child fails here."""
    sc = load_scenario(DATA / "small.toml", [
        ("simulation.horizon_days", 3.0), ("simulation.engine", engine),
        ("population.doubling_time_log_sd", 0.3), ("population.shedding_log_sd", 0.5),
        ("population.diagnosis_diameter_log_sd", 0.2)])
    n = 4
    run = run_replicates(sc, n, 11, progress=False)
    assert run.engine == engine
    children = np.random.SeedSequence(11).spawn(n)
    expected = [patient_traits(sc, c).as_dict() for c in children]
    got = [p.traits for p in run.patients]
    assert [p.replicate for p in run.patients] == list(range(n))
    assert got == expected
    assert len({tuple(sorted(t.items())) for t in expected}) == n
