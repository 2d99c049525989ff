"""The ``metasim`` command.

Bad input (scenario errors, impossible output folders, limits) ends in one message on
stderr and exit status 2, never a traceback; nothing already in ``--out`` is touched until a
run has finished.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import click

from ..analysis.summaries import population_lines
from ..biology.anatomy import PRIMARY_SITES
from ..config.bundled import list_scenarios
from ..config.errors import ScenarioError
from ..config.loading import load_scenario
from ..config.schema import HYPOTHESES, Scenario
from ..engine.cohorts import SimulationLimitError
from ..experiments.executors import EXECUTORS, WorkerError, local_executor, resolve_workers
from ..experiments.limits import TIMESERIES_KEPT, WARN_SECONDS, RunTooLargeError, check_run
from ..experiments.replicates import choose_engine, compare, run_replicates
from ..experiments.seeds import population_batches
from ..io.folder import Destination, OutputError, numbered_destination, staged
from ..io.outputs import PatientFiles, write_comparison, write_run, write_validation

EXIT_BAD_INPUT = 2


class _Fail(click.ClickException):
    exit_code = EXIT_BAD_INPUT

    def show(self, file=None) -> None:
        click.echo(f"metasim: error: {self.message}", err=True)


def _load(scenario: str, overrides: tuple[str, ...], seed: int | None,
          replicates: int | None, hypothesis: str | None = None) -> Scenario:
    extra = list(overrides)
    if hypothesis is not None:
        extra.append(f"hypothesis={hypothesis}")
    if seed is not None:
        extra.append(f"simulation.seed={seed}")
    if replicates is not None:
        extra.append(f"simulation.replicates={replicates}")
    return load_scenario(scenario, extra)


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP (``timeout``, a batch scheduler, a closed terminal): handled like
    Ctrl-C, so staging folders are removed and workers stopped on the way out."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _raise_stopped(signum, _frame) -> None:
    raise Stopped(signum)


def _guard(fn):
    """Turn the package's typed errors into a clear message and exit status 2, and Ctrl-C,
    SIGTERM and SIGHUP into one line (exit 130, or 128 + the signal)."""
    import functools
    import signal

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
                if sig is not None:
                    previous[sig] = signal.signal(sig, _raise_stopped)
        try:
            return fn(*args, **kwargs)
        except (ScenarioError, OutputError, SimulationLimitError, RunTooLargeError,
                WorkerError) as e:
            raise _Fail(str(e)) from None
        except OSError as e:  # a file or folder problem not caught where it happened
            where = f" ({e.filename})" if getattr(e, "filename", None) else ""
            raise _Fail(f"{e.strerror or e}{where}") from None
        except KeyboardInterrupt as e:
            how = (f"stopped by {signal.Signals(e.signum).name}" if isinstance(e, Stopped)
                   else "interrupted")
            click.echo(f"metasim: {how}; nothing was written (results are moved into the "
                       "output folder only once a run is complete)", err=True)
            sys.exit(128 + e.signum if isinstance(e, Stopped) else 130)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    return wrapper


def _destination(out: Path | None, default: Path) -> Destination:
    """Where the output folder goes.

    Without ``--out`` an earlier run is never replaced: the next free ``NAME-2``, ``NAME-3``
    ... is used (chosen again when the run ends, if another run took it meanwhile). An
    explicit ``--out`` holding an earlier metasim output is replaced (the user named it), and
    the command says so.
    """
    if out is None:
        chosen = numbered_destination(default)
        if chosen != default:
            click.echo(f"metasim: {default} holds an earlier run; writing to {chosen}", err=True)
        dest = Destination(chosen, default=True)
        dest.requested = default
        return dest
    return Destination(out)


def _say_replaced(dest: Destination) -> None:
    if dest.replaced:
        click.echo(f"(replaced the earlier metasim output in {dest.final})", err=True)


#: Below this estimated work (seconds of one core) a run stays in this process: starting
#: worker processes (~2 s each, importing Mesa) would cost more than it saves.
SERIAL_BELOW_S = 10.0


def _plan(sc: Scenario, replicates: int, workers: int | None, oversubscribe: bool,
          runs: int = 1) -> int:
    """Check the run fits before it starts (memory, agents, workers); warn if it is long.

    Returns the worker processes to use: ``--workers`` if given, else all cores - or one,
    when the whole run is estimated under :data:`SERIAL_BELOW_S` seconds."""
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


def _sweep_workers(executor: str, workers: int | None, oversubscribe: bool,
                   scheduler: str | None) -> int:
    """Workers of a sweep: bounded by the local cores, except on a remote Dask cluster."""
    if executor == "dask" and scheduler:
        return workers or 1
    return resolve_workers(workers, oversubscribe)


_scenario_arg = click.argument("scenario", metavar="SCENARIO")
_set_opt = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                        help="Override a scenario key (dotted path), validated like the file. "
                             "Repeatable.")
_seed_opt = click.option("--seed", type=click.IntRange(min=0), default=None,
                         help="Seed of the replicate streams (default: simulation.seed).")
_rep_opt = click.option("--replicates", type=click.IntRange(min=1), default=None,
                        help="Simulated patients (default: simulation.replicates).")
_workers_opt = click.option("--workers", type=click.IntRange(min=1), default=None,
                            help="Local processes to run patients on (default: all cores; "
                                 "results do not depend on it).")
_oversub_opt = click.option("--oversubscribe", is_flag=True,
                            help="Allow more --workers than this machine has cores.")
_hypothesis_opt = click.option("--hypothesis", type=click.Choice(list(HYPOTHESES)), default=None,
                               help="Override the scenario's hypothesis (ewing: anatomy only; "
                                    "paget: seed and soil; combined: both; null: neither).")
_progress_opt = click.option("--progress/--no-progress", default=None,
                             help="Progress bar (default: on a terminal only).")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="metasim")
def main() -> None:
    """metasim: simulate the metastatic cascade and compare Paget's seed-and-soil with
    Ewing's anatomical hypothesis.

    SCENARIO is a TOML file or the name of a bundled scenario (see `metasim scenarios`).
    """


@main.command()
@_scenario_arg
@_hypothesis_opt
@_set_opt
@_seed_opt
@_rep_opt
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Output folder (default: out/<scenario name>, or out/<name>-2, -3, ... "
                   "if that holds an earlier run). An earlier metasim output folder given "
                   "here is replaced whole.")
@_workers_opt
@_oversub_opt
@_progress_opt
@_guard
def run(scenario: str, hypothesis: str | None, overrides: tuple[str, ...], seed: int | None,
        replicates: int | None, out: Path | None, workers: int | None, oversubscribe: bool,
        progress: bool | None) -> None:
    """Simulate replicate patients of SCENARIO and write the outputs to --out."""
    sc = _load(scenario, overrides, seed, replicates, hypothesis)
    n = sc.simulation.replicates
    w = _plan(sc, n, workers, oversubscribe)
    dest = _destination(out, Path("out") / Path(scenario).stem)
    with staged(dest) as stage:
        files = PatientFiles(stage)
        result = run_replicates(sc, progress=progress, executor=local_executor(w),
                                on_patient=files, keep_timeseries=TIMESERIES_KEPT)
        summ = write_run(stage, result, files=files)
    _say_replaced(dest)
    _print_summary(summ, dest.final, result.wall_time_s, result.engine)


@main.command(name="compare")
@_scenario_arg
@click.option("--hypotheses", default="ewing,paget,combined", show_default=True,
              help="Comma-separated hypotheses, run on the same random streams.")
@_set_opt
@_seed_opt
@_rep_opt
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Output folder (default: out/<scenario name>-compare, numbered if that "
                   "holds an earlier run).")
@_workers_opt
@_oversub_opt
@_progress_opt
@_guard
def compare_cmd(scenario: str, hypotheses: str, overrides: tuple[str, ...], seed: int | None,
                replicates: int | None, out: Path | None, workers: int | None,
                oversubscribe: bool, progress: bool | None) -> None:
    """Run SCENARIO under several hypotheses with common random numbers."""
    names = [h.strip() for h in hypotheses.split(",") if h.strip()]
    bad = [h for h in names if h not in HYPOTHESES]
    if not names or bad:
        raise ScenarioError(f"--hypotheses {hypotheses!r}: unknown {bad}; allowed: "
                            + ", ".join(HYPOTHESES))
    sc = _load(scenario, overrides, seed, replicates)
    w = _plan(sc, sc.simulation.replicates, workers, oversubscribe, runs=len(names))
    dest = _destination(out, Path("out") / f"{Path(scenario).stem}-compare")
    comp = _compare_into(dest, sc, names, progress, w)
    _say_replaced(dest)
    _print_comparison(comp, dest.final)


def _compare_into(dest: Destination, sc: Scenario, names: list[str], progress: bool | None,
                  workers: int) -> dict:
    """Run the hypotheses into a staged folder, each patient's rows written as it ends."""
    with staged(dest) as stage, local_executor(workers) as executor:
        files = {h: PatientFiles(stage / h) for h in names}
        runs = compare(sc, names, progress=progress, executor=executor,
                       on_patient=files, keep_timeseries=TIMESERIES_KEPT)
        return write_comparison(stage, runs, files=files)


@main.command()
@click.option("--primaries", default=None, metavar="NAMES",
              help="Comma-separated presets (default: every file in scenarios/presets).")
@click.option("--hypotheses", default="ewing,paget,combined", show_default=True,
              help="Comma-separated hypotheses to score, run on the same random streams.")
@_set_opt
@_seed_opt
@click.option("--replicates", type=click.IntRange(min=2), default=20, show_default=True,
              help="Simulated patients per primary and hypothesis.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Output folder (default: out/validation, numbered if that holds an "
                   "earlier run).")
@_workers_opt
@_oversub_opt
@_progress_opt
@_guard
def validate(primaries: str | None, hypotheses: str, overrides: tuple[str, ...],
             seed: int | None, replicates: int, out: Path | None, workers: int | None,
             oversubscribe: bool, progress: bool | None) -> None:
    """Compare every preset's simulated site frequencies with the autopsy table."""
    from ..config.bundled import scenario_dir
    from ..experiments.validation import relative_weiss_index, score, summarise

    presets = sorted(p.stem for p in (scenario_dir() / "presets").glob("*.toml"))
    names = [n.strip() for n in primaries.split(",")] if primaries else presets
    unknown = [n for n in names if n not in presets]
    if unknown:
        raise _Fail(f"--primaries: no preset {unknown}; available: {', '.join(presets)}")
    hyps = [h.strip() for h in hypotheses.split(",") if h.strip()]
    bad = [h for h in hyps if h not in HYPOTHESES]
    if not hyps or bad:
        raise _Fail(f"--hypotheses {hypotheses!r}: unknown {bad}; allowed: {', '.join(HYPOTHESES)}")
    # Site frequencies only: no twin courses for "initiated at diagnosis".
    overrides = (*overrides, "population.assess_initiated=false")
    scenarios_ = {n: _load(f"presets/{n}", overrides, seed, replicates) for n in names}
    for sc in scenarios_.values():
        _plan(sc, replicates, workers, oversubscribe, runs=len(hyps))
    w = _plan(next(iter(scenarios_.values())), replicates, workers, oversubscribe,
              runs=len(hyps) * len(scenarios_))
    dest = _destination(out, Path("out/validation"))
    rows: list[dict] = []
    indices: dict[str, dict[str, float]] = {}
    with staged(dest) as stage, local_executor(w) as executor:
        for sc in scenarios_.values():
            indices[sc.primary.site] = relative_weiss_index(sc)
            runs = compare(sc, hyps, progress=progress, executor=executor)
            rows.extend(score(r) for r in runs.values())
        write_validation(stage, rows, indices)
    _say_replaced(dest)
    means = summarise(rows)
    click.echo(f"{'primary':<14}" + "".join(f"{h + ' rho':>16}{h + ' R2':>14}" for h in hyps))
    for sc in scenarios_.values():
        line = f"{sc.primary.site:<14}"
        for h in hyps:
            r = next(r for r in rows if r["primary"] == sc.primary.site and r["hypothesis"] == h)
            line += f"{r['spearman']:>16.2f}{r['r2']:>14.2f}"
        click.echo(line)
    click.echo(f"{'mean':<14}" + "".join(f"{means[h]['spearman']:>16.2f}{means[h]['r2']:>14.2f}"
                                         for h in hyps))
    _print_calibrated_scores([sc.primary.site for sc in scenarios_.values()])
    click.echo(f"\nWrote {dest.final}/ (validation.csv, validation.json, validation.md, "
               "figures/)")


def _print_calibrated_scores(primaries: list[str]) -> None:
    """The bundled calibration's model probabilities and out-of-sample scores."""
    from ..experiments.validation_report import BUNDLED_VALIDATION, load_bundled, validate_lines

    report = load_bundled()
    if report is None:
        click.echo("\n(no bundled calibration: `metasim calibrate-presets` makes one)")
        return
    click.echo(f"\nThe presets' Bayesian calibration ({BUNDLED_VALIDATION.name}, "
               f"{report.get('date', '')}, seed {report.get('seed', '')}): posterior model "
               "probabilities (autopsy sites x population targets) and scores of the soil "
               "predicted out of sample (each organ from 5-fold cross-validation over organs; "
               "Ewing from the course alone); rho = Spearman, R2 across organs, cover90 = "
               "observed counts inside their 90 % predictive interval, lpd = mean log "
               "predictive density per organ. The rows above score one fresh cohort of the "
               "presets as they are (the posterior medians).")
    for line in validate_lines(report, primaries):
        click.echo(line)


def _with(options):
    def deco(fn):
        for opt in reversed(options):
            fn = opt(fn)
        return fn
    return deco


def _calibration_opts(tag: str) -> list:
    """The ABC-SMC and soil-cohort options of calibrate and calibrate-presets (defaults:
    :class:`~sim.experiments.inference.Settings`)."""
    from ..experiments.inference import Settings

    d = Settings()
    return [
        click.option("--population", "population_size", type=click.IntRange(8, 10000),
                     default=d.population_size, show_default=True,
                     help=f"{tag}ABC-SMC particles per generation (shared by the three "
                          "hypotheses)."),
        click.option("--generations", type=click.IntRange(1, 50), default=d.generations,
                     show_default=True, help=f"{tag}ABC-SMC generations at most."),
        click.option("--cohort", type=click.IntRange(5, 250), default=d.cohort,
                     show_default=True, help=f"{tag}Patients simulated per ABC particle."),
        click.option("--soil-patients", type=click.IntRange(20, 5000), default=d.soil_patients,
                     show_default=True,
                     help=f"{tag}Patients of each hypothesis' cohort for the site emulator."),
    ]


@main.command()
@_scenario_arg
@click.option("--method", type=click.Choice(["bayes", "point"]), default="bayes",
              show_default=True,
              help="bayes: posterior of the course (ABC-SMC on the population targets) and of "
                   "the hierarchical soil (autopsy table), for ewing, paget and combined; "
                   "point: the quick fixed-point fit of one affinity per organ.")
@_set_opt
@_seed_opt
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="[bayes] Folder for the posterior, scenario and figures (default: "
                   "out/calibration/<scenario>); --resume continues the run stored there.")
@click.option("--resume", is_flag=True, help="[bayes] Continue the ABC-SMC run in --out.")
@_with(_calibration_opts("[bayes] "))
@click.option("--rounds", type=click.IntRange(1, 5), default=1, show_default=True,
              help="[bayes] Soil cohorts: 1 at the preset's own soil, each further round "
                   "again at the posterior median.")
@click.option("--parameters", default=",".join(["shedding", "competence", "shedding_spread",
                                                 "competence_spread"]), show_default=True,
              help="[bayes] Free course parameters (comma-separated).")
@click.option("--executor", type=click.Choice(list(EXECUTORS)), default="processes",
              show_default=True, help="Who runs the simulations; results do not depend on it.")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Address of a running Dask scheduler (with --executor dask).")
@click.option("--delivery", type=click.Choice(["anatomical", "uniform"]), default="anatomical",
              show_default=True, help="[point] anatomical: fit the combined hypothesis' soil; "
                                      "uniform: Paget's pure form.")
@click.option("--replicates", type=click.IntRange(min=5), default=40, show_default=True,
              help="[point] Simulated patients per iteration (the same streams every "
                   "iteration).")
@click.option("--iterations", type=click.IntRange(min=1, max=100), default=8, show_default=True,
              help="[point] Simulation rounds at most.")
@click.option("--confidence", type=click.FloatRange(0.5, 0.999), default=0.95, show_default=True,
              help="[point] Agreement criterion: two-proportion test at this confidence.")
@click.option("--start", type=click.Choice(["weiss", "scenario"]), default="weiss",
              show_default=True, help="[point] Start from Weiss's index or the scenario's "
                                      "affinities.")
@click.option("--write", "write_to", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Scenario file to write the result into (updated in place, comments kept). "
                   "[point] default: <scenario>-calibrated.toml here; [bayes] default: only "
                   "--out/scenario.toml.")
@click.option("--no-write", is_flag=True, help="[point] Only print the fit.")
@_workers_opt
@_oversub_opt
@_progress_opt
@_guard
def calibrate(scenario: str, method: str, overrides: tuple[str, ...], seed: int | None,
              out: Path | None, resume: bool, population_size: int, generations: int,
              cohort: int, soil_patients: int, rounds: int, parameters: str, executor: str,
              scheduler: str | None, delivery: str, replicates: int, iterations: int,
              confidence: float, start: str, write_to: Path | None, no_write: bool,
              workers: int | None, oversubscribe: bool, progress: bool | None) -> None:
    """Calibrate SCENARIO against the clinic.

    bayes (default): a posterior over the course parameters from the preset's population
    targets (ABC-SMC, pyabc), for each of ewing, paget and combined, then the hierarchical
    soil from the autopsy table; writes the posterior, a scenario at its medians and the
    posterior predictive figures. point: the fixed-point fit of one affinity per organ.
    """
    ctx = click.get_current_context()
    given = {name for name in ctx.params
             if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE}
    wrong = sorted(given & (_POINT_ONLY if method == "bayes" else _BAYES_ONLY))
    if wrong:
        raise _Fail(f"--{wrong[0].replace('_', '-').replace('population-size', 'population')}"
                    f" is an option of --method {'point' if method == 'bayes' else 'bayes'}, "
                    f"not of --method {method}")
    if method == "point":
        _calibrate_point(scenario, delivery, overrides, seed, replicates, iterations,
                         confidence, start, write_to, no_write, workers, oversubscribe, progress)
        return
    _calibrate_bayes(scenario, overrides, seed, out, resume, population_size, generations,
                     cohort, soil_patients, rounds, parameters, executor, scheduler, write_to,
                     workers, oversubscribe)


_POINT_ONLY = {"delivery", "replicates", "iterations", "confidence", "start", "no_write"}
_BAYES_ONLY = {"out", "resume", "population_size", "generations", "cohort", "soil_patients",
               "rounds", "parameters", "executor", "scheduler"}


def _calibration_settings(population_size: int, generations: int, cohort: int,
                          soil_patients: int, rounds: int, parameters: str):
    from ..experiments.inference import COURSE_PARAMETERS, Settings

    names = tuple(p.strip() for p in parameters.split(",") if p.strip())
    bad = [p for p in names if p not in COURSE_PARAMETERS]
    if not names or bad:
        raise _Fail(f"--parameters {parameters!r}: unknown {bad}; allowed: "
                    f"{', '.join(COURSE_PARAMETERS)}")
    return Settings(population_size=population_size, cohort=cohort, generations=generations,
                    soil_patients=soil_patients, rounds=rounds, parameters=names)


def _calibration_folder(out: Path, resume: bool) -> None:
    """The folder must be new (or empty), or hold a run to --resume; nothing in it is ever
    deleted."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out}: is not a folder")
    held = out.is_dir() and any(out.iterdir())
    if resume and not (out / "abc.db").is_file():
        raise OutputError(f"--resume: {out} holds no calibration to continue (no abc.db)")
    if held and not resume:
        raise OutputError(f"--out {out}: already holds files; give a new folder, or --resume "
                          "to continue the calibration stored there")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".metasim-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise OutputError(f"--out {out}: cannot write there ({e.strerror or e})") from None


def _calibrate_bayes(scenario: str, overrides: tuple[str, ...], seed: int | None,
                     out: Path | None, resume: bool, population_size: int, generations: int,
                     cohort: int, soil_patients: int, rounds: int, parameters: str,
                     executor: str, scheduler: str | None, write_to: Path | None,
                     workers: int | None, oversubscribe: bool) -> None:
    from ..config.bundled import find_scenario
    from ..experiments.calibrate import check_write_target
    from ..experiments.executors import open_executor
    from ..experiments.inference import calibrate_preset, check_calibratable, shared_soil_prior
    from ..experiments.posterior import write_calibration, write_scenario
    from ..experiments.seeds import resolve_seed

    source = find_scenario(scenario)
    sc = _load(scenario, overrides, seed, None)
    check_calibratable(sc)
    settings = _calibration_settings(population_size, generations, cohort, soil_patients,
                                     rounds, parameters)
    seed_value, _ = resolve_seed(sc, seed, unset=1)
    folder = out or Path("out/calibration") / Path(scenario).stem
    if out is None and not resume:
        folder = numbered_destination(folder)
    _calibration_folder(folder, resume)
    if write_to is not None:
        check_write_target(write_to)
    w = _sweep_workers(executor, workers, oversubscribe, scheduler)
    shared, note = shared_soil_prior(sc.primary.site)
    click.echo(f"calibrating {sc.primary.site}: seed {seed_value}, {w} worker(s), into "
               f"{folder}/; {note}", err=True)

    def report(d: dict) -> None:
        if "generation" in d:
            gen = "calibration sample" if d["generation"] < 0 else f"generation {d['generation'] + 1}"
            click.echo(f"  ABC {gen}: {d['accepted']}/{d['needed']} accepted of "
                       f"{d['simulated']} simulated cohorts, {d['seconds']:.0f} s", err=True)
        else:
            click.echo(f"  {d['stage']}: round {d['round']}", err=True)

    command = " ".join(["calibrate", scenario, f"--seed {seed_value}"]
                       + [f"--set {o}" for o in overrides])
    try:
        with open_executor(executor, w, scheduler) as ex:
            cal = calibrate_preset(sc, str(folder), seed=seed_value, settings=settings,
                                   executor=ex, shared_soil=shared, resume=resume,
                                   progress=report)
    except KeyboardInterrupt:
        click.echo(f"metasim: interrupted; every finished ABC generation is in {folder}/abc.db "
                   f"(`metasim calibrate {scenario} --out {folder} --resume` continues)",
                   err=True)
        sys.exit(130)
    summ = write_calibration(cal, folder, settings, command, source)
    if write_to is not None:
        write_scenario(summ, write_to if write_to.exists() else source, write_to)
        click.echo(f"Wrote the posterior medians into {write_to}")
    click.echo(_format_bayes(summ))
    click.echo(f"\nWrote {folder}/ (calibration.json, course_posterior.parquet, "
               "soil_posterior.parquet, scenario.toml, figures/)"
               + (", abc.db" if summ["abc"] else ""))


def _format_bayes(summ: dict) -> str:
    lines = [f"{summ['preset']}: calibrated in {summ['wall_time_s']:.0f} s (seed {summ['seed']})"]
    abc = summ.get("abc")
    if abc:
        probs = ", ".join(f"{h} {p:.2f}" for h, p in abc["model_probabilities_from_targets"].items())
        lines.append(f"  ABC-SMC: {abc['generations']} generations, {abc['simulations']} "
                     f"simulated cohorts; model probabilities from the population targets: "
                     f"{probs}")
    for h, params in summ["course"].items():
        if not abc:
            break
        txt = "; ".join(f"{p} {v['median']:.3g} [{v['q05']:.3g}, {v['q95']:.3g}] "
                        f"({v['coordinate']})" for p, v in params.items())
        lines.append(f"  {h} course, median [90 % interval]: {txt}")
    for h, s in summ["soil"].items():
        top = sorted(s["affinity"].items(), key=lambda kv: -kv[1])[:4]
        lines.append(f"  {h} soil: competence {s['competence']:.3g}, tau {s['tau_median']:.2f} "
                     f"[{s['tau_90'][0]:.2f}, {s['tau_90'][1]:.2f}]; most receptive: "
                     + ", ".join(f"{o} {v:.3g}" for o, v in top))
    return "\n".join(lines)


def _calibrate_point(scenario: str, delivery: str, overrides: tuple[str, ...], seed: int | None,
                     replicates: int, iterations: int, confidence: float, start: str,
                     write_to: Path | None, no_write: bool, workers: int | None,
                     oversubscribe: bool, progress: bool | None) -> None:
    from ..config.bundled import find_scenario
    from ..experiments.calibrate import calibrate as fit
    from ..experiments.calibrate import check_write_target, format_fit, write_affinities

    source = find_scenario(scenario)
    sc = _load(scenario, overrides, seed, None)
    workers = _plan(sc, replicates, workers, oversubscribe, runs=iterations)
    target = None
    if not no_write:
        target = write_to or Path(f"{Path(scenario).stem}-calibrated.toml")
        check_write_target(target)  # before the fit: a fit is never lost to a bad --write

    def report(entry: dict) -> None:
        out = entry["outside"]
        click.echo(f"  iteration {entry['iteration']}: {len(out)} organ(s) outside the "
                   f"interval{(' (' + ', '.join(out) + ')') if out else ''}, max |z| "
                   f"{entry['max_z']:.2f}, {entry['wall_time_s']:.0f} s", err=True)

    with local_executor(workers) as executor:
        cal = fit(sc, delivery, replicates=replicates, max_iterations=iterations, seed=seed,
                  confidence=confidence, start=start, progress=progress, executor=executor,
                  report=report)
    click.echo(format_fit(cal))
    if target is not None:
        args = [str(scenario), "--method point", f"--delivery {delivery}",
                f"--replicates {replicates}", f"--seed {cal.seed}"] \
            + ([f"--start {start}"] if start != "weiss" else []) \
            + [f"--set {o}" for o in overrides]
        write_affinities(cal, target, " ".join(args), template=source)
        field = "affinity" if delivery == "anatomical" else "affinity_uniform_delivery"
        click.echo(f"\nWrote tropism.{field} into {target}")


@main.command(name="calibrate-presets")
@click.option("--presets", "names", default=None,
              help="Comma-separated presets (default: every bundled preset).")
@_seed_opt
@click.option("--out", type=click.Path(path_type=Path, file_okay=False),
              default=Path("out/calibration-presets"), show_default=True,
              help="Folder for every preset's calibration and the joint results; --resume "
                   "reuses the presets already calibrated there.")
@click.option("--resume", is_flag=True, help="Keep the presets already calibrated in --out.")
@_with(_calibration_opts(""))
@click.option("--write-presets", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Write each preset at its posterior medians into this folder "
                   "(NAME.toml, updated in place, comments kept).")
@_workers_opt
@_oversub_opt
@_guard
def calibrate_presets(names: str | None, seed: int | None, out: Path, resume: bool,
                      population_size: int, generations: int, cohort: int, soil_patients: int,
                      write_presets: Path | None, workers: int | None,
                      oversubscribe: bool) -> None:
    """Calibrate every preset with one shared organ soil, and score it out of sample.

    Each preset as `metasim calibrate` does (alone), then the hierarchical soil of all of
    them together; then k-fold cross-validation over organs, leave-one-primary-out, and the
    posterior model probabilities of ewing, paget and combined. Writes shared_soil.json
    (what `metasim calibrate` of one preset uses) and validation.json / validation.md.
    """
    import json
    from datetime import date

    from ..config.bundled import find_scenario, scenario_dir
    from ..experiments.crossval import cross_validate
    from ..experiments.inference import (
        MODELS,
        PresetCalibration,
        calibrate_preset,
        check_calibratable,
        joint_soil,
        slice_posterior,
    )
    from ..experiments.posterior import write_calibration, write_scenario
    from ..experiments.seeds import resolve_seed
    from ..experiments.validation_report import shared_soil_file, validation_markdown

    presets = sorted(p.stem for p in (scenario_dir() / "presets").glob("*.toml"))
    chosen = [n.strip() for n in names.split(",")] if names else presets
    unknown = [n for n in chosen if n not in presets]
    if unknown:
        raise _Fail(f"--presets: no preset {unknown}; available: {', '.join(presets)}")
    if len(chosen) < 3:
        raise _Fail(f"--presets: {len(chosen)} given; a shared soil needs 3 or more")
    scen = {n: _load(f"presets/{n}", (), seed, None) for n in chosen}
    for sc in scen.values():
        check_calibratable(sc)
    if out.exists() and any(out.iterdir()) and not resume:
        raise OutputError(f"--out {out}: already holds files; give a new folder, or --resume")
    if write_presets is not None and not write_presets.is_dir():
        raise OutputError(f"--write-presets {write_presets}: not a folder")
    settings = _calibration_settings(population_size, generations, cohort, soil_patients, 1,
                                     "shedding,competence,shedding_spread,competence_spread")
    seed_value, _ = resolve_seed(next(iter(scen.values())), seed, unset=1)
    w = resolve_workers(workers, oversubscribe)
    cals: list[PresetCalibration] = []
    out.mkdir(parents=True, exist_ok=True)
    with local_executor(w) as ex:
        for n, sc in scen.items():
            folder = out / n
            folder.mkdir(exist_ok=True)
            click.echo(f"{n}: calibrating (seed {seed_value})", err=True)
            cal = calibrate_preset(sc, str(folder), seed=seed_value, settings=settings,
                                   executor=ex, resume=resume and (folder / "abc.db").is_file())
            cals.append(cal)
            click.echo(f"{n}: {cal.wall_time_s:.0f} s", err=True)
    joint = joint_soil(cals, seed_value)
    command = (f"calibrate-presets --population {population_size} --generations {generations} "
               f"--cohort {cohort} --soil-patients {soil_patients} --seed {seed_value}")
    for i, (n, cal) in enumerate(zip(scen, cals, strict=True)):
        cal.soil = {h: slice_posterior(post, i) for h, post in joint.items()}
        cal.notes.append("soil: the joint hierarchical fit of " + ", ".join(scen))
        summ = write_calibration(cal, out / n, settings, command,
                                 find_scenario(f"presets/{n}"))
        if write_presets is not None:
            target = write_presets / f"{n}.toml"
            write_scenario(summ, target if target.exists() else find_scenario(f"presets/{n}"),
                           target)
    click.echo("scoring out of sample (k-fold over organs, leave one primary out)", err=True)
    data = {h: [c.inputs[h].data for c in cals] for h in MODELS}
    targets = {c.scenario.primary.site: c.course.model_probabilities for c in cals
               if c.course is not None}
    report = cross_validate(data, seed_value, targets)
    report["date"], report["seed"] = date.today().isoformat(), seed_value
    (out / "shared_soil.json").write_text(json.dumps(shared_soil_file(joint, report, seed_value),
                                                     indent=1), encoding="utf-8")
    (out / "validation.json").write_text(json.dumps(report, indent=1, default=float),
                                         encoding="utf-8")
    md = validation_markdown(report, joint)
    (out / "validation.md").write_text(md, encoding="utf-8")
    click.echo(md)
    click.echo(f"\nWrote {out}/ (NAME/ per preset, shared_soil.json, validation.json, "
               "validation.md)")


_executor_opts = [
    click.option("--executor", type=click.Choice(list(EXECUTORS)),
                 default="processes", show_default=True,
                 help="Who runs the patients; results do not depend on it."),
    click.option("--workers", type=click.IntRange(min=1), default=None,
                 help="Processes (processes) or workers of a local Dask cluster (default: "
                      "all cores)."),
    _oversub_opt,
    click.option("--scheduler", default=None, metavar="ADDRESS",
                 help="Address of a running Dask scheduler (tcp://host:8786); default: a "
                      "LocalCluster on this machine."),
]


@main.command()
@click.argument("experiment", metavar="EXPERIMENT")
@_set_opt
@_with(_executor_opts)
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Sweep folder (default: out/<experiment name>).")
@click.option("--resume", is_flag=True, help="Finish an interrupted sweep in --out.")
@click.option("--no-plots", is_flag=True, help="Skip the figures at the end.")
@_progress_opt
@_guard
def sweep(experiment: str, overrides: tuple[str, ...], executor: str, workers: int | None,
          oversubscribe: bool, scheduler: str | None, out: Path | None, resume: bool,
          no_plots: bool, progress: bool | None) -> None:
    """Run an experiment file: every scenario x hypothesis x design point x replicate.

    Each finished run is written at once (runs/<id>.json); Ctrl-C or a crash loses only the
    runs in flight, and --resume finishes the rest. At the end: results.csv,
    results.parquet and the comparison figures.
    """
    from ..experiments.design import build_design, load_experiment
    from ..experiments.store import ResultStore, write_tables
    from ..experiments.sweep import sweep as run_sweep
    from ..viz.sweep_figures import plot_sweep

    loaded = load_experiment(experiment, overrides)
    out = out or Path("out") / Path(experiment).stem
    runs = build_design(loaded)
    exp = loaded.experiment
    points = runs.n_points
    click.echo(f"{loaded.source}: {len(loaded.bases)} scenario(s) x {len(exp.hypotheses)} "
               f"hypothesis(es) x {points} point(s) x {exp.replicates} replicate(s) = "
               f"{len(runs)} runs; executor {executor}", err=True)
    try:
        summ = run_sweep(loaded, out, executor,
                         _sweep_workers(executor, workers, oversubscribe, scheduler), scheduler,
                         resume, progress)
    except KeyboardInterrupt as stop:
        click.echo(f"metasim: interrupted; the finished runs are kept in {out}/runs/ "
                   f"(`metasim sweep {experiment} --out {out} --resume` finishes the rest)",
                   err=True)
        sys.exit(128 + stop.signum if isinstance(stop, Stopped) else 130)
    rows = write_tables(ResultStore(out))
    click.echo(f"{summ.ran} run(s) in {summ.wall_time_s:.1f} s ({summ.done_before} already "
               f"done); {summ.errors} failed")
    for e in summ.errors_sample:
        click.echo(f"  failed: {e}")
    if not no_plots and rows:
        figs = plot_sweep(out)
        click.echo(f"{len(figs)} figure file(s) in {out}/figures/")
    click.echo(f"Wrote {out}/ (results.csv, results.parquet, runs/, experiment.json)")


@main.command(name="plot")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@_guard
def plot_cmd(folder: Path) -> None:
    """Draw the comparison figures of a sweep folder (PNG and SVG in FOLDER/figures)."""
    from ..experiments.store import ResultStore, write_tables
    from ..viz.sweep_figures import plot_sweep

    if not (folder / "experiment.json").is_file():
        raise _Fail(f"{folder}: not a metasim sweep folder (no experiment.json)")
    write_tables(ResultStore(folder))
    figs = plot_sweep(folder)
    click.echo(f"{len(figs)} figure file(s) in {folder}/figures/")


@main.command(name="sensitivity")
@click.argument("experiment", metavar="EXPERIMENT")
@click.option("--method", type=click.Choice(["sobol", "morris"]), default=None,
              help="Default: the experiment's sensitivity.method.")
@click.option("--samples", type=click.IntRange(min=2), default=None,
              help="Sobol base sample N / Morris trajectories (default: the experiment's).")
@_set_opt
@_with(_executor_opts)
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Output folder (default: out/<experiment name>-sensitivity).")
@_progress_opt
@_guard
def sensitivity_cmd(experiment: str, method: str | None, samples: int | None,
                    overrides: tuple[str, ...], executor: str, workers: int | None,
                    oversubscribe: bool, scheduler: str | None, out: Path | None,
                    progress: bool | None) -> None:
    """Sobol or Morris sensitivity of chosen outputs to the experiment's parameter ranges."""
    import json

    from ..experiments.design import load_experiment
    from ..experiments.sensitivity import sensitivity
    from ..io.outputs import write_sensitivity

    loaded = load_experiment(experiment, overrides)
    if loaded.experiment.sensitivity is None:
        raise _Fail(f"{loaded.source}: no [sensitivity] section (method, samples, outputs)")
    dest = _destination(out, Path("out") / f"{Path(experiment).stem}-sensitivity")
    with staged(dest) as stage:
        report = sensitivity(loaded, method, samples, executor,
                             _sweep_workers(executor, workers, oversubscribe, scheduler),
                             scheduler, progress)
        write_sensitivity(report, stage)
        (stage / "sensitivity.json").write_text(json.dumps(report, indent=2, default=str))
    _say_replaced(dest)
    click.echo(f"{report['method']}: {report['points']} sample points, {report['runs']} runs "
               f"({report['failed_runs']} failed)")
    for r in report["indices"]:
        if "error" in r:
            click.echo(f"  {r['scenario']}/{r['hypothesis']} {r['output']}: {r['error']}")
        elif report["method"] == "sobol":
            click.echo(f"  {r['scenario']}/{r['hypothesis']} {r['output']:<22} {r['parameter']:<45}"
                       f" S1 {r['S1']:6.2f} ± {r['S1_conf']:.2f}   ST {r['ST']:6.2f} ± {r['ST_conf']:.2f}")
        else:
            click.echo(f"  {r['scenario']}/{r['hypothesis']} {r['output']:<22} {r['parameter']:<45}"
                       f" mu* {r['mu_star']:.3g} ± {r['mu_star_conf']:.2g}   sigma {r['sigma']:.3g}")
    click.echo(f"Wrote {dest.final}/ (sensitivity.csv, sensitivity.json, figures/)")


@main.command(name="app")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind (default: this computer only).")
@click.option("--port", type=click.IntRange(1, 65535), default=8765, show_default=True,
              help="Port of the web server (the address is http://HOST:PORT/).")
def app_cmd(host: str, port: int) -> None:
    """The classroom app in the browser: pick a cancer, a hypothesis, press play.

    The server runs in a child process (solara); Ctrl-C, SIGTERM or SIGHUP to this command
    stop the child too, and on Linux the child also dies if this process is killed.
    """
    import signal
    import socket
    import subprocess

    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
            probe.bind((host, port))
    except OSError as e:
        raise _Fail(f"--host {host} --port {port}: cannot serve there ({e.strerror or e}; is "
                    "another metasim app running?); choose another --port") from None
    click.echo(f"metasim app: open http://{host}:{port}/ in a browser (Ctrl-C to stop)")
    cmd = [sys.executable, "-m", "solara", "run", "sim.apps.classroom", "--host", host, "--port",
           str(port), "--production", "--no-open"]
    # No "This website runs on Solara" banner: on a projector it covers the page's corner.
    env = {**os.environ, "SOLARA_THEME_SHOW_BANNER": "false", "SOLARA_THEME_TITLE": "metasim"}
    try:
        child = subprocess.Popen(cmd, env=env, preexec_fn=_die_with_parent
                                 if sys.platform.startswith("linux") else None)
    except OSError as e:
        raise _Fail(f"could not start the app's server ({e.strerror or e})") from None

    stop: list[int] = []

    def on_signal(signum, _frame) -> None:  # only note it: waiting here could deadlock
        stop.append(signum)
        if child.poll() is None:
            child.terminate()

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, on_signal)
    sys.exit(_wait_child(child, stop))


def _die_with_parent() -> None:
    """In a child before exec (Linux): be killed when the parent dies (PR_SET_PDEATHSIG)."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _wait_child(child, stop: list[int], grace_s: float = 5.0) -> int:
    """Wait for the server child; once a stop signal came, kill it if it has not ended
    within ``grace_s``. Returns the exit status for this command."""
    import subprocess
    import time

    deadline = None
    while True:
        try:
            rc = child.wait(timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            if stop and deadline is None:
                deadline = time.monotonic() + grace_s
            if deadline is not None and time.monotonic() > deadline:
                child.kill()
    if not stop:
        return rc
    return 0 if stop[0] == 2 else 128 + stop[0]  # Ctrl-C (SIGINT = 2) is a normal stop


@main.command(name="animate")
@_scenario_arg
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="FILE.gif (Pillow) or FILE.mp4 (needs ffmpeg).")
@_set_opt
@_seed_opt
@click.option("--frames", type=click.IntRange(2, 2000), default=60, show_default=True,
              help="Pictures in the animation, evenly spaced over the course.")
@click.option("--fps", type=click.IntRange(1, 60), default=6, show_default=True,
              help="Frames per second when it plays.")
@_guard
def animate_cmd(scenario: str, out: Path, overrides: tuple[str, ...], seed: int | None,
                frames: int, fps: int) -> None:
    """The body map over one simulated course, as an animation for slides."""
    from ..experiments.seeds import resolve_seed
    from .animate import AnimationError, animate

    sc = _load(scenario, overrides, None, None)
    try:
        path = animate(sc, out, resolve_seed(sc, seed, unset=1)[0], frames, fps)
    except AnimationError as e:
        raise _Fail(str(e)) from None
    click.echo(f"Wrote {path} ({frames} frames)")


@main.command(name="params")
@_scenario_arg
@_hypothesis_opt
@_set_opt
@click.option("--changed", is_flag=True, help="Only the keys that differ from the defaults.")
@click.option("--json", "as_json", is_flag=True, help="As JSON (key, value, default, unit, "
                                                      "allowed, source).")
@_guard
def params_cmd(scenario: str, hypothesis: str | None, overrides: tuple[str, ...], changed: bool,
               as_json: bool) -> None:
    """Every parameter of SCENARIO: value, default, unit, allowed range and source."""
    import json

    from ..config.params import as_records, format_table, parameters

    sc = _load(scenario, overrides, None, None, hypothesis)
    rows = parameters(sc)
    if as_json:
        click.echo(json.dumps(as_records([r for r in rows if r.changed or not changed]),
                              indent=2, default=str))
        return
    click.echo(f"# {scenario}: {sc.description.strip().splitlines()[0] if sc.description else ''}")
    click.echo(format_table(rows, changed_only=changed))


@main.command()
def scenarios() -> None:
    """List the bundled scenarios with a one-line description."""
    rows = list_scenarios()
    exps = list_scenarios(experiments=True)
    width = max(len(n) for n, _ in rows + exps)
    for name, desc in rows:
        click.echo(f"{name:<{width}}  {desc}")
    if exps:
        click.echo("\nExperiment files (metasim sweep / sensitivity):")
        for name, desc in exps:
            click.echo(f"{name:<{width}}  {desc}")
    click.echo(f"\nPrimary sites: {', '.join(PRIMARY_SITES)}")


@main.command()
@click.argument("name", required=False)
@click.option("--list", "list_", is_flag=True, help="List the tables with their citations.")
def reference(name: str | None, list_: bool) -> None:
    """Print a published reference table (NAME) or list them all (--list)."""
    from ..biology.reference import TABLES, describe

    if list_ or name is None:
        for key, citation in TABLES.items():
            click.echo(f"{key}\n    {citation}")
        return
    if name not in TABLES:
        raise _Fail(f"unknown reference table {name!r}; allowed: {', '.join(TABLES)}")
    click.echo(describe(name))


@main.command()
@click.option("--out", type=click.Path(path_type=Path), default=Path("metasim-demo"),
              show_default=True, help="Output folder.")
@click.option("--replicates", type=click.IntRange(min=1), default=None,
              help="Patients per hypothesis (default: the demo scenario's).")
@_guard
def demo(out: Path, replicates: int | None) -> None:
    """The classroom demo: one cancer under Ewing, Paget and the combined view."""
    sc = _load("classroom/demo", (), None, replicates)
    hyps = ["ewing", "paget", "combined"]
    w = _plan(sc, sc.simulation.replicates, None, False, runs=len(hyps))
    dest = Destination(out)
    click.echo(sc.description.strip().split("\n")[0])
    comp = _compare_into(dest, sc, hyps, None, w)
    _say_replaced(dest)
    _print_comparison(comp, dest.final)


def _print_summary(summ: dict, out: Path, wall: float, engine: str = "mesa") -> None:
    by = "population engine" if engine == "population" else "Mesa model"
    click.echo(f"{summ['primary']} / {summ['hypothesis']}: {summ['replicates']} patients, "
               f"seed {summ['seed']}, {wall:.1f} s ({by})")
    click.echo("\nCascade funnel (cells per patient):")
    for f in summ["funnel"]:
        click.echo(f"  {f['stage']:<16} reached {f['reached']:>12.4g}   lost {f['lost']:>12.4g}")
    if "assay" in summ:
        click.echo("\nFates of injected cells (fraction of injected, mean over replicates):")
        for row in summ["assay"]["report"]:
            parts = ", ".join(f"{k} {v['mean']:.3g}" for k, v in row.items()
                              if k != "day" and (not k.startswith("arrested_") or v["mean"] > 0.01))
            click.echo(f"  day {row['day']:g}: {parts}")
    d = summ.get("diagnosis") or {}
    if d.get("patients_diagnosed"):
        click.echo(f"\nAt diagnosis (median day {d['median_day']:.0f}, "
                   f"{d['patients_diagnosed']} patients): tumour cells outside the primary in "
                   f"{d['fraction_disseminated']:.0%}, beyond the regional nodes in "
                   f"{d['fraction_distant']:.0%}, a growing micrometastasis in "
                   f"{d['fraction_with_micrometastasis']:.0%}, a detectable metastasis in "
                   f"{d['fraction_with_detectable_metastasis']:.0%}")
    if (summ.get("population") or {}).get("diagnosed", {}).get("patients"):
        click.echo("\nThe population (95 % intervals):")
        for line in population_lines(summ["population"]):
            click.echo(f"  {line}")
    if summ.get("assay") and not (summ.get("autopsy_reference") or {}).get("site_frequency"):
        click.echo(f"\nWrote {out}/ (summary.json with the assay fates, figures/)")
        return
    click.echo("\nPatients with a metastasis there at autopsy, >= "
               f"{summ.get('autopsy_detectable_diameter_mm', 1):g} mm (95 % interval):")
    sites = sorted(summ["site_frequency"].items(), key=lambda kv: -kv[1]["fraction"])
    for organ, s in sites[:10]:
        click.echo(f"  {organ:<22} {s['fraction']:6.1%}  [{s['low']:.1%}, {s['high']:.1%}]")
    click.echo(f"\nWrote {out}/ (summary.json, figures/)")


def _print_comparison(comp: dict, out: Path) -> None:
    hyps = comp["hypotheses"]
    freq = comp["site_frequency"]
    obs = comp.get("autopsy_reference") or {}
    organs = sorted(freq[hyps[0]], key=lambda o: -max(freq[h][o]["fraction"] for h in hyps))
    click.echo(f"\nPatients with a metastasis there at autopsy (n = {comp['replicates']} per "
               f"hypothesis, same seeds):")
    click.echo("  " + f"{'organ':<22}" + "".join(f"{h:>10}" for h in hyps)
               + ("   autopsy" if obs else ""))
    for organ in organs[:12]:
        row = "".join(f"{freq[h][organ]['fraction']:>10.0%}" for h in hyps)
        ref = f"{obs[organ]:>10.0%}" if organ in obs else ("" if not obs else f"{'':>10}")
        click.echo(f"  {organ:<22}{row}{ref}")
    click.echo(f"\nWrote {out}/ (comparison.csv, figures/site_frequency_by_hypothesis.png, "
               "one folder per hypothesis)")


if __name__ == "__main__":  # pragma: no cover
    main()
