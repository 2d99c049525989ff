"""``metasim calibrate`` and ``calibrate-presets``: the presets against the clinic."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from ...experiments.course_parameters import COURSE_PARAMETERS, DEFAULT_PARAMETERS
from .common import (
    EXECUTOR_NAMES,
    Clock,
    Fail,
    check_out_path,
    check_scheduler,
    guard,
    load,
    names_option,
    oversub_opt,
    plan,
    progress_opt,
    scenario_arg,
    seed_opt,
    set_opt,
    sweep_workers,
    with_options,
    workers_opt,
)


def _calibration_opts(tag: str) -> list:
    """The ABC-SMC and soil-cohort options of calibrate and calibrate-presets (defaults:
    :class:`~sim.experiments.inference.Settings`)."""
    from ...experiments.course_parameters import Settings

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


@click.command()
@scenario_arg
@click.option("--method", type=click.Choice(["bayes", "point"]), default="bayes",
              show_default=True,
              help="bayes: posterior of the course (ABC-SMC on the population targets) and of "
                   "the hierarchical soil (autopsy table), for ewing, paget and combined; "
                   "point: the quick fixed-point fit of one affinity per organ.")
@set_opt
@seed_opt
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=None,
              callback=check_out_path,
              help="[bayes] Folder for the posterior, scenario and figures (default: "
                   "out/calibration/<scenario>); --resume continues the run stored there.")
@click.option("--resume", is_flag=True, help="[bayes] Continue the ABC-SMC run in --out.")
@with_options(_calibration_opts("[bayes] "))
@click.option("--rounds", type=click.IntRange(1, 5), default=1, show_default=True,
              help="[bayes] Soil cohorts: 1 at the preset's own soil, each further round "
                   "again at the posterior median.")
@click.option("--parameters", default=",".join(DEFAULT_PARAMETERS), show_default=True,
              help="[bayes] Free course parameters (comma-separated), of: "
                   + ", ".join(COURSE_PARAMETERS) + ".")
@click.option("--executor", type=click.Choice(EXECUTOR_NAMES), default="processes",
              show_default=True, help="Who runs the simulations; results do not depend on it.")
@click.option("--scheduler", default=None, metavar="ADDRESS", callback=check_scheduler,
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
@workers_opt
@oversub_opt
@progress_opt
@guard
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
        raise Fail(f"--{wrong[0].replace('_', '-').replace('population-size', 'population')}"
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
    from ...experiments.course_parameters import Settings

    names = tuple(names_option(parameters, "--parameters", COURSE_PARAMETERS,
                               "course parameter"))
    return Settings(population_size=population_size, cohort=cohort, generations=generations,
                    soil_patients=soil_patients, rounds=rounds, parameters=names)


def _calibration_folder(out: Path, resume: bool, holds: str = "abc.db") -> None:
    """The folder must be new (or empty), or hold a run to --resume (``holds`` there); nothing
    in it is ever deleted."""
    from ...io.folder import OutputError, unmark

    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out}: is not a folder")
    held = out.is_dir() and any(out.iterdir())
    if resume and not (out / holds).exists():
        raise OutputError(f"--resume: {out} holds no calibration to continue (no {holds})")
    if held and not resume:
        raise OutputError(f"--out {out}: already holds files; give a new folder, or --resume "
                          "to continue the calibration stored there")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".metasim-write-test"
        probe.write_text("")
        probe.unlink()
        unmark(out)   # complete again only when this calibration is
    except OSError as e:
        raise OutputError(f"--out {out}: cannot write there ({e.strerror or e})") from None


def _calibrate_bayes(scenario: str, overrides: tuple[str, ...], seed: int | None,
                     out: Path | None, resume: bool, population_size: int, generations: int,
                     cohort: int, soil_patients: int, rounds: int, parameters: str,
                     executor: str, scheduler: str | None, write_to: Path | None,
                     workers: int | None, oversubscribe: bool) -> None:
    from ...config.bundled import find_scenario
    from ...experiments.calibrate import check_write_target
    from ...experiments.executors import open_executor
    from ...experiments.inference import calibrate_preset, check_calibratable, shared_soil_prior
    from ...experiments.limits import WARN_SECONDS, human_seconds
    from ...experiments.seeds import resolve_seed
    from ...io.calibration import write_calibration, write_scenario
    from ...io.folder import mark_complete, numbered_destination
    from ...io.provenance import write_provenance
    from ...streams import CALIBRATION_SPAWN_KEY

    clock = Clock()
    source = find_scenario(scenario)
    sc = load(scenario, overrides, seed, None)
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
    w = sweep_workers(executor, workers, oversubscribe, scheduler)
    shared, note = shared_soil_prior(sc.primary.site)
    click.echo(f"calibrating {sc.primary.site}: seed {seed_value}, {w} worker(s), into "
               f"{folder}/; {note}", err=True)

    estimated = [False]

    def report(d: dict) -> None:
        if "generation" in d and not estimated[0] and d["simulated"]:
            # The first batch's wall time per simulated cohort, over all the cohorts the run
            # will simulate: ~4 per accepted particle (2.2-4.3 in the presets' calibrations).
            estimated[0] = True
            total = d["seconds"] / d["simulated"] * 4 * population_size * generations
            if total > WARN_SECONDS:
                click.echo(f"metasim: this calibration is long: about {human_seconds(total)} "
                           f"for the ABC stage ({generations} generations x {population_size} "
                           f"particles x ~4 simulated cohorts each, at "
                           f"{d['seconds'] / d['simulated']:.1f} s a cohort as measured on the "
                           "first batch); Ctrl-C stops it, and --resume continues from the "
                           "last finished generation", err=True)
        if "generation" in d:
            gen = "calibration sample" if d["generation"] < 0 else f"generation {d['generation'] + 1}"
            click.echo(f"  ABC {gen}: {d['accepted']}/{d['needed']} accepted of "
                       f"{d['simulated']} simulated cohorts, {d['seconds']:.0f} s", err=True)
        else:
            click.echo(f"  {d['stage']}: round {d['round']}", err=True)

    # Everything that changes the result, so that a preset's provenance reproduces it.
    command = " ".join(["calibrate", scenario, f"--seed {seed_value}",
                        f"--population {population_size}", f"--generations {generations}",
                        f"--cohort {cohort}", f"--soil-patients {soil_patients}",
                        f"--rounds {rounds}", f"--parameters {','.join(settings.parameters)}"]
                       + [f"--set {shlex.quote(o)}" for o in overrides])
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
    write_provenance(folder, seed=seed_value, streams="calibration branch SeedSequence("
                     f"{seed_value}, spawn_key=({CALIBRATION_SPAWN_KEY}, ...)) (sim.streams)",
                     wall_time_s=clock.seconds(), started_unix=clock.started, workers=w,
                     executor=executor, extra={"preset": sc.primary.site, "resumed": resume,
                                               "settings": vars(settings)})
    mark_complete(folder)
    if write_to is not None:
        write_scenario(summ, write_to if write_to.exists() else source, write_to)
        click.echo(f"Wrote the posterior medians into {write_to}")
    click.echo(_format_bayes(summ))
    click.echo(f"\nWrote {folder}/ (calibration.json, course_posterior.parquet, "
               "soil_posterior.parquet, scenario.toml, metadata.json, figures/)"
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
    lines += [f"  {n}" for n in summ.get("notes", []) if n.startswith("warning")]
    return "\n".join(lines)


def _calibrate_point(scenario: str, delivery: str, overrides: tuple[str, ...], seed: int | None,
                     replicates: int, iterations: int, confidence: float, start: str,
                     write_to: Path | None, no_write: bool, workers: int | None,
                     oversubscribe: bool, progress: bool | None) -> None:
    from ...config.bundled import find_scenario
    from ...experiments.calibrate import calibrate as fit
    from ...experiments.calibrate import check_write_target, format_fit, write_affinities
    from ...experiments.executors import local_executor

    source = find_scenario(scenario)
    sc = load(scenario, overrides, seed, None)
    workers = plan(sc, replicates, workers, oversubscribe, runs=iterations)
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


@click.command(name="calibrate-presets")
@click.option("--presets", "names", default=None,
              help="Comma-separated presets (default: every bundled preset).")
@seed_opt
@click.option("--out", type=click.Path(path_type=Path, file_okay=False),
              default=Path("out/calibration-presets"), show_default=True,
              callback=check_out_path,
              help="Folder for every preset's calibration and the joint results; --resume "
                   "reuses the presets already calibrated there.")
@click.option("--resume", is_flag=True, help="Keep the presets already calibrated in --out.")
@with_options(_calibration_opts(""))
@click.option("--write-presets", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Write each preset at its posterior medians into this folder "
                   "(NAME.toml, updated in place, comments kept).")
@workers_opt
@oversub_opt
@guard
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
    from ...config.bundled import find_scenario
    from ...experiments.executors import local_executor, resolve_workers
    from ...experiments.inference import check_calibratable
    from ...experiments.presets_calibration import calibrate_presets as calibrate_all
    from ...experiments.seeds import resolve_seed
    from ...io.calibration import write_calibration, write_scenario
    from ...io.folder import mark_complete
    from ...io.outputs import write_presets_validation
    from ...io.provenance import write_provenance
    from ...streams import CALIBRATION_SPAWN_KEY
    from .validate import preset_names

    clock = Clock()
    presets = preset_names()
    chosen = presets if names is None else names_option(names, "--presets", presets, "preset",
                                                        word="available")
    if len(chosen) < 3:
        raise Fail(f"--presets: {len(chosen)} given; a shared soil needs 3 or more")
    scen = {n: load(f"presets/{n}", (), seed, None) for n in chosen}
    for sc in scen.values():
        check_calibratable(sc)
    _calibration_folder(out, resume, holds=".")
    if write_presets is not None and not write_presets.is_dir():
        raise Fail(f"--write-presets {write_presets}: not a folder")
    settings = _calibration_settings(population_size, generations, cohort, soil_patients, 1,
                                     ",".join(DEFAULT_PARAMETERS))
    seed_value, _ = resolve_seed(next(iter(scen.values())), seed, unset=1)
    w = resolve_workers(workers, oversubscribe)
    with local_executor(w) as ex:
        result = calibrate_all(scen, out, seed_value, settings, ex, resume,
                               say=lambda line: click.echo(line, err=True))
    command = (f"calibrate-presets --population {population_size} --generations {generations} "
               f"--cohort {cohort} --soil-patients {soil_patients} --seed {seed_value}")
    for n, cal in result.calibrations.items():
        summ = write_calibration(cal, out / n, settings, command, find_scenario(f"presets/{n}"))
        if write_presets is not None:
            target = write_presets / f"{n}.toml"
            write_scenario(summ, target if target.exists() else find_scenario(f"presets/{n}"),
                           target)
    md = write_presets_validation(out, result.joint, result.report, seed_value)
    write_provenance(out, seed=seed_value, streams="calibration branch SeedSequence("
                     f"{seed_value}, spawn_key=({CALIBRATION_SPAWN_KEY}, ...)) per preset",
                     wall_time_s=clock.seconds(), started_unix=clock.started, workers=w,
                     extra={"presets": chosen, "resumed": resume, "settings": vars(settings)})
    mark_complete(out)
    click.echo(md)
    click.echo(f"\nWrote {out}/ (NAME/ per preset, shared_soil.json, validation.json, "
               "validation.md)")
