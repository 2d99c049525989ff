"""Sweeps: identical results whatever the executor, nothing lost or duplicated on resume,
failures recorded, bad experiment files rejected clearly, sensitivity indices recovered."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from sim.apps.cli import main
from sim.config.errors import ScenarioError
from sim.experiments.design import Design, ParameterSpec, build_design, design_points, load_experiment
from sim.experiments.sensitivity import Problem, analyse, sample
from sim.experiments.store import ResultStore, collect
from sim.experiments.sweep import sweep

from ..conftest import DATA

SMALL = DATA / "small.toml"


def _experiment(tmp_path: Path, body: str, name: str = "exp.toml") -> Path:
    p = tmp_path / name
    p.write_text(f'description = "test"\nscenarios = ["{SMALL}"]\n' + body, encoding="utf-8")
    return p


GRID = """hypotheses = ["ewing", "combined"]
replicates = 3
seed = 4
[set]
"simulation.horizon_days" = 12.0
[design.parameters]
"circulation.ctc_half_life_hours" = { values = [0.5, 3.0] }
"""


def _table(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "results.csv").drop(columns=["wall_s"])


def test_design_is_built_before_running_with_common_random_numbers(tmp_path):
    loaded = load_experiment(_experiment(tmp_path, GRID))
    runs = build_design(loaded)
    assert len(runs) == 1 * 2 * 2 * 3
    assert len({r.run_id for r in runs}) == len(runs)
    # Replicate r has the same stream at every point and under every hypothesis.
    by_rep = {}
    for r in runs:
        by_rep.setdefault(r.replicate, set()).add(tuple(r.stream.generate_state(2)))
    assert all(len(s) == 1 for s in by_rep.values())
    assert len({next(iter(s)) for s in by_rep.values()}) == 3


def test_random_and_latin_hypercube_designs_respect_ranges_and_scales():
    d = Design(kind="latin_hypercube", samples=20, parameters={
        "a": ParameterSpec(low=1e-3, high=1e1, scale="log"),
        "b": ParameterSpec(low=0.0, high=1.0)})
    pts = design_points(d, seed=1)
    assert len(pts) == 20 and pts == design_points(d, seed=1)
    a = np.log10([p["a"] for p in pts])
    b = np.array([p["b"] for p in pts])
    assert a.min() >= -3 and a.max() <= 1 and 0 <= b.min() and b.max() <= 1
    # Latin hypercube: one point in each of the 20 strata of each axis.
    assert sorted(np.floor((a + 3) / 4 * 20).astype(int)) == list(range(20))
    assert sorted(np.floor(b * 20).astype(int)) == list(range(20))
    rnd = design_points(Design(kind="random", samples=5, parameters=d.parameters), seed=2)
    assert len(rnd) == 5


@pytest.mark.slow
def test_serial_processes_and_dask_give_identical_tables(tmp_path):
    exp = _experiment(tmp_path, GRID)
    tables = []
    for executor in ("serial", "processes", "dask"):
        out = tmp_path / executor
        res = CliRunner().invoke(main, ["sweep", str(exp), "--executor", executor,
                                        "--workers", "2", "--out", str(out), "--no-plots"])
        assert res.exit_code == 0, res.output
        assert (out / "results.parquet").is_file()
        tables.append(_table(out))
    assert len(tables[0]) == 12 and (tables[0]["status"] == "ok").all()
    pd.testing.assert_frame_equal(tables[0], tables[1])
    pd.testing.assert_frame_equal(tables[0], tables[2])
    # Parquet holds the same table.
    pq = pd.read_parquet(tmp_path / "serial" / "results.parquet").drop(columns=["wall_s"])
    assert list(pq.columns) == list(tables[0].columns) and len(pq) == len(tables[0])


def test_a_failing_run_is_recorded_and_the_sweep_goes_on(tmp_path):
    # At one point of the grid the single-cell engine would need millions of agents on the
    # first day (SimulationLimitError, raised at run time); the aggregated point runs.
    exp = _experiment(tmp_path, """replicates = 2
[set]
"simulation.horizon_days" = 5.0
"primary.shedding_rate_per_gram_per_day" = 1e8
[design.parameters]
"simulation.aggregate" = { values = [true, false] }
""")
    loaded = load_experiment(exp)
    summ = sweep(loaded, tmp_path / "out", progress=False)
    assert summ.runs == 4 and summ.errors == 2
    df = collect(ResultStore(tmp_path / "out"))
    bad = df[df["status"] == "error"]
    assert len(bad) == 2 and bad["error"].str.contains("SimulationLimitError").all()
    assert df[df["status"] == "ok"]["param:simulation.aggregate"].all()


def test_resume_after_a_killed_sweep_completes_without_duplicates(tmp_path):
    exp = _experiment(tmp_path, GRID.replace("replicates = 3", "replicates = 6")
                      .replace("12.0", "40.0"))
    out = tmp_path / "out"
    # Start the sweep in its own process and kill -9 it once some runs are on disk.
    proc = subprocess.Popen([sys.executable, "-m", "sim.apps.cli", "sweep", str(exp), "--executor",
                             "serial", "--out", str(out), "--no-plots", "--no-progress"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        done = list((out / "runs").glob("*.json")) if (out / "runs").is_dir() else []
        if len(done) >= 3:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {p.stem for p in (out / "runs").glob("*.json")}
    assert 3 <= len(before) < 24, len(before)
    for p in (out / "runs").glob("*.json"):  # what is on disk is complete JSON
        json.loads(p.read_text())
    # Without --resume the folder is refused; with it the sweep finishes.
    res = CliRunner().invoke(main, ["sweep", str(exp), "--out", str(out), "--executor", "serial",
                                    "--no-plots"])
    assert res.exit_code == 2 and "--resume" in res.output
    res = CliRunner().invoke(main, ["sweep", str(exp), "--out", str(out), "--executor", "serial",
                                    "--resume", "--no-plots"])
    assert res.exit_code == 0, res.output
    df = _table(out)
    assert len(df) == 24 and df["run_id"].is_unique
    assert f"{len(before)} already done" in res.output
    # And the result equals an uninterrupted sweep.
    fresh = tmp_path / "fresh"
    sweep(load_experiment(exp), fresh, progress=False)
    collect(ResultStore(fresh))
    pd.testing.assert_frame_equal(df, _table(fresh))


@pytest.mark.parametrize(("body", "message"), [
    ("replicates = 0\n", "replicates"),
    ("hypotheses = ['lamarck']\n", "hypotheses"),
    ("colour = 'red'\n", "colour"),
    ("[design.parameters]\n'circulation.nonsense' = { values = [1.0] }\n", "circulation.nonsense"),
    ("[design.parameters]\n'invasion.success_probability' = { low = 0.5, high = 2.0 }\n",
     "invasion.success_probability"),
    ("[design.parameters]\n'invasion.success_probability' = { low = 0.5 }\n", "low and high"),
    ("[design]\nkind = 'grid'\nsamples = nan\n", "samples"),
])
def test_bad_experiment_files_get_one_clear_message(tmp_path, body, message):
    exp = _experiment(tmp_path, body)
    res = CliRunner().invoke(main, ["sweep", str(exp), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2, res.output
    assert message in res.output and str(exp) in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "o").exists()


def test_overrides_apply_to_experiment_files(tmp_path):
    exp = _experiment(tmp_path, GRID)
    loaded = load_experiment(exp, ["replicates=2", "set.simulation.dt_days=3.0"])
    assert loaded.experiment.replicates == 2
    assert loaded.bases["small"].simulation.dt_days == 3.0
    with pytest.raises(ScenarioError, match="--set replicates"):
        load_experiment(exp, ["replicates=-1"])


def test_bundled_experiment_files_load():
    for name in ("seed_vs_soil", "ctc_survival_sweep", "breast_sensitivity"):
        loaded = load_experiment(name)
        assert build_design(loaded)


def _ishigami(x: np.ndarray) -> np.ndarray:
    return np.sin(x[:, 0]) + 7 * np.sin(x[:, 1]) ** 2 + 0.1 * x[:, 2] ** 4 * np.sin(x[:, 0])


#: Standard normal quantile for a two-sided false-failure rate of 1e-5 per check.
Z_1E5 = 4.42


def test_sobol_recovers_the_ishigami_indices():
    """The Ishigami function (a = 7, b = 0.1) has known Sobol indices: S1 = (0.3139, 0.4424,
    0), ST = (0.5576, 0.4424, 0.2437) (Ishigami & Homma 1990; Saltelli et al. 2008). SALib's
    95 % bootstrap half-widths give each estimate's standard error (half-width / 1.96); each
    of the six estimates must lie within 4.42 standard errors of the exact value (false
    failure rate 1e-5 per check, 6e-5 for the test)."""
    problem = Problem(["x1", "x2", "x3"],
                      [ParameterSpec(low=-np.pi, high=np.pi) for _ in range(3)])
    x = sample(problem, "sobol", 1024, 4, seed=1)
    res = {r["parameter"]: r for r in analyse(problem, "sobol", x, _ishigami(x), seed=1)}
    for name, s1, st in (("x1", 0.3139, 0.5576), ("x2", 0.4424, 0.4424), ("x3", 0.0, 0.2437)):
        assert abs(res[name]["S1"] - s1) < Z_1E5 * res[name]["S1_conf"] / 1.96, (name, res[name])
        assert abs(res[name]["ST"] - st) < Z_1E5 * res[name]["ST_conf"] / 1.96, (name, res[name])


def test_morris_ranks_x1_and_x2_above_x3_on_ishigami():
    """Morris' mu* ranks x2 and x1 above x3 for the Ishigami function (4 levels: mu* about
    7.9, 7.7 and 6.0). With 2,000 trajectories each mu* has a standard error of about 0.14
    (95 % bootstrap half-width / 1.96), so the expected gap of x1 over x3 is ~8 standard
    errors of the difference; the test asks for a gap above 3.72 of them (one-sided 1e-4
    significance; a false-failure rate below 1e-6 at that expected gap)."""
    problem = Problem(["x1", "x2", "x3"],
                      [ParameterSpec(low=-np.pi, high=np.pi) for _ in range(3)])
    x = sample(problem, "morris", 2000, 4, seed=1)
    mor = {r["parameter"]: r for r in analyse(problem, "morris", x, _ishigami(x), levels=4)}
    for top in ("x1", "x2"):
        se = math.hypot(mor[top]["mu_star_conf"], mor["x3"]["mu_star_conf"]) / 1.96
        assert mor[top]["mu_star"] - mor["x3"]["mu_star"] > 3.72 * se, (top, mor)


@pytest.mark.slow
def test_sensitivity_command_writes_indices_and_a_chart(tmp_path):
    exp = _experiment(tmp_path, """replicates = 1
[set]
"simulation.horizon_days" = 12.0
[design.parameters]
"circulation.ctc_half_life_hours" = { low = 0.5, high = 5.0, scale = "log" }
"invasion.success_probability" = { low = 0.1, high = 0.9 }
[sensitivity]
method = "morris"
samples = 4
outputs = ["reached:arrest"]
""")
    out = tmp_path / "sens"
    res = CliRunner().invoke(main, ["sensitivity", str(exp), "--executor", "serial",
                                    "--out", str(out)])
    assert res.exit_code == 0, res.output
    df = pd.read_csv(out / "sensitivity.csv")
    assert set(df["parameter"]) == {"circulation.ctc_half_life_hours",
                                    "invasion.success_probability"}
    # The command's plumbing (a 4-trajectory screen of single patients cannot rank
    # parameters; the statistics are tested on the Ishigami function above).
    assert set(df["output"]) == {"reached:arrest"} and (df["mu_star"] >= 0).all()
    assert list((out / "figures").glob("*.png")) and list((out / "figures").glob("*.svg"))


@pytest.mark.slow
def test_plot_command_draws_png_and_svg(tmp_path):
    exp = _experiment(tmp_path, GRID)
    out = tmp_path / "out"
    sweep(load_experiment(exp), out, progress=False)
    res = CliRunner().invoke(main, ["plot", str(out)])
    assert res.exit_code == 0, res.output
    pngs = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert "site_frequency_small.png" in pngs and "funnel_small.png" in pngs
    assert any(n.startswith("response_") for n in pngs)
    assert len(list((out / "figures").glob("*.svg"))) == len(pngs)
    res = CliRunner().invoke(main, ["plot", str(tmp_path)])
    assert res.exit_code == 2 and "not a metasim sweep" in res.output
