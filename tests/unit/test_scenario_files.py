"""Every bundled scenario file loads and runs (small); generated scenarios behave."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim import MetastasisModel, ScenarioError, SimulationLimitError, load_scenario, make_scenario
from sim.biology.anatomy import PRIMARY_SITES, TARGET_ORGANS
from sim.biology.cascade import gompertz_rate_from_doubling
from sim.biology.units import diameter_to_cells
from sim.config.bundled import is_experiment, list_scenarios, scenario_dir
from sim.experiments.design import load_experiment

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


# ------------------------------------------------------------------------------------------
# Descriptions say what the files hold
# ------------------------------------------------------------------------------------------
EXPERIMENTS = sorted(p for p in scenario_dir().rglob("*.toml") if is_experiment(p))
_NUM = r"(\d+(?:\.\d+)?(?:e\d+)?)"
_WORDS = {w: i for i, w in enumerate(("zero", "one", "two", "three", "four", "five", "six",
                                      "seven", "eight", "nine", "ten", "eleven", "twelve"))}
YEAR = 365.25


def _number(token: str) -> float:
    return float(_WORDS.get(token.lower(), token))


def _days_to_diagnosis(sc) -> float:
    """Day the primary reaches its diagnosis size: the Gompertz law the model grows it by,
    solved exactly (``ln(N/K)`` decays as ``exp(-a t)``)."""
    p = sc.primary
    K = p.carrying_capacity_cells
    n0, n1 = diameter_to_cells(p.initial_diameter_mm), diameter_to_cells(p.diagnosis_diameter_mm)
    a = gompertz_rate_from_doubling(p.doubling_time_days, n1, K)
    return -math.log(math.log(n1 / K) / math.log(n0 / K)) / a


def _scenario_checks(sc):
    """(pattern, check(match)) for the phrases a scenario description may state numbers in."""
    p, sim = sc.primary, sc.simulation
    horizon_years = sim.horizon_days / YEAR

    def systemic_months(m):
        durations = [i.duration_days for i in sc.intervention if i.kind == "systemic"]
        assert durations and all(abs(d / 30.44 - float(m[1])) < 0.25 for d in durations)

    def cells_shed(m):
        model = MetastasisModel(sc.to_input(), rng=sim.seed)
        model.run()
        assert model.ledger.shed_total >= float(m[1]), model.ledger.shed_total

    return [
        (rf"from {_NUM} mm", lambda m: p.initial_diameter_mm == pytest.approx(float(m[1]))),
        (rf"from {_NUM} cells",
         lambda m: diameter_to_cells(p.initial_diameter_mm) == pytest.approx(float(m[1]), rel=0.01)),
        (rf"(?:diagnosed|removed|resected|diagnosis)(?: at)? \(?{_NUM} (mm|cm)",
         lambda m: p.diagnosis_diameter_mm
         == pytest.approx(float(m[1]) * (10 if m[2] == "cm" else 1))),
        (rf"~{_NUM} years of follow-up",
         lambda m: (sim.horizon_days - _days_to_diagnosis(sc)) / YEAR
         == pytest.approx(float(m[1]), abs=0.5)),
        (rf"{_NUM}[- ]years?\b(?! of follow-up)",
         lambda m: horizon_years == pytest.approx(float(m[1]), abs=0.05)),
        (rf"{_NUM} days", lambda m: sim.horizon_days == pytest.approx(float(m[1]))),
        (rf"{_NUM} months of systemic therapy", systemic_months),
        (rf">= {_NUM} cells shed", cells_shed),
        (r"\b[A-Z][a-z]+ (1[89]\d\d|20\d\d)\b", lambda m: None),   # a citation's year
    ]


def _experiment_checks(exp):
    params = exp.design.parameters

    def half_life_range(m):
        spec = params["circulation.ctc_half_life_hours"]
        low, high = (min(spec.values), max(spec.values)) if spec.values else (spec.low, spec.high)
        assert (low, high) == (float(m[1]), float(m[2]))

    return [
        (rf"\b({'|'.join(_WORDS)}|\d+) cancers", lambda m: len(exp.scenarios) == _number(m[1])),
        (rf"{_NUM} patients each", lambda m: exp.replicates == _number(m[1])),
        (rf"\({_NUM} parameters\)", lambda m: len(params) == _number(m[1])),
        (rf"CTC half-life {_NUM}-{_NUM} h", half_life_range),
        (r"\b[A-Z][a-z]+ (1[89]\d\d|20\d\d)\b", lambda m: None),
    ]


def _check_description(label: str, text: str, checks) -> None:
    covered: list[tuple[int, int]] = []
    for pattern, check in checks:
        for m in re.finditer(pattern, text):
            result = check(m)
            assert result is None or result, f"{label}: {m[0]!r} does not match the file"
            covered.append(m.span())
    numbers = rf"(?<![\w.]){_NUM}(?![\w])|\b(?:{'|'.join(_WORDS)})\b"
    for m in re.finditer(numbers, text, re.I):
        assert any(a <= m.start() and m.end() <= b for a, b in covered), (
            f"{label}: description {text!r} states {m[0]!r} in a phrase this test cannot "
            "check against the file; state it as one of the phrases in _scenario_checks / "
            "_experiment_checks (or add one)")


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_scenario_description_matches_the_file(path):
    """Every number a scenario's description states is the file's resolved value: sizes in
    mm or cm (``from X mm`` = primary.initial_diameter_mm; ``diagnosed/removed/resected at``
    = primary.diagnosis_diameter_mm), years and days (simulation.horizon_days; ``~N years
    of follow-up`` = horizon minus the day the primary reaches its diagnosis size), months
    of therapy, cells. A number in any other phrasing fails the test, so a description
    cannot state a number nobody checks."""
    sc = load_scenario(str(path))
    _check_description(str(path.relative_to(scenario_dir())), sc.description,
                       _scenario_checks(sc))


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_experiment_description_matches_the_file(path):
    """The same for experiment files: number of base scenarios, replicates, varied
    parameters and the half-life range they state."""
    loaded = load_experiment(path)
    _check_description(str(path.relative_to(scenario_dir())), loaded.experiment.description,
                       _experiment_checks(loaded.experiment))


def _resolved(scenario, dotted: str):
    value = scenario.resolved_dict()
    for part in dotted.split("."):
        value = value[part]
    return value


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_every_varied_range_contains_the_base_scenarios_own_value(path):
    """A design varies each parameter around the value the base scenario uses (after the
    experiment's [set]): a range that excludes it explores only other models. Fails, for
    example, for a colonisation range of 3e-11-3e-10 on the breast preset (1.223e-11)."""
    loaded = load_experiment(path)
    for key, spec in loaded.experiment.design.parameters.items():
        for label, base in loaded.bases.items():
            own = _resolved(base, key)
            low, high = ((min(spec.values), max(spec.values)) if spec.values
                         else (spec.low, spec.high))
            assert low <= own <= high, f"{path.stem}: {key} over [{low:g}, {high:g}] " \
                                       f"excludes {label}'s own {own:g}"
