"""The population engine's quiet stretches: how many steps from now may be quiet, and the
compiled call that runs them (:func:`sim.engine.step_kernels.quiet_stretch` says what a
quiet step is and why the courses are the same bit for bit). Functions of the engine: each
is a method of :class:`~sim.engine.population.PopulationEngine`."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from . import step_kernels as sk
from .clinic import intervention_due
from .population_layout import REGIONAL, F

if TYPE_CHECKING:
    from .population import PopulationEngine


def quiet_limit(self: PopulationEngine) -> int:
    """How many steps from now may be quiet as far as the batch's schedule says: none
    in the daily reference or while a therapy runs or something waits for this step
    (a twin's resection, a diagnosis's samples, a metastatic sample); otherwise up to
    the step before the next record, the last step, an intervention's start, or a row
    whose arrivals table is full (:func:`sim.engine.step_kernels.quiet_stretch` checks
    the rest step by step)."""
    act = self.active
    if self.daily or not self.avascular_cells < self.detectable_cells * (1 - sk.MARGIN):
        return 0
    if (self.twin_resect & act).any() or (self.measure_due & act).any():
        return 0
    rows = np.flatnonzero(act & ~self.is_twin & ~np.isnan(self.first_distant))
    if any(self.metastatic_sample[self.patient[r]] is None for r in rows.tolist()):
        return 0
    if self.its and (~np.isnan(self.active_end[act])).any():
        return 0
    s0, dt = self.step_count, self.dt
    last = min(self.n_steps - 1,                              # the last step ends courses
               int(self.lazy_step[act].min()) + self.pend.shape[1])    # arrivals table
    first_start = float(self.sched[act].min()) if self.its and act.any() else math.inf
    s = s0
    while s < last and (s + 1) * dt < self.next_record - 1e-9 and \
            not intervention_due(first_start, s * dt, dt):
        s += 1
    return s - s0

def quiet_steps(self: PopulationEngine) -> bool:
    """Run the quiet steps from now in one compiled call
    (:func:`sim.engine.step_kernels.quiet_stretch`); False if the next step is not
    quiet (the Python step takes it)."""
    limit = self._quiet_limit() if self.stretches else 0
    if limit <= 0:
        return False
    sc, c = self.scenario, self.colonies
    col = sc.colonization
    act = self.active.copy()
    s0 = self.step_count
    lodged = (self.lodged.sum(axis=0) * self.unit_cells).sum(axis=1).astype(float)
    watching = act & ~np.isnan(self.resection_day) & np.isnan(self.relapse_day)
    done, why = sk.quiet_stretch(
        self.rng, s0, limit, self.dt, act, self.is_twin, self.diagnosed,
        self.diagnosis_cells, self.primary, self.gompertz_rate,
        sc.primary.carrying_capacity_cells, self.shedding,
        sc.clusters.fraction_of_shedding_events, self.k_cluster,
        sc.primary.shedding_mass_exponent, self.clone_weights, self.primary_group,
        c.row, c.phase, c.cells, c.clone, c.organ, c.founders, c.switched_day,
        c.detected_day, c.lazy, self.clone_shedding, self.entry_group,
        self.organ_entry_index, self.group_arrest_rows, self.group_places,
        self.group_venous_units, self.group_nonlodging, self.group_unit_cells,
        2 * self.C, col.micrometastasis_birth_rate_per_day,
        col.micrometastasis_death_rate_per_day, col.macrometastasis_gompertz_rate_per_day,
        col.macrometastasis_carrying_capacity_cells, self.avascular_cells, self.p_switch,
        self.detectable_cells, self.detected_organs, self.first_detectable,
        self.first_distant, REGIONAL, lodged, self.pend, self.pend_cells, self.lazy_step,
        self.unit_cells, sc.simulation.lethal_burden_cells, self.organ_lethal,
        self.primary_organ, sc.clinical.metastatic_sample_burden_cells,
        self.burden_sampled | self.is_twin,
        sc.clinical.symptom_burden_cells, self.symptomatic, watching,
        self.step_venous_mean, self.pend_met, self.nonlodging_step, self.nonlodging_units,
        self.shed_total, self.reached, self.lost, F["detachment"], F["invasion"],
        F["micrometastasis"], F["macrometastasis"], self.shed_by_met, self.step_shed,
        self.switched, self.first_macro, self.spent_row,
        sc.primary.seed_competence_reference_cells, sc.primary.seed_competence_exponent)
    if not done:
        return False
    last = s0 + done - 1
    self.stretched_steps += done
    c.as_of[c.lazy == 0] = last
    if not (c.cells > 0).all():
        c.keep(c.cells > 0)
    self.step_ctc_known[:] = False
    self.step_count = last
    self.step_end_day = (last + 1) * self.dt
    if why == sk.AFTER_FIRST_HALF:
        self._second_half(act, last, np.zeros(len(act), dtype=bool))
    else:
        self.step_count = last + 1
        self.day = self.step_end_day
    return True
