"""Metastatic colonies: founding, growth, the angiogenic switch, detection and killing.

A colony starts from one unit (a cell or a cluster) and is a micrometastasis growing by a
birth-death process until it dies out or reaches the avascular limit (Folkman's 2-3 mm); there
it waits in angiogenic dormancy until the angiogenic switch, after which it is a vascularised
macrometastasis growing by Gompertz and shedding cells of its own. A colony is detected when
it reaches the imaging threshold, whatever its phase.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..biology.anatomy import ORGAN_KEYS
from ..biology.cascade import kill_cells
from ..biology.stages import Phase
from ..biology.units import diameter_to_cells, step_probability
from .agents import Colony
from .cohorts import MAX_UNITS, SimulationLimitError
from .ledger import Ledger
from .step_kernels import LIMIT, MACRO, MICRO, colony_step_kernel

if TYPE_CHECKING:  # pragma: no cover
    import mesa

    from ..config.schema import Colonization, Scenario

#: Colony phases as small integers (the population engine's columns; :func:`step_colonies`).
PHASE_CODE = {Phase.MICRO: MICRO, Phase.AVASCULAR_LIMIT: LIMIT, Phase.MACRO: MACRO}


@dataclass(frozen=True)
class ColonyStep:
    """What one step did to a set of colonies (arrays in their order)."""

    #: Cells after the step (0: the micrometastasis died out).
    cells: np.ndarray
    #: Phase codes after the step.
    phase: np.ndarray
    #: Micrometastases that died out.
    died: np.ndarray
    #: Colonies at the avascular limit that switched on angiogenesis.
    switched: np.ndarray


def step_colonies(rng: np.random.Generator, phase: np.ndarray, cells: np.ndarray,
                  growth_multiplier: np.ndarray | float, col: Colonization, dt: float,
                  avascular_cells: float, p_switch: float) -> ColonyStep:
    """One step of the colonies' growth and angiogenic switch (both engines' rule; each
    colony moves at most one phase): micrometastases by the exact birth-death draw, capped
    at the avascular limit where they wait; those waiting switch with ``p_switch``;
    macrometastases by Gompertz. ``growth_multiplier`` scales the growth rates (one value,
    or one per colony). Draws, in this order: the micrometastases' sizes (one draw per
    distinct multiplier, colonies in order), then one uniform per waiting colony."""
    phase = np.ascontiguousarray(phase, dtype=np.int64)
    before = np.ascontiguousarray(cells, dtype=float)
    gm = np.array(np.broadcast_to(np.asarray(growth_multiplier, dtype=float), before.shape))
    n = len(before)
    out, new_phase = np.empty(n), np.empty(n, dtype=np.int64)
    died, switched = np.empty(n, dtype=bool), np.empty(n, dtype=bool)
    colony_step_kernel(rng, phase, before, gm, col.micrometastasis_birth_rate_per_day,
                       col.micrometastasis_death_rate_per_day,
                       col.macrometastasis_gompertz_rate_per_day,
                       col.macrometastasis_carrying_capacity_cells, dt, avascular_cells,
                       p_switch, out, new_phase, died, switched)
    return ColonyStep(out, new_phase, died, switched)


class Colonies:
    """The live colonies of one patient (iterable, in order of founding)."""

    def __init__(self, model: mesa.Model, scenario: Scenario, ledger: Ledger, dt_days: float,
                 max_units: int = MAX_UNITS):
        col = scenario.colonization
        self.model = model
        self.ledger = ledger
        self.col = col
        self.dt = dt_days
        self.max_units = max_units
        self.detectable_cells = diameter_to_cells(col.detectable_diameter_mm)
        self.autopsy_cells = diameter_to_cells(col.autopsy_detectable_diameter_mm)
        self.avascular_limit_cells = diameter_to_cells(col.avascular_diameter_mm)
        self.p_switch = step_probability(col.angiogenic_switch_rate_per_day, dt_days)
        #: End of the step in which the first colony became detectable (None: none yet).
        self.first_detectable_day: float | None = None
        #: The same for the first colony outside the regional lymph nodes (a distant
        #: metastasis).
        self.first_distant_detectable_day: float | None = None
        #: The day that colony was founded (its founding cell may have slept long before).
        self.first_distant_founded_day: float | None = None
        self._regional = ORGAN_KEYS.index("regional_lymph_nodes")
        #: Start of the step in which the first colony switched on angiogenesis: the first
        #: macrometastasis (None: none yet).
        self.first_macrometastasis_day: float | None = None
        self._live: list[Colony] = []

    def __iter__(self) -> Iterator[Colony]:
        return iter(self._live)

    def __len__(self) -> int:
        return len(self._live)

    # ---------------------------------------------------------------- founding and growth
    def found(self, organ: int, clone: int, cluster_size: int, n: int, origin: str,
              day: float) -> None:
        """``n`` units of ``cluster_size`` cells start to proliferate in ``organ``."""
        if len(self._live) + n > self.max_units:
            raise SimulationLimitError(
                f"more than {self.max_units:,} colonies; the colonisation parameters "
                "(colonization.competence, proliferation_rate_per_day, awakening_rate_per_day) "
                "are too high for this shedding rate")
        self.ledger.founded_colonies(organ, n, cluster_size)
        for _ in range(n):
            self._live.append(Colony(self.model, organ, clone, cluster_size, day, origin))

    def advance(self, rng: np.random.Generator, growth_multiplier: float, day: float,
                step_end_day: float) -> list[Colony]:
        """Grow every colony by one step (each moves at most one phase); returns the
        colonies that became detectable in this step, in order."""
        if not self._live:
            return []
        live = self._live
        step = step_colonies(
            rng, np.fromiter((PHASE_CODE[c.phase] for c in live), dtype=np.int64,
                             count=len(live)),
            np.fromiter((c.cells for c in live), dtype=float, count=len(live)),
            growth_multiplier, self.col, self.dt, self.avascular_limit_cells, self.p_switch)
        for c, n, ph, died, switched in zip(live, step.cells.tolist(), step.phase.tolist(),
                                            step.died.tolist(), step.switched.tolist(),
                                            strict=True):
            if died:
                self.ledger.lose("micrometastasis", c.founders)
            c.cells = n
            if ph == LIMIT:
                c.phase = Phase.AVASCULAR_LIMIT
            if switched:
                c.phase = Phase.MACRO
                c.switched_day = day
                self.ledger.switched_colony(c.founders)
                if self.first_macrometastasis_day is None:
                    self.first_macrometastasis_day = day
        detected: list[Colony] = []
        keep: list[Colony] = []
        for c in self._live:
            if c.cells > 0:
                keep.append(c)
                # By size, whatever the phase (the imaging threshold may lie below the
                # avascular limit).
                if c.detected_day is None and c.cells >= self.detectable_cells:
                    c.detected_day = step_end_day
                    detected.append(c)
                    if self.first_detectable_day is None:
                        self.first_detectable_day = step_end_day
                    if self.first_distant_detectable_day is None and \
                            c.organ != self._regional:
                        self.first_distant_detectable_day = step_end_day
                        self.first_distant_founded_day = c.founded_day
            else:
                c.remove()
        self._live = keep
        return detected

    def thin(self, rng: np.random.Generator, micro_rate_per_day: float = 0.0,
             macro_rate_per_day: float = 0.0, organ: int | None = None,
             fraction: float | None = None, detectable_only: bool = False) -> float:
        """Kill cells of the colonies (all, or one organ's, or the detectable ones): each
        cell with the step probability of the phase's kill rate, or with ``fraction``.
        Small colonies (< 10^9 cells) by a binomial draw per colony, large ones by the
        expected fraction (log-kill). Returns the cells killed."""
        killed_cells = 0.0
        keep = []
        for c in self._live:
            if (organ is not None and c.organ != organ) or \
                    (detectable_only and c.cells < self.detectable_cells):
                keep.append(c)
                continue
            before = c.cells
            if fraction is not None:
                p = fraction
            else:
                rate = macro_rate_per_day if c.phase is Phase.MACRO else micro_rate_per_day
                p = step_probability(rate, self.dt)
            if p > 0:
                c.cells = float(kill_cells(rng, np.array([c.cells]), p)[0])
            killed_cells += before - c.cells
            if c.cells >= 1.0:
                if c.phase is not Phase.MACRO and c.cells < self.avascular_limit_cells:
                    c.phase = Phase.MICRO
                keep.append(c)
            else:
                stage = "macrometastasis" if c.phase is Phase.MACRO else "micrometastasis"
                self.ledger.lose(stage, c.founders)
                c.remove()
        self._live = keep
        return killed_cells

    # ---------------------------------------------------------------- reading
    def in_phase(self, phase: Phase) -> list[Colony]:
        return [c for c in self._live if c.phase is phase]

    def count(self, macro: bool) -> int:
        """Macrometastases (``macro``) or colonies not yet vascularised."""
        return sum(1 for c in self._live if (c.phase is Phase.MACRO) == macro)

    def at_least(self, cells: float) -> list[Colony]:
        return [c for c in self._live if c.cells >= cells]

    def burden_cells(self) -> float:
        return float(sum(c.cells for c in self._live))

    def founders(self, macro: bool) -> int:
        """Cells that founded the live macrometastases (``macro``) or the others."""
        return sum(c.founders for c in self._live if (c.phase is Phase.MACRO) == macro)

    def by_organ(self, n_organs: int, min_cells: float = 0.0, cells: bool = False) -> np.ndarray:
        """Per organ: the number of colonies of at least ``min_cells`` (or, with ``cells``,
        their cells)."""
        out = np.zeros(n_organs, dtype=float if cells else np.int64)
        for c in self._live:
            if c.cells >= min_cells:
                out[c.organ] += c.cells if cells else 1
        return out


__all__ = ["Colonies"]
