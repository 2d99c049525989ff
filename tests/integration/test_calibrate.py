"""`metasim calibrate`: fitting soil affinities to the autopsy table by simulation."""

from __future__ import annotations

import json
import re
import tomllib

import pytest
from click.testing import CliRunner

from sim.apps.cli import main
from sim.biology.anatomy import TARGET_ORGANS
from sim.biology.reference import DISIBIO_2008
from sim.config.bundled import scenario_dir
from sim.config.errors import ScenarioError
from sim.config.loading import load_scenario
from sim.experiments.calibrate import AFFINITY_FIELD, _z, calibrate, format_fit, write_affinities


def test_agreement_statistic_is_the_two_proportion_z():
    # 30 of 100 observed vs 12 of 40 simulated: identical fractions, z = 0.
    assert _z(12, 40, 30, 100) == pytest.approx(0.0)
    # A large, clear difference gives a large z; symmetric in which side is larger.
    assert _z(36, 40, 30, 100) > 5
    assert _z(4, 40, 90, 100) == pytest.approx(_z(36, 40, 10, 100))
    # A zero count still has a variance (continuity correction): z stays finite.
    assert 0 < _z(0, 40, 1, 100) < 2


@pytest.fixture(scope="module")
def small_fit(small_scenario_path):
    sc = load_scenario(small_scenario_path)
    return sc, calibrate(sc, replicates=8, max_iterations=2, seed=3)


def test_calibration_reports_every_table_organ_and_moves_the_ones_that_disagree(small_fit):
    """Round 1 of the fit (8 patients of the small scenario, seed 3) leaves organs outside
    the interval - the precondition, checked - and round 2 moves exactly those, towards the
    table: up where the simulation had too few, down where it had too many. Both rounds use
    the same streams, so round 1 of a two-round fit is the one-round fit."""
    sc, cal = small_fit
    row = DISIBIO_2008.counts("breast")
    assert [f.organ for f in cal.organs] == list(row)
    # Every organ gets an affinity (organs the table lacks keep their starting value).
    assert set(cal.affinities) == set(TARGET_ORGANS)
    assert all(v > 0 for v in cal.affinities.values())
    start = calibrate(sc, replicates=8, max_iterations=1, seed=3)
    assert start.outside(), "round 1 agrees everywhere: this fixture no longer tests a move"
    assert cal.iterations == 2 and cal.history[0]["outside"] == start.outside()
    for f in start.organs:
        new = cal.affinities[f.organ]
        if f.within:
            assert new == pytest.approx(f.affinity)
        elif f.simulated < f.observed:
            assert new > f.affinity
        else:
            assert new < f.affinity
    text = format_fit(cal)
    for organ in row:
        assert organ in text
    assert "observed" in text and "simulated" in text


def test_same_seed_same_fit(small_scenario_path, small_fit):
    sc, cal = small_fit
    again = calibrate(sc, replicates=8, max_iterations=2, seed=3)
    assert again.affinities == cal.affinities


def test_write_affinities_keeps_the_file_and_its_comments(tmp_path, small_fit):
    _, cal = small_fit
    target = tmp_path / "breast.toml"
    original = (scenario_dir() / "presets" / "breast.toml").read_text(encoding="utf-8")
    target.write_text(original, encoding="utf-8")
    write_affinities(cal, target, "presets/breast --replicates 8")
    text = target.read_text(encoding="utf-8")
    # Every comment line of the original is still there.
    # (the fitted table itself, with its note, is what gets replaced)
    kept = original.split("[tropism.affinity]")[0]
    for line in kept.splitlines():
        if line.strip().startswith("#"):
            assert line in text
    assert "Fitted by `metasim calibrate presets/breast --replicates 8`" in text
    data = tomllib.loads(text)
    written = data["tropism"][AFFINITY_FIELD["anatomical"]]
    affinities, competence = cal.normalised()
    assert set(written) == set(cal.affinities)
    for organ, value in affinities.items():
        assert written[organ] == pytest.approx(value, rel=1e-3)
        # Normalising moves the level into the competence: the hazards are unchanged.
        assert value * competence == pytest.approx(
            cal.affinities[organ] * cal.scenario.colonization.competence)
    # The written file is a valid scenario and uses the affinities and the competence.
    sc = load_scenario(target)
    assert sc.tropism.affinity["liver"] == pytest.approx(affinities["liver"], rel=1e-3)
    assert sc.colonization.competence == pytest.approx(competence, rel=1e-3)
    # Writing again replaces the table rather than adding a second one.
    write_affinities(cal, target)
    assert len(re.findall(r"^\[tropism.affinity\]", target.read_text(), flags=re.M)) == 1


def test_uniform_delivery_writes_its_own_field(tmp_path, small_scenario_path):
    sc = load_scenario(small_scenario_path)
    cal = calibrate(sc, "uniform", replicates=5, max_iterations=1, seed=1)
    target = tmp_path / "s.toml"
    target.write_text(small_scenario_path.read_text(encoding="utf-8"), encoding="utf-8")
    write_affinities(cal, target)
    data = tomllib.loads(target.read_text(encoding="utf-8"))
    assert "affinity_uniform_delivery" in data["tropism"]
    assert "affinity" not in data["tropism"]


def test_bad_calibration_requests_are_clear(small_scenario_path):
    sc = load_scenario(small_scenario_path)
    with pytest.raises(ScenarioError, match="delivery"):
        calibrate(sc, "sideways", replicates=5, max_iterations=1)
    runner = CliRunner()
    res = runner.invoke(main, ["calibrate", "presets/nowhere", "--method", "point", "--replicates", "5"])
    assert res.exit_code == 2 and "no such file or bundled scenario" in res.output
    res = runner.invoke(main, ["calibrate", str(small_scenario_path), "--method", "point",
                               "--write", "/no/such/folder/x.toml"])
    assert res.exit_code == 2 and "does not exist" in res.output
    res = runner.invoke(main, ["calibrate", str(small_scenario_path), "--method", "point",
                               "--delivery", "both"])
    assert res.exit_code == 2


def test_cli_prints_the_fit_and_writes_a_copy(tmp_path, small_scenario_path):
    target = tmp_path / "fitted.toml"
    res = CliRunner().invoke(main, ["calibrate", str(small_scenario_path), "--method", "point",
                                    "--replicates", "5", "--iterations", "1", "--seed", "2",
                                    "--write", str(target)])
    assert res.exit_code == 0, res.output
    assert "regional_lymph_nodes" in res.output and "interval" in res.output
    sc = load_scenario(target)
    assert sc.tropism.affinity  # the fitted table is in the copy
    assert sc.simulation.horizon_days == load_scenario(small_scenario_path).simulation.horizon_days


def test_presets_record_their_bayesian_calibration():
    """Every preset comes from a Bayesian calibration (the joint `metasim
    calibrate-presets`, or `metasim calibrate` of that preset alone): its fitted tables say
    which command, seed and pyabc version made them, and name every organ (an organ left out
    would take a Weiss-index default on another scale)."""
    for path in sorted((scenario_dir() / "presets").glob("*.toml")):
        text = path.read_text(encoding="utf-8")
        assert re.search(r"Fitted by `metasim calibrate(-presets)? [^`]*--seed \d+[^`]*` on "
                         r"[\d-]+: seed \d+, pyabc [\d.]+", text), path.name
        sc = load_scenario(path)
        assert set(sc.tropism.affinity) >= set(TARGET_ORGANS), path.name
        assert set(sc.tropism.affinity_uniform_delivery) >= set(TARGET_ORGANS), path.name


@pytest.mark.parametrize("text", ["tropism = 5\n", "colonization = 3\n",
                                  "[build-system]\nrequires = ['hatchling']\n",
                                  "not toml [[\n"])
def test_write_target_that_is_not_a_scenario_is_refused_before_the_fit(tmp_path, monkeypatch,
                                                                      text):
    """A `--write` target that is not a metasim scenario (not TOML, valid TOML of the wrong
    shape, another project's TOML) is refused before any simulation and left as it was; it
    used to end in a traceback after the fit, or to be edited."""
    from click.testing import CliRunner

    from sim.apps.cli import main

    target = tmp_path / "target.toml"
    target.write_text(text)
    calls = []
    monkeypatch.setattr("sim.experiments.calibrate.calibrate", lambda *a, **k: calls.append(1))
    res = CliRunner().invoke(main, ["calibrate", "presets/colon", "--method", "point",
                                    "--replicates", "5", "--iterations", "1",
                                    "--write", str(target)],
                             catch_exceptions=False)
    assert res.exit_code == 2 and str(target) in res.output and calls == []
    assert target.read_text() == text


# --------------------------------------------------------------------------------------
# --method bayes (the Bayesian calibration)
# --------------------------------------------------------------------------------------

_QUICK = ["--set", "simulation.horizon_days=120", "--set", "simulation.dt_days=5",
          "--soil-patients", "20", "--workers", "1"]


def test_bayes_refuses_bad_requests_before_any_simulation(tmp_path, monkeypatch):
    """Each refusal is one message naming the option, exit status 2, and comes before the
    calibration starts (it is replaced by a function that records being called)."""
    calls = []
    monkeypatch.setattr("sim.experiments.inference.calibrate_preset",
                        lambda *a, **k: calls.append(1))
    held = tmp_path / "held"
    held.mkdir()
    (held / "mine.txt").write_text("not metasim's")
    cases = [
        (["--out", str(held)], "already holds files"),
        (["--out", str(tmp_path / "new"), "--resume"], "no calibration to continue"),
        (["--parameters", "shedding,charm"], "--parameters"),
        (["--replicates", "5"], "--replicates is an option of --method point"),
        (["--method", "point", "--generations", "2"], "--generations is an option of --method bayes"),
    ]
    for extra, words in cases:
        res = CliRunner().invoke(main, ["calibrate", "presets/colon", *extra])
        assert res.exit_code == 2, (extra, res.output)
        assert words in res.output and "Traceback" not in res.output, (extra, res.output)
    assert calls == []
    assert (held / "mine.txt").read_text() == "not metasim's"  # nothing of the user's touched


@pytest.mark.slow
def test_bayes_writes_the_posterior_a_scenario_and_figures(tmp_path):
    """A preset without population targets (colon) end to end on short courses: the files
    the README lists are written, the scenario loads and records its provenance (seed, data,
    pyabc version), and its affinities are the soil posterior's medians."""
    out = tmp_path / "cal"
    res = CliRunner().invoke(main, ["calibrate", "presets/colon", "--out", str(out),
                                    "--seed", "4", *_QUICK])
    assert res.exit_code == 0, res.output
    for name in ("calibration.json", "course_posterior.parquet", "soil_posterior.parquet",
                 "scenario.toml", "figures/predictive_sites.png"):
        assert (out / name).is_file(), name
    text = (out / "scenario.toml").read_text(encoding="utf-8")
    assert "Fitted by `metasim calibrate presets/colon --seed 4" in text and "pyabc" in text
    # The whole command, settings and free parameters included, so that it reproduces.
    flat = " ".join(line.lstrip("# ") for line in text.splitlines())
    assert "--population " in flat and "--cohort " in flat and "--parameters shedding," in flat
    assert set(sc_organs := load_scenario(out / "scenario.toml").tropism.affinity) >= set(
        TARGET_ORGANS), sc_organs  # every organ explicit, none left to a rescaled default
    summ = json.loads((out / "calibration.json").read_text())
    sc = load_scenario(out / "scenario.toml")
    # The file normalises (competence x mean, affinities / mean): the hazards, competence x
    # affinity, are the posterior medians'.
    comp = summ["soil"]["combined"]["competence"]
    for organ, value in summ["soil"]["combined"]["affinity"].items():
        assert sc.colonization.competence * sc.tropism.affinity[organ] == pytest.approx(
            comp * value, rel=2e-3)
    assert "no population target" in " ".join(summ["notes"])
    # Written over itself (as calibrate-presets --write-presets does on a resumed run), the
    # course keeps its value: a relative factor written against the file it overwrites was
    # applied again on every pass (the shipped presets' shedding carries it 3-4 times).
    from sim.experiments.course_parameters import COURSE_PARAMETERS
    from sim.io.calibration import write_scenario

    entry = summ["course"]["combined"]["shedding"]
    entry["median"] = 0.5   # a factor of 10^0.5 of the preset's own shedding
    entry["value"] = COURSE_PARAMETERS["shedding"].value(0.5, load_scenario("presets/colon"))
    once = write_scenario(summ, out / "scenario.toml", tmp_path / "once.toml")
    twice = write_scenario(summ, once, once)
    assert load_scenario(twice).primary.shedding_rate_per_gram_per_day == pytest.approx(
        entry["value"], rel=1e-3)
