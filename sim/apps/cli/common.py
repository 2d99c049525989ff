"""What every ``metasim`` command shares: its options, its error handling and its checks.

Bad input (scenario errors, impossible output folders, limits) ends in one message on
stderr and exit status 2, never a traceback; nothing already in ``--out`` is touched until a
run has finished.

This module imports only click and the standard library at the top: the heavy parts of
metasim (Mesa, pandas, SciPy, pyabc) are imported inside the commands, so that ``metasim
--help``, ``metasim --version`` and ``metasim COMMAND --help`` answer at once.
"""

from __future__ import annotations

import errno
import functools
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ...config.hypotheses import HYPOTHESES

if TYPE_CHECKING:
    from ...config.schema import Scenario
    from ...io.folder import Destination

EXIT_BAD_INPUT = 2


class Fail(click.ClickException):
    """One line on stderr, ``metasim: error: ...``, and exit status 2."""

    exit_code = EXIT_BAD_INPUT

    def show(self, file: Any = None) -> None:
        click.echo(f"metasim: error: {self.message}", err=True)


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP (``timeout``, a batch scheduler, a closed terminal): handled like
    Ctrl-C, so staging folders are removed and workers stopped on the way out."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _raise_stopped(signum: int, _frame: Any) -> None:
    raise Stopped(signum)


def ignore_further_stops() -> None:
    """Once a command is on its way out after Ctrl-C (or SIGTERM), a second one must not
    interrupt the clean-up and print a traceback: further ones are ignored."""
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)):
            if sig is not None:
                signal.signal(sig, signal.SIG_IGN)


def exit_status(stop: KeyboardInterrupt) -> int:
    """130 for Ctrl-C, 128 + the signal for SIGTERM or SIGHUP."""
    return 128 + stop.signum if isinstance(stop, Stopped) else 130


def how_stopped(stop: KeyboardInterrupt) -> str:
    return (f"stopped by {signal.Signals(stop.signum).name}" if isinstance(stop, Stopped)
            else "interrupted")


def guard(fn: Callable) -> Callable:
    """Turn the package's typed errors into a clear message and exit status 2, and Ctrl-C,
    SIGTERM and SIGHUP into one line (exit 130, or 128 + the signal)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ...config.errors import ScenarioError
        from ...engine.cohorts import SimulationLimitError
        from ...experiments.executors import WorkerError
        from ...experiments.limits import RunTooLargeError

        previous = {}
        if threading.current_thread() is threading.main_thread():
            # Ctrl-C's handler is kept as it is, and restored on the way out in case the
            # command ignored a second one (ignore_further_stops).
            previous[signal.SIGINT] = signal.getsignal(signal.SIGINT)
            for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
                if sig is not None:
                    previous[sig] = signal.signal(sig, _raise_stopped)
        try:
            return fn(*args, **kwargs)
        except (ScenarioError, SimulationLimitError, RunTooLargeError, WorkerError) as e:
            raise Fail(str(e)) from None
        except OSError as e:  # OutputError included; a file problem not caught where it happened
            raise Fail(describe_os_error(e)) from None
        except KeyboardInterrupt as e:
            ignore_further_stops()
            click.echo(f"metasim: {how_stopped(e)}; nothing was written (results are moved "
                       "into the output folder only once a run is complete)", err=True)
            sys.exit(exit_status(e))
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    return wrapper


def describe_os_error(e: OSError) -> str:
    """One line for a file-system error: what went wrong and on which path."""
    from ...io.folder import OutputError

    if isinstance(e, OutputError):
        return str(e)
    what = "no space left on the device" if e.errno == errno.ENOSPC else (e.strerror or str(e))
    where = f" ({e.filename})" if getattr(e, "filename", None) else ""
    return f"{what}{where}"


def names_option(value: str, option: str, allowed: Iterable[str], what: str,
                 default: list[str] | None = None, word: str = "allowed") -> list[str]:
    """A comma-separated list of names from the command line, each one checked.

    ``""`` or ``","`` name nothing, which is refused (an empty list never silently means
    "all"); an unknown name is refused with the allowed ones.
    """
    allowed = list(allowed)
    names = [n.strip() for n in value.split(",") if n.strip()]
    if not names:
        raise Fail(f"{option} {value!r}: names no {what}; give one or more of "
                   f"{', '.join(allowed)}" + (f" (default: {','.join(default)})" if default
                                              else ""))
    bad = [n for n in names if n not in allowed]
    if bad:
        raise Fail(f"{option} {value!r}: unknown {what} {', '.join(map(repr, bad))}; {word}: "
                   f"{', '.join(allowed)}")
    return list(dict.fromkeys(names))


def load(scenario: str, overrides: tuple[str, ...], seed: int | None,
         replicates: int | None, hypothesis: str | None = None) -> Scenario:
    """The scenario with the user's ``--set`` overrides, then the command's own options.

    The user's overrides are validated first on their own, so that a bad ``--set`` is
    reported against the key the user typed, not against an option the command added
    after it (``--set simulation=5 --replicates 3`` blames ``simulation``)."""
    from ...config.loading import load_scenario

    extra = []
    if hypothesis is not None:
        extra.append(f"hypothesis={hypothesis}")
    if seed is not None:
        extra.append(f"simulation.seed={seed}")
    if replicates is not None:
        extra.append(f"simulation.replicates={replicates}")
    if extra and overrides:
        load_scenario(scenario, list(overrides))
    return load_scenario(scenario, [*overrides, *extra])


def check_out_path(ctx: click.Context, param: click.Parameter, value: Path | None
                   ) -> Path | None:
    """``--out``: refuse an empty path (it would mean the current folder), a symbolic link
    (metasim replaces its output folders by renaming, never through a link) and a path that
    cannot be looked at (a loop of links)."""
    if value is None:
        return None
    opt = "--" + (param.name or "out").replace("_", "-")
    if str(value).strip() in ("", "."):   # click turns "" into Path("."): both are refused
        raise Fail(f"{opt} {str(value)!r}: an empty path names the current folder; give a "
                   "folder name such as out/run1")
    try:
        os.stat(value)
    except OSError as e:
        if e.errno == errno.ELOOP:   # other problems are reported where the folder is made
            raise Fail(f"{opt} {value}: cannot be used (it goes through a loop of symbolic "
                       "links)") from None
    if value.is_symlink():
        target = os.path.realpath(value)
        kind = "a folder" if os.path.isdir(target) else "something that is not a folder" \
            if os.path.exists(target) else "nothing (a broken link)"
        raise Fail(f"{opt} {value}: a symbolic link to {kind} ({target}); metasim never "
                   "writes through a link: give the folder itself")
    return value


def destination(out: Path | None, default: Path) -> Destination:
    """Where the output folder goes.

    Without ``--out`` an earlier run is never replaced: the next free ``NAME-2``, ``NAME-3``
    ... is used (chosen again when the run ends, if another run took it meanwhile). An
    explicit ``--out`` holding an earlier metasim output is replaced (the user named it), and
    the command says so.
    """
    from ...io.folder import Destination, numbered_destination

    if out is None:
        chosen = numbered_destination(default)
        if chosen != default:
            click.echo(f"metasim: {default} holds an earlier run; writing to {chosen}", err=True)
        dest = Destination(chosen, default=True)
        dest.requested = default
        return dest
    return Destination(out)


def say_replaced(dest: Destination) -> None:
    if dest.replaced:
        click.echo(f"(replaced the earlier metasim output in {dest.final})", err=True)


#: Below this estimated work (seconds of one core) a run stays in this process: starting
#: worker processes (~2 s each, importing Mesa) would cost more than it saves.
SERIAL_BELOW_S = 10.0


def plan(sc: Scenario, replicates: int, workers: int | None, oversubscribe: bool,
         runs: int = 1) -> int:
    """Check the run fits before it starts (memory, agents, workers); warn if it is long.

    Returns the worker processes to use: ``--workers`` if given, else all cores - or one,
    when the whole run is estimated under :data:`SERIAL_BELOW_S` seconds."""
    from ...experiments.executors import resolve_workers
    from ...experiments.limits import WARN_SECONDS, check_run
    from ...experiments.replicates import choose_engine
    from ...experiments.seeds import population_batches

    engine = choose_engine(sc, replicates)
    # The population engine hands out batches: by default no more workers than batches.
    jobs = len(population_batches(replicates)) if engine == "population" and workers is None \
        else replicates
    w = min(resolve_workers(workers, oversubscribe), max(1, jobs))
    est = check_run(sc, replicates, w, runs, engine=engine)
    if workers is None and est.seconds_per_patient * replicates * runs < SERIAL_BELOW_S:
        w = 1
    total = est.seconds_per_patient * replicates * runs / w
    if total > WARN_SECONDS:
        click.echo(f"metasim: this run is long: {est.describe(replicates * runs, w)} "
                   "(estimated; Ctrl-C stops it and writes nothing)", err=True)
    return w


def sweep_workers(executor: str, workers: int | None, oversubscribe: bool,
                  scheduler: str | None) -> int:
    """Workers of a sweep: bounded by the local cores, except on a remote Dask cluster."""
    from ...experiments.executors import resolve_workers

    if executor == "serial":
        return 1
    if executor == "dask" and scheduler:
        return workers or 1
    return resolve_workers(workers, oversubscribe)


def check_scheduler(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--scheduler``: a Dask scheduler's address (``tcp://host:8786``, ``tls://...``), not
    a web address (``http://host:8787`` is the dashboard)."""
    if value is None:
        return None
    from ...experiments.executors import check_scheduler_address

    if ctx.params.get("executor") not in (None, "dask"):
        raise Fail(f"--scheduler {value}: a Dask scheduler is used only with --executor dask "
                   f"(not {ctx.params['executor']})")
    try:
        return check_scheduler_address(value)
    except ValueError as e:
        raise Fail(f"--scheduler {e}") from None


class Clock:
    """The wall time of a command, from its start (written into its provenance)."""

    def __init__(self) -> None:
        self.started = time.time()
        self._t0 = time.perf_counter()

    def seconds(self) -> float:
        return time.perf_counter() - self._t0


def with_options(options: list[Callable]) -> Callable:
    def deco(fn: Callable) -> Callable:
        for opt in reversed(options):
            fn = opt(fn)
        return fn
    return deco


HYPOTHESIS_NAMES = list(HYPOTHESES)
EXECUTOR_NAMES = ["serial", "processes", "dask"]

scenario_arg = click.argument("scenario", metavar="SCENARIO")
set_opt = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                       help="Override a scenario key (dotted path), validated like the file. "
                            "Repeatable.")
seed_opt = click.option("--seed", type=click.IntRange(min=0), default=None,
                        help="Seed of the replicate streams (default: simulation.seed).")
rep_opt = click.option("--replicates", type=click.IntRange(min=1), default=None,
                       help="Simulated patients (default: simulation.replicates).")
workers_opt = click.option("--workers", type=click.IntRange(min=1), default=None,
                           help="Local processes to run patients on (default: all cores; "
                                "results do not depend on it).")
oversub_opt = click.option("--oversubscribe", is_flag=True,
                           help="Allow more --workers than this machine has cores.")
hypothesis_opt = click.option("--hypothesis", type=click.Choice(HYPOTHESIS_NAMES), default=None,
                              help="Override the scenario's hypothesis (ewing: anatomy only; "
                                   "paget: seed and soil; combined: both; null: neither).")
progress_opt = click.option("--progress/--no-progress", default=None,
                            help="Progress bar on stderr (default: only when stderr is a "
                                 "terminal).")


def out_opt(help_text: str, file_okay: bool = True) -> Callable:
    return click.option("--out", type=click.Path(path_type=Path, file_okay=file_okay),
                        default=None, callback=check_out_path, help=help_text)


executor_opts = [
    click.option("--executor", type=click.Choice(EXECUTOR_NAMES),
                 default="processes", show_default=True,
                 help="Who runs the patients; results do not depend on it."),
    click.option("--workers", type=click.IntRange(min=1), default=None,
                 help="Processes (processes) or workers of a local Dask cluster (default: "
                      "all cores)."),
    oversub_opt,
    click.option("--scheduler", default=None, metavar="ADDRESS", callback=check_scheduler,
                 help="Address of a running Dask scheduler (tcp://host:8786); default: a "
                      "LocalCluster on this machine."),
]
