"""The soil of each cell of the delivery x soil table (sim/biology/soil.py): which explicit
affinities, and which derived ones, each hypothesis uses. Exact checks on constructed
scenarios (no simulation)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim import load_scenario, make_scenario
from sim.biology.anatomy import ORGAN_KEYS, PRIMARY_SITES, TARGET_ORGANS
from sim.biology.delivery import delivered_fractions
from sim.biology.reference import AUTOPSY_TABLES
from sim.biology.soil import MAX_AFFINITY, affinity_vector, derived_affinities

#: Explicit affinities that differ in the two fields, for an organ named in both (liver)
#: and for one named only in one field (bone: anatomical only; lung: uniform only).
ANATOMICAL = {"liver": 3.0, "bone": 5.0}
UNIFORM = {"liver": 0.25, "lung": 0.5}


def _scenario(hypothesis: str, strength: float = 1.0):
    overrides = [("hypothesis", hypothesis), ("tropism.strength", strength)]
    overrides += [(f"tropism.affinity.{o}", v) for o, v in ANATOMICAL.items()]
    overrides += [(f"tropism.affinity_uniform_delivery.{o}", v) for o, v in UNIFORM.items()]
    return make_scenario({"primary": {"site": "colon"}}, overrides)


def _soil(hypothesis: str, strength: float = 1.0) -> dict[str, float]:
    return dict(zip(ORGAN_KEYS, affinity_vector(_scenario(hypothesis, strength)).tolist(),
                    strict=True))


@pytest.mark.parametrize("strength", [1.0, 2.0])
def test_each_hypothesis_uses_the_affinity_field_of_its_own_delivery(strength):
    """Tropism under anatomical delivery (the combined view) uses ``tropism.affinity``;
    tropism under uniform delivery (Paget) uses ``tropism.affinity_uniform_delivery``; the
    organs a field does not name come from the Weiss index derived under the same
    delivery; every value is raised to ``tropism.strength``. The two fields are given
    different values for the liver and each names an organ the other does not, so a soil
    that took the other delivery's field (the two fields swapped) gives a different liver,
    bone and lung and fails here."""
    combined, paget = _soil("combined", strength), _soil("paget", strength)
    sc_c, sc_p = _scenario("combined", strength), _scenario("paget", strength)
    assert (sc_c.delivery, sc_c.soil, sc_p.delivery, sc_p.soil) == (
        "anatomical", "tropism", "uniform", "tropism")
    derived_anatomical = derived_affinities(sc_c, "anatomical")
    derived_uniform = derived_affinities(sc_p, "uniform")
    assert combined["liver"] == pytest.approx(3.0 ** strength, rel=1e-12)
    assert combined["bone"] == pytest.approx(5.0 ** strength, rel=1e-12)
    assert combined["lung"] == pytest.approx(derived_anatomical["lung"] ** strength, rel=1e-12)
    assert paget["liver"] == pytest.approx(0.25 ** strength, rel=1e-12)
    assert paget["lung"] == pytest.approx(0.5 ** strength, rel=1e-12)
    assert paget["bone"] == pytest.approx(derived_uniform["bone"] ** strength, rel=1e-12)
    # The derived values are not accidentally equal to the explicit ones of the other field
    # (otherwise the last checks of each block could not tell the fields apart).
    assert not np.isclose(derived_anatomical["lung"], 0.5)
    assert not np.isclose(derived_uniform["bone"], 5.0)
    # Every other organ: the derived affinity of the hypothesis's own delivery.
    for organ in set(ORGAN_KEYS) - {"liver", "bone", "lung"}:
        assert combined[organ] == pytest.approx(
            derived_anatomical.get(organ, 1.0) ** strength, rel=1e-12), organ
        assert paget[organ] == pytest.approx(
            derived_uniform.get(organ, 1.0) ** strength, rel=1e-12), organ


@pytest.mark.parametrize("hypothesis", ["ewing", "null"])
def test_neutral_soil_ignores_both_affinity_fields(hypothesis):
    """Neutral soil (Ewing under anatomical delivery, the null model under uniform) has
    every affinity exactly 1, whatever either affinity field says."""
    assert _soil(hypothesis) == dict.fromkeys(ORGAN_KEYS, 1.0)


def _weiss(sc, delivery: str) -> tuple[dict[str, float], dict[str, float]]:
    """Weiss's index written out from the autopsy table (the module docstring's formula:
    Poisson intensity of the half-patient-smoothed frequency per cell delivered), and the
    delivered fractions."""
    row = PRIMARY_SITES[sc.primary.site].disibio_row
    table = AUTOPSY_TABLES[sc.tropism.source]
    n = table.patients(row)
    delivered = delivered_fractions(sc, delivery)
    index = {o: -math.log(1.0 - (c + 0.5) / (n + 1.0)) / delivered[o]
             for o, c in table.counts(row).items() if delivered.get(o, 0.0) > 1e-9}
    return index, delivered


@pytest.mark.parametrize("site", ["colon", "breast"])
@pytest.mark.parametrize("delivery", ["anatomical", "uniform"])
def test_derived_affinities_are_weiss_indices_with_delivery_weighted_mean_one(site, delivery):
    """The affinities derived for organs no field names: proportional to Weiss's index
    (each organ's ratio to the liver's is the ratio of their indices, the autopsy
    frequency smoothed by half a patient); the organs the table does not report get the
    least receptive reported organ's; and scaled so that the delivery-weighted mean is 1
    (tropism moves metastases between organs without changing their expected total). The
    scenario's own delivery is anatomical, so asking for the uniform one also checks that
    the delivery asked for is the one used. A wrong smoothing, an index multiplied by the
    delivery instead of divided, or a scaling by the mean instead of to it fails here."""
    sc = make_scenario({"primary": {"site": site}, "hypothesis": "combined"})
    aff = derived_affinities(sc, delivery)
    index, delivered = _weiss(sc, delivery)
    assert set(aff) == set(TARGET_ORGANS)
    assert max(aff.values()) < MAX_AFFINITY      # no organ capped: the scaling is exact
    for organ in index:
        assert aff[organ] / aff["liver"] == pytest.approx(index[organ] / index["liver"],
                                                          rel=1e-9), organ
    unreported = set(TARGET_ORGANS) - set(index)
    assert unreported, "every organ reported: the floor rule is not checked"
    for organ in unreported:
        assert aff[organ] == pytest.approx(min(aff[o] for o in index), rel=1e-12), organ
    weight = sum(delivered[o] for o in TARGET_ORGANS)
    mean = sum(delivered[o] * aff[o] for o in TARGET_ORGANS) / weight
    assert mean == pytest.approx(1.0, rel=1e-12)
    other = "uniform" if delivery == "anatomical" else "anatomical"
    assert aff != pytest.approx(derived_affinities(sc, other), rel=1e-3)


@pytest.mark.parametrize("engine", ["mesa", "population"])
def test_the_regional_nodes_own_colonisation_multiplier_acts_in_both_engines(engine):
    """``lymph.regional_node_colonization_multiplier`` multiplies the colonisation hazards
    in the regional nodes only: at 0 no colony is ever founded there, while other organs
    (the distant nodes among them) still found them; at 1 (the default) the small
    scenario's regional nodes found colonies. An engine that ignored the multiplier, or
    applied it to another organ, fails."""
    from sim.experiments.replicates import run_replicates

    from ..conftest import DATA

    def founded(multiplier: float) -> tuple[int, int]:
        sc = load_scenario(DATA / "small.toml", [("simulation.engine", engine),
                                                 ("lymph.regional_node_colonization_multiplier",
                                                  multiplier)])
        ps = run_replicates(sc, 4, 3, progress=False).patients
        regional = sum(p.founded_by_organ["regional_lymph_nodes"] for p in ps)
        return regional, sum(sum(p.founded_by_organ.values()) for p in ps) - regional

    assert founded(0.0)[0] == 0 and founded(0.0)[1] > 0
    assert founded(1.0)[0] > 0
