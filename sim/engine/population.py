"""The population engine: many patients at once, the same biology as the Mesa model.

:class:`~sim.engine.model.MetastasisModel` steps one patient, one Python call per cohort
and per colony. Here a *batch* of patients is stepped together: every per-patient quantity
is an array with a patient axis (one row per patient), the lodged cells are a dense array
``(stage, patient, organ x subclone x unit kind)`` and the colonies of all patients are one
table of columns. Each step applies, in the same order as :meth:`MetastasisModel.step`, the
same transitions with the same probabilities (taken from the same functions:
:mod:`sim.biology.cascade`, :class:`~sim.engine.cohorts.LodgedCells`, the circulation chain
of :mod:`sim.biology.delivery`); only the draws are made for all patients at once, each by
a construction with the same distribution as the Mesa model's draw:

* the lodged cells (arrested, solitary, dormant) move from one event to the next, many
  steps at a time, with exact k-step draws (:mod:`sim.engine.lodged_windows`): a
  multinomial per cohort over the k-step transition probabilities, the arrivals Poisson
  counts thinned by them, colonies founded on their own step (drawn by inversion), and an
  organ whose dormant niches could fill stepped one step at a time with the niche's
  hypergeometric draw;
* shedding, invasion, route entry and transit: the units arresting in each lodged place are
  Poisson means for the window above, and the units of each kind and source that did not
  arrest one Poisson count, split into failed invasion and death on each route only when
  looked at (the splitting and superposition properties of the Poisson distribution;
  :meth:`PopulationEngine._shed_and_travel`); counts expected fewer than once are one
  Poisson total placed unit by unit (:func:`categorical_counts`).

The engine is exact in distribution but for one named approximation (the primary loses
its shed cells as a Poisson count drawn apart from their fates, a correlation below 1e-7
of its size; ``population.daily_steps = true`` removes it, and is the engine's daily
reference), and
``tests/statistical/test_population_engine.py`` and ``tests/unit/test_population_draws.py``
check it against the Mesa model (docs/model-and-evidence.md, "Two engines, one model").

What differs from the Mesa model:

* the random numbers: a batch draws its courses from one stream
  (:func:`sim.experiments.seeds.batch_stream`), so a patient's course depends on the seed
  and on the batch it is in (batches are fixed by the patients' numbers, never by the
  number of workers). A patient's traits and its measurements come from its own replicate
  stream, as in the Mesa model, so both engines simulate the same patients;
* "initiated the metastatic process at diagnosis" (``population.assess_initiated``): the
  patient's twin is a copy of its state at the end of the diagnosis step, with the primary
  removed at the start of the next step (the Mesa model replays the patient's stream to
  the same point; both give the course after diagnosis its exact conditional law). A
  patient treated before its diagnosis has its twin run by the Mesa model;
* scenarios it does not run (:func:`unsupported`): injection experiments, the step-by-step
  circulation walk and the single-cell reference (``simulation.aggregate = false``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from ..biology.anatomy import DEATH_STATES, ORGAN_KEYS, PRIMARY_ENTRIES, VENOUS_ENTRIES, metastasis_entry
from ..biology.cascade import birth_death, gompertz, gompertz_rate_from_doubling, normalise
from ..biology.delivery import chain_for, entry_probabilities
from ..biology.measurements import NODE_METASTASIS_MIN_DIAMETER_MM, blood_sample, marrow_sample
from ..biology.patients import PatientTraits
from ..biology.soil import affinity_vector
from ..biology.stages import FUNNEL_INDEX, FUNNEL_STAGES
from ..biology.units import (
    cells_to_diameter_mm,
    competing_risks_array,
    diameter_to_cells,
    scale_probability,
    step_probability,
)
from ..config.schema import Scenario
from ..streams import measurement_stream
from . import events
from . import lodged_windows as lw
from .model import initiated_at_diagnosis, patient_traits
from .results import MODEL_REPORTERS, ORGAN_REPORTERS, PatientResult, per_organ

N_ORGANS = len(ORGAN_KEYS)
DEATH_ROUTES = [s.removeprefix("death:") for s in DEATH_STATES]
_REGIONAL = ORGAN_KEYS.index("regional_lymph_nodes")
_BONE = ORGAN_KEYS.index("bone")
_F = FUNNEL_INDEX
#: Colony phases (the values of :class:`~sim.biology.stages.Phase`, as small integers).
MICRO, LIMIT, MACRO = 0, 1, 2
#: Lodged stages, in the order of ``lodged``'s first axis.
ARRESTED, SOLITARY, DORMANT = 0, 1, 2
_ORIGINS = ("solitary", "dormant")


def unsupported(scenario: Scenario) -> list[str]:
    """What in ``scenario`` the population engine does not run (empty: it runs it)."""
    return scenario.population_engine_blockers()


def categorical_counts(rng: np.random.Generator, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Multinomial counts of ``n[i]`` units over the outcomes of row ``p[i]`` (rows summing
    to 1), drawn unit by unit: one uniform number per unit, placed in its row's cumulative
    distribution. The same distribution as ``rng.multinomial(n, p)``, and cheaper when the
    rows have many outcomes and few units."""
    rows, k = p.shape
    unit_row = np.repeat(np.arange(rows), n)
    cum = np.cumsum(p, axis=1)
    cum[:, -1] = 1.0                       # rounding: every uniform number lands in a row
    flat = (cum + np.arange(rows)[:, None]).ravel()
    u = rng.random(len(unit_row)) + unit_row
    where = np.minimum(np.searchsorted(flat, u, side="right"), flat.size - 1)
    return np.bincount(where, minlength=rows * k).reshape(rows, k)


class _Colonies:
    """The colonies of every patient of the batch: one column per attribute."""

    COLUMNS: ClassVar[dict[str, type]] = {
        "row": np.int64, "organ": np.int64, "clone": np.int64, "founders": np.int64,
        "cells": float, "phase": np.int8, "founded_day": float, "switched_day": float,
        "detected_day": float, "origin": np.int8, "founded_step": np.int64,
        "catch_up": np.int8}

    def __init__(self) -> None:
        #: The patient row of each colony (twins have rows of their own).
        self.row = np.zeros(0, dtype=np.int64)
        self.organ = np.zeros(0, dtype=np.int64)
        self.clone = np.zeros(0, dtype=np.int64)
        #: Cells of the founding unit (1, or the cluster size).
        self.founders = np.zeros(0, dtype=np.int64)
        self.cells = np.zeros(0, dtype=float)
        #: MICRO, LIMIT or MACRO.
        self.phase = np.zeros(0, dtype=np.int8)
        self.founded_day = np.zeros(0, dtype=float)
        self.switched_day = np.zeros(0, dtype=float)
        self.detected_day = np.zeros(0, dtype=float)
        #: 0: a solitary cell that proliferated; 1: a dormant cell that woke (_ORIGINS).
        self.origin = np.zeros(0, dtype=np.int8)
        self.founded_step = np.zeros(0, dtype=np.int64)
        #: 1 while a colony founded during a window lives the steps it missed.
        self.catch_up = np.zeros(0, dtype=np.int8)

    def __len__(self) -> int:
        return len(self.row)

    def append(self, **cols: np.ndarray) -> None:
        n = len(cols["row"])
        if not n:
            return
        for name, dtype in self.COLUMNS.items():
            new = cols.get(name)
            if new is None:
                new = np.full(n, np.nan if dtype is float else 0, dtype=dtype)
            setattr(self, name, np.concatenate([getattr(self, name), np.asarray(new, dtype)]))

    def keep(self, mask: np.ndarray) -> None:
        for name in self.COLUMNS:
            setattr(self, name, getattr(self, name)[mask])

    def take(self, index: np.ndarray) -> dict[str, np.ndarray]:
        return {name: getattr(self, name)[index] for name in self.COLUMNS}


class PopulationEngine:
    """A batch of patients of ``scenario``, stepped together.

    Parameters
    ----------
    scenario
        The scenario (:func:`unsupported` must be empty).
    streams
        Each patient's own stream: its traits and its measurements draw from it, as in
        :class:`~sim.engine.model.MetastasisModel`.
    rng
        The generator of the courses (all patients of the batch).
    replicates
        Each patient's number, recorded in its result (default 0, 1, ...).
    exposure_bin_days
        If given, record :attr:`founding_exposure`: per time bin of this width, patient,
        organ and unit kind (single cell, cluster), the expected number of colonies founded
        (the sum over steps of the units at risk times their probability of founding one).
        What :func:`sim.experiments.emulator.site_emulator` needs; it draws nothing, so the
        courses are the same with or without it.

    >>> import numpy as np
    >>> from sim import load_scenario
    >>> sc = load_scenario("presets/breast", [("simulation.horizon_days", 30)])
    >>> streams = [np.random.SeedSequence(1, spawn_key=(i,)) for i in range(3)]
    >>> results = PopulationEngine(sc, streams, np.random.default_rng(2)).run()
    >>> [r.replicate for r in results]
    [0, 1, 2]
    """

    def __init__(self, scenario: Scenario, streams: Sequence[np.random.SeedSequence],
                 rng: np.random.Generator, replicates: Sequence[int] | None = None,
                 exposure_bin_days: float | None = None):
        problems = unsupported(scenario)
        if problems:
            raise ValueError("the population engine does not run " + "; ".join(problems))
        sc = self.scenario = scenario
        self.streams = list(streams)
        n = len(self.streams)
        self.replicates = list(range(n) if replicates is None else replicates)
        self.rng = rng
        self.traits: list[PatientTraits] = [patient_traits(sc, s) for s in self.streams]
        self.dt = sc.simulation.dt_days
        self.n_steps = sc.simulation.n_steps
        self.record_every_days = max(self.dt, min(30.0, sc.simulation.horizon_days / 100.0))
        self.clones = list(sc.primary.subclones)
        self.C = len(self.clones)
        self.R = N_ORGANS * self.C * 2
        self.k_cluster = sc.clusters.cells_per_cluster
        #: Cells per unit of each lodged row (1 or the cluster size).
        self.unit_cells = np.tile(np.array([1, self.k_cluster], dtype=np.int64),
                                  N_ORGANS * self.C)
        self.row_organ = np.repeat(np.arange(N_ORGANS), self.C * 2)
        self.row_clone = np.tile(np.repeat(np.arange(self.C), 2), N_ORGANS)
        #: The lodged rows of each organ (organ x subclone x unit kind), in order.
        self.organ_rows = np.arange(self.R).reshape(N_ORGANS, self.C * 2)
        col = sc.colonization
        self.detectable_cells = diameter_to_cells(col.detectable_diameter_mm)
        self.autopsy_cells = diameter_to_cells(col.autopsy_detectable_diameter_mm)
        self.avascular_cells = diameter_to_cells(col.avascular_diameter_mm)
        self.node_min_cells = diameter_to_cells(NODE_METASTASIS_MIN_DIAMETER_MM)
        self.p_switch = step_probability(col.angiogenic_switch_rate_per_day, self.dt)
        self.daily = sc.population.daily_steps
        #: Steps between two records: no window is longer.
        self.window = 1 if self.daily else math.ceil(self.record_every_days / self.dt) + 1
        cap = col.dormant_niche_capacity
        self.capacity = -1 if cap is None else int(cap)
        self._transit_tables()
        self._rows(n)
        self.exposure_bin_days = exposure_bin_days
        #: (bin, patient, organ, unit kind): expected colonies founded (``exposure_bin_days``).
        self.founding_exposure: np.ndarray | None = None
        if exposure_bin_days is not None:
            bins = int(sc.simulation.horizon_days // exposure_bin_days) + 2
            self.founding_exposure = np.zeros((bins, n, N_ORGANS, 2))

    # ------------------------------------------------------------------ set-up
    def _transit_tables(self) -> None:
        sc = self.scenario
        self.entry_p = entry_probabilities(sc)
        self.p_invasion = np.array([scale_probability(sc.invasion.success_probability,
                                                      c.invasion) for c in self.clones])
        self.clone_weights = np.array([c.fraction * c.shedding for c in self.clones])
        self.clone_shedding = np.array([c.shedding for c in self.clones])
        entries = sorted(set(PRIMARY_ENTRIES) | {metastasis_entry(o) for o in ORGAN_KEYS})
        self.organ_entry_index = np.array([entries.index(metastasis_entry(o))
                                           for o in ORGAN_KEYS])
        # A *group* is one kind of shed unit from one source: (subclone, unit kind) from the
        # primary, (entry route, subclone, unit kind) from the macrometastases. Per group:
        # the probability of arresting in each organ (by the blood or another route), and
        # of each other outcome - failed invasion, death on each route after entering the
        # blood, death on each route after entering otherwise (``_nonlodging``).
        O, D = N_ORGANS, len(DEATH_ROUTES)
        groups: list[tuple[int, int, int]] = [(-1, ci, unit) for ci in range(self.C)
                                              for unit in (0, 1)]
        groups += [(e, ci, unit) for e in range(len(entries)) for ci in range(self.C)
                   for unit in (0, 1)]
        self.group_index = {g: i for i, g in enumerate(groups)}
        G = len(groups)
        self.group_unit_cells = np.array([self.k_cluster if g[2] else 1 for g in groups])
        # Per lodged row (zero in the rows of other subclones and unit kinds): arrest by any
        # route, and by the blood.
        cols = [(np.arange(O) * self.C + g[1]) * 2 + g[2] for g in groups]
        self.group_arrest_rows = np.zeros((G, self.R))
        self.group_venous_rows = np.zeros((G, self.R))
        self.group_nonlodging = np.zeros(G)        # all the other outcomes together
        self.group_outcomes = np.zeros((G, 1 + 2 * D))   # those outcomes, given one of them
        self.venous_death = np.zeros(1 + 2 * D, dtype=bool)
        self.venous_death[1:1 + D] = True
        for ci, clone in enumerate(self.clones):
            p_inv = float(self.p_invasion[ci])
            for unit in (0, 1):
                mult = clone.transit_death * (sc.clusters.transit_death_multiplier
                                              if unit else 1.0)
                chain = chain_for(sc, mult)
                absorbed = {e: normalise(chain.absorption(e)) for e in entries}
                size = len(absorbed[entries[0]])
                venous, other = np.zeros(size), np.zeros(size)
                for e, pe in zip(PRIMARY_ENTRIES, self.entry_p.tolist(), strict=True):
                    if e in VENOUS_ENTRIES:
                        venous += pe * absorbed[e]
                    else:
                        other += pe * absorbed[e]
                marks = {self.group_index[(-1, ci, unit)]: (p_inv * venous, p_inv * other)}
                for i, e in enumerate(entries):
                    zero = np.zeros(size)
                    v = e in VENOUS_ENTRIES
                    marks[self.group_index[(i, ci, unit)]] = (
                        p_inv * absorbed[e] if v else zero, zero if v else p_inv * absorbed[e])
                for g, (ven, oth) in marks.items():
                    self.group_arrest_rows[g, cols[g]] = ven[:O] + oth[:O]
                    self.group_venous_rows[g, cols[g]] = ven[:O]
                    rest = np.concatenate([[1.0 - p_inv], ven[O:], oth[O:]])
                    self.group_nonlodging[g] = rest.sum()
                    self.group_outcomes[g] = rest / rest.sum() if rest.sum() > 0 else 0.0
        ex, col, cl = sc.extravasation, sc.colonization, sc.clusters
        unit_mult = np.where(np.arange(self.R) % 2 == 1, cl.proliferation_multiplier, 1.0)
        c_ext = np.array([self.clones[c].extravasation for c in self.row_clone])
        self.p_arrested = competing_risks_array(np.stack(
            [ex.rate_per_day * c_ext, np.full(self.R, ex.intravascular_death_rate_per_day)],
            axis=-1), self.dt)
        # Per patient: the soil affinity carries the patient's competence multiplier.
        self._affinity = affinity_vector(sc)[self.row_organ]
        self._grow = (np.array([self.clones[c].proliferation for c in self.row_clone])
                      * unit_mult * col.competence)
        self._wake = (np.array([self.clones[c].awakening for c in self.row_clone])
                      * unit_mult * col.competence)
        self._dormancy = np.array([self.clones[c].dormancy for c in self.row_clone])

    def _lodged_tables(self, multiplier: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(solitary, dormant) outcome probabilities per patient and row, as
        :class:`~sim.engine.cohorts.LodgedCells` builds them for one patient."""
        col = self.scenario.colonization
        aff = multiplier[:, None] * self._affinity[None, :]
        n = len(multiplier)
        sol = competing_risks_array(np.stack([
            np.full((n, self.R), col.solitary_death_rate_per_day),
            np.broadcast_to(col.dormancy_rate_per_day * self._dormancy, (n, self.R)),
            col.proliferation_rate_per_day * aff * self._grow], axis=-1), self.dt)
        dorm = competing_risks_array(np.stack([
            np.full((n, self.R), col.dormant_death_rate_per_day),
            col.awakening_rate_per_day * aff * self._wake], axis=-1), self.dt)
        return sol, dorm

    def _rows(self, n: int) -> None:
        """Per-row state for ``n`` patients (twins are appended as rows later)."""
        sc, p = self.scenario, self.scenario.primary
        t = self.traits
        self.patient = np.arange(n)                 # patient index of each row
        self.is_twin = np.zeros(n, dtype=bool)
        self.active = np.ones(n, dtype=bool)
        dbl = np.array([x.doubling_time_days for x in t])
        self.shedding = np.array([x.shedding_rate_per_gram_per_day for x in t])
        self.multiplier = np.array([x.colonization_multiplier for x in t])
        self.diagnosis_cells = np.array([diameter_to_cells(x.diagnosis_diameter_mm) for x in t])
        at = diameter_to_cells(p.diagnosis_diameter_mm)
        self.primary = np.full(n, float(p.initial_cells) if p.present else 0.0)
        self.gompertz_rate = np.array([gompertz_rate_from_doubling(d, at,
                                                                   p.carrying_capacity_cells)
                                       for d in dbl])
        self.p_solitary, self.p_dormant = self._lodged_tables(self.multiplier)
        self.p_arrested_rows = np.broadcast_to(self.p_arrested, (n, *self.p_arrested.shape)).copy()
        self.step_venous_mean = np.zeros((n, 2))
        self.lodged = np.zeros((3, n, self.R), dtype=np.int64)
        #: The step as of which ``lodged`` is drawn (-1: before the first step), and the
        #: mean units arrested at each later step, not yet drawn (``pend[row, s]``: step
        #: ``lazy_step + s``): the lodged cells move from one event to the next.
        self.lazy_step = np.full(n, -1, dtype=np.int64)
        self.pend = np.zeros((n, self.window + 2, self.R))
        #: Mean circulating units killed by a systemic therapy (single, cluster), not yet
        #: drawn, and the share of the arrested ones that came from metastases.
        self.pend_killed = np.zeros((n, 2))
        self.pend_met = np.zeros((n, 2))
        F, O = len(FUNNEL_STAGES), N_ORGANS
        self.reached = np.zeros((n, F), dtype=np.int64)
        self.lost = np.zeros((n, F), dtype=np.int64)
        self.lost_route = np.zeros((n, len(DEATH_ROUTES)), dtype=np.int64)
        self.shed_total = np.zeros(n, dtype=np.int64)
        self.shed_by_met = np.zeros(n, dtype=np.int64)
        self.founded = np.zeros((n, 2), dtype=np.int64)
        self.switched = np.zeros((n, 2), dtype=np.int64)
        self.founded_by_organ = np.zeros((n, O), dtype=np.int64)
        self.arrested_by_organ = np.zeros((n, O), dtype=np.int64)
        self.step_shed = np.zeros(n, dtype=np.int64)
        self.step_ctc = np.zeros(n, dtype=np.int64)
        #: Whether step_ctc has been drawn for this step (it is drawn when looked at).
        self.step_ctc_known = np.ones(n, dtype=bool)
        G = len(self.group_unit_cells)
        #: Shed units that did not arrest, per group: not yet split into their outcomes.
        self.nonlodging_units = np.zeros((G, n), dtype=np.int64)
        self.nonlodging_step = np.zeros((G, n), dtype=np.int64)
        self.arrived_primary = np.zeros((n, self.R), dtype=np.int64)
        self.venous_share_primary = np.zeros((n, self.R))
        self.arrived_met: np.ndarray | None = None
        self.venous_share_met: np.ndarray | None = None
        self.died = np.zeros(n, dtype=bool)
        self.end_day = np.full(n, np.nan)
        self.first_detectable = np.full(n, np.nan)
        self.first_distant = np.full(n, np.nan)
        self.first_macro = np.full(n, np.nan)
        self.diagnosed = np.zeros(n, dtype=bool)
        self.measure_due = np.zeros(n, dtype=bool)
        self.resection_day = np.full(n, np.nan)
        self.relapse_day = np.full(n, np.nan)
        self.twin_resect = np.zeros(n, dtype=bool)   # a twin's resection at the next step
        self.touched = np.zeros(n, dtype=bool)       # an intervention started (the twin rule)
        self.detected_organs = np.zeros((n, O), dtype=bool)
        self.symptomatic = np.zeros((n, O), dtype=bool)
        its = sc.intervention
        J = len(its)
        self.its = list(its)
        self.sched = np.full((n, J), np.inf)
        self.pending_at = np.zeros((n, J), dtype=bool)
        self.active_end = np.full((n, J), np.nan)
        for j, it in enumerate(its):
            if it.day is not None:
                self.sched[:, j] = it.day + it.delay_days
            else:
                self.pending_at[:, j] = True
        self.colonies = _Colonies()
        # Per patient (not per row): plain Python, written rarely.
        self.events: list[list[dict]] = [[] for _ in range(n)]
        self.diagnosis: list[dict | None] = [None] * n
        self.metastatic_sample: list[dict | None] = [None] * n
        self.relapse: list[tuple[str, float] | None] = [None] * n
        self.initiated: list[bool | None] = [None] * n
        self.results: list[PatientResult | None] = [None] * n
        self.series: list[list[tuple[float, np.ndarray, np.ndarray]]] = [[] for _ in range(n)]
        self._twin_of: dict[int, int] = {}           # twin row -> patient
        self._measure: dict[int, np.random.Generator] = {}   # patient -> its stream
        self.twins_assessed = sc.population.assess_initiated

    # ------------------------------------------------------------------ running
    def run(self) -> list[PatientResult]:
        """Every patient of the batch to the end of its course, in replicate order."""
        self.day = 0.0
        self.step_count = 0
        start = self.diagnosis_cells <= self.primary
        if self.scenario.primary.present:
            for r in np.flatnonzero(start & ~self.is_twin).tolist():
                self._diagnose(r, 0.0, events.diagnosis_at_start())
        self._record(np.flatnonzero(self.active))
        self.next_record = self.record_every_days
        if self.twins_assessed:
            self._spawn_twins(np.flatnonzero(self.measure_due & ~self.is_twin))
        while self.active.any():
            self.step()
        out = []
        for p, res in enumerate(self.results):
            assert res is not None  # every course ends by the horizon
            if self.twins_assessed and res.diagnosis is not None:
                res.initiated_at_diagnosis = self.initiated[p]
            out.append(res)
        return out

    def step(self) -> None:
        dt = self.dt
        self.step_end_day = (self.step_count + 1) * dt
        act = self.active
        s = self.step_count
        gm = self._start_of_step()
        # The daily reference moves every lodged cell now; otherwise they are drawn when
        # an event needs them (_bring_up).
        founders = self._bring_up(np.flatnonzero(act), s, defer=True) if self.daily else None
        first_before = np.isnan(self.first_detectable)
        self._advance_colonies(gm)
        newly = first_before & ~np.isnan(self.first_detectable) & act
        self._trigger("first_detection", np.flatnonzero(newly), self.step_end_day)
        if founders is not None and len(founders):
            self._found(founders, None)
        self._kill_colonies(self._kill_rates())
        self.step_shed[:] = 0
        arrivals = self._shed_and_travel()
        grow = act & (self.primary > 0)
        if grow.any():
            self.primary[grow] = gompertz(self.primary[grow],
                                          self.gompertz_rate[grow] * gm[grow],
                                          self.scenario.primary.carrying_capacity_cells, dt)
        newly_dx = act & ~self.diagnosed & (self.primary > 0) & \
            (self.primary >= self.diagnosis_cells) & ~self.is_twin
        if self.scenario.primary.present:
            for r in np.flatnonzero(newly_dx).tolist():
                self._diagnose(r, self.step_end_day, events.diagnosis(self.primary[r]))
        self._lodge(arrivals)
        for r in np.flatnonzero(self.measure_due & act & ~self.is_twin).tolist():
            self._measure_at_diagnosis(r)
        met = act & ~self.is_twin & ~np.isnan(self.first_distant)
        for r in np.flatnonzero(met).tolist():
            if self.metastatic_sample[self.patient[r]] is None:
                self.metastatic_sample[self.patient[r]] = {"day": self.step_end_day,
                                                           **self._blood_sample(r)}
        self.step_count += 1
        self.day = self.step_end_day
        lethal = self.scenario.simulation.lethal_burden_cells
        burden = self.primary + self._colony_burden()
        near = np.flatnonzero(act & (burden + self._lodged_cells(bound=True) >= lethal))
        self._bring_up(near, s)
        burden = burden + self._lodged_cells()
        dying = act & (burden >= lethal)
        for r in np.flatnonzero(dying).tolist():
            self._log(r, self.day, *events.death(burden[r]))
        self.died |= dying
        self._end_of_step()
        ending = dying | (act & (self.step_count >= self.n_steps))
        due = self.day >= self.next_record - 1e-9
        if due:
            self.next_record = self.day + self.record_every_days
        self._bring_up(np.flatnonzero(act if due else ending), s)
        self._record(np.flatnonzero(act if due else ending))
        if self.twins_assessed:
            self._bring_up(np.flatnonzero(newly_dx & ~ending), s)
            self._spawn_twins(np.flatnonzero(newly_dx & ~ending))
            for r in np.flatnonzero(newly_dx & ending).tolist():
                # The course ends in the diagnosis step: the twin's ends there as well.
                self.initiated[self.patient[r]] = not math.isnan(self.first_distant[r])
        self._finish(np.flatnonzero(ending))

    # ------------------------------------------------------------------ the clinic
    def _log(self, r: int, day: float, event: str, organ: str = "", detail: str = "") -> None:
        if self.is_twin[r]:
            return
        self.events[self.patient[r]].append({"day": float(day), "event": event,
                                             "organ": organ, "detail": detail})

    def _trigger(self, event: str, rows: np.ndarray, day: float) -> None:
        for j, it in enumerate(self.its):
            if it.at != event or not len(rows):
                continue
            hit = rows[self.pending_at[rows, j]]
            self.sched[hit, j] = day + it.delay_days
            self.pending_at[hit, j] = False

    def _start_of_step(self) -> np.ndarray:
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
        ending = self.active[:, None] & (self.active_end <= now + 1e-9)
        due = self.active[:, None] & (self.sched < now + dt - 1e-9)
        # A therapy changes the lodged cells' hazards and the colonies: their course so far
        # is drawn with the hazards it had.
        self._bring_up(np.flatnonzero((ending | due).any(axis=1)), self.step_count - 1)
        for r, j in zip(*np.nonzero(ending), strict=True):
            it = self.its[j]
            self._log(r, self.active_end[r, j], *events.intervention_end(it))
            self.active_end[r, j] = np.nan
        rows, js = np.nonzero(due)
        order = np.lexsort((js, self.sched[rows, js], rows))
        for r, j in zip(rows[order].tolist(), js[order].tolist(), strict=True):
            start = max(float(self.sched[r, j]), now)
            self.sched[r, j] = np.inf
            self._start(r, j, start)
        return self._growth_multipliers()

    def _growth_multipliers(self) -> np.ndarray:
        """The growth multiplier per row of the growth inhibitions running now."""
        gm = np.ones(len(self.active))
        for j, it in enumerate(self.its):
            if it.kind == "growth_inhibition":
                gm = np.where(~np.isnan(self.active_end[:, j]), gm * it.growth_multiplier, gm)
        return gm

    def _start(self, r: int, j: int, day: float) -> None:
        it = self.its[j]
        self.touched[r] = True
        if it.kind == "resection":
            before = self.primary[r]
            self.primary[r] = 0.0 if it.fraction_removed >= 1.0 else \
                before * (1.0 - it.fraction_removed)
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

    def _kill_rates(self) -> dict[str, np.ndarray] | None:
        """Summed kill rates per row of the systemic therapies running now."""
        running = [j for j, it in enumerate(self.its) if it.kind == "systemic"
                   and not np.isnan(self.active_end[:, j]).all()]
        if not running:
            return None
        out: dict[str, np.ndarray] = {}
        for j in running:
            on = ~np.isnan(self.active_end[:, j])
            for k, v in self.its[j].kill_rates().items():
                out[k] = out.get(k, np.zeros(len(on))) + np.where(on, v, 0.0)
        return out

    def _kill_colonies(self, rates: dict[str, np.ndarray] | None,
                       select: np.ndarray | None = None) -> None:
        """A systemic therapy's kill of the (``select``-ed) colonies this step (the lodged
        cells': :func:`sim.engine.lodged_windows.one_step_matrix`)."""
        c = self.colonies
        if rates is None or not len(c):
            return
        zero = np.zeros(len(self.active))
        rate = np.where(c.phase == MACRO, rates.get("macrometastasis", zero)[c.row],
                        rates.get("micrometastasis", zero)[c.row])
        sel = np.ones(len(c), dtype=bool) if select is None else select
        self._thin_colonies(sel, -np.expm1(-rate * self.dt))

    def _thin_colonies(self, sel: np.ndarray, p: np.ndarray) -> float:
        """Kill each cell of the selected colonies with probability ``p`` (binomially below
        10^9 cells, by the expected fraction above), as :meth:`Colonies.thin`."""
        c = self.colonies
        hit = sel & (p > 0)
        if not hit.any():
            return 0.0
        before = c.cells.copy()
        small = hit & (c.cells < 1e9)
        cells = c.cells.copy()
        if small.any():
            cells[small] = self.rng.binomial(c.cells[small].astype(np.int64),
                                             1.0 - p[small]).astype(float)
        big = hit & ~small
        cells[big] = c.cells[big] * (1.0 - p[big])
        cells[big & (cells < 1.0)] = 0.0
        c.cells = cells
        killed = float((before - cells)[hit].sum())
        alive = cells >= 1.0
        back = hit & alive & (c.phase != MACRO) & (cells < self.avascular_cells)
        c.phase[back] = MICRO
        gone = hit & ~alive
        if gone.any():
            macro = gone & (c.phase == MACRO)
            np.add.at(self.lost[:, _F["macrometastasis"]], c.row[macro], c.founders[macro])
            np.add.at(self.lost[:, _F["micrometastasis"]], c.row[gone & ~macro],
                      c.founders[gone & ~macro])
            c.keep(~gone)
        return killed

    def _end_of_step(self) -> None:
        """Relapse after a resection and symptoms, as :meth:`Clinic.end_of_step`."""
        c = self.colonies
        act = self.active
        day = self.day
        watching = act & ~np.isnan(self.resection_day) & np.isnan(self.relapse_day)
        if watching.any() and len(c):
            big = (c.cells >= self.detectable_cells) & watching[c.row]
            if big.any():
                idx = np.flatnonzero(big)
                order = np.lexsort((idx, c.founded_day[idx], c.row[idx]))
                idx = idx[order]
                rows, first = np.unique(c.row[idx], return_index=True)
                for r, i in zip(rows.tolist(), idx[first].tolist(), strict=True):
                    self.relapse_day[r] = day
                    origin = _ORIGINS[c.origin[i]]
                    founded = float(c.founded_day[i])
                    self.relapse[self.patient[r]] = (origin, founded) if not self.is_twin[r] \
                        else None
                    self._log(r, day, *events.relapse(int(c.organ[i]),
                                                      day - self.resection_day[r], founded,
                                                      origin))
        if not len(c):
            return
        threshold = self.scenario.clinical.symptom_burden_cells
        n = len(act)
        burden = np.bincount(c.row * N_ORGANS + c.organ, weights=c.cells,
                             minlength=n * N_ORGANS).reshape(n, N_ORGANS)
        new = act[:, None] & (burden >= threshold) & ~self.symptomatic
        if not new.any():
            return
        for r in np.flatnonzero(new.any(axis=1)).tolist():
            # In the order the organs' colonies were founded, as the Mesa model logs them.
            mine = np.flatnonzero(c.row == r)
            organs = list(dict.fromkeys(c.organ[mine].tolist()))
            for o in organs:
                if new[r, o]:
                    self.symptomatic[r, o] = True
                    self._log(r, day, *events.symptoms(o))

    # ------------------------------------------------------------------ lodged cells
    def _kill_probabilities(self) -> np.ndarray:
        """Per row and lodged stage: the systemic therapies' kill probability this step."""
        out = np.zeros((len(self.active), 3))
        rates = self._kill_rates()
        if rates is not None:
            for i, stage in enumerate(("arrested", "solitary", "dormant")):
                if stage in rates:
                    out[:, i] = -np.expm1(-rates[stage] * self.dt)
        return out

    def _bring_up(self, rows: np.ndarray, target: int,
                  defer: bool = False) -> np.ndarray | None:
        """Draw the lodged cells of ``rows`` as of the end of step ``target``: every step
        since they were last drawn, in one window per place where the organ's niches
        cannot fill (:mod:`sim.engine.lodged_windows`). The colonies founded on the way are
        founded on their own day and grown to step ``target``; with ``defer``, they are
        returned instead (the daily reference founds them after the step's growth)."""
        rows = np.asarray(rows, dtype=np.int64)
        rows = rows[(self.lazy_step[rows] < target) | self.pend[rows, 0].any(axis=1)]
        if not len(rows):
            return None
        n = len(self.active)
        ledger = np.zeros((n, 6), dtype=np.int64)
        by_organ = np.zeros((n, N_ORGANS), dtype=np.int64)
        exposure = self.founding_exposure if self.founding_exposure is not None \
            else np.zeros((0, 1, 1, 2))
        if exposure.shape[1] < n:            # twins are rows of their own; not recorded
            pad = np.zeros((exposure.shape[0], n, N_ORGANS, 2))
            pad[:, :exposure.shape[1]] = exposure
            exposure = pad
        founders = lw.advance(
            self.rng, rows, np.full(len(rows), target, dtype=np.int64), self.lodged,
            self.lazy_step, self.pend, self.p_arrested_rows, self.p_solitary, self.p_dormant,
            self._kill_probabilities(), self.unit_cells, self.row_organ, N_ORGANS,
            self.capacity, 1 if self.daily else self.window, ledger, by_organ,
            exposure, self.dt, self.exposure_bin_days or 1.0)
        if self.founding_exposure is not None:
            self.founding_exposure[:] = exposure[:, :self.founding_exposure.shape[1]]
        F = _F
        self.lost[:, F["arrest"]] += ledger[:, lw.LOST_ARREST]
        self.lost[:, F["extravasation"]] += ledger[:, lw.LOST_EXTRAVASATION]
        self.lost[:, F["dormancy"]] += ledger[:, lw.LOST_DORMANCY]
        self.reached[:, F["extravasation"]] += ledger[:, lw.REACHED_EXTRAVASATION]
        self.reached[:, F["dormancy"]] += ledger[:, lw.REACHED_DORMANCY]
        self.arrested_by_organ += by_organ
        if not self.daily:
            # The arrivals drawn in the windows: the shed cells they were, in the ledger.
            arrested = ledger[:, lw.ARRESTED_CELLS]
            killed = np.zeros(n, dtype=np.int64)
            met = np.zeros(n, dtype=np.int64)
            live = rows[self.pend_killed[rows].any(axis=1)]
            if len(live):
                units = self.rng.poisson(self.pend_killed[live])
                killed[live] = units @ np.array([1, self.k_cluster])
            self.pend_killed[rows] = 0.0
            share = np.minimum(1.0, self.pend_met[rows, 0] / np.maximum(
                self.pend_met[rows, 1], 1e-300))
            met[rows] = self.rng.binomial(arrested[rows] + killed[rows], share)
            self.pend_met[rows] = 0.0
            shed = arrested + killed
            self.shed_total += shed
            self.shed_by_met += met
            self.reached[:, F["detachment"]] += shed
            self.reached[:, F["invasion"]] += shed
            self.reached[:, F["transit"]] += shed
            self.reached[:, F["arrest"]] += arrested
            self.lost[:, F["transit"]] += killed
        if defer:
            return founders
        if len(founders):
            self._found(founders, target)
        return None

    def _found(self, founders: np.ndarray, target: int | None) -> None:
        """New colonies, one per founding unit (as :meth:`Colonies.found`), each on the day
        of the step in which it was founded; colonies founded before step ``target`` then
        live the steps they missed (growth, the angiogenic switch, a systemic therapy's
        kill), as their step-by-step course would have had them."""
        rows, cols, steps, origin = (founders[:, i] for i in range(4))
        organ = self.row_organ[cols]
        size = self.unit_cells[cols]
        kind = (size > 1).astype(np.int64)
        np.add.at(self.reached[:, _F["micrometastasis"]], rows, size)
        np.add.at(self.founded, (rows, kind), 1)
        np.add.at(self.founded_by_organ, (rows, organ), 1)
        c = self.colonies
        c.append(row=rows, organ=organ, clone=self.row_clone[cols], founders=size,
                 cells=size.astype(float), phase=np.full(len(rows), MICRO),
                 founded_day=steps * self.dt, origin=origin, founded_step=steps,
                 catch_up=np.full(len(rows), 0 if target is None else 1))
        if target is None:
            return
        kill = self._kill_rates()
        gm = self._growth_multipliers()
        for step in range(int(steps.min()), target + 1):
            late = c.catch_up == 1
            if step > int(steps.min()):
                self._advance_colonies(gm, select=late & (c.founded_step < step),
                                       day=step * self.dt, end_day=(step + 1) * self.dt)
                late = c.catch_up == 1
            if kill is not None:
                self._kill_colonies(kill, late & (c.founded_step <= step))
        c.catch_up[:] = 0

    # ------------------------------------------------------------------ colonies
    def _advance_colonies(self, gm: np.ndarray, select: np.ndarray | None = None,
                          day: float | None = None, end_day: float | None = None) -> None:
        """Step 2: growth, the angiogenic switch, detection (as :meth:`Colonies.advance`),
        of the ``select``-ed colonies (all) in the step from ``day`` to ``end_day`` (this
        one)."""
        c = self.colonies
        if not len(c):
            return
        col, dt, rng = self.scenario.colonization, self.dt, self.rng
        day = self.day if day is None else day
        end_day = self.step_end_day if end_day is None else end_day
        chosen = np.ones(len(c), dtype=bool) if select is None else select
        micro = np.flatnonzero(chosen & (c.phase == MICRO))
        waiting = np.flatnonzero(chosen & (c.phase == LIMIT))
        macro = np.flatnonzero(chosen & (c.phase == MACRO))
        cells = c.cells.copy()
        if len(micro):
            mult = gm[c.row[micro]]
            new = np.empty(len(micro), dtype=np.int64)
            for g in np.unique(mult):
                sel = mult == g
                new[sel] = birth_death(rng, c.cells[micro[sel]].astype(np.int64),
                                       col.micrometastasis_birth_rate_per_day * g,
                                       col.micrometastasis_death_rate_per_day, dt)
            dead = micro[new == 0]
            np.add.at(self.lost[:, _F["micrometastasis"]], c.row[dead], c.founders[dead])
            cells[micro] = np.minimum(new, self.avascular_cells).astype(float)
            c.phase[micro[new >= self.avascular_cells]] = LIMIT
            cells[micro[new >= self.avascular_cells]] = self.avascular_cells
        if len(waiting):
            on = waiting[rng.random(len(waiting)) < self.p_switch]
            c.phase[on] = MACRO
            c.switched_day[on] = day
            np.add.at(self.reached[:, _F["macrometastasis"]], c.row[on], c.founders[on])
            np.add.at(self.switched, (c.row[on], (c.founders[on] > 1).astype(np.int64)), 1)
            first = np.isnan(self.first_macro[c.row[on]])
            self.first_macro[c.row[on][first]] = day
        if len(macro):
            mult = gm[c.row[macro]]
            for g in np.unique(mult):
                sel = macro[mult == g]
                cells[sel] = gompertz(c.cells[sel],
                                      col.macrometastasis_gompertz_rate_per_day * g,
                                      col.macrometastasis_carrying_capacity_cells, dt)
        c.cells = cells
        alive = (cells > 0) | ~chosen
        found = chosen & alive & np.isnan(c.detected_day) & (cells >= self.detectable_cells)
        if found.any():
            end = end_day
            c.detected_day[found] = end
            idx = np.flatnonzero(found)
            for i in idx.tolist():
                r = int(c.row[i])
                if math.isnan(self.first_detectable[r]):
                    self.first_detectable[r] = end
                if math.isnan(self.first_distant[r]) and c.organ[i] != _REGIONAL:
                    self.first_distant[r] = end
                o = int(c.organ[i])
                if not self.detected_organs[r, o]:
                    self.detected_organs[r, o] = True
                    mm = col.detectable_diameter_mm
                    self._log(r, end, *events.metastasis_detected(o, cells[i], mm))
        if not alive.all():
            c.keep(alive)

    def _colony_burden(self) -> np.ndarray:
        c = self.colonies
        return np.bincount(c.row, weights=c.cells, minlength=len(self.active))

    def _lodged_cells(self, bound: bool = False) -> np.ndarray:
        """Cells lodged per row as drawn; with ``bound``, a bound on them now that fails
        with probability below 10^-20: those plus a Poisson tail bound on the arrivals not
        yet drawn (the lodged cells only leave otherwise)."""
        drawn = (self.lodged.sum(axis=0) * self.unit_cells).sum(axis=1).astype(float)
        if not bound or self.daily:
            return drawn
        mean = self.pend.sum(axis=1) @ self.unit_cells.astype(float)
        return drawn + mean + lw.TAIL_SD * np.sqrt(mean) * self.k_cluster + lw.TAIL_ADD * self.k_cluster

    # ------------------------------------------------------------------ dissemination
    def _shed_and_travel(self) -> np.ndarray:
        """Steps 3 and 4: shedding from the primary and the macrometastases, invasion, route
        entry and transit, down to the units that arrest in each organ.

        The Mesa model draws the shed units (Poisson, by mass) and then splits them by
        binomial and multinomial draws (:meth:`Dissemination.shed`,
        :meth:`Dissemination.disseminate`). Splitting a Poisson count by independent
        choices gives independent Poisson counts for the outcomes, and independent Poisson
        counts add up to a Poisson count (the splitting and superposition properties), so
        here:

        * the units arresting in each lodged row (organ x subclone x unit kind) are one
          Poisson count for the primary and one for the macrometastases, whatever the
          route they took (``_poisson``);
        * the units of each group (``group_index``) with any other outcome - failed
          invasion, death on a route - are one Poisson count, split into those outcomes
          only when they are looked at: the ledger at the end of the course, the
          circulating cells of a blood sample or a record (:meth:`_settle_transit`).

        The same distribution as the Mesa model's draws, with far fewer draws. Returns the
        arrested units per lodged row: they lodge after the diagnosis check, as in the Mesa
        model.
        """
        sc, dt, rng = self.scenario, self.dt, self.rng
        f = sc.clusters.fraction_of_shedding_events
        a = sc.primary.shedding_mass_exponent
        per_event = (1.0 - f) + f * self.k_cluster
        n = len(self.active)
        G = len(self.group_unit_cells)
        mass = np.where(self.active, self.primary / 1e9, 0.0)
        events = (self.shedding * mass ** a * dt / per_event)[:, None] * self.clone_weights
        # Mean units per group and patient this step.
        lam = np.zeros((G, n))
        for ci in range(self.C):
            for unit, share in ((0, 1.0 - f), (1, f)):
                lam[self.group_index[(-1, ci, unit)]] = events[:, ci] * share
        c = self.colonies
        macro = np.flatnonzero((c.phase == MACRO) & self.active[c.row])
        met = len(macro) > 0
        if met:
            w = (c.cells[macro] / 1e9) ** a * self.clone_shedding[c.clone[macro]]
            ev = self.shedding[c.row[macro]] * w * dt / per_event
            entry = self.organ_entry_index[c.organ[macro]]
            clone = c.clone[macro]
            for e in np.unique(entry).tolist():
                for ci in range(self.C):
                    sel = (entry == e) & (clone == ci)
                    if sel.any():
                        lam_e = np.bincount(c.row[macro][sel], weights=ev[sel], minlength=n)
                        for unit, share in ((0, 1.0 - f), (1, f)):
                            lam[self.group_index[(e, ci, unit)]] = lam_e * share
        n_primary = 2 * self.C
        mean_primary, venous_primary = self._arrest_means(lam[:n_primary], 0)
        if not self.daily:
            return self._arrest_windowed(lam, mean_primary, venous_primary, met)
        arrived = self._poisson(mean_primary)
        self.arrived_primary = arrived
        self.venous_share_primary = venous_primary
        arrived_met = None
        if met:
            mean_met, venous_met = self._arrest_means(lam[n_primary:], n_primary)
            arrived_met = self._poisson(mean_met)
            self.venous_share_met = venous_met
            arrived = arrived + arrived_met
        self.arrived_met = arrived_met
        # The other outcomes: one Poisson count per group (units).
        nl = np.zeros((G, n), dtype=np.int64)
        mean_nl = lam * self.group_nonlodging[:, None]
        live = np.flatnonzero(mean_nl.any(axis=1))
        if len(live):
            nl[live] = rng.poisson(mean_nl[live])
        self.nonlodging_step = nl
        self.nonlodging_units += nl
        self.step_ctc_known[:] = False
        k_rows = self.unit_cells
        nl_cells = nl * self.group_unit_cells[:, None]
        from_primary = (self.arrived_primary @ k_rows) + nl_cells[:n_primary].sum(axis=0)
        self._count_shed(from_primary, False)
        if arrived_met is not None:
            self._count_shed(arrived_met @ k_rows + nl_cells[n_primary:].sum(axis=0), True)
        cells = arrived @ k_rows
        self.reached[:, _F["transit"]] += cells       # the rest when the others are split
        self.reached[:, _F["arrest"]] += cells
        self.primary = np.maximum(0.0, self.primary - from_primary)
        return arrived

    def _arrest_windowed(self, lam: np.ndarray, mean_primary: np.ndarray,
                         venous_primary: np.ndarray, met: bool) -> np.ndarray:
        """:meth:`_shed_and_travel` between events: the arrested units stay Poisson means,
        drawn with their fates (:meth:`_bring_up`). The primary loses its shed units as one
        Poisson count per unit kind with their mean; the units that did not arrest are drawn
        now, as in the daily reference."""
        n, G, rng = len(self.active), len(self.group_unit_cells), self.rng
        n_primary = 2 * self.C
        kinds = np.stack([self.unit_cells == 1, self.unit_cells > 1], axis=1).astype(float)
        cells = np.array([1.0, self.k_cluster])
        mean = mean_primary
        venous = (mean_primary * venous_primary) @ kinds
        lodging_p = rng.poisson(mean_primary @ kinds) @ cells
        lodging_m = np.zeros(n)
        met_cells = np.zeros(n)
        if met:
            mean_met, venous_met = self._arrest_means(lam[n_primary:], n_primary)
            mean = mean + mean_met
            venous = venous + (mean_met * venous_met) @ kinds
            met_cells = mean_met @ self.unit_cells
            lodging_m = rng.poisson(mean_met @ kinds) @ cells
        self.step_venous_mean = venous
        self.pend_met[:, 0] += met_cells
        self.pend_met[:, 1] += mean @ self.unit_cells
        nl = np.zeros((G, n), dtype=np.int64)
        mean_nl = lam * self.group_nonlodging[:, None]
        live = np.flatnonzero(mean_nl.any(axis=1))
        if len(live):
            nl[live] = rng.poisson(mean_nl[live])
        self.nonlodging_step = nl
        self.nonlodging_units += nl
        self.step_ctc_known[:] = False
        nl_cells = nl * self.group_unit_cells[:, None]
        nl_p, nl_m = nl_cells[:n_primary].sum(axis=0), nl_cells[n_primary:].sum(axis=0)
        for shed in (nl_p, nl_m):
            self.shed_total += shed
            self.reached[:, _F["detachment"]] += shed
            self.reached[:, _F["invasion"]] += shed
        self.shed_by_met += nl_m
        self.step_shed += (nl_p + lodging_p + nl_m + lodging_m).astype(np.int64)
        self.primary = np.maximum(0.0, self.primary - (nl_p + lodging_p))
        return mean

    def _arrest_means(self, lam: np.ndarray, first: int) -> tuple[np.ndarray, np.ndarray]:
        """Mean units arresting per patient and lodged row for the groups ``first``, ...
        with means ``lam`` (groups x patients), and the share of them that came by the
        blood."""
        last = first + len(lam)
        mean = lam.T @ self.group_arrest_rows[first:last]
        venous = lam.T @ self.group_venous_rows[first:last]
        share = np.divide(venous, mean, out=np.zeros_like(mean), where=mean > 0)
        return mean, np.minimum(share, 1.0)      # a share; rounding must not pass 1

    def _poisson(self, mean: np.ndarray) -> np.ndarray:
        """Independent Poisson counts with the given means (patients x outcomes): one draw
        each where the mean is at least 1, and for the rest of a patient's outcomes one
        Poisson total placed unit by unit (the same distribution, cheaper when the outcomes
        are rare)."""
        out = np.zeros(mean.shape, dtype=np.int64)
        rows = np.flatnonzero(mean.any(axis=1))
        if not len(rows):
            return out
        mean = mean[rows]
        big = mean >= 1.0
        sub = np.zeros(mean.shape, dtype=np.int64)
        sub[big] = self.rng.poisson(mean[big])
        small = np.where(big, 0.0, mean)
        total = small.sum(axis=1)
        m = self.rng.poisson(total)
        some = np.flatnonzero(m)
        if len(some):
            sub[some] += categorical_counts(self.rng, m[some], small[some] / total[some, None])
        out[rows] = sub
        return out

    def _ctc(self, rows: np.ndarray) -> None:
        """Circulating units of ``rows`` this step (cells, in ``step_ctc``): those that
        entered the blood and arrested, and those that died in it. Drawn when first looked
        at (a record or a blood sample): the arrested units by their route (binomial,
        given the step's arrested units and the share of them that came by the blood), the
        others by splitting the step's units that did not arrest (:meth:`_settle_transit`).
        """
        rows = rows[~self.step_ctc_known[rows]]
        if not len(rows):
            return
        venous = np.zeros(len(rows), dtype=np.int64)
        if not self.daily:
            units = self.rng.poisson(self.step_venous_mean[rows])
            venous += units @ np.array([1, self.k_cluster])
        for arrived, share in (() if not self.daily else
                               ((self.arrived_primary, self.venous_share_primary),
                               (self.arrived_met, self.venous_share_met))):
            if arrived is None or share is None:
                continue
            a = arrived[rows]
            if a.any():
                venous += self.rng.binomial(a, share[rows]) @ self.unit_cells
        venous += self._settle_transit(rows, self.nonlodging_step[:, rows])
        self.step_ctc[rows] = venous
        self.step_ctc_known[rows] = True

    def _settle_transit(self, rows: np.ndarray, units: np.ndarray) -> np.ndarray:
        """Split ``units`` (groups x ``rows``) of the shed units that did not arrest into
        failed invasion and death on each route (a multinomial draw per group and row, the
        group's fixed probabilities), write them to the ledger and take them off
        ``nonlodging_units``. Returns the cells of them that died in the blood, per row."""
        D = len(DEATH_ROUTES)
        venous = np.zeros(len(rows), dtype=np.int64)
        for g in np.flatnonzero(units.any(axis=1)).tolist():
            out = self.rng.multinomial(units[g], self.group_outcomes[g])
            k = int(self.group_unit_cells[g])
            self.nonlodging_units[g, rows] -= units[g]
            dead = (out[:, 1:1 + D] + out[:, 1 + D:]) * k
            self.lost[rows, _F["invasion"]] += out[:, 0] * k
            self.lost_route[rows] += dead
            self.lost[rows, _F["transit"]] += dead.sum(axis=1)
            self.reached[rows, _F["transit"]] += dead.sum(axis=1)
            venous += out[:, self.venous_death].sum(axis=1) * k
        return venous

    def _count_shed(self, cells: np.ndarray, by_metastasis: bool) -> None:
        self.shed_total += cells
        self.step_shed += cells
        self.reached[:, _F["detachment"]] += cells
        self.reached[:, _F["invasion"]] += cells
        if by_metastasis:
            self.shed_by_met += cells

    def _lodge(self, arrived: np.ndarray) -> None:
        """Arrested units join the lodged cells (systemic therapy kills some on the way,
        as :meth:`Clinic.thin_arrivals`); between events, their means join those not yet
        drawn."""
        rates = self._kill_rates()
        if not self.daily:
            if rates is not None and "circulating" in rates:
                p_kill = -np.expm1(-rates["circulating"] * self.dt)
                kinds = np.stack([self.unit_cells == 1, self.unit_cells > 1], axis=1)
                self.pend_killed += (arrived * p_kill[:, None]) @ kinds.astype(float)
                arrived = arrived * (1.0 - p_kill[:, None])
            s = self.step_count
            full = np.flatnonzero(self.active & (s - self.lazy_step >= self.pend.shape[1]))
            self._bring_up(full, s)
            act = np.flatnonzero(self.active)
            self.pend[act, s - self.lazy_step[act]] += arrived[act]
            return
        if rates is not None and "circulating" in rates:
            p_kill = -np.expm1(-rates["circulating"] * self.dt)
            killed = self.rng.binomial(arrived, p_kill[:, None])
            cells = killed @ self.unit_cells
            self.lost[:, _F["transit"]] += cells
            self.reached[:, _F["arrest"]] -= cells
            arrived = arrived - killed
        self.arrested_by_organ += (arrived * self.unit_cells).reshape(
            len(arrived), N_ORGANS, -1).sum(axis=2)
        self.lodged[ARRESTED] += arrived

    # ------------------------------------------------------------------ measurements
    def _diagnose(self, r: int, day: float, event: events.Event) -> None:
        self._bring_up(np.array([r]), self.step_count)
        self.diagnosed[r] = True
        self.diagnosis[self.patient[r]] = self._diagnosis_snapshot(r, day)
        self._log(r, day, *event)
        self._trigger("diagnosis", np.array([r]), day)
        self.measure_due[r] = True

    def _diagnosis_snapshot(self, r: int, day: float) -> dict[str, float]:
        """As :func:`~sim.engine.results.diagnosis_snapshot` for row ``r``."""
        c = self.colonies
        mine = c.row == r
        in_organ = np.zeros(N_ORGANS)
        np.add.at(in_organ, self.row_organ,
                  (self.lodged[:, r, :].sum(axis=0) * self.unit_cells).astype(float))
        np.add.at(in_organ, c.organ[mine], c.cells[mine])
        big = mine & (c.cells >= self.detectable_cells)
        return {
            "day": float(day),
            "primary_cells": float(self.primary[r]),
            "primary_diameter_mm": float(cells_to_diameter_mm(self.primary[r])),
            "disseminated_cells": float(in_organ.sum()),
            "distant_cells": float(in_organ.sum() - in_organ[_REGIONAL]),
            "dormant_cells": float((self.lodged[DORMANT, r] * self.unit_cells).sum()),
            "colonies": float(mine.sum()),
            "micrometastases": float((mine & (c.phase != MACRO)).sum()),
            "detectable": float(big.sum()),
            "distant_detectable": float((big & (c.organ != _REGIONAL)).sum()),
            "node_positive": float((mine & (c.organ == _REGIONAL)
                                    & (c.cells >= self.node_min_cells)).any()),
        }

    def _measurements(self, r: int) -> np.random.Generator:
        """The measurement stream of row ``r``'s patient (as the Mesa model's)."""
        p = self.patient[r]
        if p not in self._measure:
            self._measure[p] = measurement_stream(self.streams[p])
        return self._measure[p]

    def _blood_sample(self, r: int) -> dict[str, float]:
        c = self.scenario.circulation
        self._ctc(np.array([r]))
        return blood_sample(self._measurements(r), float(self.step_ctc[r]) / self.dt,
                            c.ctc_half_life_hours, self.scenario.sex,
                            c.arrest_probability_per_pass)

    def _measure_at_diagnosis(self, r: int) -> None:
        self._bring_up(np.array([r]), self.step_count)
        self.measure_due[r] = False
        d = self.diagnosis[self.patient[r]]
        assert d is not None
        d.update(self._blood_sample(r))
        bone = self.row_organ == _BONE
        d.update(marrow_sample(self._measurements(r),
                               float((self.lodged[:, r, bone] * self.unit_cells[bone]).sum())))

    # ------------------------------------------------------------------ twins
    def _spawn_twins(self, rows: np.ndarray) -> None:
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
                     "lazy_step", "pend", "pend_killed", "pend_met", "step_venous_mean",
                     "reached", "lost",
                     "lost_route", "shed_total", "shed_by_met", "founded", "switched",
                     "founded_by_organ", "arrested_by_organ", "step_shed", "step_ctc", "died",
                     "step_ctc_known", "arrived_primary", "venous_share_primary",
                     "end_day", "first_detectable", "first_distant", "first_macro",
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

    # ------------------------------------------------------------------ output
    def _record(self, rows: np.ndarray) -> None:
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

    def _finish(self, rows: np.ndarray) -> None:
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

    def _result(self, r: int) -> PatientResult:
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
            metastatic_sample=self.metastatic_sample[p])


__all__ = ["PopulationEngine", "categorical_counts", "unsupported"]
