"""Anatomy: blood flow, drainage routes and the circulation chain."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.biology.anatomy import (
    ENTRY_POINTS,
    ORGAN_KEYS,
    ORGANS,
    PRIMARY_SITES,
    TARGET_ORGANS,
    TransitParameters,
    build_chain,
    flow_fractions,
    metastasis_entry,
    passing_cell_fates_per_bed,
)

from ..stats import multinomial_gof_p

PASS_ARREST, PASS_DEATH = passing_cell_fates_per_bed(1.7, 0.4, 0.5)
PARAMS = TransitParameters(first_bed_arrest_probability=0.917,
                           passing_arrest_probability_per_bed=PASS_ARREST,
                           passing_death_probability_per_bed=PASS_DEATH,
                           node_arrest_probability=0.5, lymph_death_probability_per_node=0.2,
                           cavity_implantation_probability=0.3, cavity_drainage_probability=0.1)


@pytest.mark.parametrize("sex", ["female", "male"])
def test_flow_fractions_sum_to_one_and_follow_icrp89(sex):
    f = flow_fractions(sex)
    assert sum(f.values()) == pytest.approx(1.0)
    assert set(f) == set(ORGAN_KEYS)
    # ICRP 89 Table 2.40: kidneys 19 % (male) / 17 % (female) of ~100 %.
    assert f["kidney"] == pytest.approx((19.0 if sex == "male" else 17.0) / 100.0, rel=0.01)
    # Portal inflow = stomach + intestines + spleen + pancreas = 19 % (male).
    portal = sum(f[o] for o in ORGAN_KEYS if ORGANS[o].venous_return == "portal")
    assert portal == pytest.approx(0.19 if sex == "male" else 0.21, abs=0.002)


def test_every_organ_has_a_source_and_snake_case_key():
    for key, organ in ORGANS.items():
        assert key == key.lower() and " " not in key
        assert organ.source


@pytest.mark.parametrize("sex", ["female", "male"])
@pytest.mark.parametrize("delivery", ["anatomical", "uniform"])
def test_chain_rows_and_absorption_rows_sum_to_one(sex, delivery):
    chain = build_chain(PARAMS, sex, delivery, {"skin": 1.0})
    rows = chain.Q.sum(axis=1) + chain.R.sum(axis=1)
    np.testing.assert_allclose(rows, 1.0, atol=1e-12)
    np.testing.assert_allclose(chain.B.sum(axis=1), 1.0, atol=1e-12)
    assert (chain.B >= 0).all()


def test_first_capillary_bed_takes_most_cells():
    chain = build_chain(PARAMS, "female")
    caval = chain.absorption_by_name("caval")
    portal = chain.absorption_by_name("portal")
    vertebral = chain.absorption_by_name("vertebral")
    pv = chain.absorption_by_name("pulmonary_vein")
    # Caval: lungs first; portal: liver first; Batson's plexus: spine first: the retained
    # share (Butler & Gullino's 1 - 1/12) plus what passing cells leave there later.
    r = PARAMS.first_bed_arrest_probability
    assert r < caval["arrest:lung"] < r + 0.05
    assert r < portal["arrest:liver"] < r + 0.02
    assert r < vertebral["arrest:bone"] < r + 0.02
    # Pulmonary veins (lung primary): systemic organs first, in proportion to flow; the lung
    # itself gets only what comes back round.
    assert pv["arrest:lung"] < 0.1
    assert pv["arrest:kidney"] > pv["arrest:liver"] > pv["arrest:adrenal"]
    # The liver's share behind the portal vein exceeds what any caval organ sends to it.
    assert portal["arrest:liver"] > 10 * caval["arrest:liver"]


def test_passing_cells_are_cleared_with_the_measured_half_life():
    """One blood compartment: a passing cell crosses beds of 0.4 min each; after 1.7 h
    (255 beds) half of the passing cells have been cleared (arrested or dead), and the
    death share of the clearance is the stated fraction."""
    a, d = passing_cell_fates_per_bed(1.7, 0.4, 0.5)
    beds = 1.7 * 60 / 0.4
    assert (1 - a - d) ** beds == pytest.approx(0.5)
    assert d / (a + d) == pytest.approx(0.5)
    # The chain agrees: of the passing share of caval entries, half die in the blood.
    chain = build_chain(PARAMS, "female")
    r = PARAMS.first_bed_arrest_probability
    assert chain.absorption_by_name("caval")["death:blood"] == pytest.approx(
        (1 - r) * 0.5, rel=0.01)
    # Retained cells never die in transit: all of them arrest in the first bed.
    only_retained = build_chain(TransitParameters(1.0, a, d, 0.5, 0.2, 0.3, 0.1), "female")
    assert only_retained.absorption_by_name("portal")["arrest:liver"] == pytest.approx(1.0)


def test_lymph_goes_to_regional_then_distant_nodes_then_blood():
    chain = build_chain(PARAMS, "female")
    ly = chain.absorption_by_name("lymph")
    na, nd = PARAMS.node_arrest_probability, PARAMS.lymph_death_probability_per_node
    caval = chain.absorption_by_name("caval")
    # Cells passing both node groups reach the blood through the thoracic duct (lungs next)
    # and may lodge in nodes again through the nodes' own arterial supply.
    through = (1 - nd) ** 2 * (1 - na) ** 2
    assert ly["arrest:regional_lymph_nodes"] == pytest.approx(
        (1 - nd) * na + through * caval["arrest:regional_lymph_nodes"])
    assert ly["arrest:distant_lymph_nodes"] == pytest.approx(
        (1 - nd) ** 2 * (1 - na) * na + through * caval["arrest:distant_lymph_nodes"])
    assert ly["arrest:lung"] == pytest.approx(through * caval["arrest:lung"])


def test_cavity_implants_on_serosa_and_ovary_only_in_women():
    f = build_chain(PARAMS, "female").absorption_by_name("peritoneal")
    m = build_chain(PARAMS, "male").absorption_by_name("peritoneal")
    assert f["arrest:ovary"] > 0 and m["arrest:ovary"] == 0
    assert f["arrest:peritoneum"] > f["arrest:ovary"]
    assert f["death:cavity"] == pytest.approx(1 - 0.3 - 0.1)


def test_uniform_delivery_keeps_totals_and_spreads_evenly():
    anat = build_chain(PARAMS, "female", "anatomical")
    unif = build_chain(PARAMS, "female", "uniform")
    for entry in ("caval", "portal", "pulmonary_vein", "vertebral"):
        a, u = anat.absorption_by_name(entry), unif.absorption_by_name(entry)
        assert u["death:blood"] == pytest.approx(a["death:blood"])
        arrests = [u[f"arrest:{o}"] for o in TARGET_ORGANS]
        assert max(arrests) == pytest.approx(min(arrests))
        assert u["arrest:other"] == 0.0
    # Lymph still follows anatomy under uniform delivery; only what reaches the blood through
    # the thoracic duct is spread evenly.
    na, nd = PARAMS.node_arrest_probability, PARAMS.lymph_death_probability_per_node
    through = (1 - nd) ** 2 * (1 - na) ** 2
    assert unif.absorption_by_name("lymph")["arrest:regional_lymph_nodes"] == pytest.approx(
        (1 - nd) * na + through * unif.absorption_by_name("caval")["arrest:regional_lymph_nodes"])


@pytest.mark.parametrize("entry", ["caval", "portal", "pulmonary_vein", "lymph", "peritoneal"])
def test_pass_by_pass_walk_agrees_with_exact_absorption(entry):
    """Chi-square goodness of fit of the walk's final states against B (fixed seed; rare
    states pooled, tests/stats.py). With the walk exact, the p-value is uniform on [0, 1];
    1e-3 is the false-failure rate."""
    chain = build_chain(PARAMS, "female")
    rng = np.random.default_rng(20261125)
    n = 200_000
    absorbed, _ = chain.walk(rng, entry, n)
    assert absorbed.sum() == n
    assert multinomial_gof_p(absorbed, chain.absorption(entry)) > 1e-3


@settings(max_examples=40, deadline=None)
@given(r=st.floats(0, 1), a=st.floats(0, 0.5), d=st.floats(1e-6, 0.5), na=st.floats(0, 1),
       nd=st.floats(0, 1), imp=st.floats(0, 1), drain=st.floats(0, 1),
       sex=st.sampled_from(["female", "male"]),
       delivery=st.sampled_from(["anatomical", "uniform"]))
def test_chain_is_a_proper_absorbing_chain_for_any_probabilities(r, a, d, na, nd, imp, drain,
                                                                  sex, delivery):
    # d >= 1e-6: the schema bounds the CTC half-life, so blood always absorbs eventually.
    drain = min(drain, 1 - imp)
    params = TransitParameters(r, a, d, na, nd, imp, drain)
    chain = build_chain(params, sex, delivery)
    np.testing.assert_allclose(chain.B.sum(axis=1), 1.0, atol=1e-9)
    assert (chain.B >= -1e-12).all()


def test_every_primary_site_drains_somewhere_valid():
    for site in PRIMARY_SITES.values():
        assert sum(site.routes.values()) == pytest.approx(1.0)
        assert sum(site.venous_drainage.values()) == pytest.approx(1.0)
        assert set(site.venous_drainage) <= {"caval", "portal", "pulmonary_vein", "vertebral"}
        assert set(site.contiguous) <= set(TARGET_ORGANS)
    for organ in TARGET_ORGANS:
        assert metastasis_entry(organ) in ENTRY_POINTS
