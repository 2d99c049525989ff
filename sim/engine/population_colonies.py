"""The population engine's colonies: founding, growth step by step or, for the
micrometastases far from the avascular size, in one draw from one event to the next, the
angiogenic switch, detection and a therapy's kill (the rules of
:class:`~sim.engine.colonies.Colonies`, on the batch's colony table,
:class:`~sim.engine.population_layout.ColonyTable`). Functions of the engine: each is a method
of :class:`~sim.engine.population.PopulationEngine`."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ..biology.cascade import birth_death, kill_cells, log_kendall_tail_bound
from ..biology.units import step_probability
from . import events
from . import step_kernels as sk
from .population_layout import (
    MACRO,
    MICRO,
    N_ORGANS,
    REGIONAL,
    F,
)

if TYPE_CHECKING:
    from .population import PopulationEngine


def kill_colonies(self: PopulationEngine, rates: dict[str, np.ndarray] | None,
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
    self._thin_colonies(sel, step_probability(rate, self.dt))


def thin_colonies(self: PopulationEngine, sel: np.ndarray, p: np.ndarray) -> float:
    """Kill each cell of the selected colonies with probability ``p`` (binomially below
    10^9 cells, by the expected fraction above), as :meth:`Colonies.thin`."""
    c = self.colonies
    hit = sel & (p > 0)
    if not hit.any():
        return 0.0
    before = c.cells.copy()
    cells = c.cells.copy()
    cells[hit] = kill_cells(self.rng, c.cells[hit], p[hit])
    c.cells = cells
    killed = float((before - cells)[hit].sum())
    alive = cells >= 1.0
    back = hit & alive & (c.phase != MACRO) & (cells < self.avascular_cells)
    c.phase[back] = MICRO
    gone = hit & ~alive
    if gone.any():
        macro = gone & (c.phase == MACRO)
        np.add.at(self.lost[:, F["macrometastasis"]], c.row[macro], c.founders[macro])
        np.add.at(self.lost[:, F["micrometastasis"]], c.row[gone & ~macro],
                  c.founders[gone & ~macro])
        c.keep(~gone)
    return killed


def found(self: PopulationEngine, founders: np.ndarray, target: int | None) -> None:
    """New colonies, one per founding unit (as :meth:`Colonies.found`), each on the day
    of the step in which it was founded; colonies founded before step ``target`` then
    live the steps they missed (growth, the angiogenic switch, a systemic therapy's
    kill), as their step-by-step course would have had them."""
    rows, cols, steps, origin = (founders[:, i] for i in range(4))
    organ = self.row_organ[cols]
    size = self.unit_cells[cols]
    kind = (size > 1).astype(np.int64)
    np.add.at(self.reached[:, F["micrometastasis"]], rows, size)
    np.add.at(self.founded, (rows, kind), 1)
    np.add.at(self.founded_by_organ, (rows, organ), 1)
    c = self.colonies
    first = len(c)
    c.append(row=rows, organ=organ, clone=self.row_clone[cols], founders=size,
             cells=size.astype(float), phase=np.full(len(rows), MICRO),
             founded_day=steps * self.dt, origin=origin, founded_step=steps,
             as_of=steps, catch_up=np.zeros(len(rows)))
    if target is None:
        return
    new = np.arange(first, len(c))
    self._assess_lazy(new)
    slow = new[c.lazy[new] == 0]
    if not len(slow):
        return
    # Those that cannot wait (a therapy runs, or they could reach the avascular size):
    # the steps they missed, one at a time.
    c.catch_up[slow] = 1
    kill = self._kill_rates()
    gm = self._growth_multipliers()
    for step in range(int(c.founded_step[slow].min()), target + 1):
        late = c.catch_up == 1
        if step > int(steps.min()):
            self._advance_colonies(gm, select=late & (c.founded_step < step),
                                   day=step * self.dt, end_day=(step + 1) * self.dt)
            late = c.catch_up == 1
        if kill is not None:
            self._kill_colonies(kill, late & (c.founded_step <= step))
    c.as_of[c.catch_up == 1] = target
    c.catch_up[:] = 0


def assess_lazy(self: PopulationEngine, idx: np.ndarray) -> None:
    """Which of the colonies ``idx`` (current as of their ``as_of`` step) may wait for
    the next event, at most ``window`` steps away, to live the steps since in one
    draw: a micrometastasis is a linear birth-death process, whose law after m steps is
    Kendall's for m * dt (:func:`~sim.biology.cascade.birth_death`), as long as it
    cannot reach the avascular size on the way (then it stops growing and waits for the
    angiogenic switch). That chance must be below 1e-20: for a growing colony, Chernoff's
    bound on its size at the end of the window reaching half that size (which a colony that
    reached the size would almost surely still hold); for a shrinking one (under a growth
    inhibition), the gambler's-ruin chance of ever reaching it. Not with a systemic therapy
    (its kill thins the colony every step) or in the daily reference, nor where a
    micrometastasis could be detected (a detectable size below the avascular one)."""
    c = self.colonies
    if not len(idx):
        return
    ok = c.phase[idx] == MICRO
    if self.daily or self.detectable_cells <= self.avascular_cells:
        ok[:] = False
    rates = self._kill_rates()
    if rates is not None:
        killing = np.zeros(len(self.active), dtype=bool)
        for v in rates.values():
            killing |= v > 0
        ok &= ~killing[c.row[idx]]
    col = self.scenario.colonization
    b, d = col.micrometastasis_birth_rate_per_day, col.micrometastasis_death_rate_per_day
    gm = self._growth_multipliers()[c.row[idx]]
    span = self.window * self.dt
    cap = self.avascular_cells
    for g in np.unique(gm[ok]):
        sel = np.flatnonzero(ok & (gm == g))
        n = c.cells[idx[sel]]
        if b * g > d:
            # Growing: a colony that reached the size would almost surely still hold half of
            # it at the end (its spread is far below its size), so the chance of ending above
            # half bounds the chance of reaching it.
            bound = log_kendall_tail_bound(n, b * g, d, span, cap / 2)
        elif b * g < d:
            # Shrinking on average: the chance that the lineage ever reaches the size is that
            # of the random walk of its births and deaths (gambler's ruin), at most
            # (d / bg) ** (n - cap), whatever the time.
            bound = (n - cap) * math.log(d / (b * g)) if b * g > 0 else np.where(n >= cap, 0.0,
                                                                                   -np.inf)
        else:
            bound = np.zeros(len(sel))          # exactly critical: never waits
        ok[sel] = bound < math.log(1e-20)
    c.lazy[idx] = ok


def bring_up_colonies(self: PopulationEngine, rows: np.ndarray, target: int) -> None:
    """The waiting colonies of ``rows`` live the steps up to ``target`` in one draw each
    (:meth:`_assess_lazy` says why that is exact), then are assessed again."""
    c = self.colonies
    if not len(c) or not len(rows):
        return
    mine = np.zeros(len(self.active), dtype=bool)
    mine[rows] = True
    of_rows = mine[c.row]
    idx = np.flatnonzero(of_rows & (c.lazy == 1) & (c.as_of < target))
    if len(idx):
        col = self.scenario.colonization
        b = col.micrometastasis_birth_rate_per_day
        d = col.micrometastasis_death_rate_per_day
        gm = self._growth_multipliers()[c.row[idx]]
        for g in np.unique(gm):
            sel = idx[gm == g]
            c.cells[sel] = birth_death(self.rng, c.cells[sel].astype(np.int64), b * g, d,
                                       (target - c.as_of[sel]) * self.dt).astype(float)
        c.as_of[idx] = target
        dead = idx[c.cells[idx] == 0]
        if len(dead):
            np.add.at(self.lost[:, F["micrometastasis"]], c.row[dead], c.founders[dead])
            keep = np.ones(len(c), dtype=bool)
            keep[dead] = False
            c.keep(keep)
            of_rows = mine[c.row]
    self._assess_lazy(np.flatnonzero(of_rows & (c.as_of >= target)))


def advance_colonies(self: PopulationEngine, gm: np.ndarray, select: np.ndarray | None = None,
                      day: float | None = None, end_day: float | None = None) -> None:
    """Step 2: growth, the angiogenic switch, detection (as :meth:`Colonies.advance`),
    of the ``select``-ed colonies (all) in the step from ``day`` to ``end_day`` (this
    one)."""
    c = self.colonies
    if not len(c):
        return
    col = self.scenario.colonization
    day = self.day if day is None else day
    end_day = self.step_end_day if end_day is None else end_day
    chosen = np.ones(len(c), dtype=bool) if select is None else select
    idx = np.flatnonzero(chosen)
    sk.advance_selected(self.rng, idx, c.row, c.phase, c.cells, c.founders, c.switched_day,
                        np.ascontiguousarray(gm, dtype=float),
                        col.micrometastasis_birth_rate_per_day,
                        col.micrometastasis_death_rate_per_day,
                        col.macrometastasis_gompertz_rate_per_day,
                        col.macrometastasis_carrying_capacity_cells, self.dt,
                        self.avascular_cells, self.p_switch, day, self.lost, F["micrometastasis"],
                        self.reached, F["macrometastasis"], self.switched, self.first_macro)
    cells = c.cells
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
            if math.isnan(self.first_distant[r]) and c.organ[i] != REGIONAL:
                self.first_distant[r] = end
                self.first_distant_founded[r] = c.founded_day[i]
            o = int(c.organ[i])
            if not self.detected_organs[r, o]:
                self.detected_organs[r, o] = True
                mm = col.detectable_diameter_mm
                self._log(r, end, *events.metastasis_detected(o, cells[i], mm))
    if not alive.all():
        c.keep(alive)


def colony_cells(self: PopulationEngine, bound: bool = False) -> np.ndarray:
    """Each colony's cells; with ``bound``, the avascular size for those waiting for an
    event (:meth:`_assess_lazy`: they cannot pass it)."""
    c = self.colonies
    return np.where(c.lazy == 1, self.avascular_cells, c.cells) if bound else c.cells


def colony_burden(self: PopulationEngine, bound: bool = False) -> np.ndarray:
    c = self.colonies
    return np.bincount(c.row, weights=self._colony_cells(bound), minlength=len(self.active))


def organ_burden(self: PopulationEngine, bound: bool = False) -> np.ndarray:
    """Each row's colony cells per organ (rows x organs); with ``bound``, as
    :meth:`_colony_cells` bounds them."""
    c, n = self.colonies, len(self.active)
    return np.bincount(c.row * N_ORGANS + c.organ, weights=self._colony_cells(bound),
                       minlength=n * N_ORGANS).reshape(n, N_ORGANS)
