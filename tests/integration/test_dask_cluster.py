"""A calibration on a real Dask cluster: a scheduler and two workers started as separate
processes (as on a cluster's nodes), one worker killed mid-run; the posterior must equal the
one computed on local processes.

This is what a batch user does by hand (`dask scheduler`, `dask worker tcp://...`, then
`metasim calibrate ... --executor dask --scheduler tcp://...`); a LocalCluster inside the
test process would not show that the work, its seeds and its code travel to other processes,
nor that a lost worker's tasks are redone elsewhere with the same result.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow

#: Small enough for the suite (prostate: the cheapest course with population targets).
CALIBRATE = ["calibrate", "presets/prostate", "--seed", "5", "--population", "8",
             "--generations", "2", "--cohort", "8", "--soil-patients", "30"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _dask(*args: str, log: Path) -> subprocess.Popen:
    # Each in its own session, so that killing one kills its nanny and worker together.
    return subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_" + args[0], *args[1:]],
                            stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _metasim(args: list[str], **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "sim.apps.cli", *args], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def _posterior(folder: Path) -> tuple[pd.DataFrame, dict]:
    summ = json.loads((folder / "calibration.json").read_text())
    return (pd.read_parquet(folder / "course_posterior.parquet"),
            {"course": summ["course"], "soil": summ["soil"], "abc": summ["abc"]})


def _wait_for_workers(address: str, n: int, timeout_s: float = 60.0) -> None:
    from dask.distributed import Client

    with Client(address, timeout="30s") as client:
        client.wait_for_workers(n, timeout=timeout_s)


def test_a_calibration_on_a_dask_cluster_survives_a_killed_worker(tmp_path):
    """The posterior (every particle of the course, the soil summary, the ABC's model
    probabilities) is identical to the local run's although a worker was killed by SIGKILL
    after the first ABC batch: its tasks were redone on the other worker, from the same
    seeds."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = _dask("scheduler", "--host", "127.0.0.1", "--port", str(port),
                      "--no-dashboard", log=tmp_path / "scheduler.log")
    workers: list[subprocess.Popen] = []
    try:
        time.sleep(2)
        workers = [_dask("worker", address, "--nthreads", "1", "--nworkers", "1",
                         "--no-dashboard", log=tmp_path / f"worker{i}.log") for i in range(2)]
        _wait_for_workers(address, 2)
        run = _metasim([*CALIBRATE, "--executor", "dask", "--scheduler", address,
                        "--out", str(tmp_path / "dask")])
        killed = False
        assert run.stderr is not None
        lines = []
        for line in run.stderr:
            lines.append(line)
            if not killed and "ABC generation 1" in line:
                os.killpg(workers[0].pid, signal.SIGKILL)
                killed = True
        out, _ = run.communicate(timeout=900)
        assert run.returncode == 0, "".join(lines) + out
        assert killed, "the run ended before a worker could be killed: " + "".join(lines)
    finally:
        for w in workers:
            _stop(w)
        _stop(scheduler)
    local = _metasim([*CALIBRATE, "--executor", "processes", "--workers", "2",
                      "--out", str(tmp_path / "local")])
    out, err = local.communicate(timeout=900)
    assert local.returncode == 0, err
    particles_dask, summ_dask = _posterior(tmp_path / "dask")
    particles_local, summ_local = _posterior(tmp_path / "local")
    pd.testing.assert_frame_equal(particles_dask, particles_local)
    assert summ_dask == summ_local
