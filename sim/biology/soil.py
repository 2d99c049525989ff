"""Organ "soil": how receptive each organ is to a primary's cells (Paget 1889).

An affinity multiplies the hazards with which a lodged cell starts to proliferate or wakes
from dormancy in that organ. Neutral soil: every affinity is 1 (Ewing 1928). Tropism: the
affinities of the scenario, and for organs it does not name, a first version derived from an
autopsy table by Weiss's efficiency index (Weiss 1992, Clin Exp Metastasis 10:191):

    index(organ) = incidence of metastases in the organ / cells delivered to it.

Incidence is taken as the Poisson intensity ``-ln(1 - f)`` of the autopsy frequency ``f``
(the fraction of patients with >= 1 metastasis there), with a half-patient continuity
correction so that a zero count does not give a zero affinity; "delivered" is the fraction of
invading cells that arrest in the organ under the scenario's delivery (anatomical for the
combined view, uniform for Paget's pure form). The indices are scaled so that the
delivery-weighted mean affinity is 1: tropism moves metastases between organs without
changing their expected total. Calibration by simulation refines these (``metasim calibrate``).
"""

from __future__ import annotations

import math

import numpy as np

from ..config.schema import Scenario
from .anatomy import ORGAN_KEYS, PRIMARY_SITES, TARGET_ORGANS
from .cascade import competent_seed_share_one
from .delivery import delivered_fractions
from .reference import AUTOPSY_TABLES

#: Organs receiving less than this fraction of invading cells get no index of their own: an
#: autopsy count divided by a vanishing delivery says nothing about the soil.
MIN_DELIVERED_FRACTION = 1e-9
#: Upper bound of a derived affinity (relative to a delivery-weighted mean of 1).
MAX_AFFINITY = 1e4


def smoothed_frequency(count: float, patients: int) -> float:
    """An autopsy frequency with a half-patient continuity correction: never 0 or 1."""
    return (count + 0.5) / (patients + 1.0)


def poisson_intensity(fraction: float) -> float:
    """Mean metastases per patient whose Poisson zero class is ``1 - fraction``."""
    return -math.log1p(-fraction)


def weiss_index(scenario: Scenario, delivery: str) -> dict[str, float]:
    """Weiss's efficiency index per organ (unscaled): smoothed autopsy incidence per cell
    delivered, for the organs of the scenario's autopsy table that receive cells under
    ``delivery``. Empty when the primary has no row in the table."""
    site = PRIMARY_SITES[scenario.primary.site]
    if site.disibio_row is None:
        return {}
    table = AUTOPSY_TABLES[scenario.tropism.source]
    delivered = delivered_fractions(scenario, delivery)
    n = table.patients(site.disibio_row)
    return {organ: poisson_intensity(smoothed_frequency(c, n)) / delivered[organ]
            for organ, c in table.counts(site.disibio_row).items()
            if delivered.get(organ, 0.0) > MIN_DELIVERED_FRACTION}


def derived_affinities(scenario: Scenario, delivery: str) -> dict[str, float]:
    """Weiss-index affinities for the scenario's primary under ``delivery``, scaled so that
    their delivery-weighted mean is 1."""
    delivered = delivered_fractions(scenario, delivery)
    index = weiss_index(scenario, delivery)
    if not index:
        return dict.fromkeys(TARGET_ORGANS, 1.0)
    # Organs absent from the table: ASSUMPTION, as receptive as the least receptive organ
    # that the table does report.
    floor = min(index.values())
    for organ in TARGET_ORGANS:
        index.setdefault(organ, floor)
    weight = sum(delivered[o] for o in index)
    mean = sum(delivered[o] * index[o] for o in index) / weight if weight > 0 else 1.0
    return {o: min(v / mean, MAX_AFFINITY) for o, v in index.items()}


def colonization_vector(scenario: Scenario) -> np.ndarray:
    """What multiplies the colonisation hazards (proliferation and awakening) in each organ,
    in ORGAN_KEYS order, as both engines use it: the soil's affinity
    (:func:`affinity_vector`) and, in the regional lymph nodes, their own kinetics
    (``lymph.regional_node_colonization_multiplier``, whatever the hypothesis)."""
    out = affinity_vector(scenario).astype(float)
    out[ORGAN_KEYS.index("regional_lymph_nodes")] *= \
        scenario.lymph.regional_node_colonization_multiplier
    return out


#: ``colonization.competence`` is the competence of the seeds a tumour of this many cells
#: sheds: 1e9 cells (~1 cm^3, 12.4 mm), the classic size of clinical detection. A fixed size,
#: not the scenario's diagnosis size, so that a scenario that finds the primary earlier or
#: later keeps the same seeds.
COMPETENCE_ANCHOR_CELLS = 1e9


def seed_competence(scenario: Scenario) -> float:
    """The colonisation competence of a competent seed, as both engines use it.

    ``colonization.competence`` is the competence of the seeds that a tumour of
    :data:`COMPETENCE_ANCHOR_CELLS` sheds (what the calibrations fit, whatever the seeds'
    loss with size). When seeds lose competence as the tumours grow
    (``primary.seed_competence_exponent`` > 0), only a share of those are competent
    (:func:`~sim.biology.cascade.competent_seed_share_one`), so each competent seed has the
    competence divided by that share; without the loss it is the competence itself."""
    pr = scenario.primary
    share = competent_seed_share_one(COMPETENCE_ANCHOR_CELLS,
                                     pr.seed_competence_reference_cells,
                                     pr.seed_competence_exponent)
    return float(scenario.colonization.competence / share)


def affinity_vector(scenario: Scenario) -> np.ndarray:
    """Affinity per organ, in ORGAN_KEYS order, as the model uses it."""
    if scenario.soil == "neutral":
        return np.ones(len(ORGAN_KEYS))
    t = scenario.tropism
    explicit = t.affinity if scenario.delivery == "anatomical" else t.affinity_uniform_delivery
    values = derived_affinities(scenario, str(scenario.delivery))
    values.update(explicit)
    out = np.array([values.get(o, 1.0) for o in ORGAN_KEYS])
    return out ** t.strength
