"""Where runs execute: one interface, three executors (serial, local processes, Dask).

*What* to run is a list of items (replicate jobs, sweep runs) built before anything runs;
an executor only calls ``fn(item)`` for each of them, so a result never depends on which
executor ran it, with how many workers, or in what order the items finished (each item
carries its own random stream, see :mod:`sim.experiments.seeds`).

Every executor has the same two methods:

* :meth:`Executor.map` yields ``fn(item)`` in item order; an exception ``fn`` raises is
  raised again here, and a worker that dies raises :class:`WorkerError`;
* :meth:`Executor.as_completed` yields a :class:`Done` per item as it finishes, with its
  index, whether it failed and why - a sweep records a failed run as a failed row and goes
  on.

Both consume ``items`` lazily and keep only a few items per worker in flight (``map`` never
runs more than a window ahead of the oldest unfinished item), so memory does not grow with
the number of items. An executor used in a ``with`` block keeps its workers for the whole
block (a comparison or a calibration pays their start once); used without one, each call
starts and stops its own. Leaving the block or the loop early - Ctrl-C, SIGTERM, an error,
a ``break`` - kills the workers at once instead of waiting for the items in flight.

Local worker processes (:class:`ProcessExecutor`) are started from the "spawn" context with
SIGINT ignored (Ctrl-C is the parent's to handle; it stops them) and exit when their parent
dies, even by ``kill -9``. Each has its own pipe and runs one item at a time, so when one
dies (a segfault, the out-of-memory killer) the parent knows which item it held, reports
that item (:func:`died_message`), starts a new worker and goes on; nothing else is lost and
no shared queue is left with a lock held.

While a worker starts, the parent holds Ctrl-C, SIGTERM and SIGHUP (blocked, not ignored):
one that arrives then is raised as soon as the worker is in the pool, so it is neither lost
nor leaves a half-started worker behind; workers still running when the interpreter exits
are killed, not waited for. A process started with SIGINT already ignored (``cmd &`` in a
script: POSIX shells start background jobs so) keeps ignoring it, as Unix programs do;
SIGTERM still stops it.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import pickle
import signal
import sys
import threading
import time
import traceback
import uuid
import warnings
import weakref
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Self, TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: Names accepted by :func:`open_executor` (and ``--executor`` on the command line).
EXECUTORS = ("serial", "processes", "dask")
#: Items handed out per worker ahead of the results (bounds memory and the reorder buffer).
ITEMS_PER_WORKER = 4


class WorkerError(RuntimeError):
    """A worker process died (killed, e.g. by the out-of-memory killer) while running an
    item of :meth:`Executor.map`."""


@dataclass
class Done:
    """One finished item of :meth:`Executor.as_completed`.

    Exactly one of: ``value`` (``fn`` returned), ``exception`` (``fn`` raised it), ``died``
    (the worker running it died or was lost; the text says how).
    """

    index: int
    item: Any
    value: Any = None
    exception: BaseException | None = None
    died: str | None = None

    @property
    def ok(self) -> bool:
        return self.exception is None and self.died is None

    @property
    def error(self) -> str:
        """One line for a failed item ("" if it did not fail)."""
        if self.died is not None:
            return self.died
        if self.exception is not None:
            return f"{type(self.exception).__name__}: {self.exception}".strip()
        return ""


class _Session:
    """The running part of one ``map``/``as_completed`` call (one per executor kind)."""

    capacity = 1

    def submit(self, index: int, fn: Callable, item: Any) -> None:
        raise NotImplementedError

    def wait(self) -> list[tuple[int, Any, BaseException | None, str | None]]:
        """Block until at least one submitted item finished: (index, value, exception,
        died) for each."""
        raise NotImplementedError

    def abandon(self) -> None:
        """Stop the items still in flight (the caller left early)."""


class Executor:
    """Runs ``fn(item)`` for every item; see the module docstring."""

    #: The name :func:`open_executor` knows it by.
    name = ""
    #: Whether items run in this very process (a long single patient may then show a
    #: progress bar over its days).
    in_process = False

    def __init__(self, workers: int = 1):
        self.workers = max(1, int(workers))
        self._depth = 0

    # -- the interface -----------------------------------------------------------------
    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """``fn(item)`` for each item, in item order.

        Raises
        ------
        Exception
            Whatever ``fn`` raised, for the first item (in completion order) that raised.
        WorkerError
            A worker process died while running an item.
        """
        buffered: dict[int, Any] = {}
        next_index = 0
        with contextlib.closing(self._stream(fn, items,
                                             lookahead=ITEMS_PER_WORKER * self.workers)) as stream:
            for done in stream:
                if done.exception is not None:
                    raise done.exception
                if done.died is not None:
                    raise WorkerError(f"{done.died}; nothing was written")
                buffered[done.index] = done.value
                while next_index in buffered:
                    yield buffered.pop(next_index)
                    next_index += 1

    def as_completed(self, fn: Callable[[T], Any],
                     items: Iterable[T]) -> Generator[Done, None, None]:
        """A :class:`Done` for each item as it finishes (completion order); failures are
        reported in it, never raised, and the other items go on."""
        return self._stream(fn, items, lookahead=None)

    # -- workers kept for a with block ---------------------------------------------------
    def __enter__(self) -> Self:
        if self._depth == 0:
            self._open()
        self._depth += 1
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._close(graceful=exc_type is None)

    def _open(self) -> None:
        """Start what the executor keeps for a with block (nothing by default)."""

    def _close(self, graceful: bool) -> None:
        """Stop it: asked to exit when ``graceful``, killed at once otherwise."""

    def _session(self) -> _Session:
        raise NotImplementedError

    # -- the one driver --------------------------------------------------------------------
    def _stream(self, fn: Callable, items: Iterable,
                lookahead: int | None) -> Generator[Done, None, None]:
        """Hand items out as capacity frees up and yield each as it finishes.

        With ``lookahead``, no item is handed out that is ``lookahead`` or more places after
        the oldest one still running, so an in-order consumer buffers fewer than
        ``lookahead`` results however many items there are.
        """
        temporary = self._depth == 0
        if temporary:
            self.__enter__()
        finished = False
        session = self._session()
        try:
            numbered = enumerate(items)
            in_flight: dict[int, Any] = {}
            waiting: tuple[int, Any] | None = None
            exhausted = False
            while True:
                while not exhausted and len(in_flight) < session.capacity:
                    if waiting is None:
                        waiting = next(numbered, None)
                        if waiting is None:
                            exhausted = True
                            break
                    if lookahead is not None and in_flight and \
                            waiting[0] >= min(in_flight) + lookahead:
                        break
                    index, item = waiting
                    session.submit(index, fn, item)
                    in_flight[index] = item
                    waiting = None
                if not in_flight:
                    break
                for index, value, exception, died in session.wait():
                    yield Done(index, in_flight.pop(index), value, exception, died)
            finished = True
        finally:
            if not finished:
                session.abandon()
            if temporary:
                self.__exit__(None if finished else KeyboardInterrupt, None, None)


# ----------------------------------------------------------------------------- serial
class SerialExecutor(Executor):
    """Every item in this process, one after the other."""

    name = "serial"
    in_process = True

    def __init__(self, workers: int = 1):
        super().__init__(1)

    def _session(self) -> _Session:
        return _SerialSession()


class _SerialSession(_Session):
    def __init__(self) -> None:
        self._done: list[tuple[int, Any, BaseException | None, str | None]] = []

    def submit(self, index: int, fn: Callable, item: Any) -> None:
        try:
            self._done.append((index, fn(item), None, None))
        except Exception as e:  # handed to the caller: raised by map, reported by as_completed
            self._done.append((index, None, e, None))

    def wait(self) -> list[tuple[int, Any, BaseException | None, str | None]]:
        done, self._done = self._done, []
        return done


# ----------------------------------------------------------------- local processes
def _worker_init(parent_pid: int) -> None:
    """In a worker: leave Ctrl-C to the parent, and exit when the parent dies."""
    # Started with the stop signals blocked (see _stop_signals_held): ignoring SIGINT drops
    # a Ctrl-C that came while this interpreter started, then SIGTERM and SIGHUP act again.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    if sys.platform.startswith("linux"):
        # The kernel kills us when the parent (the thread that started us) exits.
        with contextlib.suppress(Exception):
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:  # portable fallback: orphans are re-parented
        while True:
            time.sleep(0.5)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, daemon=True, name="metasim-parent-watch").start()


class RemoteTraceback(Exception):
    """The traceback of an exception raised in a worker process (its ``__cause__``)."""


def _portable(e: BaseException, tb: str) -> BaseException:
    """``e`` if it survives pickling, else a RuntimeError saying what it was."""
    try:
        pickle.loads(pickle.dumps(e))
        return e
    except Exception:
        return RuntimeError(f"{type(e).__name__}: {e}\n{tb}")


def _worker_main(conn: Any, parent_pid: int) -> None:
    _worker_init(parent_pid)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        except Exception as e:  # an item that cannot be unpickled here
            reply: tuple[bool, Any, str] = (False, e, traceback.format_exc())
        else:
            if task is None:
                return
            fn, item = task
            try:
                reply = (True, fn(item), "")
            except Exception as e:
                tb = traceback.format_exc()
                reply = (False, _portable(e, tb), tb)
        try:
            conn.send(reply)
        except (OSError, ValueError):
            return
        except Exception as e:  # a result that cannot be pickled
            ok, value, tb = reply
            err = value if not ok else e
            conn.send((False, _portable(err, tb or traceback.format_exc()), tb))


def died_message(exitcode: int | None) -> str:
    """What is reported for an item whose worker process died with ``exitcode``."""
    if exitcode is not None and exitcode < 0:
        sig = -exitcode
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = "unknown signal"
        why = f"killed by signal {sig} ({name})"
        if sig == signal.SIGKILL:
            why += ": by the out-of-memory killer? try fewer --workers or a smaller scenario"
    else:
        why = f"exit status {exitcode}"
    return f"WorkerDied: the worker process running this run died ({why})"


@dataclass(eq=False)
class _Worker:
    proc: Any
    conn: Any
    #: (session, index) of the item it runs, None when idle.
    task: tuple[object, int] | None = None


#: Ctrl-C, SIGTERM and SIGHUP: what stops a run (see ``_guard`` in :mod:`sim.apps.cli`).
_STOP_SIGNALS = frozenset(s for s in (signal.SIGINT, signal.SIGTERM,
                                     getattr(signal, "SIGHUP", None)) if s is not None)


@contextlib.contextmanager
def _stop_signals_held() -> Iterator[None]:
    """Hold Ctrl-C, SIGTERM and SIGHUP while a worker starts: one that arrives meanwhile is
    raised on the way out, once the worker is in the pool (so stopping kills it too).

    The starting thread blocks them and the worker inherits that mask, so a Ctrl-C sent to
    the whole process group during its imports (seconds in a fresh install) stays pending
    there until :func:`_worker_init` ignores SIGINT: no traceback from it. Another thread of
    this process (tqdm's monitor, say) may still take the signal, so the main thread's
    handlers only note it until then. The old way, ignoring SIGINT meanwhile, lost a Ctrl-C
    that came then; a SIGTERM raised half-way through ``start()`` left a child reading a
    truncated pipe. The standard library starts its resource tracker with such a mask
    (bpo-33613).
    """
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - not POSIX
        yield
        return
    # The tracker's own start unblocks SIGINT and SIGTERM: start it before holding them.
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()
    arrived: list[int] = []
    holding = True
    previous: dict[int, Callable] = {}

    def note(signum: int, frame: Any) -> None:
        if holding:
            arrived.append(signum)
        else:  # left installed by an exception below: the usual handler
            previous[signum](signum, frame)

    if threading.current_thread() is threading.main_thread():
        for sig in _STOP_SIGNALS:
            if callable(handler := signal.getsignal(sig)):  # not SIG_IGN, SIG_DFL
                previous[sig] = handler
                signal.signal(sig, note)
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        holding = False
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if arrived:
            previous[arrived[0]](arrived[0], None)   # raises KeyboardInterrupt, or Stopped


class ProcessExecutor(Executor):
    """Items on ``workers`` local processes, one item per worker at a time."""

    name = "processes"

    def __init__(self, workers: int = 1):
        super().__init__(workers)
        self._pool: list[_Worker] = []

    def _close(self, graceful: bool) -> None:
        _stop_workers(self._pool, graceful)
        self._pool = []

    def _session(self) -> _Session:
        return _ProcessSession(self)

    def _start_worker(self) -> _Worker:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")  # explicit: the parent-death watch relies on getppid()
        parent_end, child_end = ctx.Pipe(duplex=True)
        proc = ctx.Process(target=_worker_main, args=(child_end, os.getpid()), daemon=True,
                           name="metasim-worker")
        with _stop_signals_held():  # a Ctrl-C now is raised once the worker is in the pool
            proc.start()
            child_end.close()
            worker = _Worker(proc, parent_end)
            self._pool.append(worker)
            _at_exit_kill(self)
        return worker

    def _remove(self, worker: _Worker, timeout: float = 10) -> int | None:
        """Forget a worker that died (or was killed) and return its exit status."""
        self._pool.remove(worker)
        with contextlib.suppress(OSError):
            worker.conn.close()
        worker.proc.join(timeout=timeout)
        return worker.proc.exitcode


class _ProcessSession(_Session):
    def __init__(self, executor: ProcessExecutor):
        self.ex = executor
        self.capacity = executor.workers

    def _mine(self) -> list[_Worker]:
        return [w for w in self.ex._pool if w.task is not None and w.task[0] is self]

    def submit(self, index: int, fn: Callable, item: Any) -> None:
        while True:
            w = next((w for w in self.ex._pool if w.task is None), None)
            if w is None:
                w = self.ex._start_worker()
            try:
                w.conn.send((fn, item))
            except (OSError, ValueError):   # died while idle: replace it, the item waits
                self.ex._remove(w)
                continue
            w.task = (self, index)
            return

    def wait(self) -> list[tuple[int, Any, BaseException | None, str | None]]:
        from multiprocessing.connection import wait

        busy = self._mine()
        ready = set(wait([w.conn for w in busy] + [w.proc.sentinel for w in busy]))
        out: list[tuple[int, Any, BaseException | None, str | None]] = []
        for w in busy:
            if w.conn not in ready and w.proc.sentinel not in ready:
                continue
            reply = None
            try:
                if w.conn.poll():
                    reply = w.conn.recv()
            except (EOFError, OSError):
                reply = None
            assert w.task is not None  # a busy worker holds its item
            index = w.task[1]
            w.task = None
            if reply is None:   # the worker died with this item
                out.append((index, None, None, died_message(self.ex._remove(w))))
                continue
            ok, value, tb = reply
            if ok:
                out.append((index, value, None, None))
            else:
                if tb:
                    value.__cause__ = RemoteTraceback(tb)
                out.append((index, None, value, None))
        return out

    def abandon(self) -> None:
        """Kill the workers still running this session's items: their results would be
        stale, and an interruption should not wait for them."""
        mine = self._mine()
        for w in mine:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                w.proc.kill()
        deadline = time.monotonic() + 5  # all killed first: one wait, not one per worker
        for w in mine:
            self.ex._remove(w, timeout=max(0.1, deadline - time.monotonic()))


_LEFT_RUNNING: weakref.WeakSet[ProcessExecutor] = weakref.WeakSet()


def _at_exit_kill(executor: ProcessExecutor) -> None:
    """Kill ``executor``'s workers if the interpreter exits with them still running (a
    ``map`` whose consumer was interrupted is closed only when its traceback is freed).
    Registered after multiprocessing's own exit hook, so it runs first: that one would ask
    each worker to terminate and wait for it without a time limit."""
    if not _LEFT_RUNNING:
        atexit.unregister(_kill_left_workers)
        atexit.register(_kill_left_workers)
    _LEFT_RUNNING.add(executor)


def _kill_left_workers() -> None:
    for executor in list(_LEFT_RUNNING):
        _stop_workers(executor._pool, graceful=False)
        executor._pool = []
    _LEFT_RUNNING.clear()


def _stop_workers(pool: list[_Worker], graceful: bool) -> None:
    """Idle workers are asked to exit; on an interruption (Ctrl-C, an error, the consumer
    stopping early) every worker is killed at once - its item is lost, not half-written."""
    for w in pool:
        if graceful and w.task is None:
            with contextlib.suppress(OSError, ValueError):
                w.conn.send(None)
        else:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                w.proc.kill()
    deadline = time.monotonic() + 5
    for w in pool:
        w.proc.join(timeout=max(0.1, deadline - time.monotonic()))
        if w.proc.is_alive():
            w.proc.kill()
            w.proc.join(timeout=1)
        with contextlib.suppress(OSError):
            w.conn.close()


# ------------------------------------------------------------------------------ Dask
class DaskExecutor(Executor):
    """Items on a Dask cluster: a running scheduler at ``scheduler`` (tcp://host:8786), or a
    LocalCluster of ``workers`` single-threaded worker processes started for the block."""

    name = "dask"

    def __init__(self, workers: int = 1, scheduler: str | None = None):
        super().__init__(workers)
        self.scheduler = scheduler
        self._client: Any = None
        self._cluster: Any = None

    def _open(self) -> None:
        from ..config.errors import ScenarioError

        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:  # pragma: no cover - dask is a dependency
            raise ScenarioError("--executor dask needs dask.distributed: "
                                "python3 -m pip install 'dask[distributed]'") from None
        if self.scheduler:
            try:
                address = check_scheduler_address(self.scheduler)
                self._client = Client(address, timeout="20s")
            except (OSError, ValueError, TimeoutError) as e:
                raise ScenarioError(f"--scheduler {self.scheduler}: cannot connect ({e})") from None
        else:
            # The local workers start with Ctrl-C blocked, and keep it so: Ctrl-C reaches
            # the whole process group, and stopping them is this process's job (a worker
            # taking it would print its own traceback and Dask's warnings). Threads started
            # meanwhile (the client's event loop) inherit the mask too, so the signal goes to
            # the main thread; one that arrives during the start is delivered after it.
            with _sigint_blocked():
                self._cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1,
                                             processes=True, dashboard_address=None)
                self._client = Client(self._cluster)

    def _close(self, graceful: bool) -> None:
        # Stopped by Ctrl-C or an error: the work in flight is cancelled on purpose, and
        # Dask's warnings about it (cancelled tasks, workers killed) say nothing to the user.
        quiet = contextlib.nullcontext() if graceful else _dask_quiet()
        with quiet:
            try:
                if not graceful and self._cluster is not None and self._client is not None:
                    # Our own local workers only (a shared cluster's logging is not ours).
                    with contextlib.suppress(Exception):
                        self._client.run(_silence_dask_logging)
                if self._client is not None:
                    self._client.close()
                if self._cluster is not None:
                    self._cluster.close()
            except (asyncio.CancelledError, TimeoutError, OSError):
                if graceful:
                    raise
            finally:
                self._client = self._cluster = None

    def _session(self) -> _Session:
        return _DaskSession(self._client, self.workers)


class _DaskSession(_Session):
    def __init__(self, client: Any, workers: int):
        from dask.distributed import as_completed

        self.client = client
        # A few items per worker thread in flight: the client and the scheduler never hold
        # the whole list. Keys are unique to this call, so a shared scheduler never hands
        # back another call's result.
        threads = sum(client.nthreads().values()) or workers
        self.capacity = ITEMS_PER_WORKER * threads
        self.token = uuid.uuid4().hex[:8]
        self.done = as_completed()
        self.running: dict[str, tuple[int, Any]] = {}   # key -> (index, future)

    def submit(self, index: int, fn: Callable, item: Any) -> None:
        fut = self.client.submit(fn, item, pure=False, key=f"metasim-{self.token}-{index}")
        self.running[str(fut.key)] = (index, fut)
        self.done.add(fut)

    def wait(self) -> list[tuple[int, Any, BaseException | None, str | None]]:
        from distributed import KilledWorker

        fut = next(self.done)
        index, _ = self.running.pop(str(fut.key))
        try:
            out: tuple[int, Any, BaseException | None, str | None] = (index, fut.result(),
                                                                     None, None)
        except KilledWorker as e:
            out = (index, None, None, f"KilledWorker: {e} (the Dask worker running it "
                                      "failed or died)")
        except Exception as e:
            out = (index, None, e, None)
        fut.release()
        return [out]

    def abandon(self) -> None:
        with contextlib.suppress(Exception):
            self.client.cancel([fut for _, fut in self.running.values()])


@contextlib.contextmanager
def _sigint_blocked() -> Iterator[None]:
    """Block Ctrl-C in this thread (and what it starts) for the block; a Ctrl-C that came
    meanwhile is delivered when the block ends."""
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - not POSIX
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _silence_dask_logging() -> None:
    """Run on a local Dask worker that is about to be stopped: no warnings from it."""
    for name in ("distributed", "tornado", "asyncio"):
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)


@contextlib.contextmanager
def _dask_quiet() -> Iterator[None]:
    """Dask's loggers and warnings silenced for the block."""
    loggers = [logging.getLogger(n) for n in ("distributed", "tornado", "asyncio")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


# ---------------------------------------------------------------------------- choosing
#: Address schemes a Dask scheduler listens on (distributed.comm's transports).
SCHEDULER_SCHEMES = ("tcp", "tls", "inproc", "ucx", "ws", "wss")


def check_scheduler_address(address: str) -> str:
    """A Dask scheduler's address, checked before anything runs; raises ValueError with what
    is wrong. ``host:port`` without a scheme is Dask's ``tcp://host:port``. A web address
    (``http://...``) is refused: that is the dashboard, not the scheduler."""
    a = address.strip()
    scheme, sep, rest = a.partition("://")
    if not sep:
        scheme, rest = "tcp", a
    example = "a scheduler's address looks like tcp://HOST:8786"
    if not rest or not a:
        raise ValueError(f"{address!r} names no scheduler; {example}")
    if scheme.lower() in ("http", "https"):
        raise ValueError(f"{address!r} is a web address (Dask's dashboard listens there, "
                         f"usually on port 8787); {example}")
    if scheme.lower() not in SCHEDULER_SCHEMES:
        raise ValueError(f"{address!r}: unknown address scheme {scheme!r} (allowed: "
                         f"{', '.join(SCHEDULER_SCHEMES)}); {example}")
    return a


def open_executor(kind: str | Executor = "serial", workers: int = 1,
                  scheduler: str | None = None) -> Executor:
    """The executor named ``kind`` (one of :data:`EXECUTORS`) with ``workers`` workers, or
    ``kind`` itself when it already is an executor.

    Raises
    ------
    ScenarioError
        An unknown ``kind`` (the message lists the allowed ones).
    """
    from ..config.errors import ScenarioError

    if isinstance(kind, Executor):
        return kind
    if kind == "serial":
        return SerialExecutor()
    if kind == "processes":
        return ProcessExecutor(workers)
    if kind == "dask":
        return DaskExecutor(workers, scheduler)
    raise ScenarioError(f"--executor {kind!r}: allowed: {', '.join(EXECUTORS)}")


def local_executor(workers: int) -> Executor:
    """``workers`` local processes, or this process alone for one worker."""
    return ProcessExecutor(workers) if workers > 1 else SerialExecutor()


def available_cores() -> int:
    """Cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def resolve_workers(requested: int | None, oversubscribe: bool = False) -> int:
    """Worker processes to use: all cores by default, never more than the cores unless
    ``oversubscribe`` (each worker holds ~200 MB and more workers than cores add no speed).

    Raises
    ------
    RunTooLargeError
        More workers than cores were asked for without ``oversubscribe``.
    """
    from .limits import RunTooLargeError

    cores = available_cores()
    if requested is None:
        return cores
    if requested > cores and not oversubscribe:
        raise RunTooLargeError(
            f"--workers {requested}: this machine has {cores} core(s); more worker processes "
            f"than cores add memory (~200 MB each), not speed. Use --workers {cores} or fewer, "
            "or add --oversubscribe")
    return requested


__all__ = [
    "EXECUTORS",
    "SCHEDULER_SCHEMES",
    "DaskExecutor",
    "Done",
    "Executor",
    "ProcessExecutor",
    "SerialExecutor",
    "WorkerError",
    "available_cores",
    "check_scheduler_address",
    "died_message",
    "local_executor",
    "open_executor",
    "resolve_workers",
]
