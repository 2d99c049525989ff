"""The files a run writes into its output folder: ``summary.json``, ``metadata.json``,
``patients.csv``, ``events.csv``, the time series, the figures and the validation tables (the
output contract: docs/reference/output-folder.md). Where and how the folder is
written: :mod:`sim.io.folder`.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from .. import analysis
from ..analysis.intervals import mean_interval
from ..biology.anatomy import PRIMARY_SITES, TARGET_ORGANS
from ..biology.patients import TRAITS
from ..biology.reference import DISIBIO_2008
from ..biology.stages import FUNNEL_STAGES
from ..config.schema import Scenario
from ..engine.results import PatientResult
from ..experiments.outcomes import OUTCOMES
from ..experiments.replicates import RunResult
from ..experiments.seeds import describe_population_streams, describe_streams
from ..viz import figures as viz_figures
from ..viz.style import save
from .provenance import provenance, write_provenance


def subject(sc: Scenario) -> str:
    """What a run simulates, for figure titles: the primary, or the injection experiment."""
    if sc.primary.present or not sc.injection:
        return PRIMARY_SITES[sc.primary.site].label
    entries = sorted({inj.entry.replace("_", " ") for inj in sc.injection})
    return f"cells injected ({', '.join(entries)} entry), no primary tumour"


def autopsy_reference(site: str | Scenario) -> dict[str, float] | None:
    """The autopsy site frequencies (diSibio & French 2008) of a primary site, or None when
    the table has no row for it - or when the scenario has no primary tumour (an injection
    experiment is not a patient, and no autopsy series describes it)."""
    if isinstance(site, Scenario):
        if not site.primary.present:
            return None
        site = site.primary.site
    row = PRIMARY_SITES[site].disibio_row
    return DISIBIO_2008.frequencies(row) if row else None


def summary(run: RunResult) -> dict[str, Any]:
    sc = run.scenario
    patients = run.patients
    n = len(patients)
    lost_routes = {r: float(np.mean([p.lost_in_transit_by_route[r] for p in patients]))
                   for r in patients[0].lost_in_transit_by_route}
    founded = {k: int(sum(p.colonies_founded[k] for p in patients)) for k in ("single", "cluster")}
    survived = {k: int(sum(p.colonies_survived[k] for p in patients)) for k in ("single", "cluster")}
    return {
        "hypothesis": sc.hypothesis,
        "delivery": sc.delivery,
        "soil": sc.soil,
        "primary": sc.primary.site,
        "replicates": n,
        "seed": run.seed,
        "site_frequency": analysis.site_frequency(patients),
        "site_frequency_definition": "fraction of simulated patients with >= 1 metastasis of "
                                     f"at least {sc.colonization.autopsy_detectable_diameter_mm:g}"
                                     " mm (colonization.autopsy_detectable_diameter_mm) in the "
                                     "organ at the end of the course, as an autopsy would find; "
                                     "95 % Wilson interval",
        "autopsy_detectable_diameter_mm": sc.colonization.autopsy_detectable_diameter_mm,
        "site_frequency_imaging": analysis.site_frequency(patients, basis="imaging"),
        "diagnosis": analysis.at_diagnosis(patients),
        "funnel": analysis.funnel(patients),
        "funnel_units": "cells per patient, mean over replicates",
        "lost_in_transit_by_route": lost_routes,
        "time_to_first_macrometastasis": analysis.first_metastasis(patients, "macrometastasis"),
        "time_to_first_detectable_metastasis": analysis.first_metastasis(patients),
        "population": analysis.population(patients),
        "course": analysis.course(patients),
        "colonies_founded": founded,
        "colonies_reaching_angiogenic_switch": survived,
        "autopsy_reference": {"source": DISIBIO_2008.citation,
                              "site_frequency": autopsy_reference(sc)},
        **({"assay": assay_summary(run)} if sc.injection else {}),
        **({"clinical": analysis.clinical_outcomes(patients)} if sc.intervention else {}),
    }


def assay_summary(run: RunResult) -> dict[str, Any]:
    """Mean fractions of injected cells in each state at each report day, with 95 % t
    intervals (:func:`sim.analysis.intervals.mean_interval`)."""
    patients = run.patients
    rows = []
    for i, day in enumerate(sorted(run.scenario.assay.report_days)):
        snaps = [p.assay[i] for p in patients if len(p.assay) > i]
        if not snaps:
            continue
        row: dict[str, Any] = {"day": float(day)}
        keys = sorted({k for s in snaps for k in s if k != "day"},
                      key=lambda k: (k.startswith("arrested_"), k))
        for key in keys:
            mean, low, high = mean_interval(np.array([s.get(key, 0.0) for s in snaps]))
            row[key] = {"mean": mean, "low": low, "high": high}
        rows.append(row)
    injected = [p.injected_total for p in patients]
    return {"injected_cells_per_replicate": int(np.mean(injected)),
            "definitions": "fractions of injected cells; arrested, extravasated and "
                           "micrometastases_founded are cumulative, the others current",
            "report": rows}


def metadata(run: RunResult, command: str | list[str] | None = None,
             extra: Mapping[str, Any] | None = None,
             started_unix: float | None = None) -> dict[str, Any]:
    """The provenance of one run (:func:`sim.io.provenance.provenance`) with the run's own
    random streams and engine. ``wall_time_s`` is the simulation's; with ``started_unix``
    (when the command started) the command's own wall time is recorded too."""
    import time

    return provenance(
        command=command, seed=run.seed, seed_note=run.seed_note,
        streams=describe_streams(run.seed, run.replicates), wall_time_s=run.wall_time_s,
        started_unix=started_unix,
        extra={"replicate_streams": describe_streams(run.seed, run.replicates),
               "engine": run.engine,
               **({"command_wall_time_s": round(time.time() - started_unix, 3)}
                  if started_unix is not None else {}),
               **({"course_streams": describe_population_streams(run.seed)}
                  if run.engine == "population" else {}),
               **(extra or {})})


class PatientFiles:
    """``timeseries.csv`` and ``events.csv`` of one run, written patient by patient.

    Pass an instance as ``on_patient`` to :func:`sim.experiments.replicates.run_replicates` so each
    patient's rows reach the disk as it finishes (memory does not grow with the time series
    of every patient), then to :func:`write_run`, which closes it.
    """

    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self._ts_fh = (folder / "timeseries.csv").open("w", newline="", encoding="utf-8")
        self._ev_fh = (folder / "events.csv").open("w", newline="", encoding="utf-8")
        self._ts, self._ev = csv.writer(self._ts_fh), csv.writer(self._ev_fh)
        self._ts.writerow(["replicate", "time", "quantity", "organ", "value"])
        self._ev.writerow(["replicate", "day", "event", "organ", "detail"])

    def __call__(self, p: PatientResult) -> None:
        for day, q, organ, v in p.timeseries:
            self._ts.writerow([p.replicate, f"{day:g}", q, organ, f"{v:.6g}"])
        for e in p.events:
            self._ev.writerow([p.replicate, f"{e['day']:g}", e["event"], e["organ"], e["detail"]])

    def close(self) -> None:
        self._ts_fh.close()
        self._ev_fh.close()


def write_run(stage: Path, run: RunResult, command: list[str] | None = None,
              figures: bool = True, files: PatientFiles | None = None,
              workers: int | None = None, started_unix: float | None = None) -> dict[str, Any]:
    """Write the whole output contract for one run into ``stage``; return the summary.

    ``files``: the run's patient files if they were written as patients finished (then
    only the patients whose time series were kept appear in the time-course figure).
    """
    sc = run.scenario
    _json(stage / "scenario.json", sc.resolved_dict())
    _json(stage / "metadata.json", metadata(run, command, {"workers": workers},
                                            started_unix=started_unix))
    summ = summary(run)
    if files is None:
        files = PatientFiles(stage)
        for p in run.patients:
            files(p)
    files.close()
    with _csv(stage / "funnel.csv") as w:
        w.writerow(["stage", "reached_mean", "lost_mean", "lost_fraction"])
        for f in summ["funnel"]:
            w.writerow([f["stage"], f"{f['reached']:.6g}", f"{f['lost']:.6g}",
                        f"{f['lost_fraction']:.6g}"])
    observed = autopsy_reference(sc) or {}
    with _csv(stage / "sites.csv") as w:
        w.writerow(["organ", "fraction", "low", "high", "patients_with", "replicates",
                    "autopsy_fraction"])
        for organ, s in summ["site_frequency"].items():
            obs = observed.get(organ)
            w.writerow([organ, f"{s['fraction']:.6g}", f"{s['low']:.6g}", f"{s['high']:.6g}",
                        s["patients"], run.replicates, "" if obs is None else f"{obs:.6g}"])
    with _csv(stage / "patients.csv") as w:
        w.writerow(["replicate", *TIMING_COLUMNS, "cause_of_death", "primary_cells_at_end",
                    "metastatic_cells_at_end", "resection_day", "relapse_day", "shed_total",
                    *TRAITS, *MEASUREMENT_COLUMNS]
                   + [f"reached_{s}" for s in FUNNEL_STAGES] + [f"lost_{s}" for s in FUNNEL_STAGES]
                   + [f"detectable_{o}" for o in TARGET_ORGANS]
                   + [f"autopsy_{o}" for o in TARGET_ORGANS])
        for p in run.patients:
            w.writerow([p.replicate, *(_cell(OUTCOMES[k].value(p)) for k in TIMING_COLUMNS),
                        p.cause_of_death or "", _cell(p.burden_at_end.get("primary")),
                        _cell(p.burden_at_end.get("metastases")),
                        "" if p.resection_day is None else f"{p.resection_day:g}",
                        "" if p.relapse_day is None else f"{p.relapse_day:g}",
                        p.shed_total, *(_cell(p.traits.get(t)) for t in TRAITS),
                        *(_cell(v) for v in measurements(p))]
                       + [p.reached[s] for s in FUNNEL_STAGES]
                       + [p.lost[s] for s in FUNNEL_STAGES]
                       + [p.detectable_by_organ.get(o, 0) for o in TARGET_ORGANS]
                       + [p.autopsy_by_organ.get(o, 0) for o in TARGET_ORGANS])
    if figures:
        label = f"{subject(sc)}, {sc.hypothesis}, n = {run.replicates}"
        save(viz_figures.funnel_figure(summ["funnel"], f"Metastatic cascade ({label})"),
                   stage / "figures" / "funnel.png")
        save(viz_figures.site_frequency_figure({sc.hypothesis: summ["site_frequency"]},
                                               observed or None, f"Metastatic sites ({label})"),
                   stage / "figures" / "site_frequency.png")
        with_series = [p for p in run.patients if p.timeseries]
        shown = (label if len(with_series) == run.replicates
                 else f"{label}, first {len(with_series)} patients shown")
        save(viz_figures.timecourse_figure(with_series, f"Time course ({shown})"),
                   stage / "figures" / "timecourse.png")
        if summ.get("clinical"):
            save(viz_figures.km_figure(summ["clinical"], f"After resection ({label})"),
                       stage / "figures" / "metastasis_free_survival.png")
    _json(stage / "summary.json", summ)
    return summ


def write_comparison(stage: Path, runs: Mapping[str, RunResult],
                     command: list[str] | None = None,
                     files: Mapping[str, PatientFiles] | None = None,
                     workers: int | None = None, wall_time_s: float | None = None,
                     started_unix: float | None = None) -> dict[str, Any]:
    """One sub-folder per hypothesis plus the side-by-side table and figure, and the
    comparison's own provenance (``metadata.json``: the common seed and streams, the wall
    time of all hypotheses)."""
    summaries = {h: write_run(stage / h, r, command, files=(files or {}).get(h),
                              workers=workers, started_unix=started_unix)
                 for h, r in runs.items()}
    first = next(iter(runs.values()))
    write_provenance(stage, command=command, seed=first.seed, seed_note=first.seed_note,
                     streams=describe_streams(first.seed, first.replicates),
                     wall_time_s=(wall_time_s if wall_time_s is not None
                                  else sum(r.wall_time_s for r in runs.values())),
                     started_unix=started_unix, workers=workers,
                     extra={"hypotheses": list(runs), "common_random_numbers": True,
                            "engine": first.engine})
    observed = autopsy_reference(first.scenario) or {}
    with _csv(stage / "comparison.csv") as w:
        w.writerow(["hypothesis", "organ", "fraction", "low", "high", "autopsy_fraction"])
        for h, s in summaries.items():
            for organ, f in s["site_frequency"].items():
                obs = observed.get(organ)
                w.writerow([h, organ, f"{f['fraction']:.6g}", f"{f['low']:.6g}",
                            f"{f['high']:.6g}", "" if obs is None else f"{obs:.6g}"])
    label = subject(first.scenario)
    save(viz_figures.site_frequency_figure(
        {h: s["site_frequency"] for h, s in summaries.items()}, observed or None,
        f"{label}: metastatic sites by hypothesis (same seeds, n = {first.replicates} each)"),
        stage / "figures" / "site_frequency_by_hypothesis.png")
    comp = {"hypotheses": list(runs), "seed": first.seed, "replicates": first.replicates,
            "common_random_numbers": True,
            "site_frequency": {h: s["site_frequency"] for h, s in summaries.items()},
            "autopsy_reference": observed}
    _json(stage / "summary.json", comp)
    return comp


#: What the clinic measured in each patient (summary.json "population" summarises them).
MEASUREMENT_COLUMNS = ("diagnosis_day", "size_at_diagnosis_mm", "ctc_per_7_5ml_at_diagnosis",
                       "ctc_per_30ml_at_diagnosis", "dtc_per_aspirate_at_diagnosis",
                       "node_positive_at_diagnosis", "distant_metastasis_at_diagnosis",
                       "ctc_per_7_5ml_when_metastatic", "ctc_per_7_5ml_at_metastatic_burden",
                       "initiated_at_diagnosis")


def measurements(p: PatientResult) -> tuple[float | bool | None, ...]:
    """The :data:`MEASUREMENT_COLUMNS` of one patient (None: not measured)."""
    d = p.diagnosis or {}
    return (d.get("day"), d.get("primary_diameter_mm"), d.get("ctc_per_7_5ml"),
            d.get("ctc_per_30ml"), d.get("dtc_per_aspirate"),
            None if "node_positive" not in d else bool(d["node_positive"]),
            None if "distant_detectable" not in d else bool(d["distant_detectable"] > 0),
            None if p.metastatic_sample is None else p.metastatic_sample["ctc_per_7_5ml"],
            None if p.burden_sample is None else p.burden_sample["ctc_per_7_5ml"],
            p.initiated_at_diagnosis)


#: Columns of patients.csv that are declared outcomes (sim.experiments.outcomes).
TIMING_COLUMNS = ("days", "died", "first_detectable_day")


def _cell(v: int | float | bool | None) -> str | int:
    """A CSV cell: empty for None, 0/1 for a flag, ``%g`` for a number."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return int(v)
    return f"{v:g}"


def _json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, allow_nan=False, default=_jsonable) + "\n",
                    encoding="utf-8")


def _jsonable(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


@contextmanager
def _csv(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        yield csv.writer(fh)


def _fmt(v: float | None) -> str:
    return "" if v is None else f"{v:.4g}"


def write_validation(stage: Path, rows: list[dict[str, Any]],
                     indices: Mapping[str, Mapping[str, float]]) -> None:
    """validation.csv/json (one row per primary x hypothesis), per-site table, figures."""
    from ..experiments.validation import summarise

    with _csv(stage / "validation.csv") as w:
        w.writerow(["primary", "hypothesis", "spearman", "spearman_p", "r2", "organs",
                    "replicates", "disseminated_at_diagnosis", "micrometastasis_at_diagnosis"])
        for r in rows:
            d = r.get("at_diagnosis", {})
            w.writerow([r["primary"], r["hypothesis"], f"{r['spearman']:.4g}",
                        f"{r['spearman_p']:.4g}", f"{r['r2']:.4g}", r["organs"], r["replicates"],
                        _fmt(d.get("fraction_disseminated")),
                        _fmt(d.get("fraction_with_micrometastasis"))])
    with _csv(stage / "validation_sites.csv") as w:
        w.writerow(["primary", "hypothesis", "organ", "observed", "simulated", "low", "high",
                    "weiss_index"])
        for r in rows:
            for organ, s in r["sites"].items():
                wi = indices.get(r["primary"], {}).get(organ)
                w.writerow([r["primary"], r["hypothesis"], organ, f"{s['observed']:.4g}",
                            f"{s['simulated']:.4g}", f"{s['low']:.4g}", f"{s['high']:.4g}",
                            "" if wi is None else f"{wi:.4g}"])
    clean = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
             for r in rows]
    _json(stage / "validation.json", {
        "reference": DISIBIO_2008.citation,
        "r2_definition": "squared Pearson correlation of observed and simulated site "
                         "frequencies across organs (Font-Clos et al. 2020)",
        "rows": clean,
        "mean_by_hypothesis": {h: {k: (None if math.isnan(v) else v) for k, v in m.items()}
                               for h, m in summarise(rows).items()},
        "weiss_index": indices})
    (stage / "validation.md").write_text(validation_markdown(rows), encoding="utf-8")
    save(viz_figures.observed_vs_simulated_figure(rows), stage / "figures" / "observed_vs_simulated.png")
    save(viz_figures.weiss_heatmap_figure(indices), stage / "figures" / "weiss_index.png")


def validation_markdown(rows: list[dict[str, Any]]) -> str:
    """The validation table as Markdown: Spearman and R^2 per primary and hypothesis, the
    mean per hypothesis, and (combined, or the first hypothesis) the state at diagnosis."""
    from ..experiments.validation import summarise

    hyps = list(dict.fromkeys(r["hypothesis"] for r in rows))
    prims = list(dict.fromkeys(r["primary"] for r in rows))
    diag_h = "combined" if "combined" in hyps else hyps[0]
    head = ("| primary | " + " | ".join(f"{h} ρ | {h} R²" for h in hyps)
            + f" | disseminated at diagnosis ({diag_h}) | micrometastasis at diagnosis |")
    lines = [head, "|---" * (1 + 2 * len(hyps) + 2) + "|"]

    def num(v: float) -> str:
        return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.2f}"

    for p in prims:
        cells = []
        for h in hyps:
            r = next((r for r in rows if r["primary"] == p and r["hypothesis"] == h), None)
            cells += [num(r["spearman"]) if r else "–", num(r["r2"]) if r else "–"]
        d: dict[str, Any] = next((r.get("at_diagnosis", {}) for r in rows
                  if r["primary"] == p and r["hypothesis"] == diag_h), {})
        frac = d.get("fraction_disseminated")
        micro = d.get("fraction_with_micrometastasis")
        cells += ["–" if frac is None else f"{frac:.0%}", "–" if micro is None else f"{micro:.0%}"]
        lines.append(f"| {p} | " + " | ".join(cells) + " |")
    means = summarise(rows)
    lines.append("| **mean** | " + " | ".join(f"**{num(means[h]['spearman'])}** | "
                                              f"**{num(means[h]['r2'])}**" for h in hyps)
                 + " | | |")
    n = sorted({r["replicates"] for r in rows})
    lines.append("")
    lines.append(f"{'/'.join(map(str, n))} simulated patients per primary and hypothesis "
                 "(common random numbers); ρ = Spearman rank correlation, R² = squared Pearson "
                 "correlation across organs (Font-Clos et al. 2020) between simulated and "
                 "autopsy site frequencies (diSibio & French 2008).")
    return "\n".join(lines) + "\n"


def write_sensitivity(report: dict, out: Path) -> list[Path]:
    """``sensitivity.csv`` and a bar chart per output (PNG and SVG) of a sensitivity report
    (:func:`sim.experiments.sensitivity.sensitivity`)."""
    import pandas as pd

    from ..viz.style import save_both
    from ..viz.sweep_figures import sensitivity_figure

    out.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame(report["indices"])
    df.to_csv(out / "sensitivity.csv", index=False)
    written = [out / "sensitivity.csv"]
    if df.empty or "parameter" not in df:
        return written
    for (scen, hyp, output), g in df.dropna(subset=["parameter"]).groupby(
            ["scenario", "hypothesis", "output"], sort=False):
        fig = sensitivity_figure(g, report["method"], f"{scen} / {hyp}: sensitivity of {output}")
        safe = f"{scen}_{hyp}_{output}".replace(":", "-").replace(".", "_")
        written += save_both(fig, out / "figures" / f"sensitivity_{safe}")
    return written


class RunRecords:
    """``runs.csv`` of a sensitivity analysis: one row per simulated run (its sample point's
    parameter values, its status and the outputs analysed), written as each run ends, so
    the per-run samples behind every index are kept (and memory does not grow with them).

    Use as a context manager and pass the instance as ``on_record``.
    """

    BASE = ("run_id", "scenario", "hypothesis", "point", "replicate", "seed", "status",
            "error", "wall_s")

    def __init__(self, path: Path, loaded: Any):
        exp = loaded.experiment
        outputs = list(exp.sensitivity.outputs) if exp.sensitivity is not None else []
        self.columns = [*self.BASE, *(f"param:{k}" for k in exp.design.parameters), *outputs]
        self.path = Path(path)
        self._fh: Any = None
        self._writer: Any = None

    def __enter__(self) -> RunRecords:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.path.open("w", newline="", encoding="utf-8")
        self._writer = csv.DictWriter(self._fh, fieldnames=self.columns, extrasaction="ignore",
                                      restval="")
        self._writer.writeheader()
        return self

    def __call__(self, record: Mapping[str, Any]) -> None:
        self._writer.writerow({k: ("" if v is None else v) for k, v in record.items()})

    def __exit__(self, *exc: Any) -> None:
        self._fh.close()


def write_presets_validation(out: Path, joint: Mapping[str, Any], report: Mapping[str, Any],
                             seed: int) -> str:
    """The joint results of calibrate-presets: ``shared_soil.json`` (what ``metasim
    calibrate`` of one preset uses as its prior), ``validation.json`` and ``validation.md``
    (the out-of-sample report); returns the Markdown."""
    from ..experiments.validation_report import shared_soil_file, validation_markdown

    _json(out / "shared_soil.json", shared_soil_file(joint, report, seed))
    (out / "validation.json").write_text(json.dumps(report, indent=1, default=float) + "\n",
                                         encoding="utf-8")
    md = validation_markdown(report, joint)
    (out / "validation.md").write_text(md, encoding="utf-8")
    return md
