"""What makes one patient differ from another: the patient-level traits drawn from a
scenario's ``[population]`` section.

Each trait is log-normal: its median is the scenario's value and its spread the standard
deviation of its natural log (``population.*_log_sd``). A patient draws four standard normal
numbers, in a fixed order, first thing from its own random stream, whatever spreads are set
(so changing one spread never changes the other traits of the same patient, and every
hypothesis of a comparison sees the same patients); with no spread, or
``population.heterogeneity = false``, nothing is drawn and every patient is the median one.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..config.schema import Primary, Scenario

#: The shedding rate of the schema's bound (cell counts stay below 2^63 over any course); a
#: drawn rate above it is capped there (at a spread of 2, about 0.2 % of patients).
MAX_SHEDDING_RATE_PER_GRAM_PER_DAY: float = next(
    m.le for m in Primary.model_fields["shedding_rate_per_gram_per_day"].metadata
    if getattr(m, "le", None) is not None)


@dataclass(frozen=True)
class PatientTraits:
    """The patient-level parameters of one patient (recorded in ``patients.csv``)."""

    #: Volume doubling time of the primary at the scenario's diagnosis size.
    doubling_time_days: float
    #: Cells shed per gram of tumour per day (the primary and its metastases).
    shedding_rate_per_gram_per_day: float
    #: Diameter at which this patient's primary is found.
    diagnosis_diameter_mm: float
    #: Multiplier of the proliferation and awakening hazards of this patient's lodged cells.
    colonization_multiplier: float

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


#: Trait names, in the order of the patient's draws and of the columns of ``patients.csv``.
TRAITS: tuple[str, ...] = ("doubling_time_days", "shedding_rate_per_gram_per_day",
                           "diagnosis_diameter_mm", "colonization_multiplier")


def median_traits(scenario: Scenario) -> PatientTraits:
    """The scenario's own values: the median patient."""
    p = scenario.primary
    return PatientTraits(p.doubling_time_days, p.shedding_rate_per_gram_per_day,
                         p.diagnosis_diameter_mm, 1.0)


def draw_traits(scenario: Scenario, rng: np.random.Generator) -> PatientTraits:
    """One patient's traits (see the module docstring); draws nothing when patients do not
    differ."""
    median = median_traits(scenario)
    pop = scenario.population
    if not pop.varies:
        return median
    z = rng.standard_normal(len(TRAITS))
    m = [math.exp(s * float(x)) for s, x in zip(pop.spreads, z, strict=True)]
    return PatientTraits(
        doubling_time_days=median.doubling_time_days * m[0],
        shedding_rate_per_gram_per_day=min(median.shedding_rate_per_gram_per_day * m[1],
                                           MAX_SHEDDING_RATE_PER_GRAM_PER_DAY),
        diagnosis_diameter_mm=median.diagnosis_diameter_mm * m[2],
        colonization_multiplier=m[3])


__all__ = ["MAX_SHEDDING_RATE_PER_GRAM_PER_DAY", "TRAITS", "PatientTraits", "draw_traits",
           "median_traits"]
