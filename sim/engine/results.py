"""What a simulated patient leaves behind, as plain data: :class:`PatientResult`.

A leaf module: it imports neither Mesa nor the rest of the engine (only the biology's
names), so analysis, figures, the output folder
and the app can read results without importing the simulator.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..biology.anatomy import ORGAN_KEYS
from ..biology.measurements import NODE_METASTASIS_MIN_DIAMETER_MM
from ..biology.stages import LODGED_STAGES, Phase, Stage
from ..biology.units import cells_to_diameter_mm, diameter_to_cells
from ..config.schema import Scenario

# --------------------------------------------------------------------------------------
# What the results read of a running Mesa model (structural types: this module imports no
# Mesa and nothing of the engine; MetastasisModel satisfies CourseView).
# --------------------------------------------------------------------------------------

@runtime_checkable
class ColonyView(Protocol):
    @property
    def organ(self) -> int: ...
    @property
    def cells(self) -> float: ...
    @property
    def phase(self) -> Phase: ...


@runtime_checkable
class ColoniesView(Protocol):
    @property
    def detectable_cells(self) -> float: ...
    @property
    def autopsy_cells(self) -> float: ...
    @property
    def first_detectable_day(self) -> float | None: ...
    @property
    def first_distant_detectable_day(self) -> float | None: ...
    @property
    def first_distant_founded_day(self) -> float | None: ...
    @property
    def first_macrometastasis_day(self) -> float | None: ...
    def __iter__(self) -> Iterator[Any]: ...
    def count(self, macro: bool) -> int: ...
    def at_least(self, cells: float) -> Sequence[ColonyView]: ...
    def burden_cells(self) -> float: ...
    def founders(self, macro: bool) -> int: ...
    def by_organ(self, n_organs: int, min_cells: float = 0.0,
                 cells: bool = False) -> np.ndarray: ...


@runtime_checkable
class CohortsView(Protocol):
    def cells_at(self, stage: Stage) -> int: ...
    def cells_by_organ(self, stages: tuple[Stage, ...], n_organs: int) -> np.ndarray: ...


@runtime_checkable
class LedgerView(Protocol):
    @property
    def step_shed(self) -> int: ...
    @property
    def step_ctc(self) -> int: ...
    @property
    def arrested_by_organ(self) -> np.ndarray: ...
    @property
    def founded_by_organ(self) -> np.ndarray: ...
    @property
    def injected_total(self) -> int: ...
    @property
    def shed_total(self) -> int: ...
    @property
    def shed_by_metastases(self) -> int: ...
    @property
    def lost_by_route(self) -> dict[str, int]: ...
    @property
    def founded(self) -> dict[str, int]: ...
    @property
    def switched(self) -> dict[str, int]: ...
    def stage_counts(self, which: str) -> dict[str, int]: ...


@runtime_checkable
class ClinicView(Protocol):
    @property
    def events(self) -> list[dict[str, Any]]: ...
    @property
    def resection_day(self) -> float | None: ...
    @property
    def relapse_day(self) -> float | None: ...
    @property
    def relapse_origin(self) -> str | None: ...
    @property
    def relapse_founded_day(self) -> float | None: ...


@runtime_checkable
class PrimaryView(Protocol):
    @property
    def cells(self) -> float: ...


@runtime_checkable
class TraitsView(Protocol):
    def as_dict(self) -> dict[str, float]: ...


@runtime_checkable
class CourseView(Protocol):
    """A patient's course as the reporters and :func:`patient_result` read it."""

    @property
    def scenario(self) -> Scenario: ...
    @property
    def day(self) -> float: ...
    @property
    def dt(self) -> float: ...
    @property
    def replicate(self) -> int: ...
    @property
    def died(self) -> bool: ...
    @property
    def cause_of_death(self) -> str | None: ...
    def burden_at_end(self) -> dict[str, float]: ...
    @property
    def primary(self) -> PrimaryView: ...
    @property
    def colonies(self) -> ColoniesView: ...
    @property
    def cohorts(self) -> CohortsView: ...
    @property
    def ledger(self) -> LedgerView: ...
    @property
    def clinic(self) -> ClinicView: ...
    @property
    def traits(self) -> TraitsView: ...
    @property
    def diagnosis(self) -> dict[str, float] | None: ...
    @property
    def metastatic_sample(self) -> dict[str, float] | None: ...
    @property
    def burden_sample(self) -> dict[str, float] | None: ...
    @property
    def assay(self) -> list[dict[str, float]]: ...
    @property
    def datacollector(self) -> Any: ...          # mesa's DataCollector: no type information

@dataclass
class PatientResult:
    """What one simulated patient leaves behind (plain data, picklable)."""

    replicate: int
    days: float
    died: bool
    reached: dict[str, int]
    lost: dict[str, int]
    lost_in_transit_by_route: dict[str, int]
    detectable_by_organ: dict[str, int]
    #: Metastases per organ at the end of the course at or above the autopsy threshold.
    autopsy_by_organ: dict[str, int]
    #: Colonies founded in each organ over the course (including those that died out).
    founded_by_organ: dict[str, int]
    colonies_by_organ: dict[str, int]
    first_detectable_day: float | None
    shed_total: int
    shed_by_metastases: int
    colonies_founded: dict[str, int]
    colonies_survived: dict[str, int]
    timeseries: list[tuple[float, str, str, float]] = field(default_factory=list)
    injected_total: int = 0
    assay: list[dict[str, float]] = field(default_factory=list)
    #: State when the primary reached its diagnosis size (None: it never did).
    diagnosis: dict[str, float] | None = None
    #: The clinical timeline: {day, event, organ, detail} in order (sim.engine.clinic).
    events: list[dict[str, Any]] = field(default_factory=list)
    resection_day: float | None = None
    #: First day with a detectable metastasis after the resection (None: none by the end).
    relapse_day: float | None = None
    #: Where the first relapsing metastasis came from ("solitary" / "dormant") and when it
    #: was founded.
    relapse_origin: str | None = None
    relapse_founded_day: float | None = None
    #: This patient's traits (sim.biology.patients.TRAITS): doubling time, shedding rate,
    #: diagnosis size, colonisation multiplier.
    traits: dict[str, float] = field(default_factory=dict)
    #: Macrometastases (colonies past the angiogenic switch) alive at the end of the course.
    macrometastases: int = 0
    #: Day the first colony switched on angiogenesis (None: none did).
    first_macrometastasis_day: float | None = None
    #: Day the first metastasis outside the regional lymph nodes became detectable.
    first_distant_detectable_day: float | None = None
    #: The founding day of that metastasis (None: none became detectable).
    first_distant_founded_day: float | None = None
    #: A blood sample on that day (the patient is now metastatic): CTCs per 7.5 mL.
    metastatic_sample: dict[str, float] | None = None
    #: Would a distant metastasis have become detectable had the primary been removed at
    #: diagnosis and nothing else done ("initiated the metastatic process at diagnosis";
    #: None: not assessed). Set by the experiments' twin course (sim.experiments.replicates).
    initiated_at_diagnosis: bool | None = None
    #: A blood sample when the metastases outside the regional nodes first held
    #: ``clinical.metastatic_sample_burden_cells`` (measurable metastatic disease, as in the
    #: CTC cohorts): day, ``metastatic_cells`` and the CTCs per 7.5 mL (None: not reached).
    burden_sample: dict[str, float] | None = None
    #: Why the course ended before its horizon: the failing organ's key,
    #: ``"whole_body_burden"``, or None (alive at the end; sim.engine.clinic.death_causes).
    cause_of_death: str | None = None
    #: Where the tumour was at the end of the course (:func:`burden_by_site`).
    burden_at_end: dict[str, float] = field(default_factory=dict)


# --------------------------------------------------------------------------------------
# Data reporters (one name: the reporter, the CSV quantity and the plot label). Each takes
# the running model (:class:`~sim.engine.model.MetastasisModel`, not imported here).
# --------------------------------------------------------------------------------------

def primary_cells(model: CourseView) -> float:
    return float(model.primary.cells)


def shed_cells_per_day(model: CourseView) -> float:
    return float(model.ledger.step_shed / model.dt)


def ctc_entered_per_day(model: CourseView) -> float:
    """Cells entering the blood per day (intravasation, from the primary or metastases)."""
    return float(model.ledger.step_ctc / model.dt)


def arrested_cells(model: CourseView) -> int:
    return int(model.cohorts.cells_at(Stage.ARRESTED))


def solitary_cells(model: CourseView) -> int:
    return int(model.cohorts.cells_at(Stage.SOLITARY))


def dormant_cells(model: CourseView) -> int:
    return int(model.cohorts.cells_at(Stage.DORMANT))


def micrometastases(model: CourseView) -> int:
    """Colonies not yet vascularised (growing, or waiting at the avascular limit)."""
    return int(model.colonies.count(macro=False))


def macrometastases(model: CourseView) -> int:
    """Vascularised colonies (past the angiogenic switch)."""
    return int(model.colonies.count(macro=True))


def detectable_metastases(model: CourseView) -> int:
    return len(model.colonies.at_least(model.colonies.detectable_cells))


def metastatic_burden_cells(model: CourseView) -> float:
    return float(model.colonies.burden_cells())


def per_organ(values: np.ndarray) -> dict[str, int]:
    """Per-organ values (in ORGAN_KEYS order) as {organ: int}."""
    return dict(zip(ORGAN_KEYS, (int(v) for v in values.tolist()), strict=True))


def colonies_by_organ(model: CourseView) -> dict[str, int]:
    return per_organ(model.colonies.by_organ(len(ORGAN_KEYS)))


def detectable_by_organ(model: CourseView) -> dict[str, int]:
    """Colonies detectable on imaging, per organ."""
    return per_organ(model.colonies.by_organ(len(ORGAN_KEYS), model.colonies.detectable_cells))


def autopsy_by_organ(model: CourseView) -> dict[str, int]:
    """Colonies large enough to be found at autopsy, per organ."""
    return per_organ(model.colonies.by_organ(len(ORGAN_KEYS), model.colonies.autopsy_cells))


def dormant_cells_by_organ(model: CourseView) -> dict[str, int]:
    return per_organ(model.cohorts.cells_by_organ((Stage.DORMANT,), len(ORGAN_KEYS)))


MODEL_REPORTERS = {f.__name__: f for f in (
    primary_cells, shed_cells_per_day, ctc_entered_per_day, arrested_cells, solitary_cells,
    dormant_cells, micrometastases, macrometastases, detectable_metastases,
    metastatic_burden_cells)}
ORGAN_REPORTERS = {f.__name__: f for f in (colonies_by_organ, detectable_by_organ,
                                           dormant_cells_by_organ)}


# --------------------------------------------------------------------------------------
# Snapshots
# --------------------------------------------------------------------------------------

def assay_snapshot(model: CourseView) -> dict[str, float]:
    """Fates of injected cells so far, as fractions of the cells injected.

    Cumulative: ``arrested`` (anywhere) and ``arrested_<organ>``, ``extravasated``,
    ``micrometastases_founded`` (cells that started to proliferate); current:
    ``in_vessels`` (arrested, not yet out), ``solitary_dormant`` (single cells in the
    tissue), ``in_micrometastases`` and ``in_macrometastases`` (founders of live colonies in
    each phase). Meant for injection experiments without a primary (Luzzi et al. 1998); with a
    shedding primary the counts include shed cells too.
    """
    ledger, cohorts, colonies = model.ledger, model.cohorts, model.colonies
    n = max(ledger.injected_total, 1)
    reached = ledger.stage_counts("reached")
    by_organ = {f"arrested_{ORGAN_KEYS[i]}": int(v) / n
                for i, v in enumerate(ledger.arrested_by_organ.tolist()) if v}
    return {
        "day": model.day,
        "arrested": reached["arrest"] / n,
        **by_organ,
        "extravasated": reached["extravasation"] / n,
        "in_vessels": cohorts.cells_at(Stage.ARRESTED) / n,
        "solitary_dormant": (cohorts.cells_at(Stage.SOLITARY)
                             + cohorts.cells_at(Stage.DORMANT)) / n,
        "micrometastases_founded": reached["micrometastasis"] / n,
        "in_micrometastases": colonies.founders(macro=False) / n,
        "in_macrometastases": colonies.founders(macro=True) / n,
    }


def disease_at_diagnosis(day: float, primary_cells: float, lodged_cells_by_organ: np.ndarray,
                         dormant_cells: float, colony_organ: np.ndarray,
                         colony_cells: np.ndarray, colony_macro: np.ndarray,
                         detectable_cells: float) -> dict[str, float]:
    """Disseminated disease when the primary reaches its diagnosis size: the one rule both
    engines use (:func:`diagnosis_snapshot` for the Mesa model, the population engine's
    ``diagnosis_snapshot`` for a row of its batch).

    ``primary_diameter_mm``: the primary's size then; ``node_positive``: 1 when the regional
    nodes hold a metastasis of at least 0.2 mm (pN1mi, AJCC 8th edition), else 0;
    ``disseminated_cells``: tumour cells alive outside the primary (arrested in vessels,
    solitary, dormant, or in colonies), in any organ; ``distant_cells``: the same outside the
    regional lymph nodes; ``colonies`` / ``micrometastases``: live colonies (any phase / not
    yet vascularised); ``detectable``: colonies above the imaging threshold, and
    ``distant_detectable`` those outside the regional nodes (synchronous distant metastases).
    The colonies are given as arrays, one entry per live colony, in the order they were
    founded.
    """
    per_organ = np.asarray(lodged_cells_by_organ, dtype=float).copy()
    organ = np.asarray(colony_organ, dtype=np.int64)
    cells = np.asarray(colony_cells, dtype=float)
    np.add.at(per_organ, organ, cells)
    regional = ORGAN_KEYS.index("regional_lymph_nodes")
    node_min = diameter_to_cells(NODE_METASTASIS_MIN_DIAMETER_MM)
    big = cells >= detectable_cells
    return {
        "day": float(day),
        "primary_cells": float(primary_cells),
        "primary_diameter_mm": float(cells_to_diameter_mm(primary_cells)),
        "disseminated_cells": float(per_organ.sum()),
        "distant_cells": float(per_organ.sum() - per_organ[regional]),
        "dormant_cells": float(dormant_cells),
        "colonies": float(len(cells)),
        "micrometastases": float((~np.asarray(colony_macro, dtype=bool)).sum()),
        "detectable": float(big.sum()),
        "distant_detectable": float((big & (organ != regional)).sum()),
        "node_positive": float(((organ == regional) & (cells >= node_min)).any()),
    }


def burden_by_site(primary_cells: float, colony_cells_by_organ: np.ndarray,
                   lodged_cells: float) -> dict[str, float]:
    """Where a patient's tumour is (both engines' rule): ``primary``, ``metastases`` (all
    colonies), ``lodged`` (single cells and clusters outside colonies), and each organ's
    colonies under its own key (organs without any left out)."""
    organ = np.asarray(colony_cells_by_organ, dtype=float)
    out = {"primary": float(primary_cells), "metastases": float(organ.sum()),
           "lodged": float(lodged_cells)}
    out.update({ORGAN_KEYS[i]: float(organ[i]) for i in np.flatnonzero(organ > 0).tolist()})
    return out


def diagnosis_snapshot(model: CourseView, day: float) -> dict[str, float]:
    """:func:`disease_at_diagnosis` of a running Mesa model."""
    colonies = list(model.colonies)
    return disease_at_diagnosis(
        day, model.primary.cells,
        model.cohorts.cells_by_organ(LODGED_STAGES, len(ORGAN_KEYS)),
        model.cohorts.cells_at(Stage.DORMANT),
        np.array([c.organ for c in colonies], dtype=np.int64),
        np.array([c.cells for c in colonies], dtype=float),
        np.array([c.phase is Phase.MACRO for c in colonies], dtype=bool),
        model.colonies.detectable_cells)


def body_state(model: CourseView) -> dict[str, Any]:
    """What the body map draws of a running model: the primary, per organ the cells that
    arrived there so far (``arrived``), the cells in colonies (``burden``), the dormant cells
    and the detectable metastases, and the day."""
    burden: dict[str, float] = {}
    detectable: dict[str, int] = {}
    for c in model.colonies:
        organ = ORGAN_KEYS[c.organ]
        burden[organ] = burden.get(organ, 0.0) + c.cells
        if c.cells >= model.colonies.detectable_cells:
            detectable[organ] = detectable.get(organ, 0) + 1
    dormant = {o: v for o, v in dormant_cells_by_organ(model).items() if v}
    arrived = {o: v for o, v in per_organ(model.ledger.arrested_by_organ).items() if v}
    return {"site": model.scenario.primary.site, "sex": model.scenario.sex,
            "primary_cells": model.primary.cells,
            "burden": burden, "arrived": arrived, "dormant": dormant, "detectable": detectable,
            "day": model.day, "detectable_mm": model.scenario.colonization.detectable_diameter_mm}


def patient_result(model: CourseView) -> PatientResult:
    """The course of ``model`` so far as plain data."""
    ts: list[tuple[float, str, str, float]] = []
    mv = model.datacollector.model_vars
    days = mv["day"]
    for name in MODEL_REPORTERS:
        ts.extend((d, name, "", float(v)) for d, v in zip(days, mv[name], strict=True))
    for name in ORGAN_REPORTERS:
        for d, values in zip(days, mv[name], strict=True):
            ts.extend((d, name, o, float(v)) for o, v in values.items() if v)
    ledger, clinic = model.ledger, model.clinic
    return PatientResult(
        replicate=model.replicate, days=model.day, died=model.died,
        reached=ledger.stage_counts("reached"), lost=ledger.stage_counts("lost"),
        lost_in_transit_by_route=dict(ledger.lost_by_route),
        detectable_by_organ=detectable_by_organ(model), autopsy_by_organ=autopsy_by_organ(model),
        founded_by_organ=per_organ(ledger.founded_by_organ),
        colonies_by_organ=colonies_by_organ(model),
        first_detectable_day=model.colonies.first_detectable_day,
        shed_total=int(ledger.shed_total), shed_by_metastases=int(ledger.shed_by_metastases),
        colonies_founded=dict(ledger.founded), colonies_survived=dict(ledger.switched),
        timeseries=ts, injected_total=int(ledger.injected_total),
        assay=[{k: float(v) for k, v in a.items()} for a in model.assay],
        diagnosis=model.diagnosis, events=list(clinic.events),
        resection_day=clinic.resection_day, relapse_day=clinic.relapse_day,
        relapse_origin=clinic.relapse_origin, relapse_founded_day=clinic.relapse_founded_day,
        traits=model.traits.as_dict(), macrometastases=macrometastases(model),
        first_macrometastasis_day=model.colonies.first_macrometastasis_day,
        first_distant_detectable_day=model.colonies.first_distant_detectable_day,
        first_distant_founded_day=model.colonies.first_distant_founded_day,
        metastatic_sample=model.metastatic_sample, burden_sample=model.burden_sample,
        cause_of_death=model.cause_of_death,
        burden_at_end=model.burden_at_end())
