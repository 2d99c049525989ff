"""The population engine's shedding and transit: the circulation tables of each group of
shed units, the step's shedding from the primary and the macrometastases, the arrested
units (Poisson means between events, drawn counts in the daily reference), the units that
did not arrest (drawn, split into their fates when looked at) and the circulating cells of a
record or a blood sample. Functions of the engine: each is a method of
:class:`~sim.engine.population.PopulationEngine`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..biology.anatomy import ORGAN_KEYS, PRIMARY_ENTRIES, VENOUS_ENTRIES, metastasis_entry
from ..biology.cascade import normalise
from ..biology.delivery import chain_for, entry_probabilities
from ..biology.soil import colonization_vector, seed_competence
from ..biology.units import competing_risks_array, scale_probability, step_probability
from . import step_kernels as sk
from .population_layout import (
    ARRESTED,
    DEATH_ROUTES,
    MACRO,
    N_ORGANS,
    F,
)

if TYPE_CHECKING:
    from .population import PopulationEngine


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


def transit_tables(self: PopulationEngine) -> None:
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
    self.group_places = np.zeros((G, O), dtype=np.int64)    # the rows of each group
    self.primary_group = np.array([[self.group_index[(-1, ci, u)] for u in (0, 1)]
                                   for ci in range(self.C)], dtype=np.int64)
    #: The group of the single cells of each entry route and subclone (clusters: +1).
    self.entry_group = np.array([[self.group_index[(e, ci, 0)] for ci in range(self.C)]
                                 for e in range(len(entries))], dtype=np.int64)
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
                self.group_places[g] = cols[g]
                self.group_arrest_rows[g, cols[g]] = ven[:O] + oth[:O]
                self.group_venous_rows[g, cols[g]] = ven[:O]
                rest = np.concatenate([[1.0 - p_inv], ven[O:], oth[O:]])
                self.group_nonlodging[g] = rest.sum()
                self.group_outcomes[g] = rest / rest.sum() if rest.sum() > 0 else 0.0
    self.group_venous_units = self.group_venous_rows.sum(axis=1)
    ex, cl = sc.extravasation, sc.clusters
    unit_mult = np.where(np.arange(self.R) % 2 == 1, cl.proliferation_multiplier, 1.0)
    c_ext = np.array([self.clones[c].extravasation for c in self.row_clone])
    self.p_arrested = competing_risks_array(np.stack(
        [ex.rate_per_day * c_ext, np.full(self.R, ex.intravascular_death_rate_per_day)],
        axis=-1), self.dt)
    # Per patient: the soil affinity carries the patient's competence multiplier.
    self._affinity = colonization_vector(sc)[self.row_organ]
    competence = seed_competence(sc)
    self._grow = (np.array([self.clones[c].proliferation for c in self.row_clone])
                  * unit_mult * competence)
    self._wake = (np.array([self.clones[c].awakening for c in self.row_clone])
                  * unit_mult * competence)
    self._dormancy = np.array([self.clones[c].dormancy for c in self.row_clone])


def shed_and_travel(self: PopulationEngine) -> np.ndarray:
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
    f, k = sc.clusters.fraction_of_shedding_events, self.k_cluster
    a = sc.primary.shedding_mass_exponent
    n = len(self.active)
    G = len(self.group_unit_cells)
    c = self.colonies
    if not self.daily:
        mean = np.zeros((n, self.R))
        sk.windowed_step(
            rng, self.active, self.primary, self.shedding, dt, f, k, a, self.clone_weights,
            self.primary_group, c.row, c.phase, c.cells, c.clone, c.organ,
            self.clone_shedding, self.entry_group, self.organ_entry_index,
            self.group_arrest_rows, self.group_places, self.group_venous_units,
            self.group_nonlodging, self.group_unit_cells, 2 * self.C, mean,
            self.step_venous_mean, self.pend_met, self.nonlodging_step,
            self.nonlodging_units, self.shed_total, self.reached, F["detachment"],
            F["invasion"], self.shed_by_met, self.step_shed)
        self.step_ctc_known[:] = False
        return mean
    macro = np.flatnonzero((c.phase == MACRO) & self.active[c.row])
    met = len(macro) > 0
    # Mean units per patient and group this step.
    lam_pg = sk.shed_means(self.active, self.primary, self.shedding, dt, f, k, a,
                           self.clone_weights, self.primary_group, c.row, c.phase, c.cells,
                           c.clone, c.organ, self.clone_shedding, self.entry_group,
                           self.organ_entry_index, G)
    lam = lam_pg.T
    n_primary = 2 * self.C
    mean_primary, venous_primary = self._arrest_means(lam[:n_primary], 0)
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
    self.reached[:, F["transit"]] += cells       # the rest when the others are split
    self.reached[:, F["arrest"]] += cells
    self.primary = np.maximum(0.0, self.primary - from_primary)
    return arrived


def arrest_means(self: PopulationEngine, lam: np.ndarray, first: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean units arresting per patient and lodged row for the groups ``first``, ...
    with means ``lam`` (groups x patients), and the share of them that came by the
    blood."""
    last = first + len(lam)
    mean = lam.T @ self.group_arrest_rows[first:last]
    venous = lam.T @ self.group_venous_rows[first:last]
    share = np.divide(venous, mean, out=np.zeros_like(mean), where=mean > 0)
    return mean, np.minimum(share, 1.0)      # a share; rounding must not pass 1


def poisson(self: PopulationEngine, mean: np.ndarray) -> np.ndarray:
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


def ctc(self: PopulationEngine, rows: np.ndarray) -> None:
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


def settle_transit(self: PopulationEngine, rows: np.ndarray, units: np.ndarray) -> np.ndarray:
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
        self.lost[rows, F["invasion"]] += out[:, 0] * k
        self.lost_route[rows] += dead
        self.lost[rows, F["transit"]] += dead.sum(axis=1)
        self.reached[rows, F["transit"]] += dead.sum(axis=1)
        venous += out[:, self.venous_death].sum(axis=1) * k
    return venous


def count_shed(self: PopulationEngine, cells: np.ndarray, by_metastasis: bool) -> None:
    self.shed_total += cells
    self.step_shed += cells
    self.reached[:, F["detachment"]] += cells
    self.reached[:, F["invasion"]] += cells
    if by_metastasis:
        self.shed_by_met += cells


def lodge(self: PopulationEngine, arrived: np.ndarray) -> None:
    """Arrested units join the lodged cells (systemic therapy kills some on the way,
    as :meth:`Clinic.thin_arrivals`; those that cannot found a colony join their rows'
    spent copies, :func:`~sim.biology.cascade.competent_seed_share_one`, as in the Mesa
    model's ``_travel``); between events, their means join those not yet drawn."""
    rates = self._kill_rates()
    if not self.daily:
        if rates is not None and "circulating" in rates:
            p_kill = step_probability(rates["circulating"], self.dt)
            kinds = np.stack([self.unit_cells == 1, self.unit_cells > 1], axis=1)
            self.pend_killed += (arrived * p_kill[:, None]) @ kinds.astype(float)
            arrived = arrived * (1.0 - p_kill[:, None])
        pr, c = self.scenario.primary, self.colonies
        sk.split_spent_means(self.active, arrived, self.primary, c.row, c.phase, c.cells,
                             self.spent_row, pr.seed_competence_reference_cells,
                             pr.seed_competence_exponent)
        s = self.step_count
        full = np.flatnonzero(self.active & (s - self.lazy_step >= self.pend.shape[1]))
        self._bring_up(full, s)
        sk.lodge_means(self.active, s, self.lazy_step, self.pend, self.pend_cells, arrived,
                       self.unit_cells)
        return
    if rates is not None and "circulating" in rates:
        p_kill = step_probability(rates["circulating"], self.dt)
        killed = self.rng.binomial(arrived, p_kill[:, None])
        cells = killed @ self.unit_cells
        self.lost[:, F["transit"]] += cells
        self.reached[:, F["arrest"]] -= cells
        arrived = arrived - killed
    pr, c = self.scenario.primary, self.colonies
    if pr.seed_competence_exponent > 0:
        # The arrivals that cannot found a colony lodge in their rows' spent copies.
        theta = sk.competent_shares(self.active, self.primary, c.row, c.phase, c.cells,
                                    pr.seed_competence_reference_cells,
                                    pr.seed_competence_exponent)
        rows = np.flatnonzero(self.spent_row >= 0)
        spent = self.rng.binomial(arrived[:, rows], 1.0 - theta[:, None])
        arrived = arrived.copy()
        arrived[:, rows] -= spent
        arrived[:, self.spent_row[rows]] += spent
    self.arrested_by_organ += (arrived * self.unit_cells).reshape(
        len(arrived), N_ORGANS, -1).sum(axis=2)
    self.lodged[ARRESTED] += arrived
