"""What a calibration writes: the posterior, a scenario at its medians, predictive figures.

A calibration folder holds

* ``abc.db``: pyabc's database of every ABC-SMC generation (presets with population targets;
  ``pyabc.History("sqlite:///abc.db")`` reads it, and ``--resume`` continues it);
* ``course_posterior.parquet``: the last generation's particles per hypothesis (one row per
  particle: hypothesis, weight, the course parameters in their prior's coordinates);
* ``soil_posterior.parquet``: the soil draws per hypothesis (draw, organ, ``a`` = log of
  competence x affinity, the shared soil ``s``, ``tau``, the level ``c``);
* ``grids.npz``: each hypothesis' emulated site frequencies on the grid of ``a`` (the
  cross-validation recomputes from them);
* ``calibration.json``: provenance (data, seed, library versions, settings, wall time) and the
  posterior summary (medians, 90 % intervals, model probabilities);
* ``scenario.toml``: the preset at the posterior medians of the combined hypothesis (Paget's
  affinities in ``affinity_uniform_delivery``), with the provenance in its comments;
* ``figures/predictive_targets.png`` and ``figures/predictive_sites.png``.
"""

from __future__ import annotations

import json
import math
import textwrap
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..analysis.intervals import proportion_interval
from ..biology.anatomy import TARGET_ORGANS
from ..biology.delivery import delivered_fractions
from ..biology.targets import targets_for
from ..experiments.inference import (
    COURSE_PARAMETERS,
    MODELS,
    PresetCalibration,
    Settings,
    soil_ratio_to_affinity,
    weighted_quantile,
)
from ..experiments.soil_model import A_GRID


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for lib in ("metasim", "pyabc", "numpy", "mesa"):
        try:
            out[lib] = version(lib)
        except PackageNotFoundError:
            out[lib] = "not installed"
    return out


def site_predictive(cal: PresetCalibration, hypothesis: str, draws: int = 400,
                    seed: int = 0) -> list[tuple[float, float, float]]:
    """(median, 5 %, 95 %) of each organ's predicted autopsy fraction in a cohort the size of
    the table's: a from the soil posterior (Ewing: the level's prior, no soil), the count
    binomial."""
    inp = cal.inputs[hypothesis]
    d = inp.data
    rng = np.random.default_rng(seed)
    if hypothesis in cal.soil:
        post = cal.soil[hypothesis]
        pick = rng.choice(len(post.tau), size=min(draws, len(post.tau)), replace=False)
        a = post.a[pick, 0, :]
        cols = [post.organs.index(o) for o in d.organs]
        a = a[:, cols]
    else:
        a = np.repeat(rng.normal(d.level_mean, d.level_sd, draws)[:, None], len(d.organs), 1)
    out = []
    for j in range(len(d.organs)):
        # An organ the cohort cannot reach has no a (NaN) and f = 0 at any a.
        f = np.interp(np.nan_to_num(a[:, j], nan=A_GRID[0]), A_GRID, d.frequency[j])
        k = rng.binomial(d.patients, np.clip(f, 0, 1)) / d.patients
        out.append((float(np.median(k)), float(np.quantile(k, 0.05)),
                    float(np.quantile(k, 0.95))))
    return out


def target_predictive(cal: PresetCalibration) -> dict[str, list[tuple[float, float, float]]]:
    """(median, 5 %, 95 %) of each target's share among the accepted particles' cohorts."""
    import pyabc

    if cal.course is None:
        return {}
    hist = pyabc.History(f"sqlite:///{cal.course.database}")
    targets = targets_for(cal.scenario.primary.site)
    out = {}
    for m, h in enumerate(MODELS):
        try:
            w, sums = hist.get_weighted_sum_stats_for_model(m=m, t=hist.max_t)
        except Exception:  # the model died out before the last generation
            continue
        if not len(sums):
            continue
        w = np.asarray(w, dtype=float)
        rows = []
        for t in targets:
            v = np.array([s[t.name] for s in sums], dtype=float)
            ok = np.isfinite(v)
            if not ok.any():
                rows.append((math.nan, math.nan, math.nan))
                continue
            rows.append((weighted_quantile(v[ok], w[ok], 0.5), weighted_quantile(v[ok], w[ok], 0.05),
                         weighted_quantile(v[ok], w[ok], 0.95)))
        out[h] = rows
    return out


def summary(cal: PresetCalibration, settings: Settings, command: str) -> dict[str, Any]:
    """The calibration's provenance and posterior summary (calibration.json)."""
    sc = cal.scenario
    course: dict[str, Any] = {}
    for h, (samples, w) in cal.course_draws.items():
        course[h] = {p: {"median": weighted_quantile(np.asarray(v), np.asarray(w), 0.5),
                         "q05": weighted_quantile(np.asarray(v), np.asarray(w), 0.05),
                         "q95": weighted_quantile(np.asarray(v), np.asarray(w), 0.95),
                         "coordinate": COURSE_PARAMETERS[p].unit,
                         # The scenario value itself: a relative coordinate is a factor of
                         # the value the calibration started from, not of whatever file the
                         # result is later written into.
                         "value": COURSE_PARAMETERS[p].value(
                             weighted_quantile(np.asarray(v), np.asarray(w), 0.5), sc)}
                     for p, v in samples.items()}
    soil: dict[str, Any] = {}
    for h, post in cal.soil.items():
        comp, aff = soil_ratio_to_affinity(post)
        soil[h] = {"competence": comp, "affinity": aff,
                   "tau_median": float(np.median(post.tau)),
                   "tau_90": [float(q) for q in np.quantile(post.tau, [0.05, 0.95])],
                   "shared_soil": post.shared_summary()}
    ewing = cal.inputs["ewing"].data
    return {
        "preset": sc.primary.site, "command": command, "date": date.today().isoformat(),
        "seed": cal.seed, "versions": _versions(), "wall_time_s": cal.wall_time_s,
        "settings": settings.__dict__ | {"parameters": list(settings.parameters)},
        "data": {"autopsy": f"{sc.tropism.source} (diSibio & French 2008), n = {ewing.patients}",
                 "targets": [{"name": t.name, "observed": t.observed, "patients": t.patients,
                              "source": t.source} for t in targets_for(sc.primary.site)]},
        "course": course,
        "abc": None if cal.course is None else {
            "generations": cal.course.generations, "simulations": cal.course.simulations,
            "epsilons": cal.course.epsilons,
            "model_probabilities_from_targets": cal.course.model_probabilities},
        "soil": soil,
        "ewing_level_prior": [ewing.level_mean, ewing.level_sd],
        "notes": cal.notes,
    }


def write_posterior(cal: PresetCalibration, folder: Path) -> None:
    """course_posterior.parquet and soil_posterior.parquet."""
    rows = []
    for h, (samples, w) in cal.course_draws.items():
        df = pd.DataFrame({k: np.asarray(v) for k, v in samples.items()})
        df.insert(0, "weight", np.asarray(w) / np.sum(w))
        df.insert(0, "hypothesis", h)
        rows.append(df)
    pd.concat(rows, ignore_index=True).to_parquet(folder / "course_posterior.parquet")
    soil_rows = []
    for h, post in cal.soil.items():
        d, o = np.meshgrid(np.arange(len(post.tau)), np.arange(len(post.organs)), indexing="ij")
        soil_rows.append(pd.DataFrame({
            "hypothesis": h, "draw": d.ravel(), "organ": np.array(post.organs)[o.ravel()],
            "a": post.a[:, 0, :].ravel(), "shared_soil": post.soil[d.ravel(), o.ravel()],
            "tau": post.tau[d.ravel()], "level": post.level[d.ravel(), 0]}))
    if soil_rows:
        pd.concat(soil_rows, ignore_index=True).to_parquet(folder / "soil_posterior.parquet")


def write_figures(cal: PresetCalibration, folder: Path) -> list[Path]:
    """The posterior predictive figures."""
    from ..viz.calibration_figures import predictive_sites_figure, predictive_targets_figure
    from ..viz.style import save

    figs = folder / "figures"
    figs.mkdir(exist_ok=True)
    out = []
    site = cal.scenario.primary.site
    pred = target_predictive(cal)
    if pred:
        targets = targets_for(site)
        observed = []
        for t in targets:
            lo, hi = proportion_interval(round(t.observed * t.patients), t.patients) \
                if t.patients else (t.observed, t.observed)
            observed.append((t.observed, lo, hi))
        fig = predictive_targets_figure([t.label for t in targets], observed, pred,
                                        f"{site}: population targets and the calibrated course")
        save(fig, figs / "predictive_targets.png")
        out.append(figs / "predictive_targets.png")
    d = cal.inputs["ewing"].data
    sites = {h: site_predictive(cal, h) for h in MODELS if h in cal.inputs}
    fig = predictive_sites_figure(d.organs, (d.counts / d.patients).tolist(), sites, d.patients,
                                  f"{site}: where metastases are found, and the posterior "
                                  "predictions")
    save(fig, figs / "predictive_sites.png")
    out.append(figs / "predictive_sites.png")
    return out


def write_scenario(summary: dict[str, Any], template: Path, path: Path) -> Path:
    """The preset at the posterior medians (combined hypothesis; Paget's affinities in
    ``affinity_uniform_delivery``), written from a calibration's summary (calibration.json)
    into a copy of ``template`` (its comments kept), with the provenance above the fitted
    tables. The course written is the one the soil cohorts ran: the ABC posterior medians, or
    for a preset without population targets the prior medians."""
    import tomlkit

    from ..config.loading import load_scenario
    from ..experiments.calibrate import parse_scenario_toml

    doc = parse_scenario_toml(template, "scenario file")
    base = load_scenario(template)
    day = summary["date"]
    # Absolute values: writing a relative factor against the template compounded it when a
    # preset was written over itself on repeated (resumed) runs of calibrate-presets.
    course = {p: v.get("value") for p, v in summary["course"]["combined"].items()}
    soil = summary["soil"]
    # The file's competence carries the combined soil's delivery-weighted mean level and the
    # affinities have a delivery-weighted mean of 1 (the convention of the presets): the
    # hazards are the same, and `--hypothesis ewing` on the file colonises at that level.
    delivered = delivered_fractions(base, "anatomical")
    combined = soil["combined"]["affinity"]
    weights = {o: delivered.get(o, 0.0) for o in combined if delivered.get(o, 0.0) > 0}
    total = sum(weights.values())
    scale = (sum(w * combined[o] for o, w in weights.items()) / total) if total > 0 else 1.0
    comp = float(soil["combined"]["competence"]) * scale
    abc = summary.get("abc")
    why = "posterior median" if abc else "prior median (no population target)"
    tag = f"CALIBRATED: metasim calibrate, {why} ({day})"

    def put(table: str, key: str, value: float, comment: str = tag) -> None:
        if table not in doc:
            doc[table] = tomlkit.table()
        item = tomlkit.item(float(f"{value:.4g}"))
        item.comment(comment)
        doc[table][key] = item

    for name, value in course.items():
        if name == "competence":
            continue
        param = COURSE_PARAMETERS[name]
        table, key = param.key.split(".")
        if value is None:   # a calibration.json written before values were recorded
            median = summary["course"]["combined"][name]["median"]
            if param.relative:
                raise ValueError(f"{name}: this calibration.json records only the factor "
                                 "relative to the scenario it started from; run the "
                                 "calibration again to write the scenario")
            value = param.value(median, base)
        put(table, key, value)
    put("colonization", "competence", comp,
        f"CALIBRATED: metasim calibrate, posterior median of the soil's level x the "
        f"delivery-weighted mean affinity ({day})")
    if "tropism" not in doc:
        doc["tropism"] = tomlkit.table()
    trop = doc["tropism"]
    if "strength" in trop and float(trop["strength"]) != 1.0:
        trop["strength"] = 1.0   # the fitted affinities are the full tropism
    n_targets = len(summary["data"]["targets"])
    prov = (f"Fitted by `metasim {summary['command']}` on {day}: seed {summary['seed']}, pyabc "
            f"{summary['versions']['pyabc']}; data: {summary['data']['autopsy']}"
            + (f" and {n_targets} population targets (sim/biology/targets.py), ABC-SMC "
               f"{abc['generations']} generations of {summary['settings']['population_size']} "
               f"particles (cohorts of {summary['settings']['cohort']} patients), "
               f"{abc['simulations']} simulated cohorts"
               if abc else "; no population target, so the course is the prior's median")
            + (". Course, posterior median [90 % interval]: " + "; ".join(
                f"{name} {v['median']:.3g} [{v['q05']:.3g}, {v['q95']:.3g}] ({v['coordinate']})"
                for name, v in summary["course"]["combined"].items()) if abc else "")
            + f". Posterior medians of the hierarchical soil (tau "
            f"{soil['combined']['tau_median']:.2f}), relative to the competence above (combined: "
            "delivery-weighted mean 1); an organ "
            "no autopsy table reports: as receptive as the least receptive one that this "
            "primary's does (ASSUMPTION). Full posterior: that run's calibration.json.")
    for key, h in (("affinity", "combined"), ("affinity_uniform_delivery", "paget")):
        if h not in soil:
            continue
        scale = float(soil[h]["competence"]) / comp   # relative to the file's competence
        a = {o: v * scale for o, v in soil[h]["affinity"].items()}
        floor = min(a.values())
        for organ in TARGET_ORGANS:
            a.setdefault(organ, floor)
        if key in trop:
            del trop[key]
        fitted = tomlkit.table()
        for line in textwrap.wrap(prov, 88, break_on_hyphens=False, break_long_words=False):
            fitted.add(tomlkit.comment(line))
        for organ in sorted(a):
            fitted.add(organ, float(f"{a[organ]:.4g}"))
        trop.add(key, fitted)
    path.write_text(tomlkit.dumps(doc), encoding="utf-8")
    return path


def coverage_of_interval(draws: np.ndarray, truth: float, level: float = 0.9) -> bool:
    """Whether ``truth`` lies in the central ``level`` interval of ``draws``."""
    a = (1 - level) / 2
    lo, hi = np.quantile(draws, [a, 1 - a])
    return bool(lo <= truth <= hi)


def write_calibration(cal: PresetCalibration, folder: Path, settings: Settings, command: str,
                      template: Path | None) -> dict[str, Any]:
    """Every file of a calibration folder; returns the summary."""
    folder.mkdir(parents=True, exist_ok=True)
    write_posterior(cal, folder)
    # The tabulated site frequencies: the scores can be recomputed without simulating.
    arrays: dict[str, Any] = {"a_grid": A_GRID}
    for h, inp in cal.inputs.items():
        arrays[f"{h}_frequency"] = inp.data.frequency
        arrays[f"{h}_counts"] = inp.data.counts
        arrays[f"{h}_level"] = np.array([inp.data.level_mean, inp.data.level_sd,
                                         inp.data.patients])
    np.savez_compressed(folder / "grids.npz", **arrays)
    summ = summary(cal, settings, command)
    (folder / "calibration.json").write_text(json.dumps(summ, indent=1, default=float),
                                              encoding="utf-8")
    if template is not None:
        write_scenario(summ, template, folder / "scenario.toml")
    write_figures(cal, folder)
    return summ


__all__ = ["coverage_of_interval", "site_predictive", "summary", "target_predictive",
           "write_calibration", "write_figures", "write_posterior", "write_scenario"]
