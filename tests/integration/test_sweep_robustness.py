"""Sweeps at scale and under stress: designs enumerated lazily and refused before
they are built when they cannot fit, constant-time seed streams, tables streamed to disk,
workers that die or outlive their parent, Ctrl-C, resume digests, output folders that cannot
be written, and experiment files whose mistakes are named where they are."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
import tracemalloc
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import sim.experiments.design as design_mod
import sim.experiments.store as store_mod
import sim.experiments.sweep as sweep_mod
from sim.apps.cli import main
from sim.config.errors import ScenarioError
from sim.experiments.design import SweepError, build_design, load_experiment
from sim.experiments.seeds import BATCH_PATIENTS
from sim.experiments.store import ResultStore, collect, write_tables
from sim.experiments.sweep import sweep
from sim.io.folder import OutputError

from .test_sweep import GRID, SMALL, _experiment, _table

# One scenario, one hypothesis, one point: a run per replicate, each a 2-day course.
TINY = """hypotheses = ["combined"]
replicates = 3
seed = 4
[set]
"simulation.horizon_days" = 2.0
"""

# Enough replicates that a sweep is still running when the test interrupts it.
LONG = """hypotheses = ["combined"]
replicates = 400
seed = 4
[set]
"simulation.horizon_days" = 30.0
"""
# Still running half a second after it starts on any machine, with short tasks so that an
# interrupt is prompt: 20,000 courses of 30 days (400 now end within half a second).
LONGER = LONG.replace("replicates = 400", "replicates = 20000")

# A grid of 10^15 points (three ranges of 100,000 values each).
HUGE_GRID = """[design]
kind = "grid"
samples = 100000
[design.parameters]
"circulation.ctc_half_life_hours" = { low = 0.5, high = 5.0 }
"invasion.success_probability" = { low = 0.1, high = 0.9 }
"colonization.dormancy_rate_per_day" = { low = 0.1, high = 1.0 }
"""


def _cli(*args: str, timeout: float = 60, mem_gb: float | None = None, **kw):
    """``python -m sim.apps.cli ARGS`` in a subprocess (optionally with an address-space limit,
    so a regression that builds a huge design dies of MemoryError instead of eating the
    machine's memory)."""
    def limit() -> None:
        if mem_gb:
            size = int(mem_gb * 2**30)
            try:
                resource.setrlimit(resource.RLIMIT_AS, (size, size))
            except (ValueError, OSError):  # not enforceable here (e.g. macOS)
                pass
    return subprocess.run([sys.executable, "-m", "sim.apps.cli", *args], capture_output=True,
                          text=True, timeout=timeout, preexec_fn=limit, **kw)


def _descendants(pid: int) -> set[int]:
    """Living (not zombie) descendants of ``pid`` (psutil if installed, else /proc)."""
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        try:
            return {c.pid for c in psutil.Process(pid).children(recursive=True)
                    if c.status() != psutil.STATUS_ZOMBIE}
        except psutil.NoSuchProcess:
            return set()
    parents: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if stat[0] != "Z":
                parents[int(d.name)] = int(stat[1])
    out, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - out
        out |= frontier
    return out


def _alive(pids: set[int]) -> set[int]:
    """Those of ``pids`` still running (zombies awaiting a reaper count as dead)."""
    try:
        import psutil
    except ImportError:
        psutil = None
    alive = set()
    for pid in pids:
        if psutil is not None:
            try:
                if psutil.Process(pid).status() not in (psutil.STATUS_ZOMBIE,
                                                        psutil.STATUS_DEAD):
                    alive.add(pid)
            except psutil.NoSuchProcess:
                pass
            continue
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state not in ("Z", "X"):
            alive.add(pid)
    return alive


def _wait_for_runs(out: Path, n: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        runs = out / "runs"
        if runs.is_dir() and sum(1 for p in runs.glob("*.json")) >= n:
            return
        if proc.poll() is not None:
            raise AssertionError(f"the sweep ended early: {proc.communicate()}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("no run was written in time")


# ---------------------------------------------------------------------------- seed streams
def test_run_streams_are_the_spawned_children_and_cost_constant_time(tmp_path):
    """Replicate r's stream is child r of SeedSequence(seed).spawn(n) - the same draws as
    before, so results do not change - and costs O(1) even at a million replicates (it was
    SeedSequence(seed).spawn(replicates)[r] per run: ~9 s each at 10^6 replicates)."""
    exp = _experiment(tmp_path, TINY.replace("replicates = 3", "replicates = 1000"))
    runs = build_design(load_experiment(exp))
    children = np.random.SeedSequence(4).spawn(1000)
    for r in (0, 7, 999):
        assert runs[r].replicate == r
        np.testing.assert_array_equal(runs[r].stream.generate_state(8),
                                      children[r].generate_state(8))
        assert (np.random.default_rng(runs[r].stream).random(5)
                == np.random.default_rng(children[r]).random(5)).all()
    big = build_design(load_experiment(exp, ["replicates=1000000"]))
    t0 = time.perf_counter()
    last = big[-1]
    state = last.stream.generate_state(4)
    assert time.perf_counter() - t0 < 0.1
    assert last.replicate == 999_999
    np.testing.assert_array_equal(
        state, np.random.SeedSequence(4, spawn_key=(999_999,)).generate_state(4))


# -------------------------------------------------------------------- memory within limits
def test_a_million_replicates_is_a_lazy_design_of_constant_memory(tmp_path):
    """The design is enumerated by index: a million runs are built in constant memory and
    time, indexed and iterated in the old order (the old code listed every Run)."""
    exp = _experiment(tmp_path, TINY.replace("replicates = 3", "replicates = 1000000"))
    loaded = load_experiment(exp)
    tracemalloc.start()
    t0 = time.perf_counter()
    runs = build_design(loaded)
    n = len(runs)
    first = list(runs[:3])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert n == 1_000_000 and time.perf_counter() - t0 < 2
    assert peak < 5e6, peak
    assert [r.replicate for r in first] == [0, 1, 2]
    assert runs[123_456].run_id == "small__combined__p00000__r123456"
    assert runs[-1].run_id == "small__combined__p00000__r999999"
    # Ids sort in design order, whatever the number of digits.
    ids = [runs[i].run_id for i in (0, 9, 99_999, 100_000, 999_999)]
    assert ids == sorted(ids)


def test_a_sweep_holds_nothing_per_run(tmp_path):
    """A sweep of 200,000 replicates starts at once and its memory does not grow with the
    design (the old code listed every run and job, and spent ~2 s per run spawning 200,000
    seed streams); the first runs are identical to those of a sweep of one population-engine
    batch (a patient's course depends on the seed and on its batch of 250 patients)."""
    exp = _experiment(tmp_path, TINY.replace("replicates = 3", "replicates = 200000"))
    loaded = load_experiment(exp)

    class Enough(Exception):
        pass

    rows = []

    def stop_after_three(row: dict) -> None:
        rows.append(row)
        if len(rows) == 3:
            raise Enough

    tracemalloc.start()
    t0 = time.perf_counter()
    with pytest.raises(Enough):
        sweep(loaded, tmp_path / "big", progress=False, on_record=stop_after_three)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert time.perf_counter() - t0 < 20
    assert peak < 15e6, peak
    small = tmp_path / "small"
    sweep(load_experiment(exp, [f"replicates={BATCH_PATIENTS}"]), small, progress=False)
    ours = {r["replicate"]: r for r in rows}
    theirs = {r["replicate"]: r for r in ResultStore(small).iter_rows()}
    for rep in (0, 1, 2):
        a = {k: v for k, v in ours[rep].items() if k not in ("wall_s", "run_id")}
        b = {k: v for k, v in theirs[rep].items() if k not in ("wall_s", "run_id")}
        assert a == b


def test_a_design_that_cannot_fit_is_refused_before_it_is_built(tmp_path):
    """A grid of 10^15 points is refused in seconds, naming its points, runs, memory and
    disk, with exit status 2 and nothing written (the old code built it: MemoryError after
    half a minute, here under a 3 GB address-space limit)."""
    exp = _experiment(tmp_path, HUGE_GRID)
    t0 = time.perf_counter()
    res = _cli("sweep", str(exp), "--out", str(tmp_path / "o"), "--executor", "serial",
               mem_gb=3)
    assert res.returncode == 2, res.stderr[-2000:]
    assert "1e+15 point(s)" in res.stderr and "100,000 x 100,000 x 100,000" in res.stderr
    assert "memory" in res.stderr and "on disk" in res.stderr
    assert "Traceback" not in res.stderr
    assert time.perf_counter() - t0 < 30
    assert not (tmp_path / "o").exists()
    # From Python too (in-process only once the subprocess has shown it is refused).
    with pytest.raises(SweepError, match="too large"):
        build_design(load_experiment(exp))


def test_a_sensitivity_sample_that_cannot_fit_is_refused_before_sampling(tmp_path):
    """Sobol with N = 100,000 and 1,000 replicates is 400 million runs: refused at once
    (the old code drew the sample and listed every run)."""
    exp = _experiment(tmp_path, """replicates = 1000
[design.parameters]
"circulation.ctc_half_life_hours" = { low = 0.5, high = 5.0 }
"invasion.success_probability" = { low = 0.1, high = 0.9 }
[sensitivity]
method = "sobol"
samples = 100000
""")
    res = _cli("sensitivity", str(exp), "--out", str(tmp_path / "s"), "--executor", "serial",
               mem_gb=3)
    assert res.returncode == 2, res.stderr[-2000:]
    assert "400,000 point(s)" in res.stderr and "too large" in res.stderr
    assert "Traceback" not in res.stderr


def test_a_design_too_large_for_memory_says_how_much_it_needs(tmp_path):
    """The memory check names the points, the memory needed and the memory available."""
    loaded = load_experiment(_experiment(tmp_path, TINY))
    with pytest.raises(SweepError, match=r"holding its 5,000 points needs ~2 MB, and 1 MB"):
        design_mod.check_design_size(loaded, 5000, memory_bytes=2_000_000,
                                    memory_limit=1_000_000)
    assert design_mod.check_design_size(loaded, 5000, memory_bytes=10) == 15_000


def test_tables_are_streamed_chunk_by_chunk(tmp_path):
    """write_tables holds one chunk of rows, not the whole sweep (the old collect built a
    list of every row and a DataFrame of it), and writes the same table pandas would:
    every column, in order of first appearance, rows sorted by run id."""
    exp = _experiment(tmp_path, TINY.replace("replicates = 3", "replicates = 3000"))
    loaded = load_experiment(exp)
    runs = build_design(loaded)
    store = ResultStore(tmp_path / "out")
    store.prepare(loaded, runs, resume=False)
    rng = np.random.default_rng(1)
    rows = []
    for run in runs:
        if run.replicate % 7 == 3:
            row = sweep_mod.failed_record(run, "ValueError: boom", 0.5, "Traceback ...")
        else:
            row = sweep_mod._head(run, "ok", "", float(rng.random()))
            row.update({f"site:o{i}": int(rng.integers(2)) for i in range(40)})
            row.update({"days": float(rng.random() * 100), "died": bool(rng.integers(2)),
                        "first_detectable_day": None if run.replicate % 5 else 3.5})
        rows.append(row)
        (store.runs_dir / f"{run.run_id}.json").write_text(json.dumps(row))
    tracemalloc.start()
    n = write_tables(store, chunk_rows=100)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert n == 3000
    assert peak < 6e6, peak  # all 3,000 rows at once: ~20 MB
    got = pd.read_csv(store.folder / "results.csv")
    expected = pd.DataFrame(rows).drop(columns="traceback").sort_values("run_id")
    expected = pd.read_csv(StringIO(expected.to_csv(index=False)))
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    pq = pd.read_parquet(store.folder / "results.parquet")
    assert list(pq.columns) == list(got.columns) and len(pq) == 3000
    assert pq["status"].tolist() == got["status"].tolist()


# --------------------------------------------------------------------- a worker that dies
def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class _Deadly(dict):
    """A job's scenario whose unpickling, in the worker, kills the worker with SIGKILL (as
    the out-of-memory killer would) - under any start method (fork, spawn, forkserver)."""

    def __reduce__(self):
        return (_die, ())


def test_a_worker_killed_mid_run_is_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch):
    """A worker killed by SIGKILL (as by the out-of-memory killer) costs only its job: the
    runs it held (here the three replicates of one point, which the population engine
    simulates together) are recorded as failed with the signal named, a new worker takes
    over, every other run is identical to a serial sweep's (the old code died with
    BrokenProcessPool)."""
    exp = _experiment(tmp_path, GRID)
    loaded = load_experiment(exp)
    real = sweep_mod.make_jobs

    def deadly_jobs(loaded, runs):
        for job in real(loaded, runs):
            if any(r.replicate == 1 and r.point == 1 for r in job.runs):
                job = dataclasses.replace(job, scenario=_Deadly(job.scenario))
            yield job

    serial = tmp_path / "serial"
    sweep(loaded, serial, progress=False)
    collect(ResultStore(serial))
    monkeypatch.setattr(sweep_mod, "make_jobs", deadly_jobs)
    out = tmp_path / "processes"
    summ = sweep(loaded, out, executor="processes", workers=2, progress=False)
    assert summ.runs == 12 and summ.ran == 12 and summ.errors == 6
    df = collect(ResultStore(out))
    bad = df[df["status"] == "error"]
    assert sorted(bad["run_id"]) == [f"small__{h}__p00001__r0000{r}"
                                     for h in ("combined", "ewing") for r in range(3)]
    assert bad["error"].str.contains("worker process").all()
    assert bad["error"].str.contains("signal 9").all()
    ok = _table(out).query("status == 'ok'").drop(columns="error").reset_index(drop=True)
    ref = _table(serial).drop(columns="error")
    ref = ref[ref["run_id"].isin(ok["run_id"])].reset_index(drop=True)
    assert len(ok) == 6
    pd.testing.assert_frame_equal(ok, ref, check_dtype=False)


# ---------------------------------------------------------- workers die with their parent
def test_kill_9_of_the_parent_leaves_no_worker(tmp_path):
    """After kill -9 of a `--executor processes` sweep no child process survives (the old
    pool's workers and resource tracker ran forever)."""
    exp = _experiment(tmp_path, LONG)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "sim.apps.cli", "sweep", str(exp), "--executor",
                             "processes", "--workers", "2", "--out", str(out), "--no-plots",
                             "--no-progress"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        _wait_for_runs(out, 2, proc)
        children = _descendants(proc.pid)
        assert len(children) >= 2, children
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    deadline = time.time() + 10
    while _alive(children) and time.time() < deadline:
        time.sleep(0.1)
    survivors = _alive(children)
    for pid in survivors:  # do not leave them behind if the test fails
        os.kill(pid, signal.SIGKILL)
    assert not survivors, survivors


# ------------------------------------------------------------------------------- Ctrl-C
def _as_in_a_terminal() -> None:
    """Before the command starts: Ctrl-C acts as on a command typed in a terminal. Tests
    started in the background of a script (``cmd &``: POSIX shells then ignore SIGINT)
    would otherwise hand it SIGINT ignored, which a command rightly keeps ignoring."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("when", ["workers starting", "workers simulating"])
def test_ctrl_c_of_a_processes_sweep_prints_one_line(tmp_path, when):
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it) while the workers
    start or once they simulate ends a processes sweep with status 130, one message and no
    worker tracebacks, and no process left (the old sweep printed ~160 lines: a
    KeyboardInterrupt traceback per worker and the pool's manager thread's
    InvalidStateError)."""
    exp = _experiment(tmp_path, LONGER)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "sim.apps.cli", "sweep", str(exp), "--executor",
                             "processes", "--workers", "2", "--out", str(out), "--no-plots",
                             "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, preexec_fn=_as_in_a_terminal)
    children: set[int] = set()
    try:
        deadline = time.time() + 60
        while not (children := _descendants(proc.pid)) and time.time() < deadline:
            time.sleep(0.02)
        assert children, "no worker ever started"
        if when == "workers simulating":
            # Their first runs are written: a fresh install's workers compile their modules
            # on start and can take seconds to get there.
            _wait_for_runs(out, 1, proc, timeout=120)
            children = _descendants(proc.pid)
        os.killpg(proc.pid, signal.SIGINT)
        # The time limit only bounds a hung sweep; it is not what the test measures.
        end = time.time() + 120
        while proc.poll() is None and time.time() < end:
            children |= _descendants(proc.pid)   # a worker may start after the signal
            time.sleep(0.02)
        _, err = proc.communicate(timeout=5)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) <= 2 and "interrupted" in lines[-1], err
    deadline = time.time() + 10
    while _alive(children) and time.time() < deadline:
        time.sleep(0.1)
    assert not _alive(children)


# ----------------------------------------------------------------------- resume digests
def test_resume_refuses_any_setting_that_shapes_the_results(tmp_path):
    """--resume refuses a folder made with other outputs (the old digest ignored them and
    results.csv then had rows without columns), other [set] overrides, seed, replicates,
    hypotheses, design, or a base scenario whose file changed since; the same experiment
    resumes."""
    scen = tmp_path / "base.toml"
    shutil.copy(SMALL, scen)
    exp = tmp_path / "exp.toml"
    exp.write_text('scenarios = ["base.toml"]\noutputs = ["sites", "timing"]\n' + TINY)
    out = tmp_path / "out"
    sweep(load_experiment(exp), out, progress=False)

    def refused(overrides: list[str]) -> str:
        loaded = load_experiment(exp, overrides)
        with pytest.raises(ScenarioError, match="different experiment") as e:
            ResultStore(out).prepare(loaded, build_design(loaded), resume=True)
        return str(e.value)

    assert "these differ: outputs" in refused(["outputs=['sites']"])
    assert "these differ: set" in refused(["set.simulation.dt_days=2.0"])
    assert "these differ: seed" in refused(["seed=5"])
    assert "these differ: replicates" in refused(["replicates=4"])
    assert "these differ: hypotheses" in refused(["hypotheses=['ewing']"])
    assert "these differ: design" in refused(["design.kind='random'"])
    loaded = load_experiment(exp)
    ResultStore(out).prepare(loaded, build_design(loaded), resume=True)  # the same: fine
    scen.write_text(scen.read_text().replace("1500.0", "1400.0"))
    assert "these differ: the scenarios' content" in refused([])
    res = CliRunner().invoke(main, ["sweep", str(exp), "--out", str(out), "--resume",
                                    "--executor", "serial", "--set", "outputs=['sites']"])
    assert res.exit_code == 2 and "outputs" in res.output


# --------------------------------------------------------------- messages about the file
def test_an_unknown_key_in_an_experiment_file_lists_the_experiment_keys(tmp_path):
    """An unknown key in an experiment file is answered with the keys allowed in an
    experiment file (the old message listed the scenario's keys)."""
    res = CliRunner().invoke(main, ["sweep", str(_experiment(tmp_path, "colour = 'red'\n")),
                                    "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "allowed here: description, scenarios, hypotheses" in res.output
    assert "primary" not in res.output
    res = CliRunner().invoke(main, ["sweep", str(_experiment(tmp_path, "[design]\nkin = 1\n")),
                                    "--out", str(tmp_path / "o")])
    assert "allowed here: kind, samples, parameters" in res.output


@pytest.mark.parametrize("command", ["sweep", "sensitivity"])
def test_a_scenario_given_as_an_experiment_gets_one_line(tmp_path, command):
    """`metasim sweep presets/breast` says it is a scenario, not an experiment file, and to
    try `metasim run` - one line, not a dozen contradictory unknown-key lines."""
    res = CliRunner().invoke(main, [command, "presets/breast", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "this is a scenario, not an experiment file" in res.output
    assert "metasim run presets/breast" in res.output
    assert "unknown key" not in res.output and len(res.output.strip().splitlines()) == 1


def test_a_bad_set_value_is_blamed_on_the_experiment_file(tmp_path):
    """An invalid value in the experiment's [set] names the file and the key; one typed as
    --set set.KEY names that --set (the old message blamed a --set the user never typed)."""
    exp = _experiment(tmp_path, '[set]\n"simulation.dt_days" = -1.0\n')
    res = CliRunner().invoke(main, ["sweep", str(exp), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert f"{exp}: set.simulation.dt_days = -1.0: Input should be greater than 0" in res.output
    assert "--set" not in res.output
    exp = _experiment(tmp_path, TINY, name="ok.toml")
    res = CliRunner().invoke(main, ["sweep", str(exp), "--out", str(tmp_path / "o"),
                                    "--set", "set.simulation.dt_days=-2.0"])
    assert res.exit_code == 2
    assert "--set set.simulation.dt_days=-2.0: Input should be greater than 0" in res.output


# --------------------------------------------------------------- every value is checked
def test_every_listed_value_is_checked_before_running(tmp_path):
    """A value between valid extremes that the key rejects (2.5 for an integer key) is
    refused before anything runs (the old check tried only the lowest and highest); a range
    on an integer key, whose draws are real numbers, is refused with a hint."""
    exp = _experiment(tmp_path, "[design.parameters]\n"
                                "'clusters.cells_per_cluster' = { values = [2, 2.5, 10] }\n")
    res = CliRunner().invoke(main, ["sweep", str(exp), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2, res.output
    assert "design.parameters.clusters.cells_per_cluster: the value 2.5" in res.output
    assert "valid integer" in res.output and not (tmp_path / "o").exists()
    exp = _experiment(tmp_path, "[design]\nkind = 'latin_hypercube'\n[design.parameters]\n"
                                "'clusters.cells_per_cluster' = { low = 2, high = 10 }\n",
                      name="lhs.toml")
    with pytest.raises(ScenarioError, match="takes whole numbers"):
        load_experiment(exp)
    # Integers listed for an integer key are fine.
    load_experiment(_experiment(tmp_path, "[design.parameters]\n"
                                          "'clusters.cells_per_cluster' = { values = [2, 3] }\n",
                                name="ints.toml"))


def test_a_sweep_in_which_every_run_fails_exits_non_zero(tmp_path):
    """When every run fails the sweep says so and exits with status 2 (the old one exited
    0); the error records are still collected into results.csv."""
    exp = _experiment(tmp_path, """replicates = 2
[set]
"simulation.horizon_days" = 5.0
"simulation.aggregate" = false
"primary.shedding_rate_per_gram_per_day" = 1e8
""")
    out = tmp_path / "o"
    res = CliRunner().invoke(main, ["sweep", str(exp), "--out", str(out), "--executor",
                                    "serial", "--no-plots"])
    assert res.exit_code == 2, res.output
    assert "every one of the 2 run(s) failed" in res.output
    assert "SimulationLimitError" in res.output
    df = pd.read_csv(out / "results.csv")
    assert len(df) == 2 and (df["status"] == "error").all()


# ------------------------------------------------------ output folders that cannot be used
def _unwritable_folder(tmp_path: Path) -> Path | None:
    """A folder in which creating a subfolder fails, even for root (None if none)."""
    ro = tmp_path / "readonly"
    ro.mkdir()
    ro.chmod(0o555)
    for candidate in (ro, Path("/proc"), Path("/sys")):
        try:
            (candidate / "metasim-probe").mkdir()
        except OSError:
            return candidate
        (candidate / "metasim-probe").rmdir()
    return None


def test_an_unusable_output_folder_is_refused_before_any_run(tmp_path, monkeypatch):
    """--out inside a read-only folder, or below a file, ends with one message and status
    2 before a single run (the old sweep ended in a PermissionError / NotADirectoryError
    traceback)."""
    calls = []
    monkeypatch.setattr(sweep_mod, "simulate", lambda *a, **k: calls.append(1))
    exp = _experiment(tmp_path, TINY)
    (tmp_path / "afile").write_text("x")
    targets = [tmp_path / "afile" / "out"]
    ro = _unwritable_folder(tmp_path)
    if ro is not None:
        targets.append(ro / "out")
    try:
        for out in targets:
            res = CliRunner().invoke(main, ["sweep", str(exp), "--out", str(out),
                                            "--executor", "serial", "--no-plots"])
            assert res.exit_code == 2, res.output
            assert f"--out {out}: cannot create or write the sweep folder" in res.output
            assert "Traceback" not in res.output
    finally:
        (tmp_path / "readonly").chmod(0o755)
    assert not calls


def test_a_write_error_during_the_sweep_is_one_clear_message(tmp_path, monkeypatch):
    """A disk that fills up mid-sweep ends with one message naming the file and the cause
    and pointing to --resume (status 2), the runs written before kept (the old sweep ended
    in an OSError traceback)."""
    real = store_mod._atomic_write
    written = []

    def full_disk(path: Path, text: str) -> None:
        if path.parent.name == "runs" and len(written) >= 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, text)
        if path.parent.name == "runs":
            written.append(path)

    monkeypatch.setattr(store_mod, "_atomic_write", full_disk)
    exp = _experiment(tmp_path, TINY)
    out = tmp_path / "o"
    res = CliRunner().invoke(main, ["sweep", str(exp), "--out", str(out), "--executor",
                                    "serial", "--no-plots"])
    assert res.exit_code == 2, res.output
    assert "No space left on device" in res.output and "--resume" in res.output
    assert isinstance(res.exception, SystemExit)
    assert len(list((out / "runs").glob("*.json"))) == 2
    with pytest.raises(OutputError):
        ResultStore(out).write({"run_id": "x"})


# ----------------------------------------------------------------- workers vs cores
