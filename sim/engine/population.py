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
  Poisson total placed unit by unit (:func:`categorical_counts`);
* steps in which nothing happens that the Python step acts on run in compiled stretches
  (:func:`sim.engine.step_kernels.quiet_stretch`, :meth:`PopulationEngine._quiet_steps`),
  with the same compiled pieces as the Python step: the same courses, bit for bit.

The engine is exact in distribution but for named approximations of joint laws (the
primary's loss of shed cells, the circulating cells of a step and the metastases' share of
shed cells drawn apart from the fates of the arrested units: docs/model-and-evidence.md,
"Two engines, one model"; ``population.daily_steps = true`` removes them and is the
engine's daily reference), and
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
from typing import Any

import numpy as np

from ..biology.cascade import (
    gompertz_rate_from_doubling,
    lodged_clones,
)
from ..biology.measurements import NODE_METASTASIS_MIN_DIAMETER_MM
from ..biology.patients import PatientTraits
from ..biology.stages import FUNNEL_STAGES
from ..biology.units import (
    competing_risks_array,
    diameter_to_cells,
    step_probability,
)
from ..config.schema import Scenario
from . import events
from . import lodged_windows as lw
from . import population_clinic as clinic
from . import population_colonies as colonies
from . import population_output as output
from . import population_stretches as stretches
from . import population_transit as transit
from . import step_kernels as sk
from .clinic import (
    WHOLE_BODY,
    death_causes,
    metastatic_burden_reached,
    organ_lethal_vector,
    primary_organ_index,
)
from .model import patient_traits
from .population_layout import (
    DEATH_ROUTES,
    N_ORGANS,
    REGIONAL,
    ColonyTable,
    F,
)
from .population_transit import categorical_counts
from .results import PatientResult


def unsupported(scenario: Scenario) -> list[str]:
    """What in ``scenario`` the population engine does not run (empty: it runs it)."""
    return scenario.population_engine_blockers()


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

    # The circulation tables of each group of shed units (population_transit.transit_tables).
    entry_p: np.ndarray
    p_invasion: np.ndarray
    clone_weights: np.ndarray
    clone_shedding: np.ndarray
    organ_entry_index: np.ndarray
    group_index: dict[tuple[int, int, int], int]
    group_unit_cells: np.ndarray
    group_arrest_rows: np.ndarray
    group_venous_rows: np.ndarray
    group_venous_units: np.ndarray
    group_nonlodging: np.ndarray
    group_outcomes: np.ndarray
    group_places: np.ndarray
    primary_group: np.ndarray
    entry_group: np.ndarray
    venous_death: np.ndarray
    # The lodged cells' hazards per place (the soil, the subclones' traits).
    p_arrested: np.ndarray
    _affinity: np.ndarray
    _grow: np.ndarray
    _wake: np.ndarray
    _dormancy: np.ndarray

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
        self.clones = lodged_clones(sc.primary.subclones, sc.primary.seed_competence_exponent)
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
        #: Each lodged row's spent copy (-1 for the spent rows, or without spent clones):
        #: where the arrivals that cannot found a colony lodge.
        real = len(sc.primary.subclones)
        spent = (self.row_clone < real) & (self.C > real)
        self.spent_row = np.where(spent, np.arange(self.R) + 2 * real, -1).astype(np.int64)
        col = sc.colonization
        self.detectable_cells = diameter_to_cells(col.detectable_diameter_mm)
        self.autopsy_cells = diameter_to_cells(col.autopsy_detectable_diameter_mm)
        self.avascular_cells = diameter_to_cells(col.avascular_diameter_mm)
        self.organ_lethal = organ_lethal_vector(sc.simulation)
        self.primary_organ = primary_organ_index(sc)
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
        #: Whether quiet steps run in compiled stretches (:meth:`_quiet_steps`): the same
        #: courses either way, bit for bit; False runs every step in Python.
        self.stretches = True
        #: Steps run in stretches so far (for the tests and benchmarks).
        self.stretched_steps = 0
        #: (bin, patient, organ, unit kind): expected colonies founded (``exposure_bin_days``).
        self.founding_exposure: np.ndarray | None = None
        if exposure_bin_days is not None:
            bins = int(sc.simulation.horizon_days // exposure_bin_days) + 2
            self.founding_exposure = np.zeros((bins, n, N_ORGANS, 2))

    # ------------------------------------------------------------------ set-up
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
        #: The cells of ``pend``, for the lethal-burden bound.
        self.pend_cells = np.zeros(n)
        self.pend_met = np.zeros((n, 2, 2))
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
        #: The blood sample at the metastatic burden is taken (or not wanted: the twins).
        self.burden_sampled = np.zeros(n, dtype=bool)
        #: Why each row's course ended (sim.engine.clinic.death_causes; -1: it did not).
        self.death_code = np.full(n, -1, dtype=np.int64)
        self.end_day = np.full(n, np.nan)
        self.first_detectable = np.full(n, np.nan)
        self.first_distant = np.full(n, np.nan)
        self.first_distant_founded = np.full(n, np.nan)
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
        self.colonies = ColonyTable()
        # Per patient (not per row): plain Python, written rarely.
        self.events: list[list[dict[str, Any]]] = [[] for _ in range(n)]
        self.diagnosis: list[dict[str, float] | None] = [None] * n
        self.metastatic_sample: list[dict[str, float] | None] = [None] * n
        self.burden_sample: list[dict[str, float] | None] = [None] * n
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
        self.start()
        while self.active.any():
            if not self._quiet_steps():
                self.step()
        out = []
        for p, res in enumerate(self.results):
            assert res is not None  # every course ends by the horizon
            if self.twins_assessed and res.diagnosis is not None:
                res.initiated_at_diagnosis = self.initiated[p]
            out.append(res)
        return out

    def start(self) -> None:
        """Day 0: primaries already at their diagnosis size are diagnosed, the first
        record is taken and their twins spawned (then :meth:`step` runs the steps)."""
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

    def step(self) -> None:
        """One step of every active patient: its first half (the colonies, shedding and
        transit, the primary, the diagnosis, lodging, samples) and its second half (the
        lethal burden, relapse and symptoms, records, twins, the courses that end)."""
        act = self.active.copy()
        s = self.step_count
        newly_dx = self._first_half()
        self._second_half(act, s, newly_dx)

    def _first_half(self) -> np.ndarray:
        """The first half of a step; returns the rows diagnosed in it."""
        dt = self.dt
        self.step_end_day = (self.step_count + 1) * dt
        act = self.active
        s = self.step_count
        gm = self._start_of_step()
        # The daily reference moves every lodged cell now; otherwise they are drawn when
        # an event needs them (_bring_up).
        founders = self._bring_up(np.flatnonzero(act), s, defer=True) if self.daily else None
        first_before = np.isnan(self.first_detectable)
        c = self.colonies
        self._advance_colonies(gm, select=c.lazy == 0)
        c.as_of[c.lazy == 0] = s
        newly = first_before & ~np.isnan(self.first_detectable) & act
        self._trigger("first_detection", np.flatnonzero(newly), self.step_end_day)
        if founders is not None and len(founders):
            self._found(founders, None)
        self._kill_colonies(self._kill_rates())
        self.step_shed[:] = 0
        arrivals = self._shed_and_travel()
        sk.grow_primary(act, self.primary, self.gompertz_rate, gm,
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
        return newly_dx

    def _second_half(self, act: np.ndarray, s: int, newly_dx: np.ndarray) -> None:
        """The second half of step ``s`` for the rows ``act`` active at its start."""
        self.step_count += 1
        self.day = self.step_end_day
        self._sample_at_metastatic_burden(act, s)
        lethal = self.scenario.simulation.lethal_burden_cells
        near = death_causes(self.primary, self._organ_burden(bound=True),
                            self._lodged_cells(bound=True), self.primary_organ, lethal,
                            self.organ_lethal) >= 0
        self._bring_up(np.flatnonzero(act & near), s)
        organ = self._organ_burden()
        code = death_causes(self.primary, organ, self._lodged_cells(), self.primary_organ,
                            lethal, self.organ_lethal)
        dying = act & (code >= 0)
        if dying.any():
            burden = self.primary + self._colony_burden() + self._lodged_cells()
            for r in np.flatnonzero(dying).tolist():
                o = int(code[r]) if code[r] != WHOLE_BODY else -1
                in_organ = organ[r, o] + (self.primary[r] if o == self.primary_organ else 0.0) \
                    if o >= 0 else 0.0
                self._log(r, self.day, *events.death(burden[r], o, in_organ))
            self.death_code[dying] = code[dying]
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

    def _sample_at_metastatic_burden(self, act: np.ndarray, s: int) -> None:
        """The blood sample of the rows whose distant metastases first reach
        ``clinical.metastatic_sample_burden_cells`` this step (the Mesa model's
        ``_measure_at_metastatic_burden``; waiting colonies drawn first where their bound
        reaches it)."""
        want = act & ~self.burden_sampled & ~self.is_twin
        if not want.any():
            return
        burden = self.scenario.clinical.metastatic_sample_burden_cells
        near = want & metastatic_burden_reached(self._organ_burden(bound=True), burden)
        if not near.any():
            return
        self._bring_up(np.flatnonzero(near), s)
        organ = self._organ_burden()
        for r in np.flatnonzero(near & metastatic_burden_reached(organ, burden)).tolist():
            self.burden_sampled[r] = True
            self.burden_sample[self.patient[r]] = {
                "day": self.step_end_day,
                "metastatic_cells": float(organ[r].sum() - organ[r, REGIONAL]),
                **self._blood_sample(r)}

    # ------------------------------------------------------------------ lodged cells
    def _kill_probabilities(self) -> np.ndarray:
        """Per row and lodged stage: the systemic therapies' kill probability this step."""
        out = np.zeros((len(self.active), 3))
        rates = self._kill_rates()
        if rates is not None:
            for i, stage in enumerate(("arrested", "solitary", "dormant")):
                if stage in rates:
                    out[:, i] = step_probability(rates[stage], self.dt)
        return out

    def _bring_up(self, rows: np.ndarray, target: int,
                  defer: bool = False) -> np.ndarray | None:
        """Draw the lodged cells of ``rows`` as of the end of step ``target``: every step
        since they were last drawn, in one window per place where the organ's niches
        cannot fill (:mod:`sim.engine.lodged_windows`). The colonies founded on the way are
        founded on their own day and grown to step ``target``; with ``defer``, they are
        returned instead (the daily reference founds them after the step's growth)."""
        asked = rows = np.asarray(rows, dtype=np.int64)
        rows = rows[(self.lazy_step[rows] < target) | self.pend[rows, 0].any(axis=1)]
        if not len(rows):
            if not defer:
                self._bring_up_colonies(asked, target)
            return None
        n = len(self.active)
        ledger = np.zeros((n, lw.LEDGER_COLUMNS), dtype=np.int64)
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
        self.pend_cells[rows] = 0.0
        if self.founding_exposure is not None:
            self.founding_exposure[:] = exposure[:, :self.founding_exposure.shape[1]]
        self.lost[:, F["arrest"]] += ledger[:, lw.LOST_ARREST]
        self.lost[:, F["extravasation"]] += ledger[:, lw.LOST_EXTRAVASATION]
        self.lost[:, F["dormancy"]] += ledger[:, lw.LOST_DORMANCY]
        self.reached[:, F["extravasation"]] += ledger[:, lw.REACHED_EXTRAVASATION]
        self.reached[:, F["dormancy"]] += ledger[:, lw.REACHED_DORMANCY]
        self.arrested_by_organ += by_organ
        if not self.daily:
            # The arrivals drawn in the windows: the shed cells they were, in the ledger.
            # Units by kind (single cells, clusters): those arrested, and those a systemic
            # therapy killed in the blood (Poisson counts with their means).
            cells = np.array([1, self.k_cluster])
            arrested = ledger[:, lw.ARRESTED_CELLS]
            units = ledger[:, [lw.ARRESTED_SINGLE, lw.ARRESTED_CLUSTERS]]
            killed_units = np.zeros((n, 2), dtype=np.int64)
            live = rows[self.pend_killed[rows].any(axis=1)]
            if len(live):
                killed_units[live] = self.rng.poisson(self.pend_killed[live])
            killed = killed_units @ cells
            self.pend_killed[rows] = 0.0
            # Which of them came from metastases: of each kind, a binomial share (the mean
            # share of the window's means; named in docs/model-and-evidence.md).
            met_units = np.zeros((n, 2), dtype=np.int64)
            share = np.minimum(1.0, self.pend_met[rows, :, 0] / np.maximum(
                self.pend_met[rows, :, 1], 1e-300))
            met_units[rows] = self.rng.binomial(units[rows] + killed_units[rows], share)
            met = met_units @ cells
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
        self._bring_up_colonies(asked, target)
        return None

    def _lodged_cells(self, bound: bool = False) -> np.ndarray:
        """Cells lodged per row as drawn; with ``bound``, a bound on them now that fails
        with probability below 10^-20: those plus a Poisson tail bound on the arrivals not
        yet drawn (the lodged cells only leave otherwise)."""
        drawn = (self.lodged.sum(axis=0) * self.unit_cells).sum(axis=1).astype(float)
        if not bound or self.daily:
            return np.asarray(drawn)
        mean = self.pend_cells
        bounded: np.ndarray = (drawn + mean + lw.TAIL_SD * np.sqrt(mean) * self.k_cluster
                               + lw.TAIL_ADD * self.k_cluster)
        return bounded

    # The steps written in the population_* modules, by concern (each a method here).
    # shedding and transit: population_transit.py
    _transit_tables = transit.transit_tables
    _shed_and_travel = transit.shed_and_travel
    _arrest_means = transit.arrest_means
    _poisson = transit.poisson
    _ctc = transit.ctc
    _settle_transit = transit.settle_transit
    _count_shed = transit.count_shed
    _lodge = transit.lodge
    # colonies: population_colonies.py
    _kill_colonies = colonies.kill_colonies
    _thin_colonies = colonies.thin_colonies
    _found = colonies.found
    _assess_lazy = colonies.assess_lazy
    _bring_up_colonies = colonies.bring_up_colonies
    _advance_colonies = colonies.advance_colonies
    _colony_cells = colonies.colony_cells
    _colony_burden = colonies.colony_burden
    _organ_burden = colonies.organ_burden
    # the clinic and the diagnosis: population_clinic.py
    _log = clinic.log
    _trigger = clinic.trigger
    _start_of_step = clinic.start_of_step
    _growth_multipliers = clinic.growth_multipliers
    _start = clinic.start
    _kill_rates = clinic.kill_rates
    _end_of_step = clinic.end_of_step
    _diagnose = clinic.diagnose
    _diagnosis_snapshot = clinic.diagnosis_snapshot
    _measurements = clinic.measurements
    _blood_sample = clinic.draw_blood_sample
    _measure_at_diagnosis = clinic.measure_at_diagnosis
    # quiet stretches: population_stretches.py
    _quiet_limit = stretches.quiet_limit
    _quiet_steps = stretches.quiet_steps
    # twins, records and results: population_output.py
    _spawn_twins = output.spawn_twins
    _record = output.record
    _finish = output.finish
    _result = output.result



__all__ = ["PopulationEngine", "categorical_counts", "unsupported"]
