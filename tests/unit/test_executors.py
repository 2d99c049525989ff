"""The one executor interface (sim/experiments/executors.py): serial, local processes and
Dask give the same results in the same order; a raising item, a worker killed mid-item and a
consumer that stops early are each handled the way replicates and sweeps rely on."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest

from sim.config.errors import ScenarioError
from sim.experiments.executors import (
    DaskExecutor,
    ProcessExecutor,
    SerialExecutor,
    WorkerError,
    died_message,
    local_executor,
    open_executor,
)
from sim.experiments.seeds import replicate_stream


# Items run in worker processes: module-level functions, importable there.
def draw(i: int) -> list[float]:
    """Three draws from replicate i's stream: the same whoever runs it."""
    return np.random.default_rng(replicate_stream(7, i)).random(3).tolist()


def slow_first(i: int) -> int:
    """Item 0 takes longest, so later items finish first."""
    time.sleep(0.6 if i == 0 else 0.01 * (i % 3))
    return i * i


def fail_on_three(i: int) -> int:
    if i == 3:
        raise ValueError(f"item {i} is bad")
    return i


def die_on_two(i: int) -> int:
    if i == 2:
        os.kill(os.getpid(), signal.SIGKILL)  # as the out-of-memory killer would
    return i


def sleepy(i: int) -> int:
    time.sleep(0.05 if i == 0 else 60)
    return i


def worker_state(_: int) -> tuple[int, bool, bool]:
    """(pid, SIGINT ignored, SIGTERM or SIGHUP blocked)."""
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    return (os.getpid(), signal.getsignal(signal.SIGINT) is signal.SIG_IGN,
            bool(blocked & {signal.SIGTERM, signal.SIGHUP}))


@pytest.fixture(scope="module")
def pool():
    """Two worker processes kept for the module (each takes seconds to start: a fresh
    interpreter importing numpy and the package)."""
    with ProcessExecutor(2) as ex:
        yield ex


@pytest.fixture(params=["serial", "processes"])
def executor(request, pool):
    return SerialExecutor() if request.param == "serial" else pool


def test_serial_and_processes_give_the_same_results_in_item_order(pool):
    """Each item's stream comes from its index, never from the worker: every executor, with
    any number of workers, returns the same numbers in item order. Without a with block a
    call starts and stops its own workers."""
    expected = [draw(i) for i in range(12)]
    assert list(SerialExecutor().map(draw, range(12))) == expected
    assert list(pool.map(draw, range(12))) == expected
    single = ProcessExecutor(1)
    assert list(single.map(draw, range(12))) == expected
    assert single._pool == []
    assert isinstance(local_executor(1), SerialExecutor)


@pytest.mark.slow
def test_a_local_dask_cluster_gives_the_same_results():
    expected = [draw(i) for i in range(8)]
    with DaskExecutor(2) as ex:
        assert list(ex.map(draw, range(8))) == expected
        done = sorted(ex.as_completed(draw, range(8)), key=lambda d: d.index)
    assert [d.value for d in done] == expected and all(d.ok for d in done)


def test_map_keeps_item_order_and_as_completed_reports_each_item_once(executor):
    items = list(range(9))
    assert list(executor.map(slow_first, items)) == [i * i for i in items]
    done = list(executor.as_completed(slow_first, items))
    assert sorted(d.index for d in done) == items
    assert all(d.ok and d.value == d.index ** 2 and d.item == d.index for d in done)


def test_processes_finish_items_out_of_order_and_map_reorders_them(pool):
    """With two workers, item 0 (slow) finishes after item 1: as_completed shows it, map
    does not (above)."""
    done = [d.index for d in pool.as_completed(slow_first, range(4))]
    assert done.index(1) < done.index(0)


def test_an_item_that_raises(executor):
    """map raises the item's own exception; as_completed reports it and the other items
    finish."""
    with pytest.raises(ValueError, match="item 3 is bad"):
        list(executor.map(fail_on_three, range(6)))
    done = {d.index: d for d in executor.as_completed(fail_on_three, range(6))}
    assert set(done) == set(range(6))
    assert isinstance(done[3].exception, ValueError) and not done[3].ok
    assert done[3].error == "ValueError: item 3 is bad"
    assert all(done[i].ok and done[i].value == i for i in (0, 1, 2, 4, 5))


def test_a_killed_worker_is_a_worker_error_in_map_and_a_died_item_in_as_completed(pool):
    """A worker killed by SIGKILL mid-item: map raises WorkerError naming the signal (not a
    hang); as_completed reports that item alone as died, a new worker takes over and every
    other item finishes."""
    with pytest.raises(WorkerError, match=r"signal 9 \(SIGKILL\)"):
        list(pool.map(die_on_two, range(5)))
    done = {d.index: d for d in pool.as_completed(die_on_two, range(6))}
    assert "worker process" in done[2].died and "signal 9" in done[2].error
    assert all(done[i].ok and done[i].value == i for i in (0, 1, 3, 4, 5))
    assert list(pool.map(draw, range(3))) == [draw(i) for i in range(3)]  # still usable


def test_map_reads_items_only_a_window_ahead(pool):
    """Memory does not grow with the number of items: while item 0 runs, map takes at most
    its window (4 items per worker) from the iterable."""
    taken = []

    def items():
        for i in range(1000):
            taken.append(i)
            yield i

    results = pool.map(slow_first, items())
    assert next(results) == 0
    assert len(taken) <= 4 * 2 + 1
    results.close()


def test_leaving_early_stops_the_workers_at_once(pool):
    """A consumer that stops (an error, Ctrl-C, a break) does not wait for the items in
    flight (a minute each here): the workers running them are killed at once."""
    list(pool.map(worker_state, range(2)))  # both workers started
    before = {w.proc.pid for w in pool._pool}
    t0 = time.monotonic()
    for _ in pool.map(sleepy, range(4)):
        break   # item 0 is done; item 1 runs for a minute
    assert time.monotonic() - t0 < 10
    killed = before - {w.proc.pid for w in pool._pool}
    assert killed and all(w.task is None for w in pool._pool)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in killed):
        time.sleep(0.05)
    assert not any(_alive(p) for p in killed)


def test_workers_ignore_ctrl_c_and_are_kept_for_a_with_block(pool):
    """Workers start with SIGINT ignored (Ctrl-C is the parent's) and SIGTERM and SIGHUP
    acting again (they are held only while a worker starts); in a with block the same
    workers serve every call."""
    first = set(pool.map(worker_state, range(4)))
    second = set(pool.map(worker_state, range(4)))
    assert all(ignored and not blocked for _, ignored, blocked in first | second)
    assert {pid for pid, _, _ in second} <= {pid for pid, _, _ in first}


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="signal handlers are set in the main thread only")
def test_a_ctrl_c_while_a_worker_starts_is_raised_once_it_is_in_the_pool(monkeypatch):
    """A Ctrl-C that came while a worker process started was lost (SIGINT was ignored
    meanwhile) and the run went on. Now it is raised as soon as that worker is in the pool,
    and the worker is killed with the others."""
    import multiprocessing.context

    started: list[int] = []
    start = multiprocessing.context.SpawnProcess.start

    def interrupted_start(self) -> None:
        os.kill(os.getpid(), signal.SIGINT)   # Ctrl-C, half-way through the start
        start(self)
        started.append(self.pid)

    monkeypatch.setattr(multiprocessing.context.SpawnProcess, "start", interrupted_start)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        ex = ProcessExecutor(1)
        with pytest.raises(KeyboardInterrupt):
            list(ex.map(draw, range(3)))
    finally:
        signal.signal(signal.SIGINT, previous)
    assert len(started) == 1 and ex._pool == []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(started[0]):
        time.sleep(0.05)
    assert not _alive(started[0])


def test_executors_are_chosen_by_name():
    assert isinstance(open_executor("serial"), SerialExecutor)
    assert open_executor("processes", 3).workers == 3
    assert isinstance(open_executor("dask", 2, "tcp://x:1"), DaskExecutor)
    with pytest.raises(ScenarioError, match="allowed: serial, processes, dask"):
        open_executor("threads")


def test_died_message_names_the_signal_or_the_exit_status():
    assert "signal 9 (SIGKILL)" in died_message(-9) and "out-of-memory" in died_message(-9)
    assert "signal 11 (SIGSEGV)" in died_message(-11)
    assert "exit status 1" in died_message(1)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def test_animate_and_the_app_show_replicate_zero_of_run(small_scenario_path):
    """One seed convention: the patient that ``metasim animate --seed S`` and the classroom
    app simulate is replicate 0 of ``metasim run --seed S``."""
    from sim import MetastasisModel
    from sim.apps.animate import record_course
    from sim.config.loading import load_scenario
    from sim.engine.model import simulate
    from sim.experiments.seeds import patient_generator

    sc = load_scenario(small_scenario_path)
    run0 = simulate(sc, replicate_stream(11, 0))
    direct = MetastasisModel(sc, rng=patient_generator(11)).run().result()
    assert direct.shed_total == run0.shed_total and direct.reached == run0.reached
    course = record_course(sc, 11)
    assert course.states[-1]["reached"] == run0.reached
