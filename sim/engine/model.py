"""The Mesa model: one simulated patient, from the primary tumour to its metastases.

One step of ``dt`` days, in this order (each rate is per day and acts for ``dt``):

1. lodged cells advance one stage: arrested -> extravasated (or dead); solitary -> dormant,
   proliferating (founding a colony) or dead; dormant -> awake (founding a colony) or dead
   (:class:`~sim.engine.cohorts.LodgedCells`);
2. colonies grow: birth-death while avascular, the angiogenic switch at the diffusion limit,
   Gompertz once vascularised; detection at the imaging threshold
   (:class:`~sim.engine.colonies.Colonies`);
3. the primary tumour and the vascularised metastases shed cells (Poisson, by mass);
4. the cells shed in this step invade, enter a route and travel (the circulation chain)
   until they die or arrest; arrested cells wait for step 1 of the next step
   (:class:`~sim.engine.dissemination.Dissemination`);
5. the course ends at the horizon or when the total tumour burden (the primary, the colonies
   and the lodged cells) reaches the lethal burden.

The clinic (:mod:`sim.engine.clinic`) starts and applies interventions around these steps.
The model only orchestrates; every count of cells is kept by the ledger
(:class:`~sim.engine.ledger.Ledger`), which also checks conservation: every cell ever shed is
at each step end in exactly one place - arrested, solitary, dormant, a founder of a live
colony - or counted as lost at the stage where it died (:meth:`MetastasisModel.conservation`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mesa
import numpy as np

from ..biology.anatomy import ORGAN_KEYS
from ..biology.cascade import lodged_clones
from ..biology.measurements import blood_sample, marrow_sample
from ..biology.patients import PatientTraits, draw_traits
from ..biology.soil import colonization_vector
from ..biology.stages import LODGED_STAGES, Phase, Stage
from ..biology.units import diameter_to_cells
from ..config.loading import load_scenario, make_scenario
from ..config.schema import Scenario
from ..streams import measurement_stream
from . import events
from .agents import PrimaryTumour
from .clinic import (
    WHOLE_BODY,
    Clinic,
    cause_of_death,
    death_causes,
    metastatic_burden_reached,
    organ_lethal_vector,
    primary_organ_index,
)
from .cohorts import LodgedCells, cohort_store
from .colonies import Colonies
from .dissemination import DEATH_ROUTES, Dissemination
from .ledger import Ledger
from .results import (
    MODEL_REPORTERS,
    ORGAN_REPORTERS,
    PatientResult,
    assay_snapshot,
    burden_by_site,
    diagnosis_snapshot,
    patient_result,
)
from .step_kernels import MACRO, competent_shares

REGIONAL = ORGAN_KEYS.index("regional_lymph_nodes")


class MetastasisModel(mesa.Model):
    """One simulated patient.

    Parameters
    ----------
    scenario
        A :class:`~sim.config.schema.Scenario`, a mapping of scenario keys, a scenario file
        or a bundled name (``"breast"``, ``"classroom/demo"``), or None for the defaults.
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
    >>> result = MetastasisModel("classroom/demo", rng=1, hypothesis="ewing").run().result()
    >>> result.detectable_by_organ["lung"] >= 0
    True
    """

    def __init__(self, scenario: Scenario | Mapping[str, Any] | str | Path | None = None, *,
                 rng: Any = None, hypothesis: str | None = None,
                 overrides: Mapping[str, Any] | None = None, replicate: int = 0):
        sc = _as_scenario(scenario, overrides)
        if hypothesis is not None:
            sc = sc.with_hypothesis(hypothesis)
        super().__init__(rng=sc.simulation.seed if rng is None else rng)
        self.running: bool = True
        self.scenario = sc
        self.replicate = replicate
        self.dt = sc.simulation.dt_days
        self.horizon_days = sc.simulation.horizon_days
        #: Steps taken; the day is always ``step_count * dt`` (a running sum of dt made
        #: dt = 0.1 over 3650 days take 36,501 steps and end on day 3650.1). Mesa's own
        #: ``steps`` counts calls of ``step``, including those after the end.
        self.step_count = 0
        self.n_steps = sc.simulation.n_steps
        self.day = 0.0
        self.step_end_day = self.dt
        self.died = False
        #: Why the course ended early (:func:`~sim.engine.clinic.cause_of_death`; None: alive).
        self.cause_of_death: str | None = None
        self._organ_lethal = organ_lethal_vector(sc.simulation)
        self._primary_organ = primary_organ_index(sc)
        #: This patient's own doubling time, shedding, diagnosis size and colonisation
        #: competence (drawn first from its stream when the population varies).
        self.traits = draw_traits(sc, self.rng)
        p = sc.primary
        self.primary = PrimaryTumour(self, p.site, p.initial_cells, self.traits.doubling_time_days,
                                     p.carrying_capacity_cells, present=p.present,
                                     doubling_at_cells=diameter_to_cells(p.diagnosis_diameter_mm))
        self.ledger = Ledger(len(ORGAN_KEYS), DEATH_ROUTES)
        self.cohorts = cohort_store(self, sc.simulation.aggregate,
                                    len(lodged_clones(p.subclones, p.seed_competence_exponent)))
        self.colonies = Colonies(self, sc, self.ledger, self.dt)
        self.lodged = LodgedCells(sc, colonization_vector(sc) * self.traits.colonization_multiplier,
                                  self.dt)
        self.dissemination = Dissemination(sc, self.dt, self.ledger, self.cohorts,
                                           self.traits.shedding_rate_per_gram_per_day)
        self.clinic = Clinic(self)
        self._injections = sorted(sc.injection, key=lambda inj: inj.day)
        self._report_days = sorted(sc.assay.report_days)
        self.assay: list[dict[str, float]] = []
        self.diagnosis_cells = diameter_to_cells(self.traits.diagnosis_diameter_mm)
        self.diagnosis: dict[str, float] | None = None
        self._measure_at_step_end = False
        #: A blood sample when the first distant metastasis became detectable (or None).
        self.metastatic_sample: dict[str, float] | None = None
        #: The blood sample at the metastatic burden of the CTC cohorts (None: not reached).
        self.burden_sample: dict[str, float] | None = None
        #: Measurements draw from a stream of their own: measuring never changes the course.
        self._measure = measurement_stream(self.rng.bit_generator.seed_seq)
        if self.primary.present and self.primary.cells >= self.diagnosis_cells:
            # At diagnosis size when the course starts (nothing has disseminated yet).
            self._diagnose(0.0, events.diagnosis_at_start())
        self.record_every_days = max(self.dt, min(30.0, self.horizon_days / 100.0))
        self._next_record = 0.0
        self.datacollector = mesa.DataCollector(model_reporters={
            "day": lambda m: m.day, **MODEL_REPORTERS, **ORGAN_REPORTERS})
        self._record()

    def retune(self, overrides: Mapping[str, Any], shedding_multiplier: float = 1.0) -> None:
        """Go on from today with new values of the parameters that act on cells from now on
        (the classroom app's "continue from now"): ``overrides`` (dotted keys, validated like
        a scenario file) may change shedding, transit survival (``circulation.*``) and the
        soil (``tropism.*``, ``colonization.*``); the patient's own shedding rate is multiplied
        by ``shedding_multiplier``. Nothing already in the body changes: the tumour, the
        lodged cells, the colonies and the ledger carry on; only the per-step probabilities
        are rebuilt. With no override and a multiplier of 1 the course goes on exactly as
        if nothing had been called (tested)."""
        sc = _as_scenario(self.scenario, overrides)
        if sc.hypothesis != self.scenario.hypothesis or sc.simulation != self.scenario.simulation:
            raise ValueError("retune cannot change the hypothesis or the simulation settings; "
                             "start a new course instead")
        if (sc.primary.seed_competence_exponent > 0) != \
                (self.scenario.primary.seed_competence_exponent > 0):
            # The lodged cells' rows (a spent copy of each subclone) are fixed for a course.
            raise ValueError("retune cannot switch the seeds' loss of competence "
                             "(primary.seed_competence_exponent) on or off; start a new "
                             "course instead")
        self.scenario = sc
        self.lodged = LodgedCells(sc, colonization_vector(sc) * self.traits.colonization_multiplier,
                                  self.dt)
        rate = self.dissemination.shedding_rate_per_gram_per_day * shedding_multiplier
        self.dissemination = Dissemination(sc, self.dt, self.ledger, self.cohorts, rate)

    def step(self) -> None:
        if not self.running:
            return
        rng, clinic = self.rng, self.clinic
        self.step_end_day = (self.step_count + 1) * self.dt
        clinic.start_of_step()
        pending, founders = self.lodged.advance(rng, self.cohorts, self.ledger)
        none_before = self.colonies.first_detectable_day is None
        for colony in self.colonies.advance(rng, clinic.growth_multiplier, self.day,
                                            self.step_end_day):
            clinic.detected(colony)
        if none_before and self.colonies.first_detectable_day is not None:
            clinic.trigger("first_detection", self.step_end_day)
        for stage, organ, clone, k, n in pending:
            self.cohorts.add(stage, organ, clone, k, n)
        for organ, clone, k, n, origin in founders:
            self.colonies.found(organ, clone, k, n, origin, self.day)
        clinic.systemic_kill()
        self.ledger.start_step()
        shed = self.dissemination.shed(rng, self.primary.mass_g,
                                       self.colonies.in_phase(Phase.MACRO))
        self.primary.lose(shed)
        self.primary.grow(self.dt * clinic.growth_multiplier)
        if (self.diagnosis is None and self.primary.present
                and self.primary.cells >= self.diagnosis_cells):
            self._diagnose(self.step_end_day, events.diagnosis(self.primary.cells))
        self._travel()
        if self._measure_at_step_end:
            self._measure_at_diagnosis()
        if self.metastatic_sample is None and self.colonies.first_distant_detectable_day \
                is not None:
            self._measure_at_first_distant_detection()
        self.step_count += 1
        self.day = self.step_end_day
        in_organs = self.colonies.by_organ(len(ORGAN_KEYS), cells=True)
        if self.burden_sample is None and metastatic_burden_reached(
                in_organs, self.scenario.clinical.metastatic_sample_burden_cells)[0]:
            self._measure_at_metastatic_burden(in_organs)
        self._check_death(in_organs)
        clinic.end_of_step()
        if self.step_count >= self.n_steps:
            self.running = False
        while self._report_days and self._report_days[0] <= self.day + 1e-9:
            self._report_days.pop(0)
            self.assay.append(assay_snapshot(self))
        self._record()

    def _check_death(self, organ: np.ndarray) -> None:
        """End the course if an organ fails or the whole-body burden is reached
        (:func:`~sim.engine.clinic.death_causes`, the rule both engines use); ``organ``:
        the colonies' cells per organ now."""
        sim = self.scenario.simulation
        lodged = float(sum(self.cohorts.cells_at(s) for s in LODGED_STAGES))
        code = int(death_causes(np.array([self.primary.cells]), organ, np.array([lodged]),
                                self._primary_organ, sim.lethal_burden_cells,
                                self._organ_lethal)[0])
        if code < 0:
            return
        self.died = True
        self.running = False
        self.cause_of_death = cause_of_death(code)
        failing = -1 if code == WHOLE_BODY else code
        in_organ = float(organ[code]) + (self.primary.cells if code == self._primary_organ
                                         else 0.0) if failing >= 0 else 0.0
        self.clinic.log(self.day, *events.death(self.tumour_burden_cells(), failing, in_organ))

    def burden_at_end(self) -> dict[str, float]:
        """Where the tumour is now (:func:`~sim.engine.results.burden_by_site`)."""
        return burden_by_site(self.primary.cells,
                              self.colonies.by_organ(len(ORGAN_KEYS), cells=True),
                              float(sum(self.cohorts.cells_at(s) for s in LODGED_STAGES)))

    def tumour_burden_cells(self) -> float:
        """Every tumour cell in the body: the primary, the colonies and the lodged cells
        (arrested, solitary and dormant), against ``simulation.lethal_burden_cells``."""
        lodged = sum(self.cohorts.cells_at(s) for s in LODGED_STAGES)
        return self.primary.cells + self.colonies.burden_cells() + lodged

    def _travel(self) -> None:
        """Injected cells, then the cells shed in this step, travel and arrest."""
        arrivals: dict[tuple[int, int], np.ndarray] = {}

        def add(key: tuple[int, int], arrived: np.ndarray) -> None:
            arrivals[key] = arrivals[key] + arrived if key in arrivals else arrived

        while self._injections and self._injections[0].day < self.step_end_day - 1e-9:
            inj = self._injections.pop(0)
            self.ledger.injected(inj.cells)
            add((inj.subclone, 1), self.dissemination.transit(
                self.rng, (inj.entry,), [inj.cells], inj.subclone, 1))
        for c in self.cohorts.take(Stage.DETACHED):
            add((c.clone, c.cluster_size), self.dissemination.disseminate(self.rng, c))
        self.cohorts.prune(Stage.DETACHED)
        pr = self.scenario.primary
        theta, real = 1.0, len(pr.subclones)
        if pr.seed_competence_exponent > 0:
            # The population engine's rule, on this one patient (the shedding tumours: the
            # primary and the macrometastases).
            macro = np.array([c.cells for c in self.colonies.in_phase(Phase.MACRO)], dtype=float)
            theta = float(competent_shares(
                np.ones(1, dtype=np.bool_), np.array([float(self.primary.cells)]),
                np.zeros(len(macro), dtype=np.int64), np.full(len(macro), MACRO, dtype=np.int8),
                macro, pr.seed_competence_reference_cells, pr.seed_competence_exponent)[0])
        for (clone, k), arrived in arrivals.items():
            arrived = self.clinic.thin_arrivals(arrived, k)
            lodging = [(clone, arrived)]
            if theta < 1.0:
                # The arrivals that cannot found a colony lodge as their clone's spent copy.
                spent = self.rng.binomial(arrived, 1.0 - theta)
                lodging = [(clone + real, spent), (clone, arrived - spent)]
            for row_clone, units in lodging:
                self.ledger.lodged(units, k)
                for organ in np.flatnonzero(units).tolist():
                    self.cohorts.add(Stage.ARRESTED, organ, row_clone, k, int(units[organ]))

    def _diagnose(self, day: float, event: events.Event) -> None:
        self.diagnosis = diagnosis_snapshot(self, day)
        self.clinic.log(day, *event)
        self.clinic.trigger("diagnosis", day)
        self._measure_at_step_end = True

    def _measure_at_diagnosis(self) -> None:
        """At diagnosis: a blood sample (the CTCs in 7.5 mL) and a bone-marrow aspirate (the
        DTCs among its nucleated cells), drawn from this patient's own measurement stream
        (so measuring never changes the course)."""
        assert self.diagnosis is not None
        self._measure_at_step_end = False
        self.diagnosis.update(self._blood_sample())
        bone = self.cohorts.cells_by_organ(LODGED_STAGES, len(ORGAN_KEYS))[
            ORGAN_KEYS.index("bone")]
        self.diagnosis.update(marrow_sample(self._measure, float(bone)))

    def _blood_sample(self) -> dict[str, float]:
        """CTCs in 7.5 mL of blood now: the steady state of this step's entry into the blood."""
        c = self.scenario.circulation
        return blood_sample(self._measure, self.ledger.step_ctc / self.dt, c.ctc_half_life_hours,
                            self.scenario.sex, c.arrest_probability_per_pass)

    def _measure_at_first_distant_detection(self) -> None:
        """When the first distant metastasis becomes detectable (the patient is now
        metastatic): a blood sample, as in Cristofanilli et al. 2004."""
        self.metastatic_sample = {"day": self.step_end_day, **self._blood_sample()}

    def _measure_at_metastatic_burden(self, organ: np.ndarray) -> None:
        """When the distant metastases first reach ``clinical.metastatic_sample_burden_cells``
        (measurable metastatic disease): a blood sample, and the burden it was taken at."""
        self.burden_sample = {"day": self.step_end_day,
                              "metastatic_cells": float(organ.sum() - organ[REGIONAL]),
                              **self._blood_sample()}

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

    def conservation(self) -> tuple[int, int, int]:
        """(cells ever shed or injected, cells alive in some stage, cells lost) - the first
        equals the sum of the other two at every step end."""
        alive = sum(self.cohorts.cells_at(s) for s in Stage)
        alive += self.colonies.founders(macro=True) + self.colonies.founders(macro=False)
        return self.ledger.conservation(alive)

    def result(self) -> PatientResult:
        """The course so far as plain data."""
        return patient_result(self)




def patient_traits(scenario: Scenario, seed_sequence: np.random.SeedSequence) -> PatientTraits:
    """The traits of the patient whose stream is ``seed_sequence``, exactly as
    :class:`MetastasisModel` draws them: Mesa's ``Model`` first takes one integer from the
    generator (the seed of its stdlib ``random``), then the traits come. The population
    engine uses this so that both engines simulate the same patients."""
    rng = np.random.default_rng(seed_sequence)
    rng.integers(np.iinfo(np.int32).max)
    return draw_traits(scenario, rng)


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
    """Run one patient to the end of its course and return its result.

    With ``population.assess_initiated`` the patient's twin is run too (see
    :func:`initiated_at_diagnosis`).
    """
    model = MetastasisModel(scenario, rng=np.random.default_rng(seed_sequence),
                            hypothesis=hypothesis, replicate=replicate)
    result = model.run(progress).result()
    if model.scenario.population.assess_initiated and result.diagnosis is not None:
        result.initiated_at_diagnosis = initiated_at_diagnosis(model.scenario, seed_sequence)
    return result


def resected_at_diagnosis(scenario: Scenario) -> Scenario:
    """The same patient with the primary removed at diagnosis and nothing else done."""
    data = scenario.to_input()
    data["intervention"] = [{"kind": "resection", "at": "diagnosis",
                             "name": "removal of the primary at diagnosis"}]
    return make_scenario(data, [])


def initiated_at_diagnosis(scenario: Scenario, seed_sequence: np.random.SeedSequence) -> bool:
    """Had this patient "initiated the metastatic process" by diagnosis?

    Operationally: the same patient (the same random stream, so the same course up to
    diagnosis) with the primary removed at diagnosis and nothing else done goes on to have
    a detectable metastasis outside the regional lymph nodes before the end of the course.
    """
    twin = MetastasisModel(resected_at_diagnosis(scenario),
                           rng=np.random.default_rng(seed_sequence))
    twin.run()
    return twin.colonies.first_distant_detectable_day is not None


__all__ = ["MetastasisModel", "measurement_stream", "patient_traits", "simulate"]
