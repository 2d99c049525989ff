"""``metasim validate``: every preset's simulated sites against the autopsy table."""

from __future__ import annotations

from pathlib import Path

import click

from .common import (
    HYPOTHESIS_NAMES,
    Clock,
    Fail,
    destination,
    guard,
    load,
    names_option,
    oversub_opt,
    plan,
    progress_opt,
    say_replaced,
    seed_opt,
    set_opt,
    workers_opt,
)
from .common import out_opt as _out_opt


def preset_names() -> list[str]:
    """The bundled presets (``scenarios/presets/*.toml``), by name."""
    from ...config.bundled import scenario_dir

    return sorted(p.stem for p in (scenario_dir() / "presets").glob("*.toml"))


@click.command()
@click.option("--primaries", default=None, metavar="NAMES",
              help="Comma-separated presets (default: every file in scenarios/presets).")
@click.option("--hypotheses", default="ewing,paget,combined", show_default=True,
              help="Comma-separated hypotheses to score, run on the same random streams.")
@set_opt
@seed_opt
@click.option("--replicates", type=click.IntRange(min=2), default=20, show_default=True,
              help="Simulated patients per primary and hypothesis.")
@_out_opt("Output folder (default: out/validation, numbered if that holds an earlier run).")
@workers_opt
@oversub_opt
@progress_opt
@guard
def validate(primaries: str | None, hypotheses: str, overrides: tuple[str, ...],
             seed: int | None, replicates: int, out: Path | None, workers: int | None,
             oversubscribe: bool, progress: bool | None) -> None:
    """Compare every preset's simulated site frequencies with the autopsy table."""
    from ...experiments.executors import local_executor
    from ...experiments.replicates import compare
    from ...experiments.seeds import describe_streams
    from ...experiments.validation import relative_weiss_index, score, summarise
    from ...io.folder import staged
    from ...io.outputs import write_validation
    from ...io.provenance import write_provenance

    clock = Clock()
    presets = preset_names()
    names = presets if primaries is None else names_option(primaries, "--primaries", presets,
                                                           "preset", word="available")
    hyps = names_option(hypotheses, "--hypotheses", HYPOTHESIS_NAMES, "hypothesis")
    # Site frequencies only: no twin courses for "initiated at diagnosis".
    overrides = (*overrides, "population.assess_initiated=false")
    scenarios_ = {n: load(f"presets/{n}", overrides, seed, replicates) for n in names}
    for sc in scenarios_.values():
        plan(sc, replicates, workers, oversubscribe, runs=len(hyps))
    w = plan(next(iter(scenarios_.values())), replicates, workers, oversubscribe,
             runs=len(hyps) * len(scenarios_))
    dest = destination(out, Path("out/validation"))
    rows: list[dict] = []
    indices: dict[str, dict[str, float]] = {}
    seeds: dict[str, int] = {}
    with staged(dest) as stage, local_executor(w) as executor:
        for sc in scenarios_.values():
            indices[sc.primary.site] = relative_weiss_index(sc)
            runs = compare(sc, hyps, progress=progress, executor=executor)
            seeds[sc.primary.site] = next(iter(runs.values())).seed
            rows.extend(score(r) for r in runs.values())
        write_validation(stage, rows, indices)
        calibrated = calibrated_scores([sc.primary.site for sc in scenarios_.values()])
        (stage / "bayesian_calibration.txt").write_text("\n".join(calibrated) + "\n",
                                                        encoding="utf-8")
        trial_lines, trial_md = bundled_trial()
        if trial_md is not None:
            (stage / "factorial.md").write_text(trial_md, encoding="utf-8")
        one_seed = len(set(seeds.values())) == 1
        write_provenance(stage, seed=next(iter(seeds.values())) if one_seed else None,
                         streams=("per primary, " + describe_streams(
                             next(iter(seeds.values())), replicates)) if one_seed else
                         "per primary (see seeds): SeedSequence(seed).spawn(replicates)",
                         wall_time_s=clock.seconds(), started_unix=clock.started, workers=w,
                         extra={"seeds": seeds, "primaries": names, "hypotheses": hyps,
                                "replicates": replicates, "common_random_numbers": True})
    say_replaced(dest)
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
    for line in [*calibrated, *trial_lines]:
        click.echo(line)
    click.echo(f"\nWrote {dest.final}/ (validation.csv, validation.json, validation.md, "
               "bayesian_calibration.txt" + (", factorial.md" if trial_md else "")
               + ", metadata.json, figures/)")


def bundled_trial() -> tuple[list[str], str | None]:
    """The bundled factorial trial as lines to print, and its tables (None: no trial)."""
    from ...experiments.factorial import BUNDLED_TRIAL, load_bundled, markdown, summary_lines

    report = load_bundled()
    if report is None:
        return ["", "(no bundled factorial trial: `metasim factorial` makes one)"], None
    head = (f"The fair trial over the presets' autopsy rows ({BUNDLED_TRIAL.name}, "
            f"{report.get('date', '')}, seed {report.get('seed', '')}): eight models "
            "(delivery x an organ term shared by all primaries x a seed-specific soil), each "
            "primary's row predicted from the others; summed log predictive densities and "
            "their weights over all primaries (factorial.md has each primary's model "
            "probabilities).")
    return ["", head, *summary_lines(report)], markdown(report, report.get("left_out"))


def calibrated_scores(primaries: list[str]) -> list[str]:
    """The bundled calibration's model probabilities and out-of-sample scores, as lines."""
    from ...experiments.validation_report import BUNDLED_VALIDATION, load_bundled, validate_lines

    report = load_bundled()
    if report is None:
        return ["", "(no bundled calibration: `metasim calibrate-presets` makes one)"]
    head = (f"The presets' Bayesian calibration ({BUNDLED_VALIDATION.name}, "
            f"{report.get('date', '')}, seed {report.get('seed', '')}): posterior model "
            "probabilities (autopsy sites x population targets) and scores of the soil "
            "predicted out of sample (each organ from 5-fold cross-validation over organs; "
            "Ewing from the course alone); rho = Spearman, R2 across organs, cover90 = "
            "observed counts inside their 90 % predictive interval, lpd = mean log "
            "predictive density per organ. The rows above score one fresh cohort of the "
            "presets as they are (the posterior medians).")
    return ["", head, *validate_lines(report, primaries)]


__all__ = ["Fail", "bundled_trial", "calibrated_scores", "preset_names", "validate"]
