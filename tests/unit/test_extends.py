"""``extends``: a scenario file built on another.

What these tests prove: the base is read first and the extending file deep-merged over it
(tables key by key; numbers, strings and arrays, arrays of tables included, replaced whole);
the extending file's values win and ``--set`` applies last; a bundled name, a relative path
and an absolute path all name a base; a cycle, a missing base, a chain too long or a bad
``extends`` value end in one message naming the files and the value, with exit status 2 and
no traceback; a bad value is blamed on the file that set it; the bundled clinical scenarios
run on their preset's calibrated patient; and the resolved scenario (what an output folder
keeps) loads on its own, without the base file.
"""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from sim import ScenarioError, load_scenario, make_scenario
from sim.apps.cli import main
from sim.config.bundled import scenario_dir
from sim.config.loading import MAX_EXTENDS_DEPTH, merge_scenarios, read_toml
from sim.experiments.design import load_experiment

CLINICAL = {"clinical/breast_adjuvant": "presets/breast",
            "clinical/breast_resection_at_diagnosis": "presets/breast",
            "clinical/late_relapse": "presets/breast",
            "clinical/colon_liver_resection": "presets/colon"}

BASE = """\
description = "base"
hypothesis = "ewing"

[primary]
site = "breast"
initial_diameter_mm = 4.0
doubling_time_days = 60.0
routes = { blood = 0.5, lymph = 0.5, cavity = 0.0, contiguous = 0.0 }

[[primary.subclones]]
name = "bulk"
fraction = 0.9

[[primary.subclones]]
name = "fast"
fraction = 0.1
proliferation = 3.0

[[intervention]]
kind = "resection"
at = "diagnosis"

[[intervention]]
kind = "systemic"
at = "diagnosis"

[tropism.affinity]
bone = 3.0
liver = 2.0

[simulation]
seed = 1
horizon_days = 100.0
"""


def write(folder, name: str, text: str):
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def cli(*args: str):
    """``metasim ARGS`` in-process; ``params`` validates a scenario without running it."""
    return CliRunner().invoke(main, list(args))


def assert_clean_failure(result, *needles: str) -> None:
    """Exit status 2, one ``metasim: error:`` message holding every needle, no traceback."""
    assert result.exit_code == 2, result.output
    assert result.output.startswith("metasim: error: "), result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    for needle in needles:
        assert needle in result.output, result.output


# ------------------------------------------------------------------------------ merging
def test_merge_tables_key_by_key_and_replace_everything_else():
    """Tables (inline ones too) merge key by key, recursively; a number, a string, an array
    and an array of tables replace the base's value whole; a table and a plain value replace
    each other; neither input is changed."""
    base = {"a": 1, "s": "x", "list": [1, 2, 3], "t": {"x": 1, "y": {"p": 1, "q": 2}},
            "aot": [{"k": 1}, {"k": 2}], "v": {"x": 1}, "w": 5}
    child = {"s": "y", "list": [9], "t": {"y": {"q": 20}, "z": 3}, "aot": [{"k": 7}],
             "v": 2, "w": {"x": 1}}
    before = json.dumps([base, child], sort_keys=True)
    merged = merge_scenarios(base, child)
    assert merged == {"a": 1, "s": "y", "list": [9],
                      "t": {"x": 1, "y": {"p": 1, "q": 20}, "z": 3},
                      "aot": [{"k": 7}], "v": 2, "w": {"x": 1}}
    assert json.dumps([base, child], sort_keys=True) == before


def test_a_file_extends_its_base_with_the_merge_rules(tmp_path):
    """Through real files: keys the child leaves out come from the base (primary.site,
    doubling time, hypothesis, tropism.affinity.liver); keys it sets win (initial diameter,
    tropism.affinity.bone, the seed); [[primary.subclones]] and [[intervention]] given in
    the child replace the base's arrays whole (one subclone and one intervention left, not
    merged item by item); ``extends`` is not part of the resolved scenario."""
    write(tmp_path, "base.toml", BASE)
    child = write(tmp_path, "child.toml", """\
extends = "base.toml"
description = "child"

[primary]
initial_diameter_mm = 6.0

[[primary.subclones]]
name = "only"
fraction = 1.0

[[intervention]]
kind = "resection"
day = 10.0

[tropism.affinity]
bone = 7.0

[simulation]
seed = 99
""")
    sc = load_scenario(child)
    assert sc.description == "child" and sc.hypothesis == "ewing"
    assert sc.primary.site == "breast" and sc.primary.doubling_time_days == 60.0
    assert sc.primary.initial_diameter_mm == 6.0
    assert [c.name for c in sc.primary.subclones] == ["only"]
    assert [(i.kind, i.day, i.at) for i in sc.intervention] == [("resection", 10.0, None)]
    assert sc.tropism.affinity == {"bone": 7.0, "liver": 2.0}
    assert sc.simulation.seed == 99 and sc.simulation.horizon_days == 100.0
    assert "extends" not in sc.resolved_dict() and "extends" not in sc.to_input()


def test_an_empty_child_is_its_base_and_set_applies_last(tmp_path):
    """A child that sets nothing but ``extends`` is the base scenario exactly; ``--set``
    overrides apply after the merge, over the child's and the base's values alike."""
    write(tmp_path, "base.toml", BASE)
    child = write(tmp_path, "child.toml", 'extends = "base.toml"\n[simulation]\nseed = 5\n')
    base = load_scenario(tmp_path / "base.toml")
    plain = load_scenario(write(tmp_path, "plain.toml", 'extends = "base.toml"\n'))
    assert plain.resolved_dict() == base.resolved_dict()
    sc = load_scenario(child, ["simulation.seed=7", "primary.doubling_time_days=80"])
    assert sc.simulation.seed == 7 and sc.primary.doubling_time_days == 80.0
    assert load_scenario(child).simulation.seed == 5


def test_a_base_is_a_bundled_name_a_relative_path_or_an_absolute_path(tmp_path):
    """``presets/breast`` (as ``metasim run`` takes it) names the bundled file; a path is
    relative to the extending file's folder (not the working folder), or absolute; a chain
    (child -> middle -> bundled preset) resolves through each file's own folder."""
    preset = load_scenario("presets/breast")
    by_name = write(tmp_path, "a/by_name.toml", 'extends = "presets/breast"\n')
    assert load_scenario(by_name).tropism.affinity == preset.tropism.affinity
    write(tmp_path, "bases/base.toml", BASE)
    relative = write(tmp_path, "a/b/relative.toml", 'extends = "../../bases/base.toml"\n')
    absolute = write(tmp_path, "absolute.toml",
                     f'extends = {json.dumps(str(tmp_path / "bases" / "base.toml"))}\n')
    elsewhere = tmp_path / "a"
    cwd = os.getcwd()
    os.chdir(elsewhere)   # a relative base is found from the file, wherever metasim runs
    try:
        assert load_scenario(relative).primary.doubling_time_days == 60.0
        assert load_scenario(absolute).primary.doubling_time_days == 60.0
    finally:
        os.chdir(cwd)
    write(tmp_path, "chain/middle.toml",
          'extends = "presets/breast"\n[simulation]\nseed = 3\nreplicates = 2\n')
    top = write(tmp_path, "chain/top.toml", 'extends = "middle.toml"\n[simulation]\nseed = 4\n')
    sc = load_scenario(top)
    assert (sc.simulation.seed, sc.simulation.replicates) == (4, 2)
    assert sc.tropism.affinity == preset.tropism.affinity


def test_make_scenario_resolves_extends_too():
    """The Python API: a mapping with ``extends`` (a bundled name) is built on that
    scenario, so a notebook can write ``{"extends": "presets/breast", ...}``."""
    sc = make_scenario({"extends": "presets/colon", "simulation": {"seed": 3}})
    assert sc.primary.site == "colon" and sc.simulation.seed == 3
    assert sc.tropism.affinity == load_scenario("presets/colon").tropism.affinity


# ------------------------------------------------------------------------------ bad input
def test_a_cycle_is_a_clean_error_naming_the_files(tmp_path):
    """a -> b -> a, and a file extending itself: one message naming the chain, exit 2."""
    a = write(tmp_path, "a.toml", 'extends = "b.toml"\n')
    write(tmp_path, "b.toml", 'extends = "./a.toml"\n')
    result = cli("params", str(a))
    assert_clean_failure(result, "extends = './a.toml'", "cycle",
                         f"{a} -> {tmp_path / 'b.toml'} -> {a}")
    itself = write(tmp_path, "self.toml", 'extends = "self.toml"\n')
    assert_clean_failure(cli("params", str(itself)), f"{itself}: extends = 'self.toml'",
                         "cycle")


def test_a_missing_base_is_a_clean_error(tmp_path):
    """A missing file names the path looked for; a mistyped bundled name gets the closest
    name; a bundled name written as a path gets the spelling that works."""
    missing = write(tmp_path, "m.toml", 'extends = "nowhere.toml"\n')
    assert_clean_failure(cli("params", str(missing)), f"{missing}: extends = 'nowhere.toml'",
                         f"no such file {tmp_path / 'nowhere.toml'}")
    typo = write(tmp_path, "t.toml", 'extends = "presets/braest"\n')
    assert_clean_failure(cli("params", str(typo)), "extends = 'presets/braest'",
                         "no such bundled scenario", "did you mean 'presets/breast'?")
    as_path = write(tmp_path, "p.toml", 'extends = "presets/breast.toml"\n')
    assert_clean_failure(cli("params", str(as_path)),
                         "for the bundled scenario write extends = 'presets/breast'")


@pytest.mark.parametrize(("value", "needle"), [
    ("3", "extends = 3: must be the name of a bundled scenario"),
    ('""', "extends = '': must be the name of a bundled scenario"),
    ('["presets/breast"]', "must be the name of a bundled scenario"),
    ('"experiments/seed_vs_soil"', "is an experiment file"),
])
def test_a_bad_extends_value_is_a_clean_error(tmp_path, value, needle):
    """Not a string, empty, a list, or an experiment file: named with what is allowed."""
    path = write(tmp_path, "x.toml", f"extends = {value}\n")
    assert_clean_failure(cli("params", str(path)), f"{path}: extends", needle)


def test_a_chain_longer_than_the_limit_is_a_clean_error(tmp_path):
    """A chain of MAX_EXTENDS_DEPTH extends loads; one more is refused, naming the
    chain."""
    write(tmp_path, "f0.toml", BASE)
    for i in range(1, MAX_EXTENDS_DEPTH + 2):
        write(tmp_path, f"f{i}.toml", f'extends = "f{i - 1}.toml"\n')
    assert load_scenario(tmp_path / f"f{MAX_EXTENDS_DEPTH}.toml").hypothesis == "ewing"
    top = tmp_path / f"f{MAX_EXTENDS_DEPTH + 1}.toml"
    assert_clean_failure(cli("params", str(top)), f"more than {MAX_EXTENDS_DEPTH} levels of extends",
                         str(tmp_path / "f0.toml"))


def test_messages_name_the_file_that_set_the_value(tmp_path):
    """A bad key in the extending file names the extending file; a bad value that came from
    the base names the base (and the file that extends it); a bad ``--set`` names the
    ``--set``; a malformed base names the base. Exit status 2, no traceback."""
    write(tmp_path, "base.toml", BASE.replace("doubling_time_days = 60.0",
                                              "doubling_time_days = -1.0"))
    child = write(tmp_path, "child.toml", 'extends = "base.toml"\n[primary]\ncolour = "red"\n')
    base_name = str(tmp_path / "base.toml")
    result = cli("params", str(child), "--set", "simulation.seed=-3")
    assert_clean_failure(
        result, f"{child}: primary.colour = 'red': unknown key",
        f"{base_name} (extended by {child}): primary.doubling_time_days = -1.0",
        "--set simulation.seed=-3")
    write(tmp_path, "broken.toml", "[primary\n")
    bad = write(tmp_path, "bad.toml", 'extends = "broken.toml"\n')
    assert_clean_failure(cli("params", str(bad)), f"{bad}: extends = 'broken.toml'",
                         f"{tmp_path / 'broken.toml'}: malformed TOML")
    # A value checked across keys (the merged primary.routes) names both files.
    routes = write(tmp_path, "routes.toml", 'extends = "presets/breast"\n'
                   "[primary]\nroutes = { blood = 0.9 }\n")
    assert_clean_failure(cli("params", str(routes)), f"{routes} (with presets/breast)",
                         "primary.routes must sum to 1")


def test_an_experiment_file_cannot_extend(tmp_path):
    """``extends`` is a scenario key: an experiment file names its scenarios instead."""
    path = write(tmp_path, "e.toml", 'extends = "presets/breast"\nscenarios = ["breast"]\n')
    with pytest.raises(ScenarioError, match="only a scenario file can extend"):
        read_toml(path)


def test_an_experiment_may_name_an_extending_scenario(tmp_path):
    """``metasim sweep`` reads its base scenarios with the same merge: an experiment over a
    clinical scenario runs on the preset's calibrated patient plus the clinical changes."""
    exp = write(tmp_path, "exp.toml", """\
description = "test"
scenarios = ["clinical/late_relapse"]
hypotheses = ["combined"]
replicates = 1
""")
    base = load_experiment(exp).bases["clinical-late_relapse"]
    preset = load_scenario("presets/breast")
    assert base.tropism.affinity == preset.tropism.affinity
    assert base.colonization.dormant_death_rate_per_day == 2e-4


# ------------------------------------------------------------------------------ bundled
@pytest.mark.parametrize("name", sorted(CLINICAL))
def test_clinical_scenarios_run_on_the_calibrated_preset_patient(name):
    """Each clinical scenario extends its preset, and every calibrated value of the preset
    (soil affinities under both deliveries, colonisation rates, growth, shedding, subclones,
    the cascade, how patients differ) is the preset's; only the clinical story
    (interventions, sizes, course, seed, late_relapse's long-lived dormant cells, and no
    resected twin) differs."""
    preset_name = CLINICAL[name]
    raw = (scenario_dir() / f"{name}.toml").read_text(encoding="utf-8")
    assert f'extends = "{preset_name}"' in raw
    sc, preset = load_scenario(name), load_scenario(preset_name)
    assert sc.tropism == preset.tropism
    assert sc.tropism.affinity and sc.tropism.affinity_uniform_delivery
    col, pcol = sc.colonization.model_dump(), preset.colonization.model_dump()
    if name == "clinical/late_relapse":
        assert col.pop("dormant_death_rate_per_day") == 2e-4
        pcol.pop("dormant_death_rate_per_day")
    assert col == pcol
    for section in ("patient", "invasion", "circulation", "lymph", "cavity", "clusters",
                    "extravasation"):
        assert getattr(sc, section) == getattr(preset, section), section
    # The same patients; a treated course need not run the untreated twin.
    pop, ppop = sc.population.model_dump(), preset.population.model_dump()
    pop.pop("assess_initiated"), ppop.pop("assess_initiated")
    if name == "clinical/late_relapse":  # one patient's story: the preset's median patient
        assert pop.pop("heterogeneity") is False
        ppop.pop("heterogeneity")
    assert pop == ppop
    p, pp = sc.primary.model_dump(), preset.primary.model_dump()
    for key in ("initial_diameter_mm", "diagnosis_diameter_mm"):
        p.pop(key), pp.pop(key)
    assert p == pp
    assert sc.hypothesis == preset.hypothesis
    assert sc.intervention and not preset.intervention


@pytest.mark.parametrize("name", sorted(CLINICAL))
def test_the_resolved_scenario_reloads_on_its_own(tmp_path, name):
    """What an output folder keeps (scenario.json, Scenario.resolved_dict) holds no
    ``extends`` and every inherited value, so it validates alone to the same scenario: as
    JSON data, and written out as a TOML file in a folder with no base file next to it."""
    import tomlkit

    sc = load_scenario(name)
    resolved = sc.resolved_dict()
    assert "extends" not in resolved
    again = make_scenario(json.loads(json.dumps(resolved)), source="scenario.json")
    assert again.resolved_dict() == resolved

    def drop_none(v):
        if isinstance(v, dict):
            return {k: drop_none(x) for k, x in v.items() if x is not None}
        if isinstance(v, list):
            return [drop_none(x) for x in v]
        return v

    alone = tmp_path / "alone" / "scenario.toml"
    alone.parent.mkdir()
    alone.write_text(tomlkit.dumps(drop_none(resolved)), encoding="utf-8")
    assert load_scenario(alone).resolved_dict() == resolved
