"""``metasim sweep``, ``plot`` and ``sensitivity``: designs of many runs, on any executor."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .common import (
    Clock,
    Fail,
    describe_os_error,
    executor_opts,
    exit_status,
    guard,
    how_stopped,
    ignore_further_stops,
    progress_opt,
    set_opt,
    sweep_workers,
    with_options,
)
from .common import out_opt as _out_opt


@click.command()
@click.argument("experiment", metavar="EXPERIMENT")
@set_opt
@with_options(executor_opts)
@_out_opt("Sweep folder (default: out/<experiment name>).")
@click.option("--resume", is_flag=True, help="Finish an interrupted sweep in --out (runs that "
                                             "failed are run again).")
@click.option("--no-plots", is_flag=True, help="Skip the figures at the end.")
@progress_opt
@guard
def sweep(experiment: str, overrides: tuple[str, ...], executor: str, workers: int | None,
          oversubscribe: bool, scheduler: str | None, out: Path | None, resume: bool,
          no_plots: bool, progress: bool | None) -> None:
    """Run an experiment file: every scenario x hypothesis x design point x replicate.

    Each finished job is written at once (runs/<id>.json: one run, or, on the population
    engine, the replicates of a design point in batches of up to 250); Ctrl-C or a crash
    loses only the jobs in flight, and --resume finishes the rest and runs the failed ones
    again. At the end: results.csv, results.parquet, the comparison figures and
    metadata.json.
    """
    from ...experiments.design import build_design, load_experiment
    from ...experiments.limits import WARN_SECONDS, human_seconds
    from ...experiments.sweep import estimate_seconds
    from ...experiments.sweep import sweep as run_sweep

    clock = Clock()
    loaded = load_experiment(experiment, overrides)
    out = out or Path("out") / Path(experiment).stem
    runs = build_design(loaded)
    exp = loaded.experiment
    w = sweep_workers(executor, workers, oversubscribe, scheduler)
    seconds = estimate_seconds(loaded, len(runs), w)
    click.echo(f"{loaded.source}: {len(loaded.bases)} scenario(s) x {len(exp.hypotheses)} "
               f"hypothesis(es) x {runs.n_points} point(s) x {exp.replicates} replicate(s) = "
               f"{len(runs):,} runs; executor {executor}, {w} worker(s); estimated "
               f"{human_seconds(seconds)} at most (from the base scenarios)", err=True)
    if seconds > WARN_SECONDS:
        click.echo(f"metasim: this sweep is long (~{human_seconds(seconds)}); Ctrl-C keeps the "
                   f"finished runs and `--resume` finishes the rest", err=True)
    phase = "running"
    try:
        summ = run_sweep(loaded, out, executor, w, scheduler, resume, progress)
        phase = "writing the tables"
        figures = finish_sweep(out, not no_plots, clock, executor, w, experiment)
    except KeyboardInterrupt as stop:
        ignore_further_stops()
        again = resume_command()
        what = ("the finished runs are kept" if phase == "running" else
                f"every run is kept (the sweep stopped while {phase}; `metasim plot {out}` "
                "writes the tables and figures)")
        click.echo(f"metasim: {how_stopped(stop)}; {what} in {out}/runs/ (`{again}` finishes "
                   "the rest)", err=True)
        sys.exit(exit_status(stop))
    retried = (f", {summ.failed_before} that had failed run again" if summ.failed_before
               else "")
    click.echo(f"{summ.ran} run(s) in {summ.wall_time_s:.1f} s ({summ.done_before} already "
               f"done{retried}); {summ.errors} failed")
    for e in summ.errors_sample:
        click.echo(f"  failed: {e}")
    if figures is not None:
        click.echo(f"{len(figures)} figure file(s) in {out}/figures/")
    click.echo(f"Wrote {out}/ (results.csv, results.parquet, runs/, experiment.json, "
               "metadata.json)")


def resume_command() -> str:
    """The command as typed, with ``--resume``: every option (``--set`` included) must be the
    same for a sweep to be resumed."""
    import shlex

    from ...io.provenance import command_line

    argv = shlex.split(command_line())
    return shlex.join(argv if "--resume" in argv else [*argv, "--resume"])


def finish_sweep(out: Path, plots: bool, clock: Clock | None = None,
                 executor: str | None = None, workers: int | None = None,
                 experiment: str | None = None) -> list[Path] | None:
    """The tables, the figures (unless ``plots`` is false), the provenance and the marker of
    a sweep folder whose runs are all stored; returns the figure files."""
    from ...experiments.store import ResultStore, write_tables
    from ...io.folder import OutputError, mark_complete
    from ...io.provenance import write_provenance
    from ...viz.sweep_figures import plot_sweep

    store = ResultStore(out)
    rows = write_tables(store)
    figures = None
    if plots and rows:
        try:
            figures = plot_sweep(out)
        except OSError as e:
            raise OutputError(f"--out {out}: cannot write the figures "
                              f"({describe_os_error(e)}); the runs and tables are kept "
                              f"(`metasim plot {out}` draws them again)") from None
    manifest = store.manifest()
    try:
        write_provenance(out, seed=manifest["experiment"].get("seed"),
                         streams="replicate r of every point uses child r of "
                                 "SeedSequence(seed); the design its own branch",
                         wall_time_s=None if clock is None else clock.seconds(),
                         started_unix=None if clock is None else clock.started,
                         executor=executor, workers=workers,
                         extra={"experiment": experiment or manifest.get("source"),
                                "runs": manifest.get("runs"), "stored_runs": store.stored_count(),
                                "failed_runs": len(store.failed_ids()),
                                "wall_time_note": "this command's; an earlier interrupted "
                                                  "part is not counted"})
        mark_complete(out)
    except OSError as e:
        raise OutputError(f"--out {out}: cannot write metadata.json or the marker "
                          f"({describe_os_error(e)}); the runs and tables are kept") from None
    return figures


@click.command(name="plot")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@guard
def plot_cmd(folder: Path) -> None:
    """Draw the comparison figures of a sweep folder (PNG and SVG in FOLDER/figures)."""
    if not (folder / "experiment.json").is_file():
        raise Fail(f"{folder}: not a metasim sweep folder (no experiment.json)")
    try:
        figs = finish_sweep(folder, True)
    except KeyboardInterrupt as stop:
        ignore_further_stops()
        click.echo(f"metasim: {how_stopped(stop)}; the runs in {folder}/runs/ are untouched; "
                   f"`metasim plot {folder}` draws the figures again", err=True)
        sys.exit(exit_status(stop))
    click.echo(f"{len(figs or [])} figure file(s) in {folder}/figures/")


@click.command(name="sensitivity")
@click.argument("experiment", metavar="EXPERIMENT")
@click.option("--method", type=click.Choice(["sobol", "morris"]), default=None,
              help="Default: the experiment's sensitivity.method.")
@click.option("--samples", type=click.IntRange(min=2), default=None,
              help="Sobol base sample N / Morris trajectories (default: the experiment's).")
@set_opt
@with_options(executor_opts)
@_out_opt("Output folder (default: out/<experiment name>-sensitivity).")
@progress_opt
@guard
def sensitivity_cmd(experiment: str, method: str | None, samples: int | None,
                    overrides: tuple[str, ...], executor: str, workers: int | None,
                    oversubscribe: bool, scheduler: str | None, out: Path | None,
                    progress: bool | None) -> None:
    """Sobol or Morris sensitivity of chosen outputs to the experiment's parameter ranges."""
    import json

    from ...experiments.design import load_experiment
    from ...experiments.sensitivity import sensitivity
    from ...io.folder import staged
    from ...io.outputs import RunRecords, write_sensitivity
    from ...io.provenance import write_provenance
    from .common import destination, say_replaced

    clock = Clock()
    loaded = load_experiment(experiment, overrides)
    if loaded.experiment.sensitivity is None:
        raise Fail(f"{loaded.source}: no [sensitivity] section (method, samples, outputs)")
    dest = destination(out, Path("out") / f"{Path(experiment).stem}-sensitivity")
    w = sweep_workers(executor, workers, oversubscribe, scheduler)
    with staged(dest) as stage:
        with RunRecords(stage / "runs.csv", loaded) as records:
            report = sensitivity(loaded, method, samples, executor, w, scheduler, progress,
                                 on_record=records)
        write_sensitivity(report, stage)
        (stage / "sensitivity.json").write_text(json.dumps(report, indent=2, default=str))
        write_provenance(stage, seed=loaded.experiment.seed,
                         streams="replicate r of every sample point uses child r of "
                                 "SeedSequence(seed); the sample its own branch",
                         wall_time_s=clock.seconds(), started_unix=clock.started,
                         executor=executor, workers=w,
                         extra={"experiment": experiment, "method": report["method"],
                                "points": report["points"], "runs": report["runs"],
                                "failed_runs": report["failed_runs"]})
    say_replaced(dest)
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
    click.echo(f"Wrote {dest.final}/ (sensitivity.csv, sensitivity.json, runs.csv, metadata.json, "
               "figures/)")
