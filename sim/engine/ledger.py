"""The ledger: the one owner of where the cells that entered the cascade went.

Every count of cells that *reached* a funnel stage or were *lost* there, every cell shed,
injected, founded into a colony or killed, is written here and nowhere else; the model, the
cohort store, the colonies, dissemination and the clinic report to it through its methods.
Conservation - every cell ever shed or injected is either alive in some place or lost at the
stage where it died - is checked against it (:meth:`Ledger.conservation`).
"""

from __future__ import annotations

import numpy as np

from ..biology.stages import FUNNEL_INDEX, FUNNEL_STAGES

_DETACHMENT, _INVASION, _TRANSIT = (FUNNEL_INDEX[s] for s in ("detachment", "invasion", "transit"))
_ARREST, _MICRO, _MACRO = (FUNNEL_INDEX[s] for s in ("arrest", "micrometastasis",
                                                      "macrometastasis"))


def unit_kind(cluster_size: int) -> str:
    """"single" for a single cell, "cluster" for a cluster of cells."""
    return "cluster" if cluster_size > 1 else "single"


class Ledger:
    """Cell counts of one patient, by funnel stage, route and organ.

    Attributes
    ----------
    reached, lost : numpy.ndarray
        Cells that entered / died at each stage of :data:`~sim.biology.stages.FUNNEL_STAGES`.
    lost_by_route : dict[str, int]
        Cells that died in transit, by route.
    shed_total, shed_by_metastases, injected_total : int
        Cells that entered the cascade (shed by the primary or metastases, or injected).
    founded, switched : dict[str, int]
        Colonies founded / that switched on angiogenesis, by unit kind (single, cluster).
    founded_by_organ, arrested_by_organ : numpy.ndarray
        Colonies founded and cells arrested (cumulative), per organ.
    step_shed, step_ctc : int
        Cells shed and cells entering the blood in the current step.
    """

    def __init__(self, n_organs: int, death_routes: list[str]):
        self.reached = np.zeros(len(FUNNEL_STAGES), dtype=np.int64)
        self.lost = np.zeros(len(FUNNEL_STAGES), dtype=np.int64)
        self.lost_by_route = dict.fromkeys(death_routes, 0)
        self.shed_total = 0
        self.shed_by_metastases = 0
        self.injected_total = 0
        self.founded = {"single": 0, "cluster": 0}
        self.switched = {"single": 0, "cluster": 0}
        self.founded_by_organ = np.zeros(n_organs, dtype=np.int64)
        self.arrested_by_organ = np.zeros(n_organs, dtype=np.int64)
        self.step_shed = 0
        self.step_ctc = 0

    # ---------------------------------------------------------------- entering the cascade
    def start_step(self) -> None:
        self.step_shed = 0
        self.step_ctc = 0

    def shed(self, cells: int, by_metastasis: bool = False) -> None:
        """Cells detached from a tumour; they start to invade at once."""
        self.shed_total += cells
        self.step_shed += cells
        self.reached[_DETACHMENT] += cells
        self.reached[_INVASION] += cells
        if by_metastasis:
            self.shed_by_metastases += cells

    def injected(self, cells: int) -> None:
        """Cells injected straight into a vessel (an experiment): they start in transit."""
        self.injected_total += cells
        self.reached[_TRANSIT] += cells

    # ---------------------------------------------------------------- moving on, dying
    def reach(self, stage: str, cells: int) -> None:
        self.reached[FUNNEL_INDEX[stage]] += cells

    def lose(self, stage: str, cells: int) -> None:
        self.lost[FUNNEL_INDEX[stage]] += cells

    def entered_blood(self, cells: int) -> None:
        """Cells entering the venous blood this step (circulating tumour cells)."""
        self.step_ctc += cells

    def died_in_transit(self, route: str, cells: int) -> None:
        self.lost_by_route[route] += cells
        self.lost[_TRANSIT] += cells

    def arrested(self, cells: int) -> None:
        self.reached[_ARREST] += cells

    def killed_before_arrest(self, cells: int) -> None:
        """Cells counted as arriving this step but killed in transit (systemic therapy)."""
        self.lost[_TRANSIT] += cells
        self.reached[_ARREST] -= cells

    def lodged(self, units_by_organ: np.ndarray, cluster_size: int) -> None:
        """Units that arrived in each organ this step (and stay there)."""
        self.arrested_by_organ += units_by_organ * cluster_size

    def founded_colonies(self, organ: int, colonies: int, cluster_size: int) -> None:
        self.reached[_MICRO] += colonies * cluster_size
        self.founded[unit_kind(cluster_size)] += colonies
        self.founded_by_organ[organ] += colonies

    def switched_colony(self, founders: int) -> None:
        """A colony switched on angiogenesis: its founders reach the macrometastasis stage."""
        self.reached[_MACRO] += founders
        self.switched[unit_kind(founders)] += 1

    # ---------------------------------------------------------------- reading
    def stage_counts(self, which: str) -> dict[str, int]:
        """``reached`` or ``lost`` as {stage: cells}."""
        values = self.reached if which == "reached" else self.lost
        return dict(zip(FUNNEL_STAGES, values.tolist(), strict=True))

    def conservation(self, alive: int) -> tuple[int, int, int]:
        """(cells ever shed or injected, ``alive``, cells lost): the first equals the sum of
        the other two at every step end."""
        return int(self.shed_total + self.injected_total), int(alive), int(self.lost.sum())


__all__ = ["Ledger", "unit_kind"]
