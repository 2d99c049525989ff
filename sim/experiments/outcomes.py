"""Declared outcomes: one definition of each per-patient number an experiment reports.

Each :class:`Outcome` has a name (the column of the sweep table, a ``sensitivity.outputs``
entry), a description with its unit, the output group that keeps it in a sweep
(``[outputs]`` of an experiment file: ``sites``, ``funnel``, ``timing``, ``diagnosis``; the
counts of metastases are always kept), and the function computing it from a
:class:`~sim.engine.results.PatientResult`. The sweep table, the sensitivity analysis and
the patients table of an output folder all read them from :data:`OUTCOMES`.

Two size thresholds exist (``[colonization]``): ``detectable_diameter_mm``, what imaging
detects during the course, and ``autopsy_detectable_diameter_mm``, what an autopsy table
counts at its end. Counts of detectable metastases use the first, sites (and the site
frequencies of ``summary.json``) the second. A *macrometastasis* is, everywhere in metasim (the
funnel stage, the model's reporter, this table, ``summary.json``), a colony past the angiogenic
switch, whatever its size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..biology.anatomy import TARGET_ORGANS
from ..biology.stages import FUNNEL_STAGES
from ..engine.results import PatientResult

#: Output groups of an experiment file (``outputs = [...]``), in table order.
OUTPUT_GROUPS = ("sites", "funnel", "timing", "diagnosis")

Value = int | float | bool | None


@dataclass(frozen=True)
class Outcome:
    """One per-patient number (see the module docstring)."""

    name: str
    description: str
    value: Callable[[PatientResult], Value]
    #: Output group that keeps it in a sweep table (None: always kept).
    group: str | None = None
    #: Offered to a sensitivity analysis (``sensitivity.outputs``).
    analysable: bool = True


def _detectable(p: PatientResult) -> int:
    return int(sum(p.detectable_by_organ.values()))


def _site(organ: str) -> Callable[[PatientResult], int]:
    return lambda p: int(p.autopsy_by_organ.get(organ, 0) > 0)


def _reached(stage: str) -> Callable[[PatientResult], int]:
    return lambda p: int(p.reached[stage])


def _lost(stage: str) -> Callable[[PatientResult], int]:
    return lambda p: int(p.lost[stage])


def _metastatic_share(p: PatientResult) -> float | None:
    b = p.burden_at_end
    tumour = b.get("primary", 0.0) + b.get("metastases", 0.0)
    return b.get("metastases", 0.0) / tumour if tumour > 0 else None


def _at_diagnosis(key: str) -> Callable[[PatientResult], int | None]:
    return lambda p: None if p.diagnosis is None else int(p.diagnosis[key] > 0)


_LIST: list[Outcome] = [
    Outcome("macrometastases", "macrometastases (colonies past the angiogenic switch, "
            "vascularised) alive at the end of the course, all organs (count)",
            lambda p: int(p.macrometastases)),
    Outcome("detectable_metastases", "metastases at or above "
            "colonization.detectable_diameter_mm (detectable on imaging) at the end of the "
            "course, all organs (count)", _detectable),
    Outcome("metastatic_sites", "organs with >= 1 metastasis of at least "
            "colonization.autopsy_detectable_diameter_mm at the end of the course (count)",
            lambda p: int(sum(1 for o in TARGET_ORGANS if p.autopsy_by_organ.get(o, 0) > 0))),
    Outcome("days", "length of the course: to the horizon, or to death by tumour burden "
            "(days)", lambda p: p.days, "timing"),
    Outcome("died", "the course ended early: the whole-body tumour burden reached "
            "simulation.lethal_burden_cells, or an organ failed "
            "(simulation.organ_lethal_burden_cells) (true/false)",
            lambda p: bool(p.died), "timing"),
    Outcome("metastatic_share_at_end", "share of the tumour cells (primary and metastases) "
            "held by the metastases at the end of the course (0-1)", _metastatic_share),
    Outcome("first_detectable_day", "day the first metastasis reached "
            "colonization.detectable_diameter_mm (days; empty: none did)",
            lambda p: p.first_detectable_day, "timing"),
    *(Outcome(f"site:{o}", f"1 if the {o.replace('_', ' ')} hold >= 1 metastasis of at least "
              "colonization.autopsy_detectable_diameter_mm at the end of the course, as an "
              "autopsy would find (0/1)", _site(o), "sites") for o in TARGET_ORGANS),
    *(out for s in FUNNEL_STAGES for out in (
        Outcome(f"reached:{s}", f"tumour cells that reached the {s} stage of the cascade "
                "(cells)", _reached(s), "funnel"),
        Outcome(f"lost:{s}", f"tumour cells lost at the {s} stage of the cascade (cells)",
                _lost(s), "funnel", analysable=False))),
    Outcome("diagnosis_day", "day the primary reached primary.diagnosis_diameter_mm (days; "
            "empty: never)", lambda p: None if p.diagnosis is None else p.diagnosis["day"],
            "diagnosis", analysable=False),
    Outcome("disseminated_at_diagnosis", "1 if >= 1 tumour cell was alive outside the "
            "primary at diagnosis (0/1; empty: never diagnosed)",
            _at_diagnosis("disseminated_cells"), "diagnosis"),
    Outcome("micrometastasis_at_diagnosis", "1 if >= 1 colony was growing at diagnosis "
            "(0/1; empty: never diagnosed)", _at_diagnosis("colonies"), "diagnosis"),
]

#: Every declared outcome by name, in the order of the sweep table's columns.
OUTCOMES: dict[str, Outcome] = {o.name: o for o in _LIST}


def scalar_outputs() -> list[str]:
    """Per-patient numbers a sensitivity analysis or a response curve can use."""
    return [o.name for o in _LIST if o.analysable]


def outcome_values(result: PatientResult, groups: tuple[str, ...] | list[str]
                   ) -> dict[str, Value]:
    """The outcomes of one patient that ``groups`` keep (and those always kept), by name."""
    return {o.name: o.value(result) for o in _LIST if o.group is None or o.group in groups}


__all__ = ["OUTCOMES", "OUTPUT_GROUPS", "Outcome", "outcome_values", "scalar_outputs"]
