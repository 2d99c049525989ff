"""Regression tests: special files, deep nesting, duplicated
subclone names and mistyped scenario names end in one clear message and exit status 2,
without blocking, exhausting memory or a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sim.config.errors import ScenarioError
from sim.config.loading import (
    MAX_FILE_BYTES,
    MAX_NESTING,
    check_nesting,
    load_scenario,
    make_scenario,
    nesting_depth,
)

CLI = [sys.executable, "-m", "sim.apps.cli"]


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """The real command in a subprocess, with a timeout: a hang fails the test."""
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout,
                          check=False)


def assert_clean_failure(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    for n in needles:
        assert n in proc.stderr, proc.stderr


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_device_is_refused_without_reading_it(tmp_path):
    """/dev/zero used to be read until MemoryError; now it is refused as not a regular file."""
    proc = run_cli("run", "/dev/zero", "--out", str(tmp_path / "o"), timeout=30)
    assert_clean_failure(proc, "/dev/zero", "not a regular file")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_without_blocking(tmp_path):
    """A FIFO with no writer used to block forever; the timeout makes a regression fail."""
    fifo = tmp_path / "scenario.toml"
    os.mkfifo(fifo)
    proc = run_cli("run", str(fifo), "--out", str(tmp_path / "o"), timeout=30)
    assert_clean_failure(proc, str(fifo), "not a regular file")


def test_an_oversized_file_is_refused(tmp_path):
    """A file over the size limit is refused by its size, not read."""
    big = tmp_path / "big.toml"
    big.write_text("# " + "x" * MAX_FILE_BYTES + "\n")
    with pytest.raises(ScenarioError, match="at most"):
        load_scenario(big)


def test_an_unreadable_file_gives_a_message(tmp_path, monkeypatch):
    """A file that cannot be opened (permission denied) is a ScenarioError, not a
    PermissionError. Simulated, since the tests may run as root, who can read anything."""
    path = tmp_path / "s.toml"
    path.write_text('hypothesis = "ewing"\n')
    real_open = os.open

    def deny(p, *a, **k):
        if Path(p) == path:
            raise PermissionError(13, "Permission denied", str(p))
        return real_open(p, *a, **k)

    monkeypatch.setattr(os, "open", deny)
    with pytest.raises(ScenarioError, match="permission denied"):
        load_scenario(path)


@pytest.mark.parametrize("text", [
    "v = " + "[" * 600 + "]" * 600,                      # arrays
    "v = " + "{ a = " * 600 + "1" + " }" * 600,          # inline tables
    "[" + ".".join(["a"] * 600) + "]\nb = 1\n",          # dotted tables
    "[" + ".".join(["a"] * (MAX_NESTING + 2)) + "]\nb = 1\n",  # just over the limit
])
def test_deep_nesting_in_a_file_is_refused(tmp_path, text):
    """Deep nesting used to end in RecursionError; now a message names the file and limit."""
    path = tmp_path / "deep.toml"
    path.write_text(text)
    proc = run_cli("run", str(path), "--out", str(tmp_path / "o"))
    assert_clean_failure(proc, str(path), "nested")


def test_nesting_up_to_the_limit_is_accepted_and_one_more_level_is_refused():
    """The depth limit sits exactly at MAX_NESTING: a value that deep passes, one level
    deeper is refused with a message, and real scenarios (4 levels) are far below it."""
    def nested(depth: int) -> dict:
        value: dict = {"leaf": 1}
        while nesting_depth(value) < depth:
            value = {"x": value}
        assert nesting_depth(value) == depth
        return value

    check_nesting(nested(MAX_NESTING), "test.toml")
    with pytest.raises(ScenarioError, match=r"test\.toml.*nested"):
        check_nesting(nested(MAX_NESTING + 1), "test.toml")
    deepest_real = make_scenario({"primary": {"subclones": [{"name": "a", "fraction": 1.0}]}})
    assert deepest_real.primary.subclones[0].name == "a"
    assert nesting_depth({"primary": {"subclones": [{"name": "a"}]}}) < MAX_NESTING


@pytest.mark.parametrize("override", [
    ".".join(["a"] * 500) + "=1",
    "primary.x=" + "[" * 500 + "]" * 500,
])
def test_deep_nesting_in_set_is_refused(tmp_path, override):
    """`--set` with ~500 key parts or a deeply nested value gives a message, not a
    RecursionError."""
    proc = run_cli("run", "breast", "--set", override, "--out", str(tmp_path / "o"))
    assert_clean_failure(proc, "--set", "nested" if "[" in override else "key parts")


def test_deep_mapping_from_python_is_refused():
    """The API checks depth too (a notebook may build the mapping by hand)."""
    deep: dict = {}
    node = deep
    for _ in range(700):
        node["a"] = {}
        node = node["a"]
    with pytest.raises(ScenarioError, match="nested"):
        make_scenario(deep)


def test_duplicated_subclone_name_is_named_as_such():
    """Two subclones with one name used to be reported as 'fractions must sum to 1
    (got a 0.5 = 0.5)'; the message now says the name is duplicated."""
    with pytest.raises(ScenarioError) as err:
        make_scenario({"primary": {"subclones": [{"name": "a", "fraction": 0.5},
                                                 {"name": "a", "fraction": 0.5}]}})
    msg = str(err.value)
    assert "'a' is used more than once" in msg
    assert "sum to 1" not in msg


@pytest.mark.parametrize(("typed", "meant"), [("brest", "presets/breast"),
                                               ("presets/prostat", "presets/prostate"),
                                               ("classroom/dem", "classroom/demo")])
def test_a_mistyped_name_gets_a_suggestion(typed, meant, tmp_path):
    """`metasim run brest` names the closest bundled scenario."""
    proc = run_cli("run", typed, "--out", str(tmp_path / "o"))
    assert_clean_failure(proc, f"did you mean {meant!r}")


def test_an_unrelated_missing_name_gets_no_false_suggestion():
    with pytest.raises(ScenarioError) as err:
        load_scenario("zzzqqq")
    assert "did you mean" not in str(err.value)


def test_an_experiment_file_given_to_run_says_what_it_is():
    """`metasim run experiments/seed_vs_soil` used to list five unknown keys;
    it now says it is an experiment file and names the command that runs it."""
    with pytest.raises(ScenarioError, match=r"experiment file.*metasim sweep"):
        load_scenario("experiments/seed_vs_soil")


def test_no_scenario_name_and_absurd_step_counts_read_well():
    """An empty name is not reported as '. is a directory', and a step count of 10^303 is
    written as such, not as 300 digits."""
    with pytest.raises(ScenarioError, match="no scenario given"):
        load_scenario("")
    with pytest.raises(ScenarioError) as err:
        load_scenario("presets/breast", ["simulation.dt_days=1e-300"])
    assert "e+303 steps" in str(err.value) and len(str(err.value)) < 400


def test_the_start_of_a_name_gets_a_suggestion():
    with pytest.raises(ScenarioError, match="did you mean 'clinical/late_relapse'"):
        load_scenario("clinical/late")


def test_a_folder_given_to_sweep_is_named_as_not_an_experiment_file(tmp_path):
    """`metasim sweep FOLDER` said the folder was "not a scenario file" (sweep reads an
    experiment file); it now names what sweep wanted, with exit status 2 and no traceback.
    The run command still says "scenario file"."""
    assert_clean_failure(run_cli("sweep", str(tmp_path)), "is a directory, not an experiment file")
    assert_clean_failure(run_cli("run", str(tmp_path)), "is a directory, not a scenario file")


def test_a_value_given_for_a_whole_table_says_to_set_one_of_its_keys():
    """`--set simulation=5` used to answer with pydantic's "Input should be a valid
    dictionary or instance of Simulation"; it now says that simulation is a table of
    settings and names its keys, one of them as an example."""
    with pytest.raises(ScenarioError, match=r"simulation is a table of settings.*"
                                            r"--set simulation\.\w+=.*horizon_days"):
        load_scenario("presets/breast", ["simulation=5"])
