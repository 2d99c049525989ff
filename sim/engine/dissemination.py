"""Dissemination: shedding from the primary and the macrometastases, invasion, route entry
and transit along the circulation chain, down to the cells that arrest in each organ.

Cells shed in a step invade, enter a route and travel within that step; the units arrested
per organ are returned to the model, which lodges them (:class:`~sim.engine.cohorts.CohortStore`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from ..biology.anatomy import (
    DEATH_STATES,
    ORGAN_KEYS,
    PRIMARY_ENTRIES,
    VENOUS_ENTRIES,
    CirculationChain,
    metastasis_entry,
)
from ..biology.cascade import detachment, invasion, normalise, route_entry, transit
from ..biology.delivery import chain_for, entry_probabilities
from ..biology.stages import Stage
from ..biology.units import cells_to_grams, scale_probability
from ..config.schema import Scenario
from .agents import CellCohort, Colony
from .cohorts import CohortStore
from .ledger import Ledger

N_ORGANS = len(ORGAN_KEYS)
#: Routes on which cells die in transit, in the order of the chain's death states.
DEATH_ROUTES = [s.removeprefix("death:") for s in DEATH_STATES]


class Dissemination:
    """Shedding and transit for one patient's scenario."""

    def __init__(self, scenario: Scenario, dt_days: float, ledger: Ledger, store: CohortStore,
                 shedding_rate_per_gram_per_day: float | None = None):
        self.ledger = ledger
        self.store = store
        self.dt = dt_days
        self.clones = list(scenario.primary.subclones)
        #: This patient's rate (default: the scenario's).
        self.shedding_rate_per_gram_per_day = (
            scenario.primary.shedding_rate_per_gram_per_day
            if shedding_rate_per_gram_per_day is None else shedding_rate_per_gram_per_day)
        self.mass_exponent = scenario.primary.shedding_mass_exponent
        self.cluster_fraction = scenario.clusters.fraction_of_shedding_events
        self.cluster_size = scenario.clusters.cells_per_cluster
        self.walk = scenario.simulation.circulation == "walk"
        self._clone_shedding = np.array([c.fraction * c.shedding for c in self.clones])
        self._primary_entry_p = entry_probabilities(scenario)
        self._p_invasion = np.array([scale_probability(scenario.invasion.success_probability,
                                                       c.invasion) for c in self.clones])
        # One chain per (clone, unit kind): death in transit differs.
        self._chains: dict[tuple[int, int], CirculationChain] = {}
        for ci, clone in enumerate(self.clones):
            for unit in (0, 1):
                mult = clone.transit_death * (scenario.clusters.transit_death_multiplier
                                              if unit else 1.0)
                self._chains[(ci, unit)] = chain_for(scenario, mult)
        self._absorption: dict[tuple[int, int, str], np.ndarray] = {}

    # ---------------------------------------------------------------- shedding
    def shed(self, rng: np.random.Generator, primary_mass_g: float,
             macrometastases: Iterable[Colony]) -> int:
        """Poisson shedding by mass from the primary, then from each macrometastasis (cells
        shed by a metastasis enter the chain where its organ drains). Returns the cells shed
        by the primary (they leave it)."""
        rate, f, k = self.shedding_rate_per_gram_per_day, self.cluster_fraction, self.cluster_size
        a = self.mass_exponent
        singles, clusters = detachment(rng, primary_mass_g, rate, self.dt, self._clone_shedding,
                                       f, k, a)
        for ci in range(len(self.clones)):
            self._detached(ci, 1, int(singles[ci]), None)
            self._detached(ci, k, int(clusters[ci]), None)
        from_primary = int(singles.sum()) + k * int(clusters.sum())
        macro = list(macrometastases)
        if macro:
            mass = np.fromiter((cells_to_grams(c.cells) ** a * self.clones[c.clone].shedding
                                for c in macro), dtype=float, count=len(macro))
            s_m, c_m = detachment(rng, 1.0, rate, self.dt, mass, f, k)
            for col, ns, nc in zip(macro, s_m.tolist(), c_m.tolist(), strict=True):
                entry = metastasis_entry(ORGAN_KEYS[col.organ])
                self._detached(col.clone, 1, ns, entry)
                self._detached(col.clone, k, nc, entry)
        return from_primary

    def _detached(self, clone: int, k: int, n: int, entry: str | None) -> None:
        if n <= 0:
            return
        self.ledger.shed(n * k, by_metastasis=entry is not None)
        self.store.add(Stage.DETACHED, -1, clone, k, n, entry)

    # ---------------------------------------------------------------- transit
    def disseminate(self, rng: np.random.Generator, cohort: CellCohort) -> np.ndarray:
        """Invasion, route entry and transit of a detached cohort (emptied); returns the
        units arrested per organ."""
        n, k, ci = cohort.count, cohort.cluster_size, cohort.clone
        cohort.count = 0
        ok = invasion(rng, n, float(self._p_invasion[ci]))
        self.ledger.lose("invasion", (n - ok) * k)
        if not ok:
            return np.zeros(N_ORGANS, dtype=np.int64)
        self.ledger.reach("transit", ok * k)
        if cohort.entry is None:
            entries: Sequence[str] = PRIMARY_ENTRIES
            counts = route_entry(rng, ok, self._primary_entry_p).tolist()
        else:
            entries, counts = (cohort.entry,), [ok]
        return self.transit(rng, entries, counts, ci, k)

    def transit(self, rng: np.random.Generator, entries: Sequence[str], counts: Sequence[int],
                clone: int, k: int) -> np.ndarray:
        """Units entering the chain at each entry travel until they die or arrest; returns
        the units arrested per organ."""
        arrived = np.zeros(N_ORGANS, dtype=np.int64)
        unit = int(k > 1)
        chain = self._chains[(clone, unit)]
        for entry, m in zip(entries, counts, strict=True):
            if not m:
                continue
            if entry in VENOUS_ENTRIES:
                self.ledger.entered_blood(m * k)
            if self.walk:
                absorbed = chain.walk(rng, entry, m)[0]
            else:
                key = (clone, unit, entry)
                p = self._absorption.get(key)
                if p is None:
                    p = self._absorption[key] = normalise(chain.absorption(entry))
                absorbed = transit(rng, m, p, normalised=True)
            arrived += absorbed[:N_ORGANS]
            for route, dead in zip(DEATH_ROUTES, absorbed[N_ORGANS:].tolist(), strict=True):
                self.ledger.died_in_transit(route, dead * k)
        self.ledger.arrested(int(arrived.sum()) * k)
        return arrived


__all__ = ["DEATH_ROUTES", "N_ORGANS", "Dissemination"]
