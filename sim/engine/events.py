"""What the clinical timeline says: every event's name, organ and detail, written once.

Both engines (the Mesa model's :class:`~sim.engine.clinic.Clinic` and the population
engine) log an event by calling one of these functions, so ``events.csv``, the classroom
app's timeline and the plain-language sentences (:mod:`sim.viz.plain`) read the same
whichever engine ran the patient. Each returns an :class:`Event` (name, organ key, detail)
without its day, which the caller knows.
"""

from __future__ import annotations

from typing import NamedTuple

from ..biology.anatomy import ORGAN_KEYS
from ..biology.units import cells_to_diameter_mm
from ..config.schema import SYMPTOMS, Intervention


class Event(NamedTuple):
    """One line of the timeline, without its day."""

    event: str
    organ: str = ""
    detail: str = ""


def _label(it: Intervention) -> str:
    return it.name or it.kind


def diagnosis_at_start() -> Event:
    """A course that starts with the primary already at the diagnosis size."""
    return Event("diagnosis", detail="at the start of the course")


def diagnosis(primary_cells: float) -> Event:
    """The primary reached ``primary.diagnosis_diameter_mm``."""
    return Event("diagnosis", detail=f"primary {cells_to_diameter_mm(primary_cells):.1f} mm")


def death(burden_cells: float, failing_organ: int = -1, organ_cells: float = 0.0) -> Event:
    """The course ends (:func:`~sim.engine.clinic.death_causes`): the whole-body tumour
    burden reached ``simulation.lethal_burden_cells`` (``failing_organ`` -1), or the tumour
    in one organ (``organ_cells``) reached that organ's lethal burden."""
    if failing_organ < 0 or failing_organ >= len(ORGAN_KEYS):
        return Event("death", detail=f"tumour burden {burden_cells:.3g} cells")
    return Event("death", ORGAN_KEYS[failing_organ],
                 f"organ failure: {organ_cells:.3g} tumour cells in the organ "
                 f"(whole body {burden_cells:.3g})")


def intervention_start(it: Intervention) -> Event:
    """A systemic therapy or a growth inhibition starts, for its duration."""
    return Event(f"{it.kind}_start", detail=f"{_label(it)} for {it.duration_days:g} days")


def intervention_end(it: Intervention) -> Event:
    """A systemic therapy or a growth inhibition ends."""
    return Event(f"{it.kind}_end", detail=_label(it))


def resection(it: Intervention, primary_cells_before: float) -> Event:
    """The primary was (partly) removed."""
    return Event("resection", detail=f"{_label(it)}: {primary_cells_before:.3g} cells, "
                                     f"{it.fraction_removed:.0%} removed")


def local_therapy(it: Intervention, cells_killed: float) -> Event:
    """One organ's metastases were treated."""
    return Event("local_therapy", it.organ or "",
                 f"{_label(it)}: {cells_killed:.3g} cells killed ({it.efficacy:.0%} of "
                 f"{it.target})")


def metastasis_detected(organ: int, cells: float, detectable_diameter_mm: float) -> Event:
    """An organ's first metastasis crossed the imaging threshold."""
    return Event("metastasis_detected", ORGAN_KEYS[organ],
                 f"{cells:.3g} cells (>= {detectable_diameter_mm:g} mm)")


def relapse(organ: int, days_after_resection: float, founded_day: float, origin: str) -> Event:
    """The first metastasis detectable after a resection."""
    return Event("relapse", ORGAN_KEYS[organ],
                 f"{days_after_resection:g} days after resection; the colony was founded on "
                 f"day {founded_day:g} by a {origin} cell")


def symptoms(organ: int) -> Event:
    """An organ's metastases reached ``clinical.symptom_burden_cells``."""
    key = ORGAN_KEYS[organ]
    return Event("symptoms", key, SYMPTOMS.get(key, "organ-specific symptoms"))
