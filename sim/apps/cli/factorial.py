"""``metasim factorial``: the fair trial of Paget against Ewing over the presets' autopsy rows."""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path

import click

from .common import (
    Clock,
    Fail,
    destination,
    guard,
    load,
    names_option,
    oversub_opt,
    say_replaced,
    seed_opt,
    workers_opt,
)
from .common import out_opt as _out_opt


@click.command(name="factorial")
@click.option("--primaries", default=None, metavar="NAMES",
              help="Comma-separated presets (default: every preset; the colorectal row is "
                   "left out beside colon and rectum, whose patients it counts).")
@seed_opt
@click.option("--patients", type=click.IntRange(20, 5000), default=200, show_default=True,
              help="Simulated patients per preset and delivery (the site emulator's cohort).")
@click.option("--draws", type=click.IntRange(50, 20000), default=600, show_default=True,
              help="Posterior draws kept per fit (after a burn-in of half as many).")
@click.option("--folds", type=click.IntRange(2, 20), default=5, show_default=True,
              help="Folds of the cross-validation over organs.")
@_out_opt("Output folder (default: out/factorial, numbered if that holds an earlier run).")
@workers_opt
@oversub_opt
@guard
def factorial_cmd(primaries: str | None, seed: int | None, patients: int, draws: int,
                  folds: int, out: Path | None, workers: int | None,
                  oversubscribe: bool) -> None:
    """Score eight models of where cancers spread, all by the same machinery.

    Delivery (anatomical / uniform) x an organ term shared by every primary (none / shared)
    x a seed-specific soil (none / tau). Each preset's autopsy row is predicted from the
    other primaries (its site evidence) and each organ from the rest (k-fold); Ewing's own
    uncertain inputs (route splits, venous drainage, first-pass arrest) carry priors like
    the soil terms. Writes factorial.json, factorial.md and metadata.json.
    """
    from ...experiments.executors import local_executor, resolve_workers
    from ...experiments.factorial import CELLS, markdown, trial
    from ...experiments.factorial_rows import GROUPS, UNION_ROWS, preset_rows
    from ...experiments.inference import check_calibratable
    from ...io.folder import staged
    from ...io.provenance import write_provenance
    from ...streams import CALIBRATION_SPAWN_KEY, calibration_seed
    from .validate import preset_names

    clock = Clock()
    presets = preset_names()
    chosen = presets if primaries is None else names_option(primaries, "--primaries", presets,
                                                           "preset", word="available")
    scen = {n: load(f"presets/{n}", (), seed, None) for n in chosen}
    for sc in scen.values():
        check_calibratable(sc)
    groups = {GROUPS.get(n, n) for n in chosen
              if not (n in UNION_ROWS and all(p in chosen for p in UNION_ROWS[n]))}
    if len(groups) < 3:
        raise Fail(f"--primaries: {len(groups)} independent rows; the shared organ term and "
                   "the leave-one-out scores need 3 or more")
    seed_value = 1 if seed is None else seed
    w = resolve_workers(workers, oversubscribe)
    dest = destination(out, Path("out/factorial"))
    with staged(dest) as stage, local_executor(w) as ex:
        rows = preset_rows(scen, seed=seed_value, patients=patients, executor=ex,
                           say=lambda m: click.echo(m, err=True))
        started = time.perf_counter()
        shown = [False]

        def say(message: str) -> None:
            if not shown[0] and message.startswith(CELLS[1].name):
                # The first model (no soil term) has made its k-fold fits: the rest from
                # them, a fit with a soil term costing ~1.9 of one without
                # (benchmarks/factorial.py: 1.8-2.0 at 16 rows).
                per_fit = (time.perf_counter() - started) / folds
                soil_fits = sum(len(groups) + folds for c in CELLS if c.shared or c.scatter)
                rest = per_fit * (1.9 * soil_fits + folds * (sum(
                    not (c.shared or c.scatter) for c in CELLS) - 1))
                click.echo(f"metasim: the trial needs about {rest / 60:.0f} min more on this "
                           f"machine ({per_fit:.1f} s a fit without soil terms)", err=True)
                shown[0] = True
            click.echo(message, err=True)

        report = trial(rows, lambda *key: calibration_seed(seed_value, 32, *key), folds=folds,
                       draws=draws, burn=max(draws // 2, 50), progress=say)
        union = {n: f"= {' + '.join(parts)} (the same patients): scored as that group"
                 for n, parts in UNION_ROWS.items() if n in chosen and all(p in chosen for p in parts)}
        report["left_out"] = union
        report["date"], report["seed"] = date.today().isoformat(), seed_value
        report["settings"] = {"patients": patients, "draws": draws, "folds": folds,
                              "primaries": chosen}
        report["groups"] = {r.primary: r.group for r in rows}
        md = markdown(report, union)
        (stage / "factorial.json").write_text(json.dumps(report, indent=1) + "\n",
                                              encoding="utf-8")
        (stage / "factorial.md").write_text(md, encoding="utf-8")
        write_provenance(stage, seed=seed_value,
                         streams=f"SeedSequence({seed_value}, spawn_key=({CALIBRATION_SPAWN_KEY}, "
                         "30..32, ...)): the cohorts, the banks of Ewing's inputs, the fits",
                         wall_time_s=clock.seconds(), started_unix=clock.started, workers=w,
                         extra={"primaries": chosen, "patients": patients, "draws": draws,
                                "folds": folds})
    say_replaced(dest)
    click.echo(md)
    click.echo(f"Wrote {dest.final}/ (factorial.json, factorial.md, metadata.json)")


__all__ = ["factorial_cmd"]
