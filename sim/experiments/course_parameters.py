"""The free parameters of a calibration's course and how hard a calibration works.

Kept apart from :mod:`sim.experiments.inference` (which imports pyabc, SciPy and the
engines) so that the ``metasim`` command can show their names and defaults in ``--help``
without importing any of that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..config.schema import Scenario


@dataclass(frozen=True)
class CourseParameter:
    """A free parameter of the course and its (uniform) prior."""

    name: str
    #: Scenario key it sets.
    key: str
    low: float
    high: float
    #: The prior is uniform in log10 of the value (``low``/``high`` are log10).
    log10: bool
    #: ``low``/``high`` are relative to the preset's own value (log10 of a factor).
    relative: bool
    unit: str
    source: str

    def value(self, x: float, scenario: Scenario) -> float:
        """The scenario value for the parameter's coordinate ``x``."""
        if not self.log10:
            return float(x)
        if self.relative:
            return float(scenario_value(scenario, self.key) * 10.0 ** x)
        return float(10.0 ** x)

    def coordinate(self, scenario: Scenario) -> float:
        """The preset's own value in this parameter's coordinate."""
        v = float(scenario_value(scenario, self.key))
        if not self.log10:
            return v
        if self.relative:
            return 0.0
        return math.log10(v) if v > 0 else self.low


COURSE_PARAMETERS: dict[str, CourseParameter] = {p.name: p for p in (
    CourseParameter("shedding", "primary.shedding_rate_per_gram_per_day", -1.0, 1.0, True, True,
                    "log10 x the preset's", "ASSUMPTION: 10-fold either way of the preset's "
                    "CTC-fitted value"),
    CourseParameter("competence", "colonization.competence", -7.0, -4.0, True, False,
                    "log10", "ASSUMPTION: 10^-7 to 10^-4, the range of human vs mouse "
                    "colonisation (1e-6 to 1e-4, sim/config/schema.py) and a decade below; the "
                    "same for every preset, not centred on their autopsy-fitted values, so "
                    "Ewing's arm uses no autopsy data. Wider is affordable only with cheaper "
                    "courses: at 10^-4 and 10x shedding a breast course costs 10x the preset's"),
    CourseParameter("shedding_spread", "population.shedding_log_sd", 0.2, 2.0, False, False,
                    "SD of log", "ASSUMPTION: from near-identical patients to a 50-fold "
                    "interquartile range"),
    CourseParameter("competence_spread", "population.colonization_log_sd", 0.0, 1.5, False,
                    False, "SD of log", "ASSUMPTION: none to a 7.5-fold interquartile range"),
    CourseParameter("seed_competence", "primary.seed_competence_exponent", 0.0, 1.0, False,
                    False, "exponent", "ASSUMPTION: from no loss of competence with the "
                    "tumours' size (0) to twice the ~0.5 that Michaelson et al. 2005's spread "
                    "per cell implies with shedding as mass^0.663"),
    CourseParameter("node_colonization", "lymph.regional_node_colonization_multiplier", 0.0,
                    3.0, True, False, "log10", "ASSUMPTION: from the organs' kinetics (1) to "
                    "1000-fold; node involvement at diagnosis (Carter et al. 1989, SEER "
                    "regional stage) informs it"),
)}


#: The parameters a calibration frees unless told otherwise (the others, for the seeds' loss
#: of competence and the regional nodes' kinetics, are freed by name where a preset uses them).
DEFAULT_PARAMETERS = ("shedding", "competence", "shedding_spread", "competence_spread")


def scenario_value(scenario: Scenario, key: str) -> Any:
    """The value at a dotted ``key`` of a resolved scenario."""
    node: Any = scenario
    for part in key.split("."):
        node = getattr(node, part)
    return node


@dataclass
class Settings:
    """How hard a calibration works (defaults: one preset within 30 minutes on 2 cores)."""

    population_size: int = 24
    cohort: int = 20
    generations: int = 3
    min_acceptance: float = 0.03
    soil_patients: int = 160
    rounds: int = 1
    gibbs_draws: int = 1500
    parameters: tuple[str, ...] = DEFAULT_PARAMETERS
