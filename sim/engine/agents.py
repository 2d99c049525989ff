"""The agents: the primary tumour, cohorts of travelling or lodged cells, and colonies.

Agents hold state; the model (``sim.engine.model``) applies the cascade's steps to them. Cohort and
colony updates are done in batches, one random draw per stage for all agents at that stage,
because at patient scale there are thousands of them and a Python call per agent per step
would dominate the cost; the draws are the same distributions as per-agent draws.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa

from ..biology.cascade import gompertz, gompertz_rate_from_doubling
from ..biology.stages import Phase, Stage
from ..biology.units import cells_to_diameter_mm, cells_to_grams
from .clinic import resected_cells

if TYPE_CHECKING:
    from .model import MetastasisModel


class PrimaryTumour(mesa.Agent):
    """The primary tumour: Gompertz growth, shedding proportional to its mass.

    Parameters
    ----------
    model
        The model.
    site
        Primary-site key (``sim.biology.anatomy.PRIMARY_SITES``).
    cells
        Cells at the start.
    doubling_time_days
        Volume doubling time at ``doubling_at_cells`` (default: the starting size).
    carrying_capacity_cells
        Gompertz plateau.
    present
        False: no primary (an injection experiment).
    doubling_at_cells
        Size at which ``doubling_time_days`` holds (the model passes the diagnosis size,
        where clinical series measure doubling times).
    """

    def __init__(self, model: MetastasisModel, site: str, cells: float,
                 doubling_time_days: float, carrying_capacity_cells: float,
                 present: bool = True, doubling_at_cells: float | None = None):
        super().__init__(model)
        self.site = site
        self.present = present
        self.cells = float(cells) if present else 0.0
        self.carrying_capacity_cells = float(carrying_capacity_cells)
        self.gompertz_rate_per_day = gompertz_rate_from_doubling(
            doubling_time_days, doubling_at_cells or cells, carrying_capacity_cells)

    @property
    def mass_g(self) -> float:
        """Mass in grams (1 cm^3 ~ 1e9 cells ~ 1 g, common convention)."""
        return cells_to_grams(self.cells)

    @property
    def diameter_mm(self) -> float:
        return cells_to_diameter_mm(self.cells)

    def lose(self, cells: float) -> None:
        """Cells that left the tumour (shed): they are no longer part of it."""
        self.cells = max(0.0, self.cells - cells)

    def resect(self, fraction_removed: float) -> float:
        """Remove ``fraction_removed`` of the tumour (1: all of it); returns the cells before."""
        before = self.cells
        self.cells = resected_cells(self.cells, fraction_removed)
        return before

    def grow(self, dt_days: float) -> None:
        if self.cells <= 0.0:
            return
        self.cells = float(gompertz(self.cells, self.gompertz_rate_per_day,
                                    self.carrying_capacity_cells, dt_days))


class CellCohort(mesa.Agent):
    """``count`` identical units (single cells or clusters) at one stage and place.

    Identical means same subclone, unit size, stage and organ. Every transition splits the
    cohort by an exact binomial or multinomial draw. With ``simulation.aggregate = false``
    every cohort holds one unit: the single-cell reference model.

    Attributes
    ----------
    count : int
        Number of units.
    cluster_size : int
        Cells per unit (1 = single cells).
    clone : int
        Index of the subclone.
    stage : Stage
    organ : int
        Index into ``sim.biology.anatomy.ORGAN_KEYS`` (-1 while detached).
    entry : str | None
        For detached cohorts shed by a metastasis: the chain entry they use.
    row : int
        Row of the cohort's (organ, clone, unit kind) in the outcome tables of
        :class:`~sim.engine.cohorts.LodgedCells`.
    """

    def __init__(self, model: MetastasisModel, count: int, cluster_size: int, clone: int,
                 stage: Stage, organ: int = -1, entry: str | None = None, row: int = 0):
        super().__init__(model)
        self.row = row
        self.count = int(count)
        self.cluster_size = int(cluster_size)
        self.clone = clone
        self.stage = stage
        self.organ = organ
        self.entry = entry

    @property
    def cells(self) -> int:
        return self.count * self.cluster_size


class Colony(mesa.Agent):
    """A metastatic colony in one organ, founded by one unit (a cell or a cluster).

    Attributes
    ----------
    organ : int
        Index into ``sim.biology.anatomy.ORGAN_KEYS``.
    clone : int
    founders : int
        Cells that founded it (shed cells accounted for in the funnel).
    cells : float
        Current size.
    phase : Phase
    founded_day, switched_day, detected_day : float | None
    origin : str
    """

    def __init__(self, model: MetastasisModel, organ: int, clone: int, founders: int,
                 day: float, origin: str = "solitary"):
        super().__init__(model)
        self.organ = organ
        self.clone = clone
        self.founders = int(founders)
        self.cells = float(founders)
        self.phase = Phase.MICRO
        self.founded_day = day
        self.switched_day: float | None = None
        self.detected_day: float | None = None
        #: "solitary" (a lodged cell that went straight to proliferation) or "dormant" (a
        #: cell that woke from dormancy).
        self.origin = origin

    @property
    def mass_g(self) -> float:
        return cells_to_grams(self.cells)
