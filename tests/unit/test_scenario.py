"""Scenario schema: defaults, hypotheses, overrides and every class of bad input (API)."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.config.errors import ScenarioError
from sim.config.loading import load_scenario, make_scenario, parse_override
from sim.config.schema import HYPOTHESES, Scenario


def test_defaults_are_valid_and_resolved():
    sc = make_scenario({})
    assert isinstance(sc, Scenario)
    assert (sc.hypothesis, sc.delivery, sc.soil) == ("combined", "anatomical", "tropism")
    d = sc.resolved_dict()
    assert d["primary"]["routes"]["blood"] > 0
    assert d["patient"]["sex"] == "female"


@pytest.mark.parametrize("hyp", ["ewing", "paget", "combined"])
def test_hypotheses_are_cells_of_the_delivery_soil_table(hyp):
    sc = make_scenario({"hypothesis": hyp})
    assert (sc.delivery, sc.soil) == HYPOTHESES[hyp]


def test_explicit_delivery_or_soil_renames_the_hypothesis():
    sc = make_scenario({"hypothesis": "ewing", "delivery": "uniform"})
    assert (sc.hypothesis, sc.delivery, sc.soil) == ("null", "uniform", "neutral")
    assert make_scenario({"soil": "tropism", "hypothesis": "ewing"}).hypothesis == "combined"
    assert make_scenario({"hypothesis": "paget"}).with_hypothesis("ewing").delivery == "anatomical"


def test_a_validated_scenario_takes_a_hypothesis_override():
    from sim import MetastasisModel

    sc = make_scenario({"hypothesis": "combined"})
    assert make_scenario(sc.to_input(), ["hypothesis=paget"]).delivery == "uniform"
    model = MetastasisModel(sc, rng=1, overrides={"hypothesis": "ewing"})
    assert (model.scenario.delivery, model.scenario.soil) == ("anatomical", "neutral")
    assert make_scenario(sc.to_input()) == sc


def test_overrides_use_toml_values_and_dotted_paths():
    assert parse_override("simulation.dt_days=0.5") == ("simulation.dt_days", 0.5)
    assert parse_override("hypothesis=paget") == ("hypothesis", "paget")
    assert parse_override("simulation.aggregate=false") == ("simulation.aggregate", False)
    sc = make_scenario({"primary": {"subclones": [{"name": "a"}]}},
                       ["primary.site=colon", "simulation.replicates=3",
                        "primary.subclones.0.shedding=2.0"])
    assert sc.primary.site == "colon" and sc.simulation.replicates == 3
    assert sc.primary.subclones[0].shedding == 2.0


def test_sex_follows_the_site():
    assert make_scenario({"primary": {"site": "prostate"}}).sex == "male"
    with pytest.raises(ScenarioError, match="impossible"):
        make_scenario({"primary": {"site": "prostate"}, "patient": {"sex": "female"}})


BAD = [
    # (data, overrides, fragments the message must contain)
    ({"primary": {"sight": "breast"}}, [], ["primary.sight", "unknown key", "site"]),
    ({"simulation": {"dt_days": "1"}}, [], ["simulation.dt_days", "'1'", "valid number"]),
    ({"circulation": {"arrest_probability_per_pass": 1.5}}, [],
     ["circulation.arrest_probability_per_pass", "1.5", "less than or equal to 1"]),
    ({"primary": {"shedding_rate_per_gram_per_day": -3.0}}, [],
     ["primary.shedding_rate_per_gram_per_day", "-3.0", "greater than or equal to 0"]),
    ({"simulation": {"replicates": 0}}, [], ["simulation.replicates", "0", "greater than"]),
    ({"primary": {"site": "brest"}}, [], ["primary.site", "'brest'", "did you mean 'breast'",
                                           "allowed"]),
    ({"tropism": {"affinity": {"lungs": 2.0}}}, [], ["tropism.affinity.lungs", "unknown name",
                                                      "'lung'"]),
    ({"primary": {"contiguous": {"elbow": 1.0}}}, [], ["primary.contiguous.elbow"]),
    ({"simulation": {"dt_days": math.nan}}, [], ["simulation.dt_days", "nan", "finite"]),
    ({"primary": {"carrying_capacity_cells": math.inf}}, [], ["carrying_capacity_cells", "inf",
                                                              "finite"]),
    ({"hypothesis": "lamarck"}, [], ["hypothesis", "'lamarck'", "'ewing'", "'paget'"]),
    ({"primary": {"routes": {"blood": 0.7, "lymph": 0.7}}}, [],
     ["primary.routes must sum to 1", "1.4"]),
    ({"simulation": {"aggregate": 1}}, [], ["simulation.aggregate", "valid boolean"]),
    ({}, ["simulation.horizon_days=-1"], ["--set simulation.horizon_days", "-1",
                                          "greater than 0"]),
    ({}, ["colonization.foo=1"], ["--set colonization.foo", "unknown key"]),
]


@pytest.mark.parametrize(("data", "overrides", "fragments"), BAD)
def test_bad_input_gives_one_clear_message(data, overrides, fragments):
    with pytest.raises(ScenarioError) as info:
        make_scenario(data, overrides, source="my.toml")
    msg = str(info.value)
    for fragment in fragments:
        assert fragment in msg, msg
    if not overrides:
        assert "my.toml" in msg
    assert "Traceback" not in msg


def test_malformed_toml_names_the_file_and_line(tmp_path):
    p = tmp_path / "broken.toml"
    p.write_text('hypothesis = "ewing"\n[primary\nsite = "breast"\n')
    with pytest.raises(ScenarioError, match=r"broken\.toml: malformed TOML.*line 2"):
        load_scenario(p)


def test_missing_and_non_utf8_files(tmp_path):
    with pytest.raises(ScenarioError, match="no such file or bundled scenario"):
        load_scenario(tmp_path / "nope.toml")
    p = tmp_path / "latin1.toml"
    p.write_bytes('description = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(ScenarioError, match="not a UTF-8"):
        load_scenario(p)


def test_bad_override_syntax():
    with pytest.raises(ScenarioError, match="expected KEY=VALUE"):
        parse_override("simulation.dt_days")
    with pytest.raises(ScenarioError, match=r"is a value .*not a section"):
        make_scenario({"hypothesis": "ewing"}, ["hypothesis.x=1"])
    with pytest.raises(ScenarioError, match=r"--set hypothesis\.x.*'ewing', 'paget'"):
        make_scenario({}, ["hypothesis.x=1"])
    with pytest.raises(ScenarioError, match="not an index"):
        make_scenario({"primary": {"subclones": [{}]}}, ["primary.subclones.5.fraction=1"])
    with pytest.raises(ScenarioError, match="define the list in the file first"):
        make_scenario({}, ["primary.subclones.0.fraction=1"])


def test_bundled_names_resolve():
    assert load_scenario("breast").primary.site == "breast"
    assert load_scenario("classroom/demo").primary.site == "colon"


_values = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8))


@settings(max_examples=150, deadline=None)
@given(key=st.sampled_from([
    "primary.site", "primary.initial_diameter_mm", "primary.doubling_time_days",
    "primary.shedding_rate_per_gram_per_day", "hypothesis", "delivery", "soil",
    "simulation.dt_days", "simulation.horizon_days", "simulation.aggregate", "simulation.seed",
    "simulation.replicates", "circulation.arrest_probability_per_pass", "clusters.cells_per_cluster",
    "colonization.proliferation_rate_per_day", "tropism.strength", "patient.sex", "nonsense.key"]),
    value=_values)
def test_any_single_override_is_accepted_or_rejected_cleanly(key, value):
    """Whatever a user types, the result is a Scenario or a ScenarioError naming the key."""
    try:
        sc = make_scenario({}, [(key, value)])
    except ScenarioError as e:
        assert key.split(".")[0] in str(e)
    else:
        assert isinstance(sc, Scenario)


# Regressions: inputs that used to crash or mislead.
REVIEW = [
    ({"circulation": {"transit_death_fraction": 1.0},
      "clusters": {"transit_death_multiplier": 0.0}}, [], "circulating forever"),
    ({"primary": {"initial_diameter_mm": 1e-120}}, [], "greater than or equal to 0.05"),
    ({"primary": {"subclones": [1, 2]}}, ["primary.subclones.0.name=x"], "not a section"),
    ({"primary": {"shedding_rate_per_gram_per_day": 1e12}}, [], "less than or equal to 1000000000"),
    ({"primary": {"site": "prostate", "routes": {"blood": 0.5, "lymph": 0.0, "cavity": 0.0,
                                                 "contiguous": 0.5}, "contiguous": {"ovary": 1.0}}},
     [], "names no organ of this body"),
    ({"primary": {"site": "breast", "contiguous": {"skin": 0.0}}}, [], "positive weight"),
    ({"primary": {"site": "prostate", "routes": {"blood": 0.5, "lymph": 0.0, "cavity": 0.5,
                                                 "contiguous": 0.0}}}, [], "has no body cavity"),
    ({"simulation": {"dt_days": 1e-7}}, [], "at most 200,000 are allowed"),
]


@pytest.mark.parametrize(("data", "overrides", "fragment"), REVIEW)
def test_inputs_that_used_to_crash_now_fail_cleanly(data, overrides, fragment):
    with pytest.raises(ScenarioError, match=re.escape(fragment)):
        make_scenario(data, overrides)


def test_errors_in_the_file_are_not_blamed_on_an_unrelated_override():
    data = {"primary": {"subclones": [{"name": "a", "fraction": 0.5}]}}
    with pytest.raises(ScenarioError) as info:
        make_scenario(data, ["primary.site=colon"], source="f.toml")
    assert "f.toml" in str(info.value) and "sum to 1" in str(info.value)


def test_model_api_raises_scenario_error_for_a_bad_hypothesis():
    from sim import MetastasisModel

    with pytest.raises(ScenarioError, match="hypothesis"):
        MetastasisModel(hypothesis="foo")


@pytest.mark.parametrize("override, expected", [
    (("simulation.dt_days", 0.0), "(allowed range (0, 30])"),
    (("primary.shedding_mass_exponent", 2.0), "(allowed range [0, 1.5])"),
    (("simulation.organ_lethal_burden_cells", {"brain": -1.0}),
     "simulation.organ_lethal_burden_cells.brain = -1.0: Input should be greater than 1 "
     "(allowed range (1, 1e+13])"),
    (("intervention", [{"kind": "resection", "day": 5.0, "fraction_removed": 2.0}]),
     "(allowed range [0, 1])"),
])
def test_a_number_out_of_range_is_refused_with_its_whole_allowed_range(override, expected):
    """A bad number names both ends of its allowed range, not only the bound it broke, for
    a plain key, a value of an organ table and a field of a list item."""
    with pytest.raises(ScenarioError) as err:
        load_scenario("presets/breast", [override])
    assert expected in str(err.value)


@pytest.mark.parametrize("text, kind", [
    ("simulation.organ_lethal_burden_cells={brain=1e9", "table"),
    ("assay.report_days=[1.0, 3.0", "list"),
])
def test_a_malformed_table_or_list_in_set_is_called_malformed(text, kind):
    """An unclosed table or list is a syntax error, said as such (not "a table of settings,
    not a single value", which is what passing it on as a string produced)."""
    with pytest.raises(ScenarioError, match=f"not a valid TOML {kind}"):
        parse_override(text)
