"""Units and rate conversions, in one place.

Sizes: ~10^6 cells per mm^3, so 1 cm^3 ~ 10^9 cells ~ 1 g (the common convention of tumour
kinetics). Rates are per day; a rate
``r`` acting for ``dt`` days happens with probability ``1 - exp(-r dt)``
(:func:`step_probability`), and every engine converts rates with these functions only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import overload

import numpy as np

#: Cells per mm^3 of tumour (common convention).
CELLS_PER_MM3 = 1e6
#: Cells per gram of tumour (1 cm^3 ~ 1 g).
CELLS_PER_GRAM = 1e9


def diameter_to_cells(diameter_mm: float) -> float:
    """Cells in a sphere of that diameter at 10^6 cells/mm^3."""
    return CELLS_PER_MM3 * math.pi / 6.0 * diameter_mm ** 3


def cells_to_diameter_mm(cells: float) -> float:
    """Diameter of a sphere holding that many cells (the inverse of :func:`diameter_to_cells`)."""
    return float((cells / CELLS_PER_MM3 * 6.0 / math.pi) ** (1.0 / 3.0))


def cells_to_grams(cells: float) -> float:
    """Mass of that many cells."""
    return cells / CELLS_PER_GRAM


@overload
def step_probability(rate_per_day: float, dt_days: float) -> float: ...
@overload
def step_probability(rate_per_day: np.ndarray, dt_days: float) -> np.ndarray: ...
def step_probability(rate_per_day: float | np.ndarray,
                     dt_days: float) -> float | np.ndarray:
    """Probability that an event with the given rate happens within ``dt_days`` (a rate per
    element for an array of rates)."""
    if isinstance(rate_per_day, np.ndarray):
        out: np.ndarray = -np.expm1(-rate_per_day * dt_days)
        return out
    return -math.expm1(-rate_per_day * dt_days)


def scale_probability(p: float, hazard_multiplier: float) -> float:
    """Multiply the hazard behind a probability: ``1 - (1 - p) ** m``.

    Used for subclone traits, so a multiplier never pushes a probability out of [0, 1].
    """
    if p >= 1.0:
        return 1.0 if hazard_multiplier > 0 else 0.0
    return -math.expm1(hazard_multiplier * math.log1p(-p))


def competing_risks(rates_per_day: Sequence[float], dt_days: float) -> np.ndarray:
    """Probabilities of each competing event within ``dt_days``, then of none.

    With total rate ``R``, some event happens with probability ``1 - exp(-R dt)``, and it
    is event ``i`` with probability ``r_i / R``.
    """
    rates = np.asarray(rates_per_day, dtype=float)
    total = float(rates.sum())
    out = np.zeros(len(rates) + 1)
    if total <= 0.0:
        out[-1] = 1.0
        return out
    p_any = step_probability(total, dt_days)
    out[:-1] = p_any * rates / total
    out[-1] = 1.0 - p_any
    return out


def competing_risks_array(rates_per_day: np.ndarray, dt_days: float) -> np.ndarray:
    """:func:`competing_risks` for many sets of rates at once: the competing rates on the
    last axis of ``rates_per_day``; the result has one more entry there (none happened)."""
    rates = np.asarray(rates_per_day, dtype=float)
    total = rates.sum(axis=-1, keepdims=True)
    p_any = -np.expm1(-total * dt_days)
    share = np.divide(rates, total, out=np.zeros_like(rates), where=total > 0.0)
    return np.concatenate([p_any * share, 1.0 - p_any], axis=-1)


__all__ = ["CELLS_PER_GRAM", "CELLS_PER_MM3", "cells_to_diameter_mm", "cells_to_grams",
           "competing_risks", "competing_risks_array", "diameter_to_cells", "scale_probability",
           "step_probability"]
