"""Regression tests: a run that cannot fit is refused before any
simulation with its estimate; memory does not grow with the patients' time series; the
workers are bounded by the cores; a single long patient shows progress."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from sim.apps.cli import main
from sim.config.errors import ScenarioError
from sim.config.loading import load_scenario
from sim.config.schema import MAX_STEPS
from sim.engine.model import simulate
from sim.experiments import limits
from sim.experiments.executors import resolve_workers
from sim.experiments.limits import RunTooLargeError, check_run, estimate_patient
from sim.experiments.replicates import RunResult, run_replicates
from sim.io.outputs import PatientFiles

SMALL = str(Path(__file__).resolve().parents[1] / "data" / "small.toml")
GB = 1024**3


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def deep_size(obj, seen=None) -> int:
    """Bytes held by an object graph of plain containers (as sys.getsizeof counts them)."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    size = sys.getsizeof(obj)
    if isinstance(obj, dict):
        size += sum(deep_size(k, seen) + deep_size(v, seen) for k, v in obj.items())
    elif isinstance(obj, (list, tuple, set)):
        size += sum(deep_size(x, seen) for x in obj)
    elif hasattr(obj, "__dict__"):
        size += deep_size(vars(obj), seen)
    return size


def test_single_cell_engine_over_a_year_is_refused_up_front(monkeypatch):
    """Breast with aggregate=false over 365 days used to run for 400 s and more with no
    output; it is now refused before any step, with the agent and time estimate."""
    calls = []
    monkeypatch.setattr("sim.experiments.replicates.run_replicates", lambda *a, **k: calls.append(1))
    res = invoke("run", "presets/breast", "--set", "simulation.aggregate=false",
                 "--set", "simulation.horizon_days=365", "--replicates", "1")
    assert res.exit_code == 2 and calls == []
    assert "single-cell engine would create about" in res.output
    assert "per patient" in res.output and "2,000,000" in res.output


def test_single_cell_engine_on_a_small_patient_is_allowed():
    """The refusal is not blanket: the single-cell reference scenario of the tests passes."""
    sc = load_scenario(SMALL, ["simulation.aggregate=false"])
    est = check_run(sc, 4)
    assert est.single_cell and est.units_shed < limits.MAX_SINGLE_CELL_UNITS


def test_expected_shedding_matches_the_simulated_primary():
    """The estimate is a real prediction: cells the primary sheds in a simulated course
    (total minus metastases') agree with the mean-curve estimate. The primary grows
    deterministically and detachment is Poisson (units) times cells per unit, so the total of
    n patients has variance n * mu * E[k^2] / E[k]; 4 standard errors gives a false-failure
    rate of ~6e-5. (The median patient: the estimate follows the median growth curve.)"""
    sc = load_scenario(SMALL, ["population.heterogeneity=false"])
    f, k = sc.clusters.fraction_of_shedding_events, sc.clusters.cells_per_cluster
    mean_k = (1 - f) + f * k
    mean_k2 = (1 - f) + f * k * k
    mu = limits.mean_course(sc)[1] * mean_k
    n = 40
    seeds = np.random.SeedSequence(5).spawn(n)
    shed = [(p := simulate(sc, s, i)).shed_total - p.shed_by_metastases
            for i, s in enumerate(seeds)]
    se = np.sqrt(mu * mean_k2 / mean_k / n)
    assert abs(np.mean(shed) - mu) < 4 * se, (np.mean(shed), mu, se)


def test_a_million_replicates_is_refused_on_memory(monkeypatch):
    """10^6 replicates (the validated maximum) kept ~100 KB a patient and died of
    MemoryError; the series now go to disk (~30 KB a patient is kept at most), and on a 24 GB
    machine the run is refused before it starts, with the memory it needs and what fits."""
    monkeypatch.setattr(limits, "available_memory_bytes", lambda: 24 * GB)
    calls = []
    monkeypatch.setattr("sim.experiments.replicates.run_replicates", lambda *a, **k: calls.append(1))
    res = invoke("run", "presets/breast", "--replicates", "1000000")
    assert res.exit_code == 2 and calls == []
    assert "GB of results in memory" in res.output and "at most about" in res.output


def test_memory_per_patient_constant_bounds_the_real_results():
    """BYTES_PER_PATIENT and BYTES_PER_TIMESERIES (used by the memory check) are upper
    bounds of what real patients of several presets hold, so the check is not optimistic."""
    for name in ("presets/breast", "presets/kidney", "clinical/late_relapse",
                 "clinical/breast_resection_at_diagnosis"):
        sc = load_scenario(name)
        p = simulate(sc, np.random.SeedSequence(3), 0)
        series = deep_size(p.timeseries)
        p.timeseries = []
        assert deep_size(p) <= limits.BYTES_PER_PATIENT, name
        assert series <= limits.timeseries_bytes(sc), name


def test_patients_stream_to_disk_and_their_series_are_dropped(tmp_path):
    """With on_patient, every patient's rows reach timeseries.csv as it finishes and
    only the first `keep_timeseries` patients keep their series in memory."""
    sc = load_scenario(SMALL)
    files = PatientFiles(tmp_path)
    run = run_replicates(sc, 5, 1, progress=False, on_patient=files, keep_timeseries=2)
    files.close()
    assert isinstance(run, RunResult)
    assert [bool(p.timeseries) for p in run.patients] == [True, True, False, False, False]
    with (tmp_path / "timeseries.csv").open() as fh:
        written = {int(r["replicate"]) for r in csv.DictReader(fh)}
    assert written == {0, 1, 2, 3, 4}


def test_too_many_steps_are_refused_with_a_time_estimate():
    """The step cap used to let 10^6 steps through (~15 min a patient); it is now
    tied to the measured cost of a step and the message gives the time."""
    with pytest.raises(ScenarioError) as err:
        load_scenario("presets/breast", [f"simulation.dt_days={3650 / (MAX_STEPS + 10):.6g}"])
    assert "min per patient" in str(err.value)
    assert MAX_STEPS * limits.SECONDS_PER_STEP <= 600  # the cap means <= 10 min a patient


def test_long_runs_are_announced_with_an_estimate(monkeypatch):
    """A run estimated above WARN_SECONDS says so (with the estimate) before it
    starts, whichever engine runs it."""
    monkeypatch.setattr(limits, "SECONDS_PER_STEP", 100.0)
    monkeypatch.setattr(limits, "SECONDS_PER_PATIENT_STEP_POPULATION", 100.0)

    def interrupt(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr("sim.experiments.replicates.run_replicates", interrupt)
    res = invoke("run", SMALL, "--replicates", "2", "--workers", "1")
    assert "this run is long" in res.output and "per patient" in res.output
    assert res.exit_code == 130


def test_a_single_long_patient_gets_a_progress_bar_over_days(monkeypatch):
    """One patient estimated over 30 s runs with a bar over its days."""
    seen = {}

    def fake(scenario, stream, replicate=0, hypothesis=None, progress=False):
        seen["progress"] = progress
        return simulate(scenario, stream, replicate)

    monkeypatch.setattr("sim.experiments.replicates.simulate", fake)
    monkeypatch.setattr(limits, "SECONDS_PER_STEP", 10.0)
    run_replicates(load_scenario(SMALL), 1, 1)
    assert seen["progress"] is True
    monkeypatch.setattr(limits, "SECONDS_PER_STEP", 1e-9)
    run_replicates(load_scenario(SMALL), 1, 1)
    assert seen["progress"] is False


def test_workers_are_bounded_by_the_cores(monkeypatch):
    """--workers had no upper bound (12 workers on 2 cores: 2.7 GB); more workers
    than cores are refused unless --oversubscribe."""
    monkeypatch.setattr("sim.experiments.executors.available_cores", lambda: 2)
    assert resolve_workers(None) == 2 and resolve_workers(1) == 1
    with pytest.raises(RunTooLargeError, match="this machine has 2 core"):
        resolve_workers(12)
    assert resolve_workers(12, oversubscribe=True) == 12
    for command in (["run", SMALL], ["sweep", "experiments/seed_vs_soil"]):
        res = invoke(*command, "--workers", "12")
        assert res.exit_code == 2 and "--oversubscribe" in res.output, command


def test_estimate_describes_itself():
    text = estimate_patient(load_scenario(SMALL)).describe(10, 2)
    assert "steps per patient" in text and "10 patient(s) on 2 worker(s)" in text


def test_every_bundled_scenario_can_be_estimated():
    """The estimate works for every bundled scenario (resections that remove the whole
    primary included: no log of zero cells) and gives a finite, non-negative cost."""
    from sim.config.bundled import bundled_names, find_scenario, is_experiment

    for name in bundled_names():
        if is_experiment(find_scenario(name)):
            continue
        est = estimate_patient(load_scenario(name))
        assert est.steps >= 1 and np.isfinite(est.units_shed) and est.units_shed >= 0, name


def test_the_memory_check_counts_the_workers():
    """Each worker process holds ~350 MB: a run that fits with one worker is refused with
    more workers than the memory can carry."""
    sc = load_scenario(SMALL)
    check_run(sc, 4, workers=1, available_bytes=2 * GB)
    with pytest.raises(RunTooLargeError, match="GB"):
        check_run(sc, 4, workers=16, available_bytes=2 * GB)
