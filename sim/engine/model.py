"""The Mesa model: one simulated patient, from the primary tumour to its metastases.

One step of ``dt`` days, in this order (each rate is per day and acts for ``dt``):

1. lodged cells advance one stage: arrested -> extravasated (or dead); solitary -> dormant,
   proliferating (founding a colony) or dead; dormant -> awake (founding a colony) or dead;
2. colonies grow: birth-death while avascular, the angiogenic switch at the diffusion limit,
   Gompertz once vascularised; detection at the imaging threshold;
3. the primary tumour and the vascularised metastases shed cells (Poisson, by mass);
4. the cells shed in this step invade, enter a route and travel (the circulation chain)
   until they die or arrest; arrested cells wait for step 1 of the next step;
5. the course ends at the horizon or when the total tumour burden reaches the lethal burden.

Conservation: every cell ever shed is at each step end in exactly one place - arrested,
solitary, dormant, a founder of a live colony - or counted as lost at the stage where it died
(:meth:`MetastasisModel.conservation`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import mesa
import numpy as np

from ..biology.anatomy import DEATH_STATES, ORGAN_KEYS, VENOUS_ENTRIES, metastasis_entry
from ..biology.cascade import (
    arrest_and_extravasation,
    birth_death,
    detachment,
    dormancy,
    gompertz,
    invasion,
    normalise,
    route_entry,
    solitary_cell_fate,
    transit,
)
from ..biology.delivery import PRIMARY_ENTRIES, chain_for, entry_probabilities
from ..biology.soil import affinity_vector
from ..biology.units import competing_risks, scale_probability, step_probability
from ..config.scenario import Scenario, diameter_to_cells, load_scenario, make_scenario
from .agents import CellCohort, Colony, Phase, PrimaryTumour, Stage
from .clinic import Clinic
from .results import PatientResult

#: Funnel stages in cascade order. "reached" counts cells entering the stage, "lost" cells
#: that died there.
FUNNEL_STAGES: tuple[str, ...] = ("detachment", "invasion", "transit", "arrest",
                                  "extravasation", "dormancy", "micrometastasis",
                                  "macrometastasis")
_F = {s: i for i, s in enumerate(FUNNEL_STAGES)}
N_ORGANS = len(ORGAN_KEYS)


class SimulationLimitError(RuntimeError):
    """The scenario asks for more agents than ``simulation`` limits allow."""


# --------------------------------------------------------------------------------------
# Data reporters (one name: the reporter, the CSV quantity and the plot label)
# --------------------------------------------------------------------------------------

def primary_cells(model: MetastasisModel) -> float:
    return model.primary.cells


def shed_cells_per_day(model: MetastasisModel) -> float:
    return model.step_shed / model.dt


def ctc_entered_per_day(model: MetastasisModel) -> float:
    """Cells entering the blood per day (intravasation, from the primary or metastases)."""
    return model.step_ctc / model.dt


def arrested_cells(model: MetastasisModel) -> int:
    return model.cells_at(Stage.ARRESTED)


def solitary_cells(model: MetastasisModel) -> int:
    return model.cells_at(Stage.SOLITARY)


def dormant_cells(model: MetastasisModel) -> int:
    return model.cells_at(Stage.DORMANT)


def micrometastases(model: MetastasisModel) -> int:
    return sum(1 for c in model.colonies if c.phase is not Phase.MACRO)


def macrometastases(model: MetastasisModel) -> int:
    return sum(1 for c in model.colonies if c.phase is Phase.MACRO)


def detectable_metastases(model: MetastasisModel) -> int:
    return sum(1 for c in model.colonies if c.cells >= model.detectable_cells)


def metastatic_burden_cells(model: MetastasisModel) -> float:
    return float(sum(c.cells for c in model.colonies))


def colonies_by_organ(model: MetastasisModel) -> dict[str, int]:
    out = dict.fromkeys(ORGAN_KEYS, 0)
    for c in model.colonies:
        out[ORGAN_KEYS[c.organ]] += 1
    return out


def _colonies_of_at_least(model: MetastasisModel, cells: float) -> dict[str, int]:
    out = dict.fromkeys(ORGAN_KEYS, 0)
    for c in model.colonies:
        if c.cells >= cells:
            out[ORGAN_KEYS[c.organ]] += 1
    return out


def detectable_by_organ(model: MetastasisModel) -> dict[str, int]:
    """Colonies detectable on imaging, per organ."""
    return _colonies_of_at_least(model, model.detectable_cells)


def autopsy_by_organ(model: MetastasisModel) -> dict[str, int]:
    """Colonies large enough to be found at autopsy, per organ."""
    return _colonies_of_at_least(model, model.autopsy_cells)


def dormant_cells_by_organ(model: MetastasisModel) -> dict[str, int]:
    out = dict.fromkeys(ORGAN_KEYS, 0)
    for c in model.cohorts[Stage.DORMANT]:
        out[ORGAN_KEYS[c.organ]] += c.cells
    return out


MODEL_REPORTERS = {f.__name__: f for f in (
    primary_cells, shed_cells_per_day, ctc_entered_per_day, arrested_cells, solitary_cells,
    dormant_cells, micrometastases, macrometastases, detectable_metastases,
    metastatic_burden_cells)}
ORGAN_REPORTERS = {f.__name__: f for f in (colonies_by_organ, detectable_by_organ,
                                           dormant_cells_by_organ)}


# --------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------

class MetastasisModel(mesa.Model):
    """One simulated patient.

    Parameters
    ----------
    scenario
        A :class:`~sim.config.scenario.Scenario`, a mapping of scenario keys, a scenario file or a
        bundled name (``"breast"``, ``"classroom/demo"``), or None for the defaults.
    rng
        Seed or generator for all randomness (int, :class:`numpy.random.SeedSequence`,
        :class:`numpy.random.Generator`); None uses ``simulation.seed``.
    hypothesis
        Shorthand for overriding the scenario's hypothesis.
    overrides
        ``{"dotted.key": value}`` overrides, validated like a scenario file.
    replicate
        Index recorded in the result.

    Examples
    --------
    >>> m = MetastasisModel("classroom/demo", rng=1, hypothesis="ewing")
    >>> m.run()
    >>> m.result().detectable_by_organ["lung"] >= 0
    True
    """

    def __init__(self, scenario: Scenario | Mapping[str, Any] | str | Path | None = None, *,
                 rng: Any = None, hypothesis: str | None = None,
                 overrides: Mapping[str, Any] | None = None, replicate: int = 0):
        sc = _as_scenario(scenario, overrides)
        if hypothesis is not None:
            sc = sc.with_hypothesis(hypothesis)
        if rng is None:
            rng = sc.simulation.seed
        super().__init__(rng=rng)
        self.running: bool = True
        self.scenario = sc
        self.replicate = replicate
        sim, col = sc.simulation, sc.colonization
        self.dt = sim.dt_days
        self.horizon_days = sim.horizon_days
        self.aggregate = sim.aggregate
        self.walk = sim.circulation == "walk"
        self.day = 0.0
        #: Steps taken; the day is always ``step_count * dt`` (never a running sum of dt, whose
        #: rounding made dt = 0.1 over 3650 days take 36,501 steps and end on day 3650.1).
        #: (Mesa's own ``steps`` counts calls of ``step``, including those after the end.)
        self.step_count = 0
        self.n_steps = max(1, math.ceil(sim.horizon_days / sim.dt_days - 1e-9))
        self.step_end_day = self.dt
        self.died = False
        self.max_units = 2_000_000
        self.detectable_cells = diameter_to_cells(col.detectable_diameter_mm)
        self.autopsy_cells = diameter_to_cells(col.autopsy_detectable_diameter_mm)
        self.avascular_limit_cells = diameter_to_cells(col.avascular_diameter_mm)

        p = sc.primary
        self.clones = list(p.subclones)
        self.cluster_size = sc.clusters.cells_per_cluster
        self.primary = PrimaryTumour(self, p.site, p.initial_cells, p.doubling_time_days,
                                     p.carrying_capacity_cells, present=p.present,
                                     doubling_at_cells=diameter_to_cells(p.diagnosis_diameter_mm))
        self._injections = sorted(sc.injection, key=lambda inj: inj.day)
        self._report_days = sorted(sc.assay.report_days)
        self.injected_total = 0
        self.assay: list[dict[str, float]] = []
        self.arrested_by_organ = np.zeros(N_ORGANS, dtype=np.int64)  # cumulative
        self._clone_shedding = np.array([c.fraction * c.shedding for c in self.clones])
        self._primary_entry_p = entry_probabilities(sc)
        self.affinity = affinity_vector(sc)
        # One chain per (clone, unit kind): transit death differs.
        self._chains = {}
        self._absorption: dict[tuple[int, int, str], np.ndarray] = {}
        for ci, clone in enumerate(self.clones):
            for unit in (0, 1):
                mult = clone.transit_death * (sc.clusters.transit_death_multiplier if unit else 1.0)
                self._chains[(ci, unit)] = chain_for(sc, mult)
        self._death_routes = [s.removeprefix("death:") for s in DEATH_STATES]
        self._build_stage_tables()

        # Bookkeeping.
        self.reached = np.zeros(len(FUNNEL_STAGES), dtype=np.int64)
        self.lost = np.zeros(len(FUNNEL_STAGES), dtype=np.int64)
        self.lost_by_route = dict.fromkeys(self._death_routes, 0)
        self.shed_total = 0
        self.shed_by_metastases = 0
        self.founded = {"single": 0, "cluster": 0}
        self.founded_by_organ = np.zeros(N_ORGANS, dtype=np.int64)
        self.switched = {"single": 0, "cluster": 0}
        self.step_shed = 0
        self.step_ctc = 0
        self.first_detectable_day: float | None = None
        self.diagnosis_cells = diameter_to_cells(p.diagnosis_diameter_mm)
        self.diagnosis: dict[str, float] | None = None
        self.cohorts: dict[Stage, list[CellCohort]] = {s: [] for s in Stage}
        self._cohort_by_key: dict[tuple, CellCohort] = {}
        self.colonies: list[Colony] = []
        self._units = 0
        self.funnel_index = _F
        self.clinic = Clinic(self)
        if self.primary.present and self.primary.cells >= self.diagnosis_cells:
            # Already at diagnosis size when the course starts (nothing disseminated yet
            # by construction: the course starts here).
            self.diagnosis = self.diagnosis_snapshot(0.0)
            self.clinic.log(0.0, "diagnosis", detail="at the start of the course")
            self.clinic.trigger("diagnosis", 0.0)

        self.record_every_days = max(self.dt, min(30.0, self.horizon_days / 100.0))
        self._next_record = 0.0
        self.datacollector = mesa.DataCollector(model_reporters={
            "day": lambda m: m.day, **MODEL_REPORTERS, **ORGAN_REPORTERS})
        self._record()

    # ---------------------------------------------------------------- tables
    def _build_stage_tables(self) -> None:
        """Per-step outcome probabilities for each (organ, clone, unit kind)."""
        sc, dt = self.scenario, self.dt
        ex, col, cl = sc.extravasation, sc.colonization, sc.clusters
        rows = N_ORGANS * len(self.clones) * 2
        self._p_arrested = np.zeros((rows, 3))
        self._p_solitary = np.zeros((rows, 4))
        self._p_dormant = np.zeros((rows, 3))
        self._p_invasion = np.array([scale_probability(sc.invasion.success_probability,
                                                       c.invasion) for c in self.clones])
        for o in range(N_ORGANS):
            aff = self.affinity[o]
            for ci, c in enumerate(self.clones):
                for unit in (0, 1):
                    r = self._row(o, ci, unit)
                    grow = aff * c.proliferation * (cl.proliferation_multiplier if unit else 1.0)
                    self._p_arrested[r] = competing_risks(
                        [ex.rate_per_day * c.extravasation, ex.intravascular_death_rate_per_day], dt)
                    self._p_solitary[r] = competing_risks(
                        [col.solitary_death_rate_per_day, col.dormancy_rate_per_day * c.dormancy,
                         col.proliferation_rate_per_day * grow], dt)
                    self._p_dormant[r] = competing_risks(
                        [col.dormant_death_rate_per_day,
                         col.awakening_rate_per_day * aff * c.awakening
                         * (cl.proliferation_multiplier if unit else 1.0)], dt)
        self._p_switch = step_probability(col.angiogenic_switch_rate_per_day, dt)

    def _row(self, organ: int, clone: int, unit: int) -> int:
        return (organ * len(self.clones) + clone) * 2 + unit

    # ---------------------------------------------------------------- cohorts
    def _add_cohort(self, stage: Stage, organ: int, clone: int, cluster_size: int,
                    count: int, entry: str | None = None) -> None:
        if count <= 0:
            return
        unit = int(cluster_size > 1)
        if self.aggregate:
            key = (stage, organ, clone, cluster_size, entry)
            c = self._cohort_by_key.get(key)
            if c is not None:
                c.count += count
                return
            c = CellCohort(self, count, cluster_size, clone, stage, organ, entry)
            c.row = self._row(max(organ, 0), clone, unit)
            self._cohort_by_key[key] = c
            self.cohorts[stage].append(c)
            self._units += 1
            return
        self._units += count
        if self._units > self.max_units:
            raise SimulationLimitError(
                f"the single-cell engine would hold more than {self.max_units:,} agents; "
                "use simulation.aggregate = true, or lower primary.shedding_rate_per_gram_"
                "per_day or simulation.horizon_days")
        row = self._row(max(organ, 0), clone, unit)
        for _ in range(count):
            c = CellCohort(self, 1, cluster_size, clone, stage, organ, entry)
            c.row = row
            self.cohorts[stage].append(c)

    def _prune(self, stage: Stage) -> None:
        keep = []
        for c in self.cohorts[stage]:
            if c.count > 0:
                keep.append(c)
            else:
                if self.aggregate:
                    del self._cohort_by_key[(c.stage, c.organ, c.clone, c.cluster_size, c.entry)]
                    self._units -= 1
                else:
                    self._units -= 1
                c.remove()
        self.cohorts[stage] = keep

    def cells_at(self, stage: Stage) -> int:
        return sum(c.count * c.cluster_size for c in self.cohorts[stage])

    # ---------------------------------------------------------------- step
    def step(self) -> None:
        if not self.running:
            return
        pending: list[tuple[Stage, int, int, int, int]] = []
        founders: list[tuple[int, int, int, int, str]] = []
        #: Day at the end of this step.
        self.step_end_day = (self.step_count + 1) * self.dt
        self.clinic.start_of_step()
        self._advance_lodged(pending, founders)
        self._advance_colonies()
        for stage, organ, clone, k, n in pending:
            self._add_cohort(stage, organ, clone, k, n)
        for organ, clone, k, n, origin in founders:
            self._found_colonies(organ, clone, k, n, origin)
        self.clinic.systemic_kill()
        self.step_shed = 0
        self.step_ctc = 0
        self._shed()
        self.primary.grow(self.dt * self.clinic.growth_multiplier)
        if (self.diagnosis is None and self.primary.present
                and self.primary.cells >= self.diagnosis_cells):
            self.diagnosis = self.diagnosis_snapshot(self.step_end_day)
            self.clinic.log(self.step_end_day, "diagnosis",
                            detail=f"primary {self.primary.diameter_mm:.1f} mm")
            self.clinic.trigger("diagnosis", self.step_end_day)
        arrivals: dict[tuple[int, int], np.ndarray] = {}
        while self._injections and self._injections[0].day < self.step_end_day - 1e-9:
            inj = self._injections.pop(0)
            self.injected_total += inj.cells
            self.reached[_F["transit"]] += inj.cells
            arrived = self._transit((inj.entry,), [inj.cells], inj.subclone, 1)
            key = (inj.subclone, 1)
            arrivals[key] = arrivals[key] + arrived if key in arrivals else arrived
        for c in list(self.cohorts[Stage.DETACHED]):
            key = (c.clone, c.cluster_size)
            arrived = self._disseminate(c)
            if key in arrivals:
                arrivals[key] += arrived
            else:
                arrivals[key] = arrived
        self._prune(Stage.DETACHED)
        for (clone, k), arrived in arrivals.items():
            arrived = self.clinic.thin_arrivals(arrived, k)
            self.arrested_by_organ += arrived * k
            for organ in np.flatnonzero(arrived).tolist():
                self._add_cohort(Stage.ARRESTED, organ, clone, k, int(arrived[organ]))
        self.step_count += 1
        self.day = self.step_end_day
        burden = self.primary.cells + metastatic_burden_cells(self)
        if burden >= self.scenario.simulation.lethal_burden_cells:
            self.died = True
            self.running = False
            self.clinic.log(self.day, "death", detail=f"tumour burden {burden:.3g} cells")
        self.clinic.end_of_step()
        if self.step_count >= self.n_steps:
            self.running = False
        while self._report_days and self._report_days[0] <= self.day + 1e-9:
            self._report_days.pop(0)
            self.assay.append(self.assay_snapshot())
        self._record()

    def run(self, progress: bool = False) -> MetastasisModel:
        """Step until the horizon or the lethal burden (``progress``: a bar over the days)."""
        if not progress:
            while self.running:
                self.step()
            return self
        from tqdm.auto import tqdm

        with tqdm(total=round(self.horizon_days), unit="day", desc="one patient",
                  leave=False) as bar:
            while self.running:
                self.step()
                bar.update(max(0, round(self.day) - bar.n))
        return self

    def _record(self) -> None:
        if self.day >= self._next_record - 1e-9 or not self.running:
            self.datacollector.collect(self)
            self._next_record = self.day + self.record_every_days

    # ---------------------------------------------------------------- 1. lodged cells
    def _batch(self, stage: Stage, table: np.ndarray) -> tuple[list[CellCohort], np.ndarray,
                                                               np.ndarray]:
        """Cohorts at a stage, their counts, and their rows of outcome probabilities."""
        cohorts = self.cohorts[stage]
        counts = np.fromiter((c.count for c in cohorts), dtype=np.int64, count=len(cohorts))
        rows = np.fromiter((c.row for c in cohorts), dtype=np.int64, count=len(cohorts))
        return cohorts, counts, table[rows]

    def _advance_lodged(self, pending: list, founders: list) -> None:
        F = _F
        cohorts, counts, p = self._batch(Stage.ARRESTED, self._p_arrested)
        if cohorts:
            ext, died = arrest_and_extravasation(self.rng, counts, p[:, 0], p[:, 1])
            for c, e, x in zip(cohorts, ext.tolist(), died.tolist(), strict=True):
                k = c.cluster_size
                if e:
                    self.reached[F["extravasation"]] += e * k
                    pending.append((Stage.SOLITARY, c.organ, c.clone, k, e))
                self.lost[F["arrest"]] += x * k
                c.count -= e + x
        cohorts, counts, p = self._batch(Stage.SOLITARY, self._p_solitary)
        if cohorts:
            fates = solitary_cell_fate(self.rng, counts, p)
            for c, died, dorm, prolif in zip(cohorts, *(f.tolist() for f in fates), strict=True):
                k = c.cluster_size
                self.lost[F["extravasation"]] += died * k
                if dorm:
                    self.reached[F["dormancy"]] += dorm * k
                    pending.append((Stage.DORMANT, c.organ, c.clone, k, dorm))
                if prolif:
                    founders.append((c.organ, c.clone, k, prolif, "solitary"))
                c.count -= died + dorm + prolif
        cohorts, counts, p = self._batch(Stage.DORMANT, self._p_dormant)
        if cohorts:
            died_, awake_ = dormancy(self.rng, counts, p)
            for c, died, awake in zip(cohorts, died_.tolist(), awake_.tolist(), strict=True):
                k = c.cluster_size
                self.lost[F["dormancy"]] += died * k
                if awake:
                    founders.append((c.organ, c.clone, k, awake, "dormant"))
                c.count -= died + awake
        for stage in (Stage.ARRESTED, Stage.SOLITARY, Stage.DORMANT):
            self._prune(stage)

    # ---------------------------------------------------------------- 2. colonies
    def _found_colonies(self, organ: int, clone: int, k: int, n: int,
                        origin: str = "solitary") -> None:
        if len(self.colonies) + n > self.max_units:
            raise SimulationLimitError(
                f"more than {self.max_units:,} colonies; the colonisation parameters "
                "(colonization.proliferation_rate_per_day, awakening_rate_per_day) are too "
                "high for this shedding rate")
        self.reached[_F["micrometastasis"]] += n * k
        self.founded["cluster" if k > 1 else "single"] += n
        self.founded_by_organ[organ] += n
        for _ in range(n):
            colony = Colony(self, organ, clone, k, self.day)
            colony.origin = origin
            self.colonies.append(colony)

    def _advance_colonies(self) -> None:
        if not self.colonies:
            return
        sc, dt = self.scenario, self.dt
        col = sc.colonization
        keep: list[Colony] = []
        # Phases at the start of the step: a colony moves at most one phase per step.
        micro = [c for c in self.colonies if c.phase is Phase.MICRO]
        waiting = [c for c in self.colonies if c.phase is Phase.AVASCULAR_LIMIT]
        macro = [c for c in self.colonies if c.phase is Phase.MACRO]
        if micro:
            sizes = np.fromiter((int(c.cells) for c in micro), dtype=np.int64, count=len(micro))
            new = birth_death(self.rng, sizes, col.micrometastasis_birth_rate_per_day
                              * self.clinic.growth_multiplier,
                              col.micrometastasis_death_rate_per_day, dt)
            for c, n in zip(micro, new.tolist(), strict=True):
                if n == 0:
                    self.lost[_F["micrometastasis"]] += c.founders
                    c.cells = 0.0
                elif n >= self.avascular_limit_cells:
                    c.cells = self.avascular_limit_cells
                    c.phase = Phase.AVASCULAR_LIMIT
                else:
                    c.cells = float(n)
        if waiting:
            switch = self.rng.random(len(waiting)) < self._p_switch
            for c, s in zip(waiting, switch.tolist(), strict=True):
                if s:
                    c.phase = Phase.MACRO
                    c.switched_day = self.day
                    self.reached[_F["macrometastasis"]] += c.founders
                    self.switched["cluster" if c.founders > 1 else "single"] += 1
        if macro:
            cells = np.fromiter((c.cells for c in macro), dtype=float, count=len(macro))
            grown = np.asarray(gompertz(cells, col.macrometastasis_gompertz_rate_per_day
                                        * self.clinic.growth_multiplier,
                                        col.macrometastasis_carrying_capacity_cells, dt))
            for c, n in zip(macro, grown.tolist(), strict=True):
                c.cells = n
        for c in self.colonies:
            if c.cells > 0:
                keep.append(c)
                # Detection by size, whatever the phase (the imaging threshold may lie below
                # the avascular limit).
                if c.detected_day is None and c.cells >= self.detectable_cells:
                    c.detected_day = self.step_end_day
                    self.clinic.detected(c)
                    if self.first_detectable_day is None:
                        self.first_detectable_day = self.step_end_day
                        self.clinic.trigger("first_detection", self.step_end_day)
            else:
                c.remove()
        self.colonies = keep

    # ---------------------------------------------------------------- 3. shedding
    def _shed(self) -> None:
        sc = self.scenario
        rate = sc.primary.shedding_rate_per_gram_per_day
        f, k = sc.clusters.fraction_of_shedding_events, self.cluster_size
        singles, clusters = detachment(self.rng, self.primary.mass_g, rate, self.dt,
                                       self._clone_shedding, f, k)
        for ci in range(len(self.clones)):
            self._new_detached(ci, 1, int(singles[ci]), None)
            self._new_detached(ci, k, int(clusters[ci]), None)
        macro = [c for c in self.colonies if c.phase is Phase.MACRO]
        if macro:
            mass = np.fromiter((c.mass_g * self.clones[c.clone].shedding for c in macro),
                               dtype=float, count=len(macro))
            s_m, c_m = detachment(self.rng, 1.0, rate, self.dt, mass, f, k)
            for col, ns, nc in zip(macro, s_m.tolist(), c_m.tolist(), strict=True):
                entry = metastasis_entry(ORGAN_KEYS[col.organ])
                before = self.step_shed
                self._new_detached(col.clone, 1, ns, entry)
                self._new_detached(col.clone, k, nc, entry)
                self.shed_by_metastases += self.step_shed - before

    def _new_detached(self, clone: int, k: int, n: int, entry: str | None) -> None:
        if n <= 0:
            return
        self.shed_total += n * k
        self.step_shed += n * k
        self.reached[_F["detachment"]] += n * k
        self.reached[_F["invasion"]] += n * k
        self._add_cohort(Stage.DETACHED, -1, clone, k, n, entry)

    # ---------------------------------------------------------------- 4. dissemination
    def _disseminate(self, cohort: CellCohort) -> np.ndarray:
        """Invasion, route entry and transit of a detached cohort; returns arrests per organ."""
        n, k, ci = cohort.count, cohort.cluster_size, cohort.clone
        cohort.count = 0
        arrived = np.zeros(N_ORGANS, dtype=np.int64)
        ok = invasion(self.rng, n, self._p_invasion[ci])
        self.lost[_F["invasion"]] += (n - ok) * k
        if not ok:
            return arrived
        self.reached[_F["transit"]] += ok * k
        if cohort.entry is None:
            entries: Sequence[str] = PRIMARY_ENTRIES
            counts = route_entry(self.rng, ok, self._primary_entry_p).tolist()
        else:
            entries, counts = (cohort.entry,), [ok]
        return self._transit(entries, counts, ci, k)

    def _transit(self, entries: Sequence[str], counts: Sequence[int], ci: int,
                 k: int) -> np.ndarray:
        """Resolve units entering the chain at each entry; returns arrests per organ."""
        arrived = np.zeros(N_ORGANS, dtype=np.int64)
        chain = self._chains[(ci, int(k > 1))]
        for entry, m in zip(entries, counts, strict=True):
            if not m:
                continue
            if entry in VENOUS_ENTRIES:
                self.step_ctc += m * k
            if self.walk:
                absorbed = chain.walk(self.rng, entry, m)[0]
            else:
                key = (ci, int(k > 1), entry)
                p = self._absorption.get(key)
                if p is None:
                    p = self._absorption[key] = normalise(chain.absorption(entry))
                absorbed = transit(self.rng, m, p, normalised=True)
            arrived += absorbed[:N_ORGANS]
            for route, dead in zip(self._death_routes, absorbed[N_ORGANS:].tolist(), strict=True):
                self.lost_by_route[route] += dead * k
                self.lost[_F["transit"]] += dead * k
        self.reached[_F["arrest"]] += int(arrived.sum()) * k
        return arrived

    # ---------------------------------------------------------------- accounting
    def conservation(self) -> tuple[int, int, int]:
        """(cells ever shed or injected, cells alive in some stage, cells lost) - the first
        equals the sum of the other two at every step end."""
        alive = sum(self.cells_at(s) for s in Stage)
        alive += sum(c.founders for c in self.colonies)
        return int(self.shed_total + self.injected_total), int(alive), int(self.lost.sum())

    def assay_snapshot(self) -> dict[str, float]:
        """Fates of injected cells so far, as fractions of the cells injected.

        Cumulative: ``arrested`` (anywhere) and ``arrested_<organ>``, ``extravasated``,
        ``micrometastases_founded`` (cells that started to proliferate); current:
        ``in_vessels`` (arrested, not yet out), ``solitary_dormant`` (single cells in the
        tissue), ``in_micrometastases`` and ``in_macrometastases`` (founders of live
        colonies in each phase). Meant for injection experiments without a primary (Luzzi et
        al. 1998); with a shedding primary the counts include shed cells too.
        """
        n = max(self.injected_total, 1)
        micro = sum(c.founders for c in self.colonies if c.phase is not Phase.MACRO)
        macro = sum(c.founders for c in self.colonies if c.phase is Phase.MACRO)
        by_organ = {f"arrested_{ORGAN_KEYS[i]}": int(v) / n
                     for i, v in enumerate(self.arrested_by_organ.tolist()) if v}
        return {
            "day": self.day,
            "arrested": self.reached[_F["arrest"]] / n,
            **by_organ,
            "extravasated": self.reached[_F["extravasation"]] / n,
            "in_vessels": self.cells_at(Stage.ARRESTED) / n,
            "solitary_dormant": (self.cells_at(Stage.SOLITARY) + self.cells_at(Stage.DORMANT)) / n,
            "micrometastases_founded": self.reached[_F["micrometastasis"]] / n,
            "in_micrometastases": micro / n,
            "in_macrometastases": macro / n,
        }

    def diagnosis_snapshot(self, day: float) -> dict[str, float]:
        """Disseminated disease when the primary reaches its diagnosis size.

        ``disseminated_cells``: tumour cells alive outside the primary (arrested in vessels,
        solitary, dormant, or in colonies), in any organ; ``distant_cells``: the same outside
        the regional lymph nodes; ``colonies`` / ``micrometastases``: live colonies (any
        phase / not yet vascularised); ``detectable``: colonies above the imaging threshold.
        """
        regional = ORGAN_KEYS.index("regional_lymph_nodes")
        per_organ = np.zeros(len(ORGAN_KEYS))
        for stage in (Stage.ARRESTED, Stage.SOLITARY, Stage.DORMANT):
            for c in self.cohorts[stage]:
                per_organ[c.organ] += c.count * c.cluster_size
        for col in self.colonies:
            per_organ[col.organ] += col.cells
        return {
            "day": float(day),
            "primary_cells": float(self.primary.cells),
            "disseminated_cells": float(per_organ.sum()),
            "distant_cells": float(per_organ.sum() - per_organ[regional]),
            "dormant_cells": float(self.cells_at(Stage.DORMANT)),
            "colonies": float(len(self.colonies)),
            "micrometastases": float(sum(1 for c in self.colonies if c.phase is not Phase.MACRO)),
            "detectable": float(sum(1 for c in self.colonies if c.cells >= self.detectable_cells)),
        }

    def result(self) -> PatientResult:
        """Summarise the course so far as plain data."""
        det = detectable_by_organ(self)
        ts: list[tuple[float, str, str, float]] = []
        mv = self.datacollector.model_vars
        days = mv["day"]
        for name in MODEL_REPORTERS:
            ts.extend((d, name, "", float(v)) for d, v in zip(days, mv[name], strict=True))
        for name in ORGAN_REPORTERS:
            for d, values in zip(days, mv[name], strict=True):
                ts.extend((d, name, o, float(v)) for o, v in values.items() if v)
        return PatientResult(
            replicate=self.replicate, days=self.day, died=self.died,
            reached=dict(zip(FUNNEL_STAGES, self.reached.tolist(), strict=True)),
            lost=dict(zip(FUNNEL_STAGES, self.lost.tolist(), strict=True)),
            lost_in_transit_by_route=dict(self.lost_by_route),
            detectable_by_organ=det, autopsy_by_organ=autopsy_by_organ(self),
            founded_by_organ=dict(zip(ORGAN_KEYS, self.founded_by_organ.tolist(), strict=True)),
            colonies_by_organ=colonies_by_organ(self),
            first_detectable_day=self.first_detectable_day,
            shed_total=int(self.shed_total), shed_by_metastases=int(self.shed_by_metastases),
            colonies_founded=dict(self.founded), colonies_survived=dict(self.switched),
            timeseries=ts, injected_total=int(self.injected_total),
            assay=[{k: float(v) for k, v in a.items()} for a in self.assay],
            diagnosis=self.diagnosis, events=list(self.clinic.events),
            resection_day=self.clinic.resection_day, relapse_day=self.clinic.relapse_day,
            relapse_origin=self.clinic.relapse_origin,
            relapse_founded_day=self.clinic.relapse_founded_day)


def _as_scenario(scenario: Any, overrides: Mapping[str, Any] | None) -> Scenario:
    pairs = list((overrides or {}).items())
    if isinstance(scenario, Scenario):
        if not pairs:
            return scenario
        return make_scenario(scenario.to_input(), pairs)
    if scenario is None or isinstance(scenario, Mapping):
        return make_scenario(scenario or {}, pairs)
    return load_scenario(scenario, pairs)


def simulate(scenario: Scenario, seed_sequence: np.random.SeedSequence, replicate: int = 0,
             hypothesis: str | None = None, progress: bool = False) -> PatientResult:
    """Run one patient to the end of its course and return its result."""
    model = MetastasisModel(scenario, rng=np.random.default_rng(seed_sequence),
                            hypothesis=hypothesis, replicate=replicate)
    return model.run(progress).result()


__all__ = ["FUNNEL_STAGES", "MetastasisModel", "PatientResult", "SimulationLimitError",
           "simulate"]
