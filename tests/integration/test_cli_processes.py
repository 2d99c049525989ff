"""Regression tests with real processes and signals: Ctrl-C on a
run with worker processes prints one line and leaves no process behind; `metasim app` stops
its server child when it is terminated; the CLI has the options and help a user looks for."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from sim.apps.cli import main

SMALL = str(Path(__file__).resolve().parents[1] / "data" / "small.toml")
CLI = [sys.executable, "-m", "sim.apps.cli"]


def children(pid: int) -> set[int]:
    """All descendants of a process (Linux /proc)."""
    out: set[int] = set()
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tasks:
            try:
                kids = Path(f"/proc/{p}/task/{t}/children").read_text().split()
            except OSError:
                continue
            for k in map(int, kids):
                if k not in out:
                    out.add(k)
                    todo.append(k)
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"


def wait_until(predicate, timeout: float, step: float = 0.1) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


needs_proc = pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")


def as_in_a_terminal() -> None:
    """In the command's process before it starts: Ctrl-C and SIGHUP act as they do on a
    command typed in a terminal. A test run started in the background of a script (``cmd
    &``: POSIX shells then ignore SIGINT) or under nohup would otherwise hand its commands
    these signals ignored, and a command rightly keeps ignoring them (the run goes on)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def start_run(out: Path) -> subprocess.Popen:
    """A run with two workers that is still running when the test stops it: many short
    courses, so that each worker's task is over quickly."""
    return subprocess.Popen([*CLI, "run", "presets/breast", "--replicates", "2000", "--workers",
                             "2", "--set", "simulation.horizon_days=200", "--set",
                             "population.assess_initiated=false", "--no-progress",
                             "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=as_in_a_terminal)


def stop(proc: subprocess.Popen, sig: int) -> tuple[str, set[int]]:
    """Send ``sig``; return the command's stderr once it ended and every process it had
    meanwhile (a worker may start after the signal). The time limit only bounds a hung
    command, it is not what the test measures; a command still running then is killed (its
    workers die with it), so a failure does not load the rest of the suite."""
    seen = children(proc.pid)
    try:
        proc.send_signal(sig)
        end = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < end:
            seen |= children(proc.pid)
            time.sleep(0.02)
        return proc.communicate(timeout=5)[1], seen
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@needs_proc
@pytest.mark.parametrize("when", ["workers starting", "workers simulating"])
def test_ctrl_c_with_workers_prints_one_line_and_leaves_no_process(tmp_path, when):
    """Ctrl-C with --workers 2 used to print ~80 lines of worker tracebacks. Now:
    exit 130, one short message, no traceback, no worker left, nothing written - whether
    the workers are still starting (a fresh install's workers compile their modules for
    seconds) or already simulating."""
    out = tmp_path / "o"
    proc = start_run(out)
    try:
        assert wait_until(lambda: children(proc.pid), 60), "no worker ever started"
        if when == "workers simulating":
            assert wait_until(lambda: len(children(proc.pid)) >= 2, 60)
            # Patients are being written: the workers got going.
            assert wait_until(lambda: any(p.stat().st_size > 0 for p in
                                          tmp_path.glob(".o.partial-*/timeseries.csv")), 120)
    finally:
        err, workers = stop(proc, signal.SIGINT)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert len([line for line in err.splitlines() if line.strip()]) <= 2, err
    assert wait_until(lambda: not any(alive(w) for w in workers), 15)
    assert not out.exists() and not list(tmp_path.glob(".o.partial-*"))


@needs_proc
def test_workers_exit_when_the_parent_is_killed(tmp_path):
    """As for a sweep, so for `run`: kill -9 of the parent leaves no worker behind."""
    proc = subprocess.Popen([*CLI, "run", "presets/breast", "--replicates", "40", "--workers", "2",
                             "--no-progress", "--out", str(tmp_path / "o")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert wait_until(lambda: len(children(proc.pid)) >= 2, 60), "workers never started"
    workers = children(proc.pid)
    proc.kill()
    proc.wait(timeout=30)
    assert wait_until(lambda: not any(alive(w) for w in workers), 15), \
        [w for w in workers if alive(w)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@needs_proc
@pytest.mark.slow
def test_app_stops_its_server_on_sigterm():
    """`metasim app` left its solara child serving after SIGTERM. Now the child is
    gone within seconds and the port is free again."""
    port = _free_port()
    proc = subprocess.Popen([*CLI, "app", "--port", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        def listening() -> bool:
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0

        assert wait_until(listening, 120, 0.5), "the app never started listening"
        kids = children(proc.pid)
        assert kids
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        assert wait_until(lambda: not any(alive(k) for k in kids), 15)
        assert wait_until(lambda: not listening(), 10)
    finally:
        for k in children(proc.pid):
            os.kill(k, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_run_takes_a_hypothesis(tmp_path):
    """`run --hypothesis` overrides the scenario's hypothesis."""
    out = tmp_path / "o"
    res = invoke("run", SMALL, "--hypothesis", "ewing", "--replicates", "1", "--out", str(out))
    assert res.exit_code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["hypothesis"], summary["delivery"], summary["soil"]) == \
        ("ewing", "anatomical", "neutral")
    bad = invoke("run", SMALL, "--hypothesis", "lamarck")
    assert bad.exit_code == 2 and "ewing" in bad.output


@pytest.mark.parametrize(("command", "option"), [
    ("animate", "--frames"), ("animate", "--fps"), ("app", "--port"),
    ("validate", "--hypotheses"), ("run", "--workers"), ("sweep", "--workers"),
    ("run", "--oversubscribe"), ("sweep", "--oversubscribe"),
])
def test_every_option_has_help(command, option):
    """--frames, --fps, --port and validate --hypotheses had no help text; now each has one."""
    text = invoke(command, "--help").output
    block = text[text.index(option):].split("\n  -", 1)[0]
    words = block.replace(option, "").split()
    assert len(words) >= 4, block


def test_workers_default_is_the_same_everywhere():
    """--workers defaulted to 1 for run and to all cores for sweep; now every
    command says the same default."""
    for command in ("run", "compare", "validate", "calibrate", "sweep", "sensitivity"):
        text = " ".join(invoke(command, "--help").output.split())
        assert "default: all cores" in text, command


def test_params_lists_value_default_unit_range_and_source():
    """A command prints a scenario's resolved parameters with defaults, units,
    ranges and sources."""
    res = invoke("params", "presets/breast", "--json")
    assert res.exit_code == 0
    rows = {r["key"]: r for r in json.loads(res.output)}
    dt = rows["simulation.dt_days"]
    assert dt["unit"] == "days" and "> 0" in dt["allowed"]
    arrest = rows["circulation.arrest_probability_per_pass"]
    assert arrest["value"] == 0.917 and "Butler & Gullino 1975" in arrest["source"]
    size = rows["primary.initial_diameter_mm"]
    assert size["changed"] and size["value"] != size["default"] and size["unit"] == "mm"
    changed = invoke("params", "presets/breast", "--changed").output
    assert "primary.initial_diameter_mm" in changed and "circulation.pass_time" not in changed


@needs_proc
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_stop_a_run_cleanly(tmp_path, sig):
    """SIGTERM (timeout, a batch scheduler) or SIGHUP (a closed terminal)
    ended a run with Python's warnings and a staging folder left behind. Now: one line,
    exit 128 + signal, no worker, nothing written."""
    out = tmp_path / "o"
    proc = start_run(out)
    try:
        assert wait_until(lambda: len(children(proc.pid)) >= 2, 60), "workers never started"
        time.sleep(1.0)
    finally:
        err, workers = stop(proc, sig)
    assert proc.returncode == 128 + sig, err
    assert "Traceback" not in err and f"stopped by {sig.name}" in err
    assert len([line for line in err.splitlines() if line.strip()]) <= 2, err
    assert wait_until(lambda: not any(alive(w) for w in workers), 15)
    assert not out.exists() and not list(tmp_path.glob(".o.partial-*"))


def test_app_on_a_port_in_use_is_one_message():
    """`metasim app` on a busy port printed the address, then uvicorn's
    error, exit 3. Now one message, exit 2, before any server starts."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run([*CLI, "app", "--port", str(port)], capture_output=True,
                              text=True, timeout=60, check=False)
    assert proc.returncode == 2, proc.stderr
    assert f"--port {port}" in proc.stderr and "Traceback" not in proc.stderr
    assert "open http" not in proc.stdout
