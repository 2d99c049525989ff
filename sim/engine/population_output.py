"""The population engine's output: the twin of a diagnosed patient (a copy of its rows),
the records of the time series, and the end of a course with its
:class:`~sim.engine.results.PatientResult`. Functions of the engine: each is a method of
:class:`~sim.engine.population.PopulationEngine`."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ..biology.anatomy import ORGAN_KEYS
from ..biology.stages import FUNNEL_STAGES
from .clinic import cause_of_death
from .model import initiated_at_diagnosis
from .population_layout import ARRESTED, DEATH_ROUTES, DORMANT, MACRO, N_ORGANS, SOLITARY
from .results import (
    MODEL_REPORTERS,
    ORGAN_REPORTERS,
    PatientResult,
    burden_by_site,
    per_organ,
)

if TYPE_CHECKING:
    from .population import PopulationEngine


def spawn_twins(self: PopulationEngine, rows: np.ndarray) -> None:
    """The twin of each diagnosed row: a copy of its state whose primary is removed at
    the start of the next step (``resected_at_diagnosis``). A patient already treated
    has its twin run by the Mesa model instead (its course before diagnosis differs)."""
    rows = np.asarray(rows, dtype=np.int64)
    if not len(rows):
        return
    treated = self.touched[rows]
    for r in rows[treated].tolist():
        p = self.patient[r]
        self.initiated[p] = initiated_at_diagnosis(self.scenario, self.streams[p])
    rows = rows[~treated]
    if not len(rows):
        return
    # The ledger so far is the patient's and its twin's: settled once, then copied (this
    # step's circulating cells first, so that they are never split twice).
    self._ctc(rows)
    self._settle_transit(rows, self.nonlodging_units[:, rows])
    n0 = len(self.active)
    for name in ("patient", "is_twin", "active", "shedding", "multiplier", "diagnosis_cells",
                 "primary", "gompertz_rate", "p_solitary", "p_dormant", "p_arrested_rows",
                 "lazy_step", "pend", "pend_killed", "pend_cells", "pend_met", "step_venous_mean",
                 "reached", "lost",
                 "lost_route", "shed_total", "shed_by_met", "founded", "switched",
                 "founded_by_organ", "arrested_by_organ", "step_shed", "step_ctc", "died",
                 "death_code", "burden_sampled", "step_ctc_known", "arrived_primary",
                 "venous_share_primary",
                 "end_day", "first_detectable", "first_distant",
                 "first_distant_founded", "first_macro",
                 "diagnosed", "measure_due", "resection_day", "relapse_day", "twin_resect",
                 "touched", "detected_organs", "symptomatic", "sched", "pending_at",
                 "active_end"):
        a = getattr(self, name)
        setattr(self, name, np.concatenate([a, a[rows]]))
    self.lodged = np.concatenate([self.lodged, self.lodged[:, rows]], axis=1)
    for name in ("nonlodging_units", "nonlodging_step"):
        a = getattr(self, name)
        setattr(self, name, np.concatenate([a, a[:, rows]], axis=1))
    for name in ("arrived_met", "venous_share_met"):
        a = getattr(self, name)
        if a is not None:
            setattr(self, name, np.concatenate([a, a[rows]]))
    new = np.arange(n0, n0 + len(rows))
    self.is_twin[new] = True
    self.twin_resect[new] = True
    self.measure_due[new] = False
    # The twin's scenario has one intervention: the resection at diagnosis.
    self.sched[new] = np.inf
    self.pending_at[new] = False
    self.active_end[new] = np.nan
    c = self.colonies
    if len(c):
        remap = np.full(n0, -1)
        remap[rows] = new
        mine = np.flatnonzero(remap[c.row] >= 0)
        copy = c.take(mine)
        copy["row"] = remap[copy["row"]]
        c.append(**copy)
    for r, t in zip(rows.tolist(), new.tolist(), strict=True):
        self._twin_of[t] = int(self.patient[r])


def record(self: PopulationEngine, rows: np.ndarray) -> None:
    """One row of the time series for each of ``rows`` (the model's DataCollector)."""
    rows = rows[~self.is_twin[rows]]
    if not len(rows):
        return
    c = self.colonies
    n = len(self.active)
    count = np.bincount(c.row, minlength=n)
    macro = np.bincount(c.row[c.phase == MACRO], minlength=n)
    big = c.cells >= self.detectable_cells
    det = np.bincount(c.row[big], minlength=n)
    burden = np.bincount(c.row, weights=c.cells, minlength=n)
    self._ctc(rows)
    cells = self.lodged * self.unit_cells
    values = np.stack([self.primary, self.step_shed / self.dt, self.step_ctc / self.dt,
                       cells[ARRESTED].sum(axis=1), cells[SOLITARY].sum(axis=1),
                       cells[DORMANT].sum(axis=1), count - macro, macro, det, burden],
                      axis=1)[rows].astype(float)
    by_organ = np.zeros((3, n, N_ORGANS))
    np.add.at(by_organ[0], (c.row, c.organ), 1)
    np.add.at(by_organ[1], (c.row[big], c.organ[big]), 1)
    by_organ[2] = cells[DORMANT].reshape(n, N_ORGANS, -1).sum(axis=2)
    organs = by_organ[:, rows]
    for i, r in enumerate(rows.tolist()):
        self.series[self.patient[r]].append((self.day, values[i], organs[:, i]))


def finish(self: PopulationEngine, rows: np.ndarray) -> None:
    """The courses of ``rows`` ended this step: keep their results, drop their state."""
    if not len(rows):
        return
    self._settle_transit(rows, self.nonlodging_units[:, rows])
    for r in rows.tolist():
        if self.is_twin[r]:
            self.initiated[self._twin_of[r]] = not math.isnan(self.first_distant[r])
        else:
            self.results[self.patient[r]] = self._result(r)
    self.active[rows] = False
    done = np.zeros(len(self.active), dtype=bool)
    done[rows] = True
    c = self.colonies
    if len(c):
        c.keep(~done[c.row])
    self.lodged[:, rows] = 0


def result(self: PopulationEngine, r: int) -> PatientResult:
    c = self.colonies
    mine = c.row == r
    p = self.patient[r]

    def colonies_in(sel: np.ndarray) -> dict[str, int]:
        return per_organ(np.bincount(c.organ[sel], minlength=N_ORGANS))

    def opt(x: float) -> float | None:
        return None if math.isnan(x) else float(x)

    ts: list[tuple[float, str, str, float]] = []
    names = list(MODEL_REPORTERS)
    series = self.series[p]
    for i, name in enumerate(names):
        ts.extend((d, name, "", float(v[i])) for d, v, _ in series)
    for k, name in enumerate(ORGAN_REPORTERS):
        for d, _, organs in series:
            ts.extend((d, name, ORGAN_KEYS[o], float(organs[k, o]))
                      for o in np.flatnonzero(organs[k]).tolist())
    relapse = self.relapse[p]
    traits = self.traits[p]
    return PatientResult(
        replicate=self.replicates[p], days=float(self.day), died=bool(self.died[r]),
        reached=dict(zip(FUNNEL_STAGES, self.reached[r].tolist(), strict=True)),
        lost=dict(zip(FUNNEL_STAGES, self.lost[r].tolist(), strict=True)),
        lost_in_transit_by_route=dict(zip(DEATH_ROUTES, self.lost_route[r].tolist(),
                                          strict=True)),
        detectable_by_organ=colonies_in(mine & (c.cells >= self.detectable_cells)),
        autopsy_by_organ=colonies_in(mine & (c.cells >= self.autopsy_cells)),
        founded_by_organ=per_organ(self.founded_by_organ[r]),
        colonies_by_organ=colonies_in(mine),
        first_detectable_day=opt(self.first_detectable[r]),
        shed_total=int(self.shed_total[r]), shed_by_metastases=int(self.shed_by_met[r]),
        colonies_founded={"single": int(self.founded[r, 0]),
                          "cluster": int(self.founded[r, 1])},
        colonies_survived={"single": int(self.switched[r, 0]),
                           "cluster": int(self.switched[r, 1])},
        timeseries=ts, injected_total=0, assay=[],
        diagnosis=self.diagnosis[p], events=self.events[p],
        resection_day=opt(self.resection_day[r]), relapse_day=opt(self.relapse_day[r]),
        relapse_origin=relapse[0] if relapse else None,
        relapse_founded_day=relapse[1] if relapse else None,
        traits=traits.as_dict(), macrometastases=int((mine & (c.phase == MACRO)).sum()),
        first_macrometastasis_day=opt(self.first_macro[r]),
        first_distant_detectable_day=opt(self.first_distant[r]),
        first_distant_founded_day=opt(self.first_distant_founded[r]),
        metastatic_sample=self.metastatic_sample[p], burden_sample=self.burden_sample[p],
        cause_of_death=cause_of_death(int(self.death_code[r])),
        burden_at_end=burden_by_site(self.primary[r], self._organ_burden()[r],
                                     float(self._lodged_cells()[r])))
