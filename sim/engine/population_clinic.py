"""The population engine's clinic: interventions starting and ending, their triggers, a
systemic therapy's kill rates, relapse and symptoms, the diagnosis with its snapshot and its
samples (the rules of :class:`~sim.engine.clinic.Clinic`; event texts from
:mod:`sim.engine.events`). Functions of the engine: each is a method of
:class:`~sim.engine.population.PopulationEngine`."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ..biology.anatomy import ORGAN_KEYS
from ..biology.measurements import blood_sample, marrow_sample
from ..streams import measurement_stream
from . import events
from .clinic import (
    combined_growth_multiplier,
    combined_kill_rates,
    first_relapse,
    intervention_due,
    intervention_over,
    intervention_start_day,
    new_symptoms,
    resected_cells,
)
from .population_layout import (
    BONE,
    DORMANT,
    MACRO,
    N_ORGANS,
    ORIGINS,
)
from .results import disease_at_diagnosis

if TYPE_CHECKING:
    from .population import PopulationEngine


def log(self: PopulationEngine, r: int, day: float, event: str, organ: str = "", detail: str = "") -> None:
    if self.is_twin[r]:
        return
    self.events[self.patient[r]].append({"day": float(day), "event": event,
                                         "organ": organ, "detail": detail})


def trigger(self: PopulationEngine, event: str, rows: np.ndarray, day: float) -> None:
    for j, it in enumerate(self.its):
        if it.at != event or not len(rows):
            continue
        hit = rows[self.pending_at[rows, j]]
        self.sched[hit, j] = day + it.delay_days
        self.pending_at[hit, j] = False


def start_of_step(self: PopulationEngine) -> np.ndarray:
    """Interventions that end or start now; returns the growth multiplier per row."""
    now, dt = self.day, self.dt
    gm = np.ones(len(self.active))
    tw = np.flatnonzero(self.twin_resect & self.active)
    if len(tw):
        self.primary[tw] = 0.0
        self.resection_day[tw] = np.where(np.isnan(self.resection_day[tw]), now,
                                          self.resection_day[tw])
        self.twin_resect[tw] = False
    if not self.its:
        return gm
    ending = self.active[:, None] & intervention_over(self.active_end, now)
    due = self.active[:, None] & intervention_due(self.sched, now, dt)
    # A therapy changes the lodged cells' hazards and the colonies: their course so far
    # is drawn with the hazards it had.
    self._bring_up(np.flatnonzero((ending | due).any(axis=1)), self.step_count - 1)
    for r, j in zip(*np.nonzero(ending), strict=True):
        it = self.its[j]
        self._log(r, self.active_end[r, j], *events.intervention_end(it))
        self.active_end[r, j] = np.nan
    changed = np.flatnonzero((ending | due).any(axis=1))
    rows, js = np.nonzero(due)
    order = np.lexsort((js, self.sched[rows, js], rows))
    for r, j in zip(rows[order].tolist(), js[order].tolist(), strict=True):
        start = intervention_start_day(self.sched[r, j], now)
        self.sched[r, j] = np.inf
        self._start(r, j, start)
    if len(changed) and len(self.colonies):
        # The colonies' hazards changed: which may wait is assessed again.
        mine = np.zeros(len(self.active), dtype=bool)
        mine[changed] = True
        self._assess_lazy(np.flatnonzero(mine[self.colonies.row]))
    return self._growth_multipliers()


def growth_multipliers(self: PopulationEngine) -> np.ndarray:
    """The growth multiplier per row of the growth inhibitions running now."""
    gm: np.ndarray = np.ones(len(self.active)) * combined_growth_multiplier(
        (it, ~np.isnan(self.active_end[:, j])) for j, it in enumerate(self.its))
    return gm


def start(self: PopulationEngine, r: int, j: int, day: float) -> None:
    it = self.its[j]
    self.touched[r] = True
    if it.kind == "resection":
        before = self.primary[r]
        self.primary[r] = resected_cells(before, it.fraction_removed)
        if math.isnan(self.resection_day[r]):
            self.resection_day[r] = day
        self._log(r, day, *events.resection(it, before))
    elif it.kind == "local":
        organ = ORGAN_KEYS.index(it.organ)
        c = self.colonies
        sel = (c.row == r) & (c.organ == organ)
        if it.target == "detectable":
            sel &= c.cells >= self.detectable_cells
        killed = self._thin_colonies(sel, np.full(len(c), it.efficacy))
        self._log(r, day, *events.local_therapy(it, killed))
    else:
        self.active_end[r, j] = day + it.duration_days
        self._log(r, day, *events.intervention_start(it))


def kill_rates(self: PopulationEngine) -> dict[str, np.ndarray] | None:
    """Summed kill rates per row of the systemic therapies running now."""
    return combined_kill_rates((it, ~np.isnan(self.active_end[:, j]))
                               for j, it in enumerate(self.its)
                               if not np.isnan(self.active_end[:, j]).all())


def end_of_step(self: PopulationEngine) -> None:
    """Relapse after a resection and symptoms, as :meth:`Clinic.end_of_step`."""
    c = self.colonies
    act = self.active
    day = self.day
    watching = act & ~np.isnan(self.resection_day) & np.isnan(self.relapse_day)
    if watching.any() and len(c):
        # Rows with a colony at the imaging size; the rule itself is first_relapse.
        candidates = np.unique(c.row[(c.cells >= self.detectable_cells) & watching[c.row]])
        for r in candidates.tolist():
            mine = np.flatnonzero(c.row == r)
            mine = mine[np.argsort(c.founded_step[mine], kind="stable")]
            j = first_relapse(c.cells[mine], c.founded_day[mine], self.detectable_cells)
            if j is not None:
                i = int(mine[j])
                self.relapse_day[r] = day
                origin = ORIGINS[c.origin[i]]
                founded = float(c.founded_day[i])
                self.relapse[self.patient[r]] = (origin, founded) if not self.is_twin[r] \
                    else None
                self._log(r, day, *events.relapse(int(c.organ[i]),
                                                  day - self.resection_day[r], founded,
                                                  origin))
    if not len(c):
        return
    threshold = self.scenario.clinical.symptom_burden_cells
    near = act[:, None] & (self._organ_burden(True) >= threshold) & ~self.symptomatic
    if not near.any():
        return
    self._bring_up(np.flatnonzero(near.any(axis=1)), self.step_count - 1)
    c = self.colonies
    new = act[:, None] & (self._organ_burden(False) >= threshold) & ~self.symptomatic
    if not new.any():
        return
    for r in np.flatnonzero(new.any(axis=1)).tolist():
        mine = np.flatnonzero(c.row == r)
        mine = mine[np.argsort(c.founded_step[mine], kind="stable")]
        for o in new_symptoms(c.organ[mine], c.cells[mine], threshold,
                              set(np.flatnonzero(self.symptomatic[r]).tolist())):
            self.symptomatic[r, o] = True
            self._log(r, day, *events.symptoms(o))


def diagnose(self: PopulationEngine, r: int, day: float, event: events.Event) -> None:
    self._bring_up(np.array([r]), self.step_count)
    self.diagnosed[r] = True
    self.diagnosis[self.patient[r]] = self._diagnosis_snapshot(r, day)
    self._log(r, day, *event)
    self._trigger("diagnosis", np.array([r]), day)
    self.measure_due[r] = True


def diagnosis_snapshot(self: PopulationEngine, r: int, day: float) -> dict[str, float]:
    """:func:`~sim.engine.results.disease_at_diagnosis` of row ``r``."""
    c = self.colonies
    mine = np.flatnonzero(c.row == r)
    in_organ = np.zeros(N_ORGANS)
    np.add.at(in_organ, self.row_organ,
              (self.lodged[:, r, :].sum(axis=0) * self.unit_cells).astype(float))
    return disease_at_diagnosis(day, self.primary[r], in_organ,
                                float((self.lodged[DORMANT, r] * self.unit_cells).sum()),
                                c.organ[mine], c.cells[mine], c.phase[mine] == MACRO,
                                self.detectable_cells)


def measurements(self: PopulationEngine, r: int) -> np.random.Generator:
    """The measurement stream of row ``r``'s patient (as the Mesa model's)."""
    p = self.patient[r]
    if p not in self._measure:
        self._measure[p] = measurement_stream(self.streams[p])
    return self._measure[p]


def draw_blood_sample(self: PopulationEngine, r: int) -> dict[str, float]:
    c = self.scenario.circulation
    self._ctc(np.array([r]))
    return blood_sample(self._measurements(r), float(self.step_ctc[r]) / self.dt,
                        c.ctc_half_life_hours, self.scenario.sex,
                        c.arrest_probability_per_pass)


def measure_at_diagnosis(self: PopulationEngine, r: int) -> None:
    self._bring_up(np.array([r]), self.step_count)
    self.measure_due[r] = False
    d = self.diagnosis[self.patient[r]]
    assert d is not None
    d.update(self._blood_sample(r))
    bone = self.row_organ == BONE
    d.update(marrow_sample(self._measurements(r),
                           float((self.lodged[:, r, bone] * self.unit_cells[bone]).sum())))
