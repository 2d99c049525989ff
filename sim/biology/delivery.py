"""Where a scenario's cells enter the circulation, and the chains that carry them.

Turns a validated :class:`~sim.config.schema.Scenario` into the numbers the model uses: the
probability of each entry point (route x venous drainage / cavity / neighbour) and one
:class:`~sim.biology.anatomy.CirculationChain` per kind of travelling unit (subclone x single cell or
cluster), since transit death differs between them.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..config.schema import Scenario
from .anatomy import (
    PRIMARY_ENTRIES,
    CirculationChain,
    TransitParameters,
    build_chain,
    passing_cell_fates_per_bed,
)
from .units import scale_probability

BEDS_PER_CIRCUIT = 2



def route_tables(scenario: Scenario) -> dict[str, dict[str, float]]:
    """Route, venous-drainage, cavity and contiguous splits (scenario or site anatomy)."""
    p = scenario.resolved_dict()["primary"]
    return {k: dict(p[k]) for k in ("routes", "venous_drainage", "cavity", "contiguous")}


def entry_probabilities(scenario: Scenario) -> np.ndarray:
    """Probability that an invading cell enters the chain at each of PRIMARY_ENTRIES."""
    t = route_tables(scenario)
    routes = t["routes"]
    probs = dict.fromkeys(PRIMARY_ENTRIES, 0.0)
    for entry, f in t["venous_drainage"].items():
        probs[entry] += routes.get("blood", 0.0) * f
    probs["lymph"] += routes.get("lymph", 0.0)
    for entry, f in t["cavity"].items():
        probs[entry] += routes.get("cavity", 0.0) * f
    # The scenario validator guarantees a cavity and a neighbour wherever these routes are used.
    probs["contiguous"] += routes.get("contiguous", 0.0)
    out = np.array([probs[e] for e in PRIMARY_ENTRIES])
    return out / float(out.sum())


def transit_parameters(scenario: Scenario, death_multiplier: float = 1.0) -> TransitParameters:
    c, ly, cav = scenario.circulation, scenario.lymph, scenario.cavity
    # One circulation crosses two capillary beds (pulmonary, then one systemic bed): the time
    # spent per bed passed is half the circulation time.
    a, d = passing_cell_fates_per_bed(c.ctc_half_life_hours,
                                      c.pass_time_minutes / BEDS_PER_CIRCUIT,
                                      c.transit_death_fraction, death_multiplier)
    return TransitParameters(
        first_bed_arrest_probability=c.arrest_probability_per_pass,
        passing_arrest_probability_per_bed=a,
        passing_death_probability_per_bed=d,
        node_arrest_probability=ly.node_arrest_probability,
        lymph_death_probability_per_node=scale_probability(ly.death_probability_per_node,
                                                           death_multiplier),
        cavity_implantation_probability=cav.implantation_probability,
        cavity_drainage_probability=cav.lymphatic_drainage_probability,
    )


@lru_cache(maxsize=256)
def _cached_chain(params: TransitParameters, sex: str, delivery: str,
                  contiguous: tuple[tuple[str, float], ...]) -> CirculationChain:
    return build_chain(params, sex, delivery, dict(contiguous))  # type: ignore[arg-type]


def chain_for(scenario: Scenario, death_multiplier: float = 1.0,
              delivery: str | None = None) -> CirculationChain:
    """The circulation chain for this scenario (cached: chains are immutable)."""
    cont = tuple(sorted(route_tables(scenario)["contiguous"].items()))
    return _cached_chain(transit_parameters(scenario, death_multiplier), scenario.sex,
                         delivery or scenario.delivery, cont)


def delivered_fractions(scenario: Scenario, delivery: str | None = None) -> dict[str, float]:
    """Fraction of invading cells that arrest in each organ (single cells, bulk clone)."""
    chain = chain_for(scenario, 1.0, delivery)
    entries = entry_probabilities(scenario)
    arrest = np.zeros(len(chain.absorbing))
    for e, w in zip(PRIMARY_ENTRIES, entries, strict=True):
        if w > 0:
            arrest += w * chain.absorption(e)
    return {s.removeprefix("arrest:"): float(v) for s, v in zip(chain.absorbing, arrest, strict=True)
            if s.startswith("arrest:")}
