"""The clinical timeline of one patient: events and interventions.

Events are logged as they happen: ``diagnosis`` (the primary reaches
``primary.diagnosis_diameter_mm``), ``metastasis_detected`` (an organ's first metastasis
crosses the imaging threshold, ``colonization.detectable_diameter_mm``), ``symptoms`` (an
organ's metastases reach ``clinical.symptom_burden_cells``, with the organ's typical
symptoms), the start and end of each intervention, and ``death`` (lethal burden).

Interventions (``[[intervention]]`` in a scenario) start at a day or at an event plus a
delay:

* ``resection`` removes ``fraction_removed`` of the primary (it stops shedding with it);
* ``systemic`` kills a fraction ``1 - exp(-k dt)`` of the cells in each compartment per
  step for ``duration_days`` (cells in transit, arrested, solitary, dormant; micrometastases
  by binomial thinning; macrometastases deterministically, by log-kill);
* ``local`` kills ``efficacy`` of the cells of the metastases in one organ (the detectable
  ones, or all), once;
* ``growth_inhibition`` multiplies the growth rates of the primary and the metastases by
  ``growth_multiplier`` for ``duration_days``.

Without interventions this module draws no random numbers, so a scenario without them gives
exactly the results it gave before the clinical timeline existed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..biology.anatomy import ORGAN_KEYS, PRIMARY_SITES
from ..biology.stages import Stage
from ..biology.units import step_probability
from ..config.schema import Intervention
from . import events

if TYPE_CHECKING:  # pragma: no cover
    from .agents import Colony
    from .model import MetastasisModel

_LODGED = {Stage.ARRESTED: ("arrested", "arrest"), Stage.SOLITARY: ("solitary", "extravasation"),
           Stage.DORMANT: ("dormant", "dormancy")}



_REGIONAL = ORGAN_KEYS.index("regional_lymph_nodes")

#: Slack on day comparisons (days are sums of float steps).
_DAY_SLACK = 1e-9


def intervention_due(start_day: Any, now: float, dt: float) -> Any:
    """Whether an intervention scheduled for ``start_day`` starts in the step from ``now``
    (both engines' rule; arrays compare element by element). It starts at
    :func:`intervention_start_day`."""
    return start_day < now + dt - _DAY_SLACK


def intervention_start_day(start_day: float, now: float) -> float:
    """The day a due intervention starts: its scheduled day, or now if that has passed."""
    return max(float(start_day), now)


def intervention_over(end_day: Any, now: float) -> Any:
    """Whether a running intervention ending on ``end_day`` is over at the start of the
    step from ``now`` (both engines' rule; arrays element by element)."""
    return end_day <= now + _DAY_SLACK


def resected_cells(cells: float, fraction_removed: float) -> float:
    """The primary's cells left by a resection removing ``fraction_removed`` (1: none)."""
    return 0.0 if fraction_removed >= 1.0 else cells * (1.0 - fraction_removed)


def combined_growth_multiplier(running: Iterable[tuple[Intervention, Any]]) -> Any:
    """The growth multiplier of the growth inhibitions running together: the product of
    theirs. ``running`` pairs each intervention with whether it runs (1.0, or an array of
    0/1 per patient row); the others are ignored."""
    g: Any = 1.0
    for it, on in running:
        if it.kind == "growth_inhibition":
            g = g * np.where(on, it.growth_multiplier, 1.0) if isinstance(on, np.ndarray) \
                else g * it.growth_multiplier
    return g


def combined_kill_rates(running: Iterable[tuple[Intervention, Any]]) -> dict[str, Any] | None:
    """The kill rates per compartment of the systemic therapies running together: the sum
    of theirs (``None``: none runs). ``running`` as :func:`combined_growth_multiplier`."""
    out: dict[str, Any] | None = None
    for it, on in running:
        if it.kind != "systemic":
            continue
        out = {} if out is None else out
        for k, v in it.kill_rates().items():
            term = np.where(on, v, 0.0) if isinstance(on, np.ndarray) else v
            out[k] = out[k] + term if k in out else term
    return out


def first_relapse(cells: Sequence[float] | np.ndarray, founded_day: Sequence[float] | np.ndarray,
                  detectable_cells: float) -> int | None:
    """The colony a relapse after resection is dated from (both engines' rule): of the
    colonies at the imaging size, the one founded first (on a tie, the first in founding
    order); ``None`` while none is that large. Colonies are given in founding order."""
    big = np.flatnonzero(np.asarray(cells, dtype=float) >= detectable_cells)
    if not len(big):
        return None
    return int(big[np.argmin(np.asarray(founded_day, dtype=float)[big])])


def new_symptoms(organ: Sequence[int] | np.ndarray, cells: Sequence[float] | np.ndarray,
                 threshold_cells: float, symptomatic: Collection[int]) -> list[int]:
    """The organs whose colonies together reach ``threshold_cells`` and were not yet
    symptomatic, in the order each organ's first colony was founded (both engines' rule;
    colonies given in founding order)."""
    burden: dict[int, float] = {}
    for o, x in zip(np.asarray(organ).tolist(), np.asarray(cells, dtype=float).tolist(),
                    strict=True):
        burden[o] = burden.get(o, 0.0) + x
    return [o for o, b in burden.items() if b >= threshold_cells and o not in symptomatic]

def metastatic_burden_reached(colony_cells_by_organ: np.ndarray,
                              burden_cells: float) -> np.ndarray:
    """Per patient (rows of colony cells by organ): whether the metastases outside the
    regional lymph nodes hold at least ``burden_cells`` (``clinical.
    metastatic_sample_burden_cells``: when the blood sample of measurable metastatic
    disease is taken; both engines' rule)."""
    organ = np.array(colony_cells_by_organ, dtype=float, ndmin=2)
    return np.asarray(organ.sum(axis=1) - organ[:, _REGIONAL] >= burden_cells, dtype=bool)


#: :func:`death_causes`' code for a death by the whole-body burden (organ failures are the
#: organ's index in ``ORGAN_KEYS``); -1: the course goes on.
WHOLE_BODY = len(ORGAN_KEYS)


def organ_lethal_vector(simulation: Any) -> np.ndarray:
    """Each organ's lethal burden (``simulation.organ_lethal_cells``) in ``ORGAN_KEYS``
    order; infinite where an organ fails only through the whole-body burden."""
    out = np.full(len(ORGAN_KEYS), np.inf)
    for organ, cells in simulation.organ_lethal_cells.items():
        out[ORGAN_KEYS.index(organ)] = cells
    return out


#: Organs spread through the body: a primary growing in one part of them (a bone sarcoma in
#: one bone, a melanoma in the skin) does not make the whole organ fail.
DISTRIBUTED_ORGANS = ("bone", "skin", "muscle", "adipose", "regional_lymph_nodes",
                      "distant_lymph_nodes")


def primary_organ_index(scenario: Any) -> int:
    """The index in ``ORGAN_KEYS`` of the organ the primary grows in and counts towards for
    organ failure (-1: none; not the :data:`DISTRIBUTED_ORGANS`)."""
    organ = PRIMARY_SITES[scenario.primary.site].organ
    if organ not in ORGAN_KEYS or organ in DISTRIBUTED_ORGANS:
        return -1
    return ORGAN_KEYS.index(organ)


def death_causes(primary_cells: np.ndarray, colony_cells_by_organ: np.ndarray,
                 lodged_cells: np.ndarray, primary_organ: int, lethal_cells: float,
                 organ_lethal: np.ndarray) -> np.ndarray:
    """Why each patient's course ends now (both engines' rule): the index of the organ that
    fails, ``WHOLE_BODY``, or -1 (it goes on).

    An organ fails when the tumour in it reaches its lethal burden (:func:`organ_lethal_vector`):
    its colonies, and the primary when the primary grows in that organ (``primary_organ``;
    -1: none). Lodged single cells do not count towards an organ (they are not a mass).
    Otherwise the course ends at the whole-body burden: the primary, the colonies and the
    lodged cells together reach ``lethal_cells``. Where several organs fail at once, the one
    furthest past its burden is named. Arguments: one entry (or row, for
    ``colony_cells_by_organ``: patients x organs) per patient."""
    organ = np.array(colony_cells_by_organ, dtype=float, ndmin=2)
    primary = np.asarray(primary_cells, dtype=float).reshape(-1)
    total = primary + organ.sum(axis=1) + np.asarray(lodged_cells, dtype=float).reshape(-1)
    if primary_organ >= 0:
        organ[:, primary_organ] += primary
    ratio = organ / organ_lethal
    worst = np.argmax(ratio, axis=1)
    failing = ratio[np.arange(len(worst)), worst] >= 1.0
    return np.where(failing, worst, np.where(total >= lethal_cells, WHOLE_BODY, -1))


def cause_of_death(code: int) -> str | None:
    """A :func:`death_causes` code as results and tables give it: the failing organ's key,
    ``"whole_body_burden"``, or None (alive)."""
    if code < 0:
        return None
    return "whole_body_burden" if code == WHOLE_BODY else ORGAN_KEYS[code]


class Clinic:
    """Events and interventions of one :class:`~sim.engine.model.MetastasisModel`."""

    def __init__(self, model: MetastasisModel):
        self.model = model
        self.events: list[dict[str, Any]] = []
        self.pending: list[tuple[int, Intervention]] = list(enumerate(model.scenario.intervention))
        self.scheduled: list[tuple[float, int, Intervention]] = []
        self.active: list[tuple[float, int, Intervention]] = []   # (end day, index, it)
        self.resection_day: float | None = None
        #: First day a metastasis is detectable after the resection (at the resection itself
        #: if one already was): the end of metastasis-free survival.
        self.relapse_day: float | None = None
        self.relapse_origin: str | None = None
        self.relapse_founded_day: float | None = None
        self._detected: set[int] = set()
        self._symptomatic: set[int] = set()
        self._schedule_fixed()

    # ---------------------------------------------------------------- scheduling
    def _schedule_fixed(self) -> None:
        for i, it in list(self.pending):
            if it.day is not None:
                self.scheduled.append((it.day + it.delay_days, i, it))
                self.pending.remove((i, it))
        self.scheduled.sort(key=lambda t: (t[0], t[1]))

    def trigger(self, event: str, day: float) -> None:
        for i, it in list(self.pending):
            if it.at == event:
                self.scheduled.append((day + it.delay_days, i, it))
                self.pending.remove((i, it))
        self.scheduled.sort(key=lambda t: (t[0], t[1]))

    def log(self, day: float, event: str, organ: str = "", detail: str = "") -> None:
        self.events.append({"day": float(day), "event": event, "organ": organ,
                            "detail": detail})

    # ---------------------------------------------------------------- each step
    def start_of_step(self) -> None:
        """Start interventions that are due and end those that are over."""
        m = self.model
        now = m.day
        still = []
        for end, i, it in self.active:
            if intervention_over(end, now):
                self.log(end, *events.intervention_end(it))
            else:
                still.append((end, i, it))
        self.active = still
        while self.scheduled and intervention_due(self.scheduled[0][0], now, m.dt):
            start, i, it = self.scheduled.pop(0)
            start = intervention_start_day(start, now)
            self._start(start, i, it)

    def _start(self, day: float, i: int, it: Intervention) -> None:
        m = self.model
        if it.kind == "resection":
            before = m.primary.resect(it.fraction_removed)
            if self.resection_day is None:
                self.resection_day = day
            self.log(day, *events.resection(it, before))
        elif it.kind == "local":
            self.log(day, *events.local_therapy(it, self._local(it)))
        else:
            self.active.append((day + it.duration_days, i, it))
            self.log(day, *events.intervention_start(it))

    @property
    def growth_multiplier(self) -> float:
        return float(combined_growth_multiplier((it, 1.0) for _, _, it in self.active))

    def kill_rates(self) -> dict[str, float] | None:
        """Summed kill rates of the systemic therapies running now (None: none)."""
        return combined_kill_rates((it, 1.0) for _, _, it in self.active)

    # ---------------------------------------------------------------- killing
    def systemic_kill(self) -> None:
        """Apply the running systemic therapies to lodged cells and colonies for one step."""
        rates = self.kill_rates()
        if rates is None:
            return
        m = self.model
        for stage, (compartment, funnel_stage) in _LODGED.items():
            p = step_probability(rates.get(compartment, 0.0), m.dt)
            m.ledger.lose(funnel_stage, m.cohorts.thin(stage, p, m.rng))
        m.colonies.thin(m.rng, rates.get("micrometastasis", 0.0), rates.get("macrometastasis", 0.0))

    def thin_arrivals(self, arrived: np.ndarray, k: int) -> np.ndarray:
        """Cells in transit killed by systemic therapy before they arrest."""
        rates = self.kill_rates()
        if rates is None or rates.get("circulating", 0.0) <= 0:
            return arrived
        p = step_probability(rates["circulating"], self.model.dt)
        killed = self.model.rng.binomial(arrived, p)
        self.model.ledger.killed_before_arrest(int(killed.sum()) * k)
        left: np.ndarray = arrived - killed
        return left

    def _local(self, it: Intervention) -> float:
        return self.model.colonies.thin(self.model.rng, organ=ORGAN_KEYS.index(it.organ),
                                        fraction=it.efficacy,
                                        detectable_only=it.target == "detectable")

    # ---------------------------------------------------------------- events
    def detected(self, colony: Colony) -> None:
        """A colony just crossed the imaging threshold: log its organ's first detection."""
        if colony.organ in self._detected:
            return
        self._detected.add(colony.organ)
        mm = self.model.scenario.colonization.detectable_diameter_mm
        assert colony.detected_day is not None       # set by Colonies.advance before this call
        self.log(colony.detected_day, *events.metastasis_detected(colony.organ, colony.cells, mm))

    def end_of_step(self) -> None:
        """Log relapse after a resection and symptoms (organ by organ, the first time)."""
        m = self.model
        day = m.day
        live = list(m.colonies)
        cells = [c.cells for c in live]
        if self.resection_day is not None and self.relapse_day is None:
            i = first_relapse(cells, [c.founded_day for c in live], m.colonies.detectable_cells)
            if i is not None:
                first = live[i]
                self.relapse_day = day
                self.relapse_origin = first.origin
                self.relapse_founded_day = first.founded_day
                self.log(day, *events.relapse(first.organ, day - self.resection_day,
                                              first.founded_day, first.origin))
        for organ in new_symptoms([c.organ for c in live], cells,
                                  m.scenario.clinical.symptom_burden_cells, self._symptomatic):
            self._symptomatic.add(organ)
            self.log(day, *events.symptoms(organ))
