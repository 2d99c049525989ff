"""How the population engine lays out a batch: the constants that index its arrays and the
table of its colonies (one column per attribute, one row per colony of any patient)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..biology.anatomy import DEATH_STATES, ORGAN_KEYS
from ..biology.stages import FUNNEL_INDEX

# The colony phases (small integers, as :mod:`sim.engine.step_kernels` codes them), for the
# population engine's modules.
from .step_kernels import LIMIT as LIMIT
from .step_kernels import MACRO as MACRO
from .step_kernels import MICRO as MICRO

N_ORGANS = len(ORGAN_KEYS)
DEATH_ROUTES = [s.removeprefix("death:") for s in DEATH_STATES]
REGIONAL = ORGAN_KEYS.index("regional_lymph_nodes")
BONE = ORGAN_KEYS.index("bone")
#: Index of each funnel stage in the ledger's arrays.
F = FUNNEL_INDEX
#: Lodged stages, in the order of ``lodged``'s first axis.
ARRESTED, SOLITARY, DORMANT = 0, 1, 2
#: A colony's origin: 0 a solitary cell that proliferated, 1 a dormant cell that woke.
ORIGINS = ("solitary", "dormant")


class ColonyTable:
    """The colonies of every patient of the batch: one column per attribute."""

    COLUMNS: ClassVar[dict[str, type]] = {
        "row": np.int64, "organ": np.int64, "clone": np.int64, "founders": np.int64,
        "cells": float, "phase": np.int8, "founded_day": float, "switched_day": float,
        "detected_day": float, "origin": np.int8, "founded_step": np.int64,
        "catch_up": np.int8, "as_of": np.int64, "lazy": np.int8}

    def __init__(self) -> None:
        #: The patient row of each colony (twins have rows of their own).
        self.row = np.zeros(0, dtype=np.int64)
        self.organ = np.zeros(0, dtype=np.int64)
        self.clone = np.zeros(0, dtype=np.int64)
        #: Cells of the founding unit (1, or the cluster size).
        self.founders = np.zeros(0, dtype=np.int64)
        self.cells = np.zeros(0, dtype=float)
        #: MICRO, LIMIT or MACRO.
        self.phase = np.zeros(0, dtype=np.int8)
        self.founded_day = np.zeros(0, dtype=float)
        self.switched_day = np.zeros(0, dtype=float)
        self.detected_day = np.zeros(0, dtype=float)
        #: 0: a solitary cell that proliferated; 1: a dormant cell that woke (_ORIGINS).
        self.origin = np.zeros(0, dtype=np.int8)
        self.founded_step = np.zeros(0, dtype=np.int64)
        #: 1 while a colony founded during a window lives the steps it missed.
        self.catch_up = np.zeros(0, dtype=np.int8)
        #: The step whose growth the colony has lived last, and 1 if it waits for an event
        #: to live the steps since in one draw (a micrometastasis far from the avascular
        #: size: :meth:`PopulationEngine._bring_up_colonies`).
        self.as_of = np.zeros(0, dtype=np.int64)
        self.lazy = np.zeros(0, dtype=np.int8)

    def __len__(self) -> int:
        return len(self.row)

    def append(self, **cols: np.ndarray) -> None:
        n = len(cols["row"])
        if not n:
            return
        for name, dtype in self.COLUMNS.items():
            new = cols.get(name)
            if new is None:
                new = np.full(n, np.nan if dtype is float else 0, dtype=dtype)
            setattr(self, name, np.concatenate([getattr(self, name), np.asarray(new, dtype)]))

    def keep(self, mask: np.ndarray) -> None:
        for name in self.COLUMNS:
            setattr(self, name, getattr(self, name)[mask])

    def take(self, index: np.ndarray) -> dict[str, np.ndarray]:
        return {name: getattr(self, name)[index] for name in self.COLUMNS}
