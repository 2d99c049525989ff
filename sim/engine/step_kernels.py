"""The population engine's step, compiled: the pieces every step runs, and quiet stretches.

A step of :class:`~sim.engine.population.PopulationEngine` grows the colonies that cannot
wait for an event, sheds and sends units through the circulation, grows the primary and
adds the arriving units' means to those waiting to be drawn. Those four pieces are compiled
functions here, called by the engine's Python step and by :func:`quiet_stretch` alike, so
the two give the same numbers bit for bit.

Most steps of a batch are *quiet*: no patient is diagnosed, has its first metastasis in an
organ reach the imaging size, an intervention start or end, a record or a sample taken,
symptoms, a relapse, an organ's failure or a lethal burden within reach.
:func:`quiet_stretch` runs such steps one after the other without returning to Python.
Before each step it checks, from the state and the deterministic parts of the step (the
primary's and the macrometastases' Gompertz growth, which can only overestimate what the
step's losses leave), that nothing of the kind can happen in it; after the step, that no
bound the Python step would act on (the lethal burden of the whole body or of an organ,
symptoms, a relapse, the metastatic burden of a blood sample) is within reach. Where a
check fails it returns, and the Python step does that step (or its second half) exactly as
it always does. The checks keep a relative margin of 1e-9, so a stretch never decides what
the Python step would decide differently; a stretch is therefore the same course, not an
approximation of it.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ..biology.cascade import (
    birth_death_draws,
    competent_seed_share_one,
    gompertz_one,
    kendall_one,
    shedding_events_one,
)
from .lodged_windows import TAIL_ADD, TAIL_SD
from .transit_windows import group_means, windowed_transit

#: Colony phases (as :mod:`sim.engine.colonies` codes them).
MICRO, LIMIT, MACRO = 0, 1, 2
#: Relative margin of the stretch's checks (see the module's docstring).
MARGIN = 1e-9
#: Why a stretch stopped: before a step it could not take (the Python step takes it), or
#: after the first half of a step whose bounds the Python step must look at.
BEFORE_STEP, AFTER_FIRST_HALF = 0, 1


@numba.njit(cache=True)
def colony_step_kernel(rng: np.random.Generator, phase: np.ndarray, cells: np.ndarray,
                       gm: np.ndarray, birth: float, death: float, gompertz_rate: float,
                       capacity: float, dt: float, avascular_cells: float, p_switch: float,
                       out_cells: np.ndarray, out_phase: np.ndarray, died: np.ndarray,
                       switched: np.ndarray) -> None:
    """One step of growth and the angiogenic switch for colonies in the given order
    (:func:`sim.engine.colonies.step_colonies` says what and in which order it draws)."""
    n = len(cells)
    n_micro = 0
    for i in range(n):
        out_cells[i] = cells[i]
        out_phase[i] = phase[i]
        died[i] = False
        switched[i] = False
        if phase[i] == MICRO:
            n_micro += 1
    if n_micro:
        micro = np.empty(n_micro, dtype=np.int64)
        j = 0
        for i in range(n):
            if phase[i] == MICRO:
                micro[j] = i
                j += 1
        mult = gm[micro]
        for g in np.unique(mult):
            sel = micro[mult == g]
            sizes = np.empty(len(sel), dtype=np.int64)
            for j in range(len(sel)):
                sizes[j] = np.int64(cells[sel[j]])
            new = sizes.copy()
            b = birth * g
            if not (b <= 0.0 and death <= 0.0):
                alpha, beta = kendall_one(b, death, dt)
                birth_death_draws(rng, sizes, np.full(len(sel), alpha),
                                  np.full(len(sel), beta), new)
            for j in range(len(sel)):
                i = sel[j]
                died[i] = new[j] == 0
                if new[j] >= avascular_cells:
                    out_cells[i] = avascular_cells
                    out_phase[i] = LIMIT
                else:
                    out_cells[i] = float(new[j])
    for i in range(n):
        if phase[i] == LIMIT and rng.random() < p_switch:
            switched[i] = True
            out_phase[i] = MACRO
    for i in range(n):
        if phase[i] == MACRO:
            out_cells[i] = gompertz_one(cells[i], gompertz_rate * gm[i], capacity, dt)


@numba.njit(cache=True)
def advance_selected(rng: np.random.Generator, idx: np.ndarray, c_row: np.ndarray,
                     c_phase: np.ndarray, c_cells: np.ndarray, c_founders: np.ndarray,
                     c_switched_day: np.ndarray, gm_row: np.ndarray, birth: float,
                     death: float, gompertz_rate: float, capacity: float, dt: float,
                     avascular_cells: float, p_switch: float, day: float, lost: np.ndarray,
                     lost_col: int, reached: np.ndarray, reached_col: int,
                     switched_by_kind: np.ndarray, first_macro: np.ndarray) -> None:
    """The colonies ``idx`` of the batch's table live one step (:func:`colony_step_kernel`),
    with the ledger: founders of micrometastases that died out lost, founders of switched
    colonies reached the macrometastasis stage, the switch counted by unit kind, the first
    macrometastasis's day. Dead colonies keep 0 cells (the caller drops them)."""
    n = len(idx)
    phase = np.empty(n, dtype=np.int64)
    cells = np.empty(n)
    gm = np.empty(n)
    for j in range(n):
        i = idx[j]
        phase[j] = c_phase[i]
        cells[j] = c_cells[i]
        gm[j] = gm_row[c_row[i]]
    out_cells = np.empty(n)
    out_phase = np.empty(n, dtype=np.int64)
    died = np.empty(n, dtype=np.bool_)
    switched = np.empty(n, dtype=np.bool_)
    colony_step_kernel(rng, phase, cells, gm, birth, death, gompertz_rate, capacity, dt,
                       avascular_cells, p_switch, out_cells, out_phase, died, switched)
    for j in range(n):
        i = idx[j]
        r = c_row[i]
        if died[j]:
            lost[r, lost_col] += c_founders[i]
        if switched[j]:
            c_switched_day[i] = day
            reached[r, reached_col] += c_founders[i]
            switched_by_kind[r, 1 if c_founders[i] > 1 else 0] += 1
            if math.isnan(first_macro[r]):
                first_macro[r] = day
        c_phase[i] = out_phase[j]
        c_cells[i] = out_cells[j]


@numba.njit(cache=True)
def shed_means(active: np.ndarray, primary: np.ndarray, shedding: np.ndarray, dt: float,
               cluster_fraction: float, cells_per_cluster: int, mass_exponent: float,
               clone_weights: np.ndarray, primary_group: np.ndarray, c_row: np.ndarray,
               c_phase: np.ndarray, c_cells: np.ndarray, c_clone: np.ndarray,
               c_organ: np.ndarray, clone_shedding: np.ndarray, entry_group: np.ndarray,
               organ_entry_index: np.ndarray, n_groups: int) -> np.ndarray:
    """Mean units shed this step per patient and group (the active patients' primaries and
    macrometastases; :func:`sim.engine.transit_windows.group_means`): what both of the
    engine's ways of drawing transit start from."""
    n = len(active)
    rows = np.flatnonzero(active)
    primary_events = np.zeros(n)
    for q in rows:
        primary_events[q] = shedding_events_one(primary[q] / 1e9, shedding[q], dt,
                                                cluster_fraction, cells_per_cluster,
                                                mass_exponent)
    n_macro = 0
    for i in range(len(c_row)):
        if c_phase[i] == MACRO and active[c_row[i]]:
            n_macro += 1
    m_row = np.empty(n_macro, dtype=np.int64)
    m_group = np.empty(n_macro, dtype=np.int64)
    m_events = np.empty(n_macro)
    j = 0
    for i in range(len(c_row)):
        if c_phase[i] == MACRO and active[c_row[i]]:
            r = c_row[i]
            m_row[j] = r
            m_group[j] = entry_group[organ_entry_index[c_organ[i]], c_clone[i]]
            m_events[j] = shedding_events_one(c_cells[i] / 1e9, shedding[r], dt,
                                              cluster_fraction, cells_per_cluster,
                                              mass_exponent) * clone_shedding[c_clone[i]]
            j += 1
    return group_means(rows, n, primary_events, clone_weights, cluster_fraction, m_row,
                       m_group, m_events, primary_group, n_groups)


@numba.njit(cache=True)
def windowed_step(rng: np.random.Generator, active: np.ndarray, primary: np.ndarray,
                  shedding: np.ndarray, dt: float, cluster_fraction: float,
                  cells_per_cluster: int, mass_exponent: float, clone_weights: np.ndarray,
                  primary_group: np.ndarray, c_row: np.ndarray, c_phase: np.ndarray,
                  c_cells: np.ndarray, c_clone: np.ndarray, c_organ: np.ndarray,
                  clone_shedding: np.ndarray, entry_group: np.ndarray,
                  organ_entry_index: np.ndarray, arrest: np.ndarray, group_places: np.ndarray,
                  venous_units: np.ndarray, nonlodging: np.ndarray, group_cells: np.ndarray,
                  n_primary_groups: int, mean_out: np.ndarray, step_venous_mean: np.ndarray,
                  pend_met: np.ndarray, nonlodging_step: np.ndarray,
                  nonlodging_units: np.ndarray, shed_total: np.ndarray, reached: np.ndarray,
                  detachment_col: int, invasion_col: int, shed_by_met: np.ndarray,
                  step_shed: np.ndarray) -> None:
    """One step of shedding (the primary and the macrometastases) and transit between
    events: the mean units arresting per place into ``mean_out`` (zeros on entry), the
    units that did not arrest drawn (:func:`sim.engine.transit_windows.windowed_transit`),
    the ledger of shed cells, and the primary's loss of the cells it shed."""
    n = len(active)
    G = nonlodging_step.shape[0]
    rows = np.flatnonzero(active)
    lam = shed_means(active, primary, shedding, dt, cluster_fraction, cells_per_cluster,
                     mass_exponent, clone_weights, primary_group, c_row, c_phase, c_cells,
                     c_clone, c_organ, clone_shedding, entry_group, organ_entry_index, G)
    venous = np.zeros((n, 2))
    met_units = np.zeros((n, 2))
    all_units = np.zeros((n, 2))
    nl = np.zeros((G, n), dtype=np.int64)
    lodging = np.zeros((n, 2), dtype=np.int64)
    windowed_transit(rng, rows, lam, arrest, group_places, venous_units, nonlodging,
                     group_cells, n_primary_groups, mean_out, venous, met_units, all_units,
                     nl, lodging)
    for p in range(n):
        step_venous_mean[p, 0] = venous[p, 0]
        step_venous_mean[p, 1] = venous[p, 1]
        for kind in range(2):
            pend_met[p, kind, 0] += met_units[p, kind]
            pend_met[p, kind, 1] += all_units[p, kind]
        nl_p = 0
        nl_m = 0
        for g in range(G):
            nonlodging_step[g, p] = nl[g, p]
            nonlodging_units[g, p] += nl[g, p]
            if g < n_primary_groups:
                nl_p += nl[g, p] * group_cells[g]
            else:
                nl_m += nl[g, p] * group_cells[g]
        shed_total[p] += nl_p + nl_m
        reached[p, detachment_col] += nl_p + nl_m
        reached[p, invasion_col] += nl_p + nl_m
        shed_by_met[p] += nl_m
        step_shed[p] = nl_p + nl_m + lodging[p, 0] + lodging[p, 1]
        primary[p] = max(0.0, primary[p] - (nl_p + lodging[p, 0]))


@numba.njit(cache=True)
def grow_primary(active: np.ndarray, primary: np.ndarray, rate: np.ndarray, gm: np.ndarray,
                 capacity: float, dt: float) -> None:
    """The primary's Gompertz growth over one step (a resected primary stays at 0)."""
    for p in range(len(active)):
        if active[p] and primary[p] > 0.0:
            primary[p] = gompertz_one(primary[p], rate[p] * gm[p], capacity, dt)


@numba.njit(cache=True)
def lodge_means(active: np.ndarray, step: int, lazy_step: np.ndarray, pend: np.ndarray,
                pend_cells: np.ndarray, arrived: np.ndarray, unit_cells: np.ndarray) -> None:
    """The mean units arrested this step join those not yet drawn (``pend``), and their
    cells the bound on them (``pend_cells``)."""
    for p in range(len(active)):
        if not active[p]:
            continue
        s = step - lazy_step[p]
        cells = 0.0
        for r in range(arrived.shape[1]):
            pend[p, s, r] += arrived[p, r]
            cells += arrived[p, r] * unit_cells[r]
        pend_cells[p] += cells


@numba.njit(cache=True)
def competent_shares(active: np.ndarray, primary: np.ndarray, c_row: np.ndarray,
                     c_phase: np.ndarray, c_cells: np.ndarray, reference_cells: float,
                     exponent: float) -> np.ndarray:
    """Per patient, the share of this step's arrivals that can found a colony
    (:func:`~sim.biology.cascade.competent_seed_share_one`) from the cells of its shedding
    tumours, the primary and the macrometastases (1 for inactive patients)."""
    n = len(active)
    cells = np.zeros(n)
    for p in range(n):
        cells[p] = primary[p]
    for i in range(len(c_row)):
        if c_phase[i] == MACRO:
            cells[c_row[i]] += c_cells[i]
    out = np.ones(n)
    for p in range(n):
        if active[p]:
            out[p] = competent_seed_share_one(cells[p], reference_cells, exponent)
    return out


@numba.njit(cache=True)
def split_spent_means(active: np.ndarray, arrived: np.ndarray, primary: np.ndarray,
                      c_row: np.ndarray, c_phase: np.ndarray, c_cells: np.ndarray,
                      spent_row: np.ndarray, reference_cells: float, exponent: float) -> None:
    """Between events: the mean arrivals (patients x lodged rows) that cannot found a
    colony move from each row to its spent copy, ``spent_row[r]`` (-1 for the spent rows
    themselves)."""
    if exponent == 0.0:
        return
    theta = competent_shares(active, primary, c_row, c_phase, c_cells, reference_cells,
                             exponent)
    for p in range(len(active)):
        if theta[p] >= 1.0:
            continue
        for r in range(arrived.shape[1]):
            if spent_row[r] < 0 or arrived[p, r] == 0.0:
                continue
            kept = arrived[p, r] * theta[p]
            arrived[p, spent_row[r]] += arrived[p, r] - kept
            arrived[p, r] = kept


@numba.njit(cache=True)
def _colony_bounds(active: np.ndarray, c_row: np.ndarray, c_organ: np.ndarray,
                   c_cells: np.ndarray, c_lazy: np.ndarray, avascular_cells: float,
                   n_organs: int) -> np.ndarray:
    """Per row and organ: the colonies' cells, those waiting for an event counted at the
    avascular size they cannot pass (the Python step's bound)."""
    out = np.zeros((len(active), n_organs))
    for i in range(len(c_row)):
        out[c_row[i], c_organ[i]] += avascular_cells if c_lazy[i] == 1 else c_cells[i]
    return out


@numba.njit(cache=True)
def quiet_stretch(rng: np.random.Generator, first_step: int, max_steps: int, dt: float,
                  active: np.ndarray, is_twin: np.ndarray, diagnosed: np.ndarray,
                  diagnosis_cells: np.ndarray, primary: np.ndarray, gompertz_rate: np.ndarray,
                  primary_capacity: float, shedding: np.ndarray, cluster_fraction: float,
                  cells_per_cluster: int, mass_exponent: float, clone_weights: np.ndarray,
                  primary_group: np.ndarray, c_row: np.ndarray, c_phase: np.ndarray,
                  c_cells: np.ndarray, c_clone: np.ndarray, c_organ: np.ndarray,
                  c_founders: np.ndarray, c_switched_day: np.ndarray,
                  c_detected_day: np.ndarray, c_lazy: np.ndarray,
                  clone_shedding: np.ndarray, entry_group: np.ndarray,
                  organ_entry_index: np.ndarray, arrest: np.ndarray, group_places: np.ndarray,
                  venous_units: np.ndarray, nonlodging: np.ndarray, group_cells: np.ndarray,
                  n_primary_groups: int, birth: float, death: float, macro_rate: float,
                  macro_capacity: float, avascular_cells: float, p_switch: float,
                  detectable_cells: float, detected_organs: np.ndarray,
                  first_detectable: np.ndarray, first_distant: np.ndarray, regional: int,
                  lodged_cells: np.ndarray, pend: np.ndarray,
                  pend_cells: np.ndarray, lazy_step: np.ndarray, unit_cells: np.ndarray,
                  lethal_cells: float, organ_lethal: np.ndarray, primary_organ: int,
                  sample_cells: float, sampled: np.ndarray,
                  symptom_cells: float, symptomatic: np.ndarray,
                  watching: np.ndarray, step_venous_mean: np.ndarray, pend_met: np.ndarray,
                  nonlodging_step: np.ndarray, nonlodging_units: np.ndarray,
                  shed_total: np.ndarray, reached: np.ndarray, lost: np.ndarray,
                  detachment_col: int, invasion_col: int, micro_col: int, macro_col: int,
                  shed_by_met: np.ndarray, step_shed: np.ndarray,
                  switched_by_kind: np.ndarray, first_macro: np.ndarray,
                  spent_row: np.ndarray, competence_cells: float,
                  competence_exponent: float) -> tuple[int, int]:
    """Up to ``max_steps`` quiet steps from ``first_step``, with no growth inhibition or
    therapy running (the caller's conditions: see
    :meth:`~sim.engine.population.PopulationEngine._quiet_steps`). Returns the steps begun
    and why it stopped (:data:`BEFORE_STEP`: every step begun is whole;
    :data:`AFTER_FIRST_HALF`: the last one needs its second half in Python).

    ``lodged_cells``: each row's drawn lodged cells (constant: drawn only at events).
    Colonies that die keep 0 cells and are skipped (the caller drops them)."""
    n = len(active)
    n_col = len(c_row)
    n_organs = symptomatic.shape[1]
    ones = np.ones(n)
    R = pend.shape[2]
    done = 0
    while done < max_steps:
        s = first_step + done
        day = s * dt
        # Before: no diagnosis, no metastasis at the imaging size in this step.
        for p in range(n):
            if active[p] and not is_twin[p] and not diagnosed[p] and primary[p] > 0.0:
                grown = gompertz_one(primary[p], gompertz_rate[p], primary_capacity, dt)
                if grown >= diagnosis_cells[p] * (1.0 - MARGIN):
                    return done, BEFORE_STEP
        for i in range(n_col):
            if c_cells[i] > 0.0 and c_lazy[i] == 0 and c_phase[i] == MACRO \
                    and math.isnan(c_detected_day[i]):
                grown = gompertz_one(c_cells[i], macro_rate, macro_capacity, dt)
                if grown >= detectable_cells * (1.0 - MARGIN):
                    # A metastasis at the imaging size in an organ already detected, after
                    # the first (distant) one: nothing to log or trigger, only its day.
                    r, o = c_row[i], c_organ[i]
                    routine = detected_organs[r, o] and not math.isnan(first_detectable[r]) \
                        and (o == regional or not math.isnan(first_distant[r]))
                    if not routine:
                        return done, BEFORE_STEP
        # The step's first half: colonies, shedding and transit, the primary, lodging.
        m = 0
        for i in range(n_col):
            if c_lazy[i] == 0 and c_cells[i] > 0.0:
                m += 1
        idx = np.empty(m, dtype=np.int64)
        m = 0
        for i in range(n_col):
            if c_lazy[i] == 0 and c_cells[i] > 0.0:
                idx[m] = i
                m += 1
        advance_selected(rng, idx, c_row, c_phase, c_cells, c_founders, c_switched_day,
                         ones, birth, death, macro_rate, macro_capacity, dt, avascular_cells,
                         p_switch, day, lost, micro_col, reached, macro_col,
                         switched_by_kind, first_macro)
        for j in range(m):
            if c_cells[idx[j]] >= detectable_cells and math.isnan(c_detected_day[idx[j]]):
                c_detected_day[idx[j]] = (s + 1) * dt
        arrived = np.zeros((n, R))
        windowed_step(rng, active, primary, shedding, dt, cluster_fraction,
                      cells_per_cluster, mass_exponent, clone_weights, primary_group, c_row,
                      c_phase, c_cells, c_clone, c_organ, clone_shedding, entry_group,
                      organ_entry_index, arrest, group_places, venous_units, nonlodging,
                      group_cells, n_primary_groups, arrived, step_venous_mean, pend_met,
                      nonlodging_step, nonlodging_units, shed_total, reached, detachment_col,
                      invasion_col, shed_by_met, step_shed)
        grow_primary(active, primary, gompertz_rate, ones, primary_capacity, dt)
        split_spent_means(active, arrived, primary, c_row, c_phase, c_cells, spent_row,
                          competence_cells, competence_exponent)
        lodge_means(active, s, lazy_step, pend, pend_cells, arrived, unit_cells)
        done += 1
        # After: nothing the second half acts on within reach.
        bounds = _colony_bounds(active, c_row, c_organ, c_cells, c_lazy, avascular_cells,
                                n_organs)
        for p in range(n):
            if not active[p]:
                continue
            colonies = 0.0
            for o in range(n_organs):
                colonies += bounds[p, o]
                if not symptomatic[p, o] and bounds[p, o] >= symptom_cells * (1.0 - MARGIN):
                    return done, AFTER_FIRST_HALF
                in_organ = bounds[p, o] + (primary[p] if o == primary_organ else 0.0)
                if in_organ >= organ_lethal[o] * (1.0 - MARGIN):
                    return done, AFTER_FIRST_HALF
            if not sampled[p] and colonies - bounds[p, regional] >= sample_cells * (1.0 - MARGIN):
                return done, AFTER_FIRST_HALF
            k = cells_per_cluster
            lodged = (lodged_cells[p] + pend_cells[p] + TAIL_SD * math.sqrt(pend_cells[p]) * k
                      + TAIL_ADD * k)
            if primary[p] + colonies + lodged >= lethal_cells * (1.0 - MARGIN):
                return done, AFTER_FIRST_HALF
        for i in range(n_col):
            if watching[c_row[i]] and c_cells[i] >= detectable_cells * (1.0 - MARGIN):
                return done, AFTER_FIRST_HALF
    return done, BEFORE_STEP
