"""The known biology, on the presets: patterns the literature reports, which the model
must show too.

Each test simulates patients of a bundled preset with fixed seeds and asks a one-sided
question with a paired sign test over patients (the same patients on both sides of the
comparison; tests/stats.py), at p < 0.01: the tolerance is the sampling variance of the
patients simulated, not a tuned margin. A comparison that no patient informs has p = 1 and
fails: a claim needs evidence. Metastases are counted as an autopsy
would (colonies of at least ``colonization.autopsy_detectable_diameter_mm``) unless said.

The calibrated presets reproduce the autopsy table (diSibio & French 2008) within its
sampling error under ``combined``; these tests check that the resulting model shows the
patterns the literature names (docs/references.md §4), including the ones the fit does not target
directly (lymph nodes pooled over cancers, enrichment relative to Ewing's anatomy).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from sim.config.loading import load_scenario
from sim.experiments.executors import ProcessExecutor
from sim.experiments.replicates import run_replicates

from ..stats import binomial_greater_p, sign_test_greater_p

pytestmark = pytest.mark.slow

ALPHA = 0.01


def _patients(name: str, hypothesis: str, n: int, seed: int = 11):
    sc = load_scenario(f"presets/{name}", [f"hypothesis={hypothesis}"])
    return run_replicates(sc, n, seed, progress=False, executor=ProcessExecutor(2)).patients


def _counts(patients, field="autopsy_by_organ"):
    organs = getattr(patients[0], field)
    return {o: np.array([getattr(p, field)[o] for p in patients]) for o in organs}


def _distant(counts):
    return {o: v for o, v in counts.items() if "lymph" not in o and o != "other"}


def test_lymph_nodes_are_the_most_frequent_site_overall():
    """Pooled over cancers, more patients have lymph-node metastases than metastases in any
    other organ: per organ, a one-sided sign test on the patients who have one and not the
    other (96 patients, 12 per cancer), p < 0.01. Patients that do not differ carry no
    evidence, so an organ as frequent as the nodes in every patient fails the test."""
    names = ["breast", "colon", "stomach", "lung", "prostate", "cervix", "melanoma", "kidney"]
    has_nodes, has = [], {}
    for name in names:
        ps = _patients(name, "combined", 12)
        for p in ps:
            a = p.autopsy_by_organ
            has_nodes.append(a["regional_lymph_nodes"] + a["distant_lymph_nodes"] > 0)
            for o, v in _distant(a).items():
                has.setdefault(o, []).append(v > 0)
    nodes = np.array(has_nodes)
    for organ, flags in has.items():
        # No patient with nodes but not the organ (or the reverse) is no evidence: p = 1.
        p = sign_test_greater_p(nodes, np.array(flags))
        assert p < ALPHA, (organ, nodes.mean(), np.mean(flags), p)


@pytest.mark.parametrize(("name", "organ", "n"), [
    ("prostate", "bone", 160),
    # The colon preset failed this before the joint Bayesian calibration (its point fit
    # had put the kidney's affinity at 39); the hierarchical soil passes it.
    ("colon", "liver", 160),
    ("bone_sarcoma", "lung", 200),
])
def test_top_distant_site_under_combined(name, organ, n):
    """The organ the literature names is the top distant site.

    Two parts, each a test at the simulated patients' sampling error: (1) no other distant
    organ is significantly more frequent (one-sided sign test on the patients with metastases
    in one organ but not the other, p < 0.01): the named organ is the most frequent, or tied
    with it within sampling error - the fit reproduces each organ within the table's own
    error, so organs the table barely separates (colon: liver 35/123 vs peritoneum 20/123;
    bone sarcoma: lung 18/35 vs bone 15/35) may come out in either order; (2) it is
    significantly more frequent (p < 0.01) than every organ the table separates from it
    clearly (Fisher's exact test on the table's counts, p < 0.001). The patient numbers give
    the sign test ~80 % power for the table's differences."""
    from sim.biology.anatomy import PRIMARY_SITES
    from sim.biology.reference import DISIBIO_2008

    patients = _patients(name, "combined", n)
    has = {o: v > 0 for o, v in _distant(_counts(patients)).items()}
    freq = {o: float(v.mean()) for o, v in has.items()}

    def sign_p(a: str, b: str) -> float:  # P(a more frequent than b by chance)
        return sign_test_greater_p(has[a], has[b])

    ranked = sorted(freq, key=lambda o: -freq[o])
    for other in ranked:
        if other != organ:
            assert sign_p(other, organ) >= ALPHA, (other, freq[other], organ, freq[organ])
    row = PRIMARY_SITES[load_scenario(f"presets/{name}").primary.site].disibio_row
    total, counts = DISIBIO_2008.patients(row), DISIBIO_2008.counts(row)
    separated = 0
    for other in has:
        if other == organ or other not in counts:
            continue
        a, b = counts[organ], counts[other]
        if stats.fisher_exact([[a, total - a], [b, total - b]]).pvalue >= 0.001:
            continue
        separated += 1
        assert sign_p(organ, other) < ALPHA, (other, freq[organ], freq[other])
    # The table separates at least five organs from the named one for each of these
    # primaries, so part (2) is never vacuous.
    assert separated >= 5


def _soil_ratio(name: str, organ: str) -> float:
    """Per-cell colonisation hazard of ``organ`` under combined / under ewing.

    Both hypotheses use the preset's colonisation rates; combined multiplies them by the
    calibrated affinity (normalised to a delivery-weighted mean of 1), ewing by 1. A ratio
    above 1 is what "the soil enriches this organ beyond what the anatomy delivers" means
    at the level of the model's hazards."""
    from sim.biology.anatomy import ORGAN_KEYS
    from sim.biology.soil import affinity_vector

    i = ORGAN_KEYS.index(organ)
    comb = affinity_vector(load_scenario(f"presets/{name}", ["hypothesis=combined"]))[i]
    ew = affinity_vector(load_scenario(f"presets/{name}", ["hypothesis=ewing"]))[i]
    return float(comb / ew)


def test_breast_bone_is_a_top_site_and_soil_enriched():
    """Breast -> bone: in the autopsy table bone (49 %) is third among distant sites, just
    behind lung (57 %) and liver (50 %), so the test asks what the table supports: bone is
    among the three most frequent distant sites under combined within sampling error (40
    patients: at most two organs are significantly more frequent than bone, one-sided sign
    test, p < 0.01), and the calibrated soil raises its colonisation hazard above Ewing's
    neutral soil."""
    comb = {o: v > 0 for o, v in _distant(_counts(_patients("breast", "combined", 40))).items()}
    ahead = [o for o in comb if o != "bone" and sign_test_greater_p(comb[o], comb["bone"]) < ALPHA]
    assert len(ahead) <= 2, {o: comb[o].mean() for o in [*ahead, "bone"]}
    assert _soil_ratio("breast", "bone") > 1


def _table_relative_error(name: str, organ: str) -> float:
    """Relative standard error of the organ's autopsy hazard -ln(1 - f) in the table row
    (f = count / patients; delta method: SE(f) / ((1 - f) * hazard)). The soil is fitted
    to that hazard, so this is how precisely the table pins the fitted affinity down."""
    from sim.biology.anatomy import PRIMARY_SITES
    from sim.biology.reference import DISIBIO_2008

    row = PRIMARY_SITES[load_scenario(f"presets/{name}").primary.site].disibio_row
    n, k = DISIBIO_2008.patients(row), DISIBIO_2008.counts(row)[organ]
    f = k / n
    return float(np.sqrt(f * (1 - f) / n) / ((1 - f) * -np.log1p(-f)))


@pytest.mark.parametrize(("name", "organ"), [
    ("stomach", "ovary"), ("melanoma", "brain"),
    # A known miss, kept visible (strict: a refit that removes it makes this test fail
    # until the mark goes): the prostate preset refitted alone with the seeds' loss of
    # competence and the regional nodes' own kinetics enriches bone 2.35x (2.0x against
    # the other organs than the regional nodes, whose soil the node multiplier took over).
    pytest.param("prostate", "bone", marks=pytest.mark.xfail(strict=True, reason=(
        "the 2026-12-07 single-preset refit enriches bone; the course and the soil must "
        "be fitted together at full size"))),
    ("colon", "liver")])
def test_soil_against_anatomy_for_the_classic_examples(name, organ):
    """Stomach -> ovary (Krukenberg) and melanoma -> brain are enriched by the soil: the
    calibrated combined soil raises their colonisation hazard above Ewing's neutral soil
    (ratio > 1). Prostate -> bone and colon -> liver are the anatomical counter-examples:
    Batson's plexus and the portal vein already deliver so many cells that the fitted soil
    needs no enrichment there: the ratio is not above 1 by more than the autopsy table can
    tell (3 relative standard errors of the organ's hazard in the table: prostate bone 91/193
    allows up to ~1.3; a calibration that enriched bone twofold fails).

    (Simulated counts cannot carry this test at an affordable size: with the table's 8 %
    ovary and 15 % brain frequencies a patient founds about one colony there in a course,
    so a paired comparison needs hundreds of patients per hypothesis.)"""
    ratio = _soil_ratio(name, organ)
    if (name, organ) in (("stomach", "ovary"), ("melanoma", "brain")):
        assert ratio > 1, ratio
    else:
        assert ratio <= 1 + 3 * _table_relative_error(name, organ), ratio


def test_ewing_lung_primary_seeds_systemic_organs_first():
    """A lung primary drains through the pulmonary veins to the left heart: under Ewing the
    first capillary beds its blood-borne cells meet are systemic (in proportion to cardiac
    output: kidneys 19 %, muscle 17 %, brain 12 % ...); the lung's own capillaries only
    catch what the bronchial bed takes and what passes a systemic bed and comes back. With
    only the blood route open, the cells arrested per organ over 60 days put systemic
    organs first: a kidney or muscle leads, and the kidneys and the brain each hold
    significantly more arrested cells than the lung. Contrast: a caval (breast) primary's
    blood-borne cells stop in the lung first (more than in all other organs together).

    Each comparison is a one-sided binomial test among the cells arrested in the two places
    compared, at p < 1e-6. Counts are divided by the largest unit size (a cluster's cells
    arrest together), which makes the test conservative: the units are independent."""
    from sim import MetastasisModel
    from sim.biology.anatomy import ORGAN_KEYS

    def arrested_units(model) -> dict[str, int]:
        k = max(model.scenario.clusters.cells_per_cluster, 1)
        return {o: int(v) // k for o, v in zip(ORGAN_KEYS, model.ledger.arrested_by_organ.tolist(),
                                                strict=True)}

    def more(a: int, b: int) -> float:
        return binomial_greater_p(a, a + b, 0.5)

    model = MetastasisModel("presets/lung", rng=3, hypothesis="ewing", overrides={
        "primary.routes": {"blood": 1.0, "lymph": 0.0, "cavity": 0.0, "contiguous": 0.0},
        # The median patient from 5 mm: enough cells shed in 60 days for the binomial tests.
        "population.heterogeneity": False, "primary.initial_diameter_mm": 5.0,
        "simulation.horizon_days": 60.0})
    model.run()
    arrested = arrested_units(model)
    ranked = sorted(arrested, key=lambda o: -arrested[o])
    assert ranked[0] in ("kidney", "muscle"), ranked[:4]
    assert more(arrested["kidney"], arrested["lung"]) < 1e-6, arrested
    assert more(arrested["brain"], arrested["lung"]) < 1e-6, arrested
    breast = MetastasisModel("presets/breast", rng=3, hypothesis="ewing", overrides={
        "primary.routes": {"blood": 1.0, "lymph": 0.0, "cavity": 0.0, "contiguous": 0.0},
        "primary.venous_drainage": {"caval": 1.0, "vertebral": 0.0},
        "population.heterogeneity": False, "primary.initial_diameter_mm": 5.0,
        "simulation.horizon_days": 30.0})
    breast.run()
    b = arrested_units(breast)
    assert more(b["lung"], sum(b.values()) - b["lung"]) < 1e-6, b
