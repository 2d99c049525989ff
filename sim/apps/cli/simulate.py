"""``metasim run``, ``compare`` and ``demo``: simulated patients into an output folder."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .common import (
    HYPOTHESIS_NAMES,
    Clock,
    destination,
    guard,
    hypothesis_opt,
    load,
    names_option,
    oversub_opt,
    plan,
    progress_opt,
    rep_opt,
    say_replaced,
    scenario_arg,
    seed_opt,
    set_opt,
    workers_opt,
)
from .common import out_opt as _out_opt

if TYPE_CHECKING:
    from ...config.schema import Scenario
    from ...io.folder import Destination


@click.command()
@scenario_arg
@hypothesis_opt
@set_opt
@seed_opt
@rep_opt
@_out_opt("Output folder (default: out/<scenario name>, or out/<name>-2, -3, ... if that "
          "holds an earlier run). An earlier metasim output folder given here is replaced "
          "whole.")
@workers_opt
@oversub_opt
@progress_opt
@guard
def run(scenario: str, hypothesis: str | None, overrides: tuple[str, ...], seed: int | None,
        replicates: int | None, out: Path | None, workers: int | None, oversubscribe: bool,
        progress: bool | None) -> None:
    """Simulate replicate patients of SCENARIO and write the outputs to --out."""
    from ...experiments.limits import TIMESERIES_KEPT
    from ...experiments.replicates import run_replicates
    from ...io.folder import staged
    from ...io.outputs import PatientFiles, write_run

    clock = Clock()
    sc = load(scenario, overrides, seed, replicates, hypothesis)
    n = sc.simulation.replicates
    w = plan(sc, n, workers, oversubscribe)
    dest = destination(out, Path("out") / Path(scenario).stem)
    with staged(dest) as stage:
        files = PatientFiles(stage)
        result = run_replicates(sc, progress=progress, executor=_executor(w),
                                on_patient=files, keep_timeseries=TIMESERIES_KEPT)
        summ = write_run(stage, result, files=files, workers=w, started_unix=clock.started)
    say_replaced(dest)
    print_summary(summ, dest.final, result.wall_time_s, result.engine)


def _executor(workers: int) -> Any:
    from ...experiments.executors import local_executor

    return local_executor(workers)


@click.command(name="compare")
@scenario_arg
@click.option("--hypotheses", default="ewing,paget,combined", show_default=True,
              help="Comma-separated hypotheses, run on the same random streams.")
@set_opt
@seed_opt
@rep_opt
@_out_opt("Output folder (default: out/<scenario name>-compare, numbered if that holds an "
          "earlier run).")
@workers_opt
@oversub_opt
@progress_opt
@guard
def compare_cmd(scenario: str, hypotheses: str, overrides: tuple[str, ...], seed: int | None,
                replicates: int | None, out: Path | None, workers: int | None,
                oversubscribe: bool, progress: bool | None) -> None:
    """Run SCENARIO under several hypotheses with common random numbers."""
    clock = Clock()
    names = names_option(hypotheses, "--hypotheses", HYPOTHESIS_NAMES, "hypothesis")
    sc = load(scenario, overrides, seed, replicates)
    w = plan(sc, sc.simulation.replicates, workers, oversubscribe, runs=len(names))
    dest = destination(out, Path("out") / f"{Path(scenario).stem}-compare")
    comp = compare_into(dest, sc, names, progress, w, clock)
    say_replaced(dest)
    print_comparison(comp, dest.final)


def compare_into(dest: Destination, sc: Scenario, names: list[str], progress: bool | None,
                 workers: int, clock: Clock) -> dict:
    """Run the hypotheses into a staged folder, each patient's rows written as it ends."""
    from ...experiments.limits import TIMESERIES_KEPT
    from ...experiments.replicates import compare
    from ...io.folder import staged
    from ...io.outputs import PatientFiles, write_comparison

    with staged(dest) as stage, _executor(workers) as executor:
        files = {h: PatientFiles(stage / h) for h in names}
        runs = compare(sc, names, progress=progress, executor=executor,
                       on_patient=files, keep_timeseries=TIMESERIES_KEPT)
        return write_comparison(stage, runs, files=files, workers=workers,
                                wall_time_s=clock.seconds(), started_unix=clock.started)


@click.command()
@click.option("--out", type=click.Path(path_type=Path), default=Path("metasim-demo"),
              show_default=True, help="Output folder.")
@click.option("--replicates", type=click.IntRange(min=1), default=None,
              help="Patients per hypothesis (default: the demo scenario's).")
@guard
def demo(out: Path, replicates: int | None) -> None:
    """The classroom demo: one cancer under Ewing, Paget and the combined view."""
    from ...io.folder import Destination

    clock = Clock()
    sc = load("classroom/demo", (), None, replicates)
    hyps = ["ewing", "paget", "combined"]
    w = plan(sc, sc.simulation.replicates, None, False, runs=len(hyps))
    dest = Destination(out)
    click.echo(sc.description.strip().split("\n")[0])
    comp = compare_into(dest, sc, hyps, None, w, clock)
    say_replaced(dest)
    print_comparison(comp, dest.final)


def print_summary(summ: dict, out: Path, wall: float, engine: str = "mesa") -> None:
    from ...analysis.summaries import death_lines, population_lines

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
        for line in population_lines(summ["population"]) + death_lines(summ["course"]):
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


def print_comparison(comp: dict, out: Path) -> None:
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
