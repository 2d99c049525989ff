"""Every bundled scenario file loads and runs (small); generated scenarios behave."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim import MetastasisModel, ScenarioError, SimulationLimitError, make_scenario
from sim.anatomy import PRIMARY_SITES, TARGET_ORGANS
from sim.scenarios import is_experiment, list_scenarios, scenario_dir

FILES = sorted(p for p in scenario_dir().rglob("*.toml") if not is_experiment(p))


def test_there_are_bundled_scenarios():
    names = {n for n, _ in list_scenarios()}
    assert {"presets/breast", "presets/colorectal", "presets/prostate", "classroom/demo"} <= names


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_every_scenario_file_loads_documents_its_keys_and_runs(path):
    text = path.read_text()
    assert text.lstrip().startswith("#"), "a scenario file opens with a comment"
    assert re.search(r'^description = ".+"', text, re.M)
    model = MetastasisModel(path, overrides={"simulation.horizon_days": 60.0,
                                             "simulation.dt_days": 5.0})
    model.run()
    shed, alive, lost = model.conservation()
    assert shed == alive + lost and shed > 0


_prob = st.floats(0.0, 1.0)
_rate = st.floats(0.0, 5.0)


@st.composite
def scenarios(draw):
    blood = draw(_prob)
    lymph = draw(st.floats(0.0, 1.0 - blood))
    return {
        "hypothesis": draw(st.sampled_from(["ewing", "paget", "combined"])),
        "primary": {
            "site": draw(st.sampled_from(sorted(PRIMARY_SITES))),
            "initial_diameter_mm": draw(st.floats(0.5, 40.0)),
            "doubling_time_days": draw(st.floats(5.0, 500.0)),
            "shedding_rate_per_gram_per_day": draw(st.floats(0.0, 1e7)),
            "routes": {"blood": blood, "lymph": lymph, "cavity": 0.0,
                       "contiguous": 1.0 - blood - lymph},
        },
        "invasion": {"success_probability": draw(_prob)},
        "circulation": {"arrest_probability_per_pass": draw(_prob),
                        "ctc_half_life_hours": draw(st.floats(0.01, 100.0))},
        "clusters": {"fraction_of_shedding_events": draw(_prob),
                     "cells_per_cluster": draw(st.integers(2, 50))},
        "colonization": {"proliferation_rate_per_day": draw(st.floats(0.0, 1e-3)),
                         "micrometastasis_birth_rate_per_day": draw(_rate),
                         "micrometastasis_death_rate_per_day": draw(_rate),
                         "angiogenic_switch_rate_per_day": draw(_rate)},
        "tropism": {"strength": draw(st.floats(0.0, 2.0)),
                    "affinity": {draw(st.sampled_from(TARGET_ORGANS)): draw(st.floats(0, 10))}},
        "simulation": {"dt_days": draw(st.floats(0.5, 30.0)),
                       "horizon_days": draw(st.floats(1.0, 60.0)),
                       "aggregate": True, "seed": draw(st.integers(0, 2**32))},
    }


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=scenarios())
def test_generated_scenarios_run_or_fail_with_the_documented_errors(data):
    try:
        sc = make_scenario(data)
    except ScenarioError as e:
        assert str(e).startswith("invalid scenario")
        return
    model = MetastasisModel(sc)
    try:
        model.run()
    except SimulationLimitError as e:
        assert "colonization" in str(e) or "aggregate" in str(e)
        return
    shed, alive, lost = model.conservation()
    assert shed == alive + lost
