"""Cohorts of cells between the primary and a colony, and how lodged cells move on.

A :class:`CohortStore` holds the :class:`~sim.engine.agents.CellCohort` agents by stage. Two
strategies, chosen by ``simulation.aggregate``:

* :class:`AggregateCohorts` merges identical units (same stage, organ, subclone, unit size
  and entry) into one cohort, so the number of agents follows the number of distinct places
  rather than the number of cells;
* :class:`SingleCellCohorts` keeps one agent per unit: the single-cell reference model, with a
  cap on the number of agents.

Both draw the same distributions (binomial and multinomial splits of a cohort are the same as
deciding each cell alone). :class:`LodgedCells` holds the per-step outcome probabilities of
the lodged stages (arrested, solitary, dormant) and advances them by one step.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

import numpy as np

from ..biology.cascade import (
    arrest_and_extravasation,
    dormancy,
    lodged_clones,
    solitary_cell_fate,
)
from ..biology.soil import seed_competence
from ..biology.stages import LODGED_STAGES, Stage
from ..biology.units import competing_risks
from .agents import CellCohort
from .ledger import Ledger

if TYPE_CHECKING:  # pragma: no cover
    import mesa

    from ..config.schema import Scenario


class SimulationLimitError(RuntimeError):
    """The scenario asks for more agents than ``simulation`` limits allow."""


#: Most agents (single-cell cohorts or colonies) one patient may hold (memory bound).
MAX_UNITS = 2_000_000

#: (stage, organ, clone, cluster size, units) waiting to be added at the end of a step.
Pending = tuple[Stage, int, int, int, int]
#: (organ, clone, cluster size, units, origin) that start a colony this step.
Founders = tuple[int, int, int, int, str]


class CohortStore(ABC):
    """The cohorts of one patient by stage (``store[stage]`` is a list of cohorts)."""

    def __init__(self, model: mesa.Model, n_clones: int, max_units: int = MAX_UNITS):
        self.model = model
        self.n_clones = n_clones
        self.max_units = max_units
        self.units = 0
        self._by_stage: dict[Stage, list[CellCohort]] = {s: [] for s in Stage}

    def __getitem__(self, stage: Stage) -> list[CellCohort]:
        return self._by_stage[stage]

    def row(self, organ: int, clone: int, cluster_size: int) -> int:
        """Row of a (organ, clone, unit kind) in the outcome tables of :class:`LodgedCells`."""
        return (max(organ, 0) * self.n_clones + clone) * 2 + int(cluster_size > 1)

    @abstractmethod
    def add(self, stage: Stage, organ: int, clone: int, cluster_size: int, count: int,
            entry: str | None = None) -> None:
        """``count`` units of ``cluster_size`` cells arrive at ``stage`` in ``organ``."""

    def _new(self, stage: Stage, organ: int, clone: int, cluster_size: int, count: int,
             entry: str | None) -> CellCohort:
        c = CellCohort(self.model, count, cluster_size, clone, stage, organ, entry,
                       self.row(organ, clone, cluster_size))
        self._by_stage[stage].append(c)
        return c

    def _forget(self, cohort: CellCohort) -> None:
        self.units -= 1
        cohort.remove()

    def prune(self, stage: Stage) -> None:
        """Drop the cohorts at ``stage`` that have no units left."""
        keep = []
        for c in self._by_stage[stage]:
            if c.count > 0:
                keep.append(c)
            else:
                self._forget(c)
        self._by_stage[stage] = keep

    def take(self, stage: Stage) -> list[CellCohort]:
        """The cohorts at ``stage`` (a copy of the list, safe to empty while iterating)."""
        return list(self._by_stage[stage])

    def cells_at(self, stage: Stage) -> int:
        return sum(c.count * c.cluster_size for c in self._by_stage[stage])

    def units_at(self, stage: Stage, organ: int) -> int:
        """Units at ``stage`` in ``organ``."""
        return sum(c.count for c in self._by_stage[stage] if c.organ == organ)

    def cells_by_organ(self, stages: tuple[Stage, ...], n_organs: int) -> np.ndarray:
        """Cells per organ at the given stages."""
        out = np.zeros(n_organs, dtype=np.int64)
        for stage in stages:
            for c in self._by_stage[stage]:
                out[c.organ] += c.count * c.cluster_size
        return out

    def batch(self, stage: Stage, table: np.ndarray) -> tuple[list[CellCohort], np.ndarray,
                                                              np.ndarray]:
        """Cohorts at a stage, their counts, and their rows of outcome probabilities."""
        cohorts = self._by_stage[stage]
        counts = np.fromiter((c.count for c in cohorts), dtype=np.int64, count=len(cohorts))
        rows = np.fromiter((c.row for c in cohorts), dtype=np.int64, count=len(cohorts))
        return cohorts, counts, table[rows]

    def thin(self, stage: Stage, p: float, rng: np.random.Generator) -> int:
        """Kill each unit at ``stage`` with probability ``p``; returns the cells killed."""
        cohorts = self._by_stage[stage]
        if p <= 0 or not cohorts:
            return 0
        counts = np.fromiter((c.count for c in cohorts), dtype=np.int64, count=len(cohorts))
        killed_cells = 0
        for c, k in zip(cohorts, rng.binomial(counts, p).tolist(), strict=True):
            if k:
                c.count -= k
                killed_cells += k * c.cluster_size
        self.prune(stage)
        return killed_cells


class AggregateCohorts(CohortStore):
    """Identical units share one cohort agent."""

    def __init__(self, model: mesa.Model, n_clones: int, max_units: int = MAX_UNITS):
        super().__init__(model, n_clones, max_units)
        self._by_key: dict[tuple[Any, ...], CellCohort] = {}

    def add(self, stage: Stage, organ: int, clone: int, cluster_size: int, count: int,
            entry: str | None = None) -> None:
        if count <= 0:
            return
        key = (stage, organ, clone, cluster_size, entry)
        c = self._by_key.get(key)
        if c is not None:
            c.count += count
            return
        self._by_key[key] = self._new(stage, organ, clone, cluster_size, count, entry)
        self.units += 1

    def _forget(self, cohort: CellCohort) -> None:
        del self._by_key[(cohort.stage, cohort.organ, cohort.clone, cohort.cluster_size,
                          cohort.entry)]
        super()._forget(cohort)


class SingleCellCohorts(CohortStore):
    """One agent per unit (the single-cell reference model)."""

    def add(self, stage: Stage, organ: int, clone: int, cluster_size: int, count: int,
            entry: str | None = None) -> None:
        if count <= 0:
            return
        self.units += count
        if self.units > self.max_units:
            raise SimulationLimitError(
                f"the single-cell engine would hold more than {self.max_units:,} agents; "
                "use simulation.aggregate = true, or lower primary.shedding_rate_per_gram_"
                "per_day or simulation.horizon_days")
        for _ in range(count):
            self._new(stage, organ, clone, cluster_size, 1, entry)


#: numpy's multivariate hypergeometric draw needs fewer than 10^9 items in all.
HYPERGEOMETRIC_LIMIT = 10**9


def draw_without_replacement(rng: np.random.Generator, counts: np.ndarray, n: int) -> np.ndarray:
    """How many of each group are among ``n`` units drawn without replacement (``n`` below
    the total): the exact multivariate hypergeometric draw. Beyond numpy's limit of 10^9
    units it is drawn with replacement (multinomial), overflow moved to groups with room:
    the variance is then too large by at most total / (total - n), under 1 % when the
    organ's free niches (n) are under 1 % of the candidates, as with the default capacity."""
    total = int(counts.sum())
    if total < HYPERGEOMETRIC_LIMIT:
        return rng.multivariate_hypergeometric(counts, n)
    kept = np.minimum(rng.multinomial(n, counts / total), counts)
    short = n - int(kept.sum())
    for i in range(len(counts)):
        if short <= 0:
            break
        add = min(short, int(counts[i] - kept[i]))
        kept[i] += add
        short -= add
    return np.asarray(kept)


def cohort_store(model: mesa.Model, aggregate: bool, n_clones: int) -> CohortStore:
    """The cohort store of ``simulation.aggregate``."""
    return (AggregateCohorts if aggregate else SingleCellCohorts)(model, n_clones)


class LodgedCells:
    """Per-step outcome probabilities of lodged cells, per (organ, clone, unit kind) row.

    Arrested: extravasate, die in the vessel, or wait. Solitary: die, fall dormant, start to
    proliferate (found a colony), or wait. Dormant: die, wake (found a colony), or sleep on.
    Proliferation and waking are multiplied by the colonisation competence, the organ's soil
    affinity (which carries the patient's own competence multiplier) and the subclone's and
    the unit kind's multipliers.
    """

    def __init__(self, scenario: Scenario, affinity: np.ndarray, dt_days: float):
        ex, col, cl = scenario.extravasation, scenario.colonization, scenario.clusters
        clones = lodged_clones(scenario.primary.subclones,
                               scenario.primary.seed_competence_exponent)
        competence = seed_competence(scenario)
        rows = len(affinity) * len(clones) * 2
        self.p_arrested = np.zeros((rows, 3))
        self.p_solitary = np.zeros((rows, 4))
        self.p_dormant = np.zeros((rows, 3))
        #: Dormant units an organ can hold (None: no limit).
        self.niche_capacity = col.dormant_niche_capacity
        for o, aff in enumerate(affinity.tolist()):
            for ci, c in enumerate(clones):
                for unit in (0, 1):
                    r = (o * len(clones) + ci) * 2 + unit
                    unit_mult = cl.proliferation_multiplier if unit else 1.0
                    grow = aff * c.proliferation * unit_mult * competence
                    self.p_arrested[r] = competing_risks(
                        [ex.rate_per_day * c.extravasation, ex.intravascular_death_rate_per_day],
                        dt_days)
                    self.p_solitary[r] = competing_risks(
                        [col.solitary_death_rate_per_day, col.dormancy_rate_per_day * c.dormancy,
                         col.proliferation_rate_per_day * grow], dt_days)
                    self.p_dormant[r] = competing_risks(
                        [col.dormant_death_rate_per_day,
                         col.awakening_rate_per_day * competence * aff * c.awakening
                         * unit_mult], dt_days)

    def advance(self, rng: np.random.Generator, store: CohortStore,
                ledger: Ledger) -> tuple[list[Pending], list[Founders]]:
        """One step of every lodged cohort. Returns the units that move to a later lodged
        stage and the founders of new colonies; both are added after the colonies have
        grown, so that nothing moves more than one stage per step."""
        pending: list[Pending] = []
        founders: list[Founders] = []
        cohorts, counts, p = store.batch(Stage.ARRESTED, self.p_arrested)
        if cohorts:
            ext, died = arrest_and_extravasation(rng, counts, p[:, 0], p[:, 1])
            for c, e, x in zip(cohorts, ext.tolist(), died.tolist(), strict=True):
                k = c.cluster_size
                if e:
                    ledger.reach("extravasation", e * k)
                    pending.append((Stage.SOLITARY, c.organ, c.clone, k, e))
                ledger.lose("arrest", x * k)
                c.count -= e + x
        cohorts, counts, p = store.batch(Stage.SOLITARY, self.p_solitary)
        falling_asleep: list[tuple[CellCohort, int]] = []
        if cohorts:
            fates = solitary_cell_fate(rng, counts, p)
            for c, died, dorm, prolif in zip(cohorts, *(f.tolist() for f in fates), strict=True):
                k = c.cluster_size
                ledger.lose("extravasation", died * k)
                if dorm:
                    falling_asleep.append((c, dorm))
                if prolif:
                    founders.append((c.organ, c.clone, k, prolif, "solitary"))
                c.count -= died + dorm + prolif
        cohorts, counts, p = store.batch(Stage.DORMANT, self.p_dormant)
        if cohorts:
            died_, awake_ = dormancy(rng, counts, p)
            for c, died, awake in zip(cohorts, died_.tolist(), awake_.tolist(), strict=True):
                k = c.cluster_size
                ledger.lose("dormancy", died * k)
                if awake:
                    founders.append((c.organ, c.clone, k, awake, "dormant"))
                c.count -= died + awake
        for c, dorm in self._into_niches(rng, store, falling_asleep, ledger):
            k = c.cluster_size
            ledger.reach("dormancy", dorm * k)
            pending.append((Stage.DORMANT, c.organ, c.clone, k, dorm))
        for stage in LODGED_STAGES:
            store.prune(stage)
        return pending, founders

    def _into_niches(self, rng: np.random.Generator, store: CohortStore,
                     falling_asleep: list[tuple[CellCohort, int]],
                     ledger: Ledger) -> list[tuple[CellCohort, int]]:
        """Units that find a free dormant niche in their organ (each holds one unit).

        Where more units fall dormant in a step than the organ has free niches, which of
        them find one is a draw without replacement (every unit has the same chance); the
        others die for want of a niche (lost at the dormancy stage).
        """
        if not falling_asleep or self.niche_capacity is None:
            return falling_asleep
        wanting: dict[int, int] = {}
        for c, dorm in falling_asleep:
            wanting[c.organ] = wanting.get(c.organ, 0) + dorm
        asleep: dict[int, int] = {}
        for c in store[Stage.DORMANT]:
            asleep[c.organ] = asleep.get(c.organ, 0) + c.count
        # One pass over the dormant cohorts; most steps no organ is anywhere near full.
        full = {o for o, n in wanting.items()
                if n > self.niche_capacity - asleep.get(o, 0)}
        if not full:
            return falling_asleep
        out = [(c, d) for c, d in falling_asleep if c.organ not in full]
        for organ in sorted(full):
            group = [(c, d) for c, d in falling_asleep if c.organ == organ]
            free = max(0, self.niche_capacity - asleep.get(organ, 0))
            kept = draw_without_replacement(rng, np.array([d for _, d in group], dtype=np.int64),
                                        free)
            for (c, d), keep in zip(group, kept.tolist(), strict=True):
                ledger.lose("dormancy", (d - keep) * c.cluster_size)
                if keep:
                    out.append((c, keep))
        return out


__all__ = ["HYPERGEOMETRIC_LIMIT", "MAX_UNITS", "AggregateCohorts", "CohortStore", "LodgedCells",
           "SimulationLimitError", "SingleCellCohorts", "cohort_store", "draw_without_replacement"]
