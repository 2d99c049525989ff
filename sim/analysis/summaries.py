"""Summaries of replicates: site frequencies with intervals, the funnel, timing."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..biology.anatomy import TARGET_ORGANS
from ..biology.stages import FUNNEL_STAGES
from ..biology.units import cells_to_diameter_mm
from ..engine.results import PatientResult
from .intervals import (
    proportion_interval,
    survival_interval_after_all_events,
    survival_interval_without_events,
)


def site_frequency(patients: Sequence[PatientResult], organs: Sequence[str] = TARGET_ORGANS,
                   basis: str = "autopsy") -> dict[str, dict[str, float]]:
    """Fraction of patients with >= 1 metastasis in each organ at the end of their course.

    ``basis="autopsy"`` counts metastases of at least
    ``colonization.autopsy_detectable_diameter_mm`` (what an autopsy table reports);
    ``"imaging"`` those of at least ``colonization.detectable_diameter_mm``. Wilson 95 %
    intervals.
    """
    if basis not in ("autopsy", "imaging"):
        raise ValueError(f"basis must be 'autopsy' or 'imaging', not {basis!r}")
    n = len(patients)
    out = {}
    for organ in organs:
        counts = [p.autopsy_by_organ if basis == "autopsy" else p.detectable_by_organ
                  for p in patients]
        k = sum(1 for c in counts if c.get(organ, 0) > 0)
        lo, hi = proportion_interval(k, n)
        out[organ] = {"fraction": k / n if n else float("nan"), "low": lo, "high": hi,
                      "patients": k}
    return out


def funnel(patients: Sequence[PatientResult]) -> list[dict[str, float | str]]:
    """Mean cells per patient that reached, and were lost at, each stage (cascade order)."""
    out: list[dict[str, float | str]] = []
    for stage in FUNNEL_STAGES:
        reached = np.array([p.reached[stage] for p in patients], dtype=float)
        lost = np.array([p.lost[stage] for p in patients], dtype=float)
        mean_r = float(reached.mean())
        out.append({"stage": stage, "reached": mean_r, "lost": float(lost.mean()),
                    "lost_fraction": float(lost.sum() / reached.sum()) if reached.sum() else 0.0})
    return out


def first_metastasis(patients: Sequence[PatientResult],
                     kind: str = "detectable") -> dict[str, float | int | None]:
    """Time to the first detectable metastasis (``kind="detectable"``) or to the first
    macrometastasis, a colony past the angiogenic switch (``"macrometastasis"``).

    Patients without one are censored at the end of their course; the median and quartiles
    given are over the patients who had one, and ``fraction`` says how many those are.
    """
    first = [p.first_detectable_day if kind == "detectable" else p.first_macrometastasis_day
             for p in patients]
    days = np.array([d for d in first if d is not None], dtype=float)
    n = len(patients)
    res: dict[str, float | int | None] = {"patients_with": int(days.size),
                                          "fraction": days.size / n if n else float("nan")}
    if days.size:
        q1, med, q3 = np.percentile(days, [25, 50, 75])
        res.update(median_days=float(med), q1_days=float(q1), q3_days=float(q3),
                   mean_days=float(days.mean()))
    else:
        res.update(median_days=None, q1_days=None, q3_days=None, mean_days=None)
    return res


def course(patients: Sequence[PatientResult]) -> dict[str, Any]:
    """How the courses ended: the median length, the patients who died, and what killed
    them (:func:`deaths`)."""
    days = np.array([p.days for p in patients], dtype=float)
    died = sum(p.died for p in patients)
    return {"median_days": float(np.median(days)), "patients_reaching_lethal_burden": died,
            "fraction_reaching_lethal_burden": died / len(patients), **deaths(patients)}


def deaths(patients: Sequence[PatientResult]) -> dict[str, Any]:
    """What killed the patients who died, and where their tumour was.

    ``cause_of_death``: patients per cause (an organ's key for organ failure,
    ``whole_body_burden`` for the whole-body burden; sim.engine.clinic.death_causes);
    ``burden_at_death``: the median share of the tumour cells (primary plus metastases) in
    the metastases, the share of deaths in which the metastases outweigh the primary
    (Wilson 95 % interval), and the deaths per organ holding the most metastatic cells.
    Results without a recorded cause (written before it existed) are left out."""
    dead = [p for p in patients if p.died and p.cause_of_death is not None]
    causes: dict[str, int] = {}
    for p in dead:
        assert p.cause_of_death is not None
        causes[p.cause_of_death] = causes.get(p.cause_of_death, 0) + 1
    shares = []
    largest: dict[str, int] = {}
    for p in dead:
        b = p.burden_at_end
        tumour = b.get("primary", 0.0) + b.get("metastases", 0.0)
        shares.append(b.get("metastases", 0.0) / tumour if tumour > 0 else 0.0)
        organs = {k: v for k, v in b.items() if k not in ("primary", "metastases", "lodged")}
        if organs:
            top = max(organs, key=lambda k: organs[k])
            largest[top] = largest.get(top, 0) + 1
    n = len(dead)
    k = sum(s > 0.5 for s in shares)
    lo, hi = proportion_interval(k, n) if n else (float("nan"), float("nan"))
    return {"cause_of_death": dict(sorted(causes.items(), key=lambda kv: -kv[1])),
            "burden_at_death": {
                "deaths": n,
                "median_metastatic_share": float(np.median(shares)) if n else None,
                "fraction_metastases_outweigh_primary": k / n if n else None,
                "fraction_metastases_outweigh_primary_low": lo if n else None,
                "fraction_metastases_outweigh_primary_high": hi if n else None,
                "largest_metastatic_organ": dict(sorted(largest.items(),
                                                        key=lambda kv: -kv[1]))}}


def at_diagnosis(patients: Sequence[PatientResult]) -> dict[str, float | int | None]:
    """Disseminated disease when the primary reached its diagnosis size.

    ``fraction_disseminated``: patients with >= 1 tumour cell alive outside the primary (any
    organ, regional lymph nodes included); ``fraction_distant``: the same outside the
    regional nodes; ``fraction_with_micrometastasis``: >= 1 live colony (a proliferating
    focus); Wilson 95 % intervals. Patients never diagnosed (the primary never reached
    the size) are left out and counted in ``patients_not_diagnosed``.
    """
    diag = [p.diagnosis for p in patients if p.diagnosis is not None]
    n = len(diag)
    out: dict[str, float | int | None] = {"patients_diagnosed": n,
                                          "patients_not_diagnosed": len(patients) - n}
    if not n:
        return out
    for name, test in (("disseminated", lambda d: d["disseminated_cells"] > 0),
                       ("distant", lambda d: d["distant_cells"] > 0),
                       ("with_micrometastasis", lambda d: d["colonies"] > 0),
                       ("with_detectable_metastasis", lambda d: d["detectable"] > 0)):
        k = sum(1 for d in diag if test(d))
        lo, hi = proportion_interval(k, n)
        out[f"fraction_{name}"] = k / n
        out[f"fraction_{name}_low"] = lo
        out[f"fraction_{name}_high"] = hi
    out["median_day"] = float(np.median([d["day"] for d in diag]))
    out["median_disseminated_cells"] = float(np.median([d["disseminated_cells"] for d in diag]))
    out["median_dormant_cells"] = float(np.median([d["dormant_cells"] for d in diag]))
    return out


def population(patients: Sequence[PatientResult]) -> dict[str, Any]:
    """What a clinic would measure in this simulated population, with 95 % intervals.

    * ``traits``: median and quartiles of each patient trait (``[population]``);
    * ``diagnosed``: patients whose primary reached their diagnosis size (Wilson);
    * ``size_at_diagnosis_mm``: the primary's diameter then (median, quartiles);
    * ``synchronous_distant_metastasis``: diagnosed patients with a metastasis detectable on
      imaging outside the regional nodes at diagnosis (SEER's "distant" stage; Wilson);
    * ``ctc_per_7_5ml_at_diagnosis``: CTCs counted in a 7.5 mL blood sample at diagnosis
      (:mod:`sim.biology.measurements`): quartiles, and the shares with >= 1 and >= 5
      (Lucci et al. 2012; Cristofanilli et al. 2004; Wilson), and in 30 mL the share with
      >= 1 (van Dalum et al. 2015);
    * ``dtc_positive_marrow_at_diagnosis``: a bone-marrow aspirate at diagnosis holds at
      least one tumour cell (Braun et al. 2005; Wilson);
    * ``node_positive_at_diagnosis``: the regional nodes hold a metastasis of >= 0.2 mm, in
      all and by the primary's size class (:data:`SIZE_CLASSES_MM`; Carter et al. 1989);
    * ``ctc_per_7_5ml_when_metastatic``: CTCs in a blood sample when the first distant
      metastasis becomes detectable (early metastatic disease);
    * ``ctc_per_7_5ml_at_metastatic_burden``: CTCs in a blood sample when the distant
      metastases first hold ``clinical.metastatic_sample_burden_cells`` (the measurable
      metastatic disease of Cristofanilli et al. 2004 and de Bono et al. 2008);
    * ``primary_size_at_founding_mm``: the primary's diameter when the colony of the first
      distant metastasis that became detectable was founded (:func:`founding_size_mm`: an
      upper bound on the size at dissemination, of which Tubiana & Koscielny 1991 give a
      median of ~35 mm for breast), median and quartiles;
    * ``initiated_at_diagnosis``: with ``population.assess_initiated``, the share whose twin
      with the primary removed at diagnosis still develops a distant metastasis;
    * ``survival_from_diagnosis``: Kaplan-Meier probability of not having died (of an
      organ's failure or the whole-body burden) 3, 5 and 10 years after diagnosis
      (censored at the end of the course), interval by :data:`SURVIVAL_INTERVAL_METHOD`,
      and ``median_survival_from_diagnosis_years``.
    """
    n = len(patients)
    out: dict[str, Any] = {"patients": n}
    with_traits = [p.traits for p in patients if p.traits]
    out["traits"] = {t: _quartiles([tr[t] for tr in with_traits])
                     for t in (with_traits[0] if with_traits else {})}
    diag = [(p, p.diagnosis) for p in patients if p.diagnosis is not None]
    out["diagnosed"] = _share(len(diag), n)
    if not diag:
        return out
    out["size_at_diagnosis_mm"] = _quartiles([cells_to_diameter_mm(d["primary_cells"])
                                              for _, d in diag])
    out["synchronous_distant_metastasis"] = _share(
        sum(1 for _, d in diag if d.get("distant_detectable", 0) > 0), len(diag))
    sampled = [d["ctc_per_7_5ml"] for _, d in diag if "ctc_per_7_5ml" in d]
    if sampled:
        out["ctc_per_7_5ml_at_diagnosis"] = _ctc_counts(sampled)
    sampled_30 = [d["ctc_per_30ml"] for _, d in diag if "ctc_per_30ml" in d]
    if sampled_30:
        out["ctc_per_30ml_at_diagnosis"] = {
            **_quartiles(sampled_30),
            "at_least_1": _share(sum(1 for c in sampled_30 if c >= 1), len(sampled_30))}
    aspirates = [d["dtc_per_aspirate"] for _, d in diag if "dtc_per_aspirate" in d]
    if aspirates:
        out["dtc_positive_marrow_at_diagnosis"] = _share(sum(1 for c in aspirates if c >= 1),
                                                         len(aspirates))
    nodes = [(d["primary_diameter_mm"], d["node_positive"]) for _, d in diag
             if "node_positive" in d]
    if nodes:
        out["node_positive_at_diagnosis"] = {
            "all": _share(sum(1 for _, v in nodes if v > 0), len(nodes)),
            **{label: _share(sum(1 for size, v in nodes if lo < size <= hi and v > 0),
                             sum(1 for size, _ in nodes if lo < size <= hi))
               for label, (lo, hi) in SIZE_CLASSES_MM.items()}}
    metastatic = [p.metastatic_sample["ctc_per_7_5ml"] for p in patients
                  if p.metastatic_sample is not None]
    if metastatic:
        out["ctc_per_7_5ml_when_metastatic"] = _ctc_counts(metastatic)
    at_burden = [p.burden_sample["ctc_per_7_5ml"] for p in patients
                 if p.burden_sample is not None]
    if at_burden:
        out["ctc_per_7_5ml_at_metastatic_burden"] = _ctc_counts(at_burden)
    seeded = [s for s in (founding_size_mm(p) for p in patients) if s is not None]
    if seeded:
        out["primary_size_at_founding_mm"] = _quartiles(seeded)
    twins = [p.initiated_at_diagnosis for p, _ in diag if p.initiated_at_diagnosis is not None]
    if twins:
        out["initiated_at_diagnosis"] = _share(sum(twins), len(twins))
    dur = np.array([p.days - d["day"] for p, d in diag], dtype=float)
    died = np.array([p.died for p, _ in diag], dtype=bool)
    out["survival_from_diagnosis"] = survival_at_years(dur, died, (3, 5, 10))
    out["median_survival_from_diagnosis_years"] = median_survival_years(dur, died)
    return out


def founding_size_mm(p: PatientResult) -> float | None:
    """The primary's diameter on the day the colony of the patient's first detectable
    distant metastasis was founded: log-linear between the days its time series recorded
    the primary, the first or last record outside them. None without such a metastasis or a
    recorded primary, or when the primary was already removed that day.

    The founding cell left the primary on that day or earlier (a dormant cell sleeps ~330
    days on average before it founds a colony), so this is an upper bound on the size at
    which the metastasis was disseminated (Tubiana & Koscielny 1991's quantity)."""
    day = p.first_distant_founded_day
    if day is None or (p.resection_day is not None and day >= p.resection_day):
        return None
    pts = sorted((d, v) for d, name, _, v in p.timeseries if name == "primary_cells" and v > 0)
    if not pts:
        return None
    days, cells = np.array(pts, dtype=float).T
    return cells_to_diameter_mm(float(np.exp(np.interp(day, days, np.log(cells)))))


def population_lines(pop: dict[str, Any]) -> list[str]:
    """The population summary in plain lines (what ``metasim run`` prints): how the
    patients differ and what the clinic measured, each share with its 95 % interval."""

    def share(d: dict | None) -> str:
        if not d or d.get("fraction") is None:
            return "not measured"
        return (f"{d['fraction']:.0%} [{d['low']:.0%}, {d['high']:.0%}] "
                f"({d['patients']} of {d['of']})")

    def spread(d: dict | None, unit: str, scale: float = 1.0) -> str:
        if not d or d.get("median") is None:
            return "not measured"
        return (f"median {d['median'] * scale:.3g}{unit} (quartiles {d['q1'] * scale:.3g}-"
                f"{d['q3'] * scale:.3g}{unit})")

    out = [f"{pop['patients']} patients, {pop['diagnosed']['patients']} diagnosed"]
    traits = pop.get("traits") or {}
    if "doubling_time_days" in traits:
        out.append(f"  doubling time of the primary: {spread(traits['doubling_time_days'], ' d')}")
    if "size_at_diagnosis_mm" not in pop:
        return out
    out.append(f"  size at diagnosis: {spread(pop['size_at_diagnosis_mm'], ' mm')}")
    ctc = pop.get("ctc_per_7_5ml_at_diagnosis") or {}
    if ctc:
        out.append(f"  CTCs per 7.5 mL at diagnosis: {spread(ctc, '')}; >= 1 in "
                   f"{share(ctc.get('at_least_1'))}, >= 5 in {share(ctc.get('at_least_5'))}")
    if "dtc_positive_marrow_at_diagnosis" in pop:
        out.append(f"  DTC-positive marrow aspirate at diagnosis: "
                   f"{share(pop['dtc_positive_marrow_at_diagnosis'])}")
    nodes = pop.get("node_positive_at_diagnosis")
    if nodes:
        out.append(f"  regional nodes involved at diagnosis: {share(nodes['all'])}")
    out.append(f"  distant metastasis detectable at diagnosis: "
               f"{share(pop.get('synchronous_distant_metastasis'))}")
    if pop.get("primary_size_at_founding_mm"):
        out.append(f"  primary's size when the first distant metastasis's colony was founded: "
                   f"{spread(pop['primary_size_at_founding_mm'], ' mm')}")
    burden = pop.get("ctc_per_7_5ml_at_metastatic_burden") or {}
    if burden:
        out.append(f"  CTCs per 7.5 mL at the metastatic burden of the CTC cohorts: >= 5 in "
                   f"{share(burden.get('at_least_5'))}")
    if "initiated_at_diagnosis" in pop:
        out.append(f"  initiated the metastatic process by diagnosis: "
                   f"{share(pop['initiated_at_diagnosis'])}")
    med = pop.get("median_survival_from_diagnosis_years") or {}
    surv = pop.get("survival_from_diagnosis") or {}
    five = surv.get("5y") or {}
    if med.get("median") is not None or five.get("survival") is not None:
        m = "not reached" if med.get("median") is None else f"{med['median']:.1f} years"
        f5 = ("not followed" if five.get("survival") is None
              else f"{five['survival']:.0%} [{five['low']:.0%}, {five['high']:.0%}]")
        out.append(f"  survival after diagnosis: median {m}; alive at 5 years {f5}")
    return out


def death_lines(course_summary: dict[str, Any]) -> list[str]:
    """What killed the patients (:func:`deaths` in ``course_summary``), in plain lines."""
    causes = course_summary.get("cause_of_death") or {}
    b = course_summary.get("burden_at_death") or {}
    if not causes or not b.get("deaths"):
        return []
    words = ", ".join(f"{'whole-body burden' if k == 'whole_body_burden' else k + ' failure'}"
                      f" {v}" for k, v in causes.items())
    return [f"  deaths: {b['deaths']} ({words}); metastases outweigh the primary in "
            f"{b['fraction_metastases_outweigh_primary']:.0%} "
            f"[{b['fraction_metastases_outweigh_primary_low']:.0%}, "
            f"{b['fraction_metastases_outweigh_primary_high']:.0%}] of them"]


#: Size classes of the primary at diagnosis (T1 <= 20 mm, T2 20-50 mm, T3 > 50 mm: the
#: breast T categories of the AJCC staging, used for every primary here).
SIZE_CLASSES_MM: dict[str, tuple[float, float]] = {
    "up_to_20_mm": (0.0, 20.0), "20_to_50_mm": (20.0, 50.0), "over_50_mm": (50.0, math.inf)}


def median_survival_years(durations: np.ndarray, observed: np.ndarray) -> dict[str, Any]:
    """Kaplan-Meier median survival in years with its 95 % interval (lifelines; ``None``
    where the curve or its band does not fall to one half within the follow-up)."""
    from lifelines import KaplanMeierFitter
    from lifelines.utils import median_survival_times

    kmf = KaplanMeierFitter().fit(durations / 365.25, observed)
    med = float(kmf.median_survival_time_)
    ci = median_survival_times(kmf.confidence_interval_)
    lo, hi = (float(v) for v in ci.iloc[0].tolist())

    def finite(v: float) -> float | None:
        return v if math.isfinite(v) else None

    return {"median": finite(med), "low": finite(lo), "high": finite(hi)}


def _share(k: int, n: int) -> dict[str, float | int | None]:
    """k of n with its Wilson interval; with nobody to count (n = 0), no fraction (None: JSON
    has no NaN) and the uninformative interval [0, 1]."""
    lo, hi = proportion_interval(k, n)
    return {"fraction": k / n if n else None, "low": lo, "high": hi, "patients": k, "of": n}


def _ctc_counts(counts: Sequence[float]) -> dict[str, Any]:
    """CTC counts of blood samples: quartiles, and the shares with >= 1 and >= 5
    (CellSearch's thresholds) with their Wilson intervals."""
    return {**_quartiles(counts),
            "at_least_1": _share(sum(1 for c in counts if c >= 1), len(counts)),
            "at_least_5": _share(sum(1 for c in counts if c >= 5), len(counts))}


def _quartiles(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "q1": None, "q3": None}
    q1, med, q3 = np.percentile(np.asarray(values, dtype=float), [25, 50, 75])
    return {"median": float(med), "q1": float(q1), "q3": float(q3)}


SURVIVAL_INTERVAL_METHOD = (
    "95 % pointwise: log-log (exponential Greenwood, lifelines) once a relapse has happened; "
    "before the first relapse, where that interval collapses to [1, 1], the exact "
    "(Clopper-Pearson) binomial interval for the patients followed that long, all "
    "metastasis-free")


def kaplan_meier(durations: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, ...]:
    """Kaplan-Meier curve (lifelines) with its 95 % band by :data:`SURVIVAL_INTERVAL_METHOD`:
    ``(timeline, survival, low, high)``."""
    from lifelines import KaplanMeierFitter

    kmf = KaplanMeierFitter().fit(durations, observed)
    timeline = kmf.survival_function_.index.to_numpy(float)
    surv = kmf.survival_function_.iloc[:, 0].to_numpy(float)
    ci = kmf.confidence_interval_survival_function_
    low = ci.iloc[:, 0].to_numpy(float).copy()
    high = ci.iloc[:, 1].to_numpy(float).copy()
    # Before the first event the curve is 1 and lifelines' interval is [1, 1]: replace it by
    # the exact binomial interval of those still followed (on [t_i, t_i+1) of the step
    # curve, the patients followed beyond t_i).
    for i, t in enumerate(timeline):
        beyond = int(np.sum(durations > t))
        if surv[i] >= 1.0 and beyond > 0:
            low[i], high[i] = survival_interval_without_events(beyond)
        elif surv[i] >= 1.0 and i > 0:  # the last time: nobody followed beyond, keep the band
            low[i], high[i] = low[i - 1], high[i - 1]
    return timeline, surv, low, high


def survival_at_years(durations: np.ndarray, observed: np.ndarray,
                      years: Sequence[float]) -> dict[str, dict]:
    """The Kaplan-Meier survival at each of ``years`` with its 95 % interval
    (:func:`kaplan_meier`); ``None`` where nobody was followed that long."""
    timeline, surv, low, high = kaplan_meier(durations, observed)
    out: dict[str, dict] = {}
    for y in years:
        t = 365.25 * y
        followed = int(np.sum(durations >= t))
        key = f"{y:g}y"
        if followed == 0 and len(surv) and surv[-1] <= 0.0 and timeline[-1] <= t:
            # Every patient had the event before t: the curve is 0 there.
            last = timeline[-1]
            lo, hi = survival_interval_after_all_events(int(np.sum(durations >= last)))
            out[key] = {"survival": 0.0, "low": lo, "high": hi, "followed_that_long": 0}
            continue
        if followed == 0:
            out[key] = {"survival": None, "low": None, "high": None, "followed_that_long": 0}
            continue
        i = int(np.searchsorted(timeline, t, side="right")) - 1
        if not np.any(observed & (durations <= t)):
            lo, hi = survival_interval_without_events(followed)
        else:
            lo, hi = float(low[i]), float(high[i])
        out[key] = {"survival": float(surv[i]) if i >= 0 else 1.0, "low": lo, "high": hi,
                    "followed_that_long": followed}
    return out


def clinical_outcomes(patients: Sequence[PatientResult]) -> dict | None:
    """Outcomes of a course with a resection of the primary (None without one).

    * ``metastasis_free_survival``: Kaplan-Meier (lifelines) probability of staying free of
      a metastasis detectable on imaging after the resection, at 1, 2, 5 and 10 years
      (``survival``, with its 95 % interval ``low``-``high``, see
      :data:`SURVIVAL_INTERVAL_METHOD`); patients without a relapse are censored at the end
      of their course. The risk of a metastasis by then is ``1 - survival``. ``None`` where
      no patient was followed that long (the estimate is not defined there);
    * ``km_*``: the whole curve and its interval band, same method;
    * ``relapse_days_after_resection`` (events) and ``censored_days_after_resection``
      (followed to the end of their course without a relapse), for histograms;
    * relapse times: quantiles of that time among the patients who relapsed;
    * time to diagnosis, and the fraction with micrometastatic disease at diagnosis.
    """
    resected = [p for p in patients if p.resection_day is not None]
    if not resected:
        return None
    durations, observed = [], []
    for p in resected:
        cut = p.resection_day
        assert cut is not None  # resected patients only
        if p.relapse_day is not None:
            durations.append(p.relapse_day - cut)
            observed.append(True)
        else:
            durations.append(p.days - cut)
            observed.append(False)
    dur = np.array(durations, dtype=float)
    obs = np.array(observed, dtype=bool)
    timeline, surv, low, high = kaplan_meier(dur, obs)
    mfs = survival_at_years(dur, obs, (1, 2, 5, 10))
    relapse = np.sort(dur[obs])
    diag = [p.diagnosis["day"] for p in patients if p.diagnosis is not None]
    micro = [p.diagnosis["colonies"] > 0 for p in patients if p.diagnosis is not None]
    out = {
        "patients_resected": len(resected),
        "relapsed": int(relapse.size),
        "metastasis_free_survival": mfs,
        "metastasis_free_survival_interval": SURVIVAL_INTERVAL_METHOD,
        "km_timeline_days": timeline.tolist(),
        "km_survival": surv.tolist(),
        "km_low": low.tolist(), "km_high": high.tolist(),
        "relapse_days_after_resection": relapse.tolist(),
        "censored_days_after_resection": np.sort(dur[~obs]).tolist(),
        "median_days_to_diagnosis": float(np.median(diag)) if diag else None,
        "fraction_micrometastatic_at_diagnosis": float(np.mean(micro)) if micro else None,
    }
    if relapse.size:
        q = np.percentile(relapse, [10, 25, 50, 75, 90])
        out["relapse_days_quantiles"] = dict(zip(["10", "25", "50", "75", "90"],
                                                 q.tolist(), strict=True))
        out["relapse_days_max"] = float(relapse.max())
    return out


__all__ = [
    "SIZE_CLASSES_MM",
    "SURVIVAL_INTERVAL_METHOD",
    "at_diagnosis",
    "clinical_outcomes",
    "course",
    "death_lines",
    "deaths",
    "first_metastasis",
    "founding_size_mm",
    "funnel",
    "kaplan_meier",
    "median_survival_years",
    "population",
    "population_lines",
    "site_frequency",
    "survival_at_years",
]
