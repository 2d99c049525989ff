"""The known biology, on the presets (issue 3, item 6).

Each test simulates patients of a bundled preset with fixed seeds and asks a one-sided
question with a paired non-parametric test over patients (the same patients, i.e. the same
random streams, on both sides of the comparison), at p < 0.01: the tolerance is the sampling
variance of the patients simulated, not a tuned margin. Metastases are counted as an autopsy
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

from sim.config.scenario import load_scenario
from sim.experiments.replicates import process_mapper, run_replicates

pytestmark = pytest.mark.slow

ALPHA = 0.01


def _patients(name: str, hypothesis: str, n: int, seed: int = 11):
    sc = load_scenario(f"presets/{name}", [f"hypothesis={hypothesis}"])
    return run_replicates(sc, n, seed, progress=False, mapper=process_mapper(2)).patients


def _counts(patients, field="autopsy_by_organ"):
    organs = getattr(patients[0], field)
    return {o: np.array([getattr(p, field)[o] for p in patients]) for o in organs}


def _greater(a: np.ndarray, b: np.ndarray) -> float:
    """One-sided paired Wilcoxon p-value for a > b (ties and zeros handled by 'zsplit')."""
    if np.all(a == b):
        return 1.0
    return float(stats.wilcoxon(a, b, alternative="greater", zero_method="zsplit").pvalue)


def _distant(counts):
    return {o: v for o, v in counts.items() if "lymph" not in o and o != "other"}


def test_lymph_nodes_are_the_most_frequent_site_overall():
    """Pooled over cancers, more patients have lymph-node metastases than metastases in any
    other organ (sign test on the patients who differ, per organ)."""
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
    assert nodes.mean() > 0.4
    for organ, flags in has.items():
        other = np.array(flags)
        only_nodes = int(np.sum(nodes & ~other))
        only_other = int(np.sum(other & ~nodes))
        p = stats.binomtest(only_nodes, only_nodes + only_other, 0.5,
                            alternative="greater").pvalue if only_nodes + only_other else 0.0
        assert p < ALPHA, (organ, nodes.mean(), other.mean(), p)


@pytest.mark.parametrize(("name", "organ", "n"), [
    ("prostate", "bone", 160),
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
        only_a = int(np.sum(has[a] & ~has[b]))
        only_b = int(np.sum(has[b] & ~has[a]))
        if not only_a + only_b:
            return 1.0
        return stats.binomtest(only_a, only_a + only_b, 0.5, alternative="greater").pvalue

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
    among the three most frequent distant sites under combined (40 patients), and the
    calibrated soil raises its colonisation hazard above Ewing's neutral soil."""
    comb = {o: v > 0 for o, v in _distant(_counts(_patients("breast", "combined", 40))).items()}
    top3 = sorted(comb, key=lambda o: -comb[o].mean())[:3]
    assert "bone" in top3, {o: comb[o].mean() for o in top3}
    assert _soil_ratio("breast", "bone") > 1


@pytest.mark.parametrize(("name", "organ"), [("stomach", "ovary"), ("melanoma", "brain"),
                                             ("prostate", "bone"), ("colon", "liver")])
def test_soil_against_anatomy_for_the_classic_examples(name, organ):
    """Stomach -> ovary (Krukenberg) and melanoma -> brain are enriched by the soil: the
    calibrated combined soil raises their colonisation hazard above Ewing's neutral soil.
    Prostate -> bone and colon -> liver are the anatomical counter-examples: Batson's plexus
    and the portal vein already deliver so many cells that the fitted soil needs no
    enrichment there (ratio <= ~1), as the Weiss indices of the validation show.

    (Simulated counts cannot carry this test at an affordable size: with the table's 8 %
    ovary and 15 % brain frequencies a patient founds about one colony there in a course,
    so a paired comparison needs hundreds of patients per hypothesis.)"""
    ratio = _soil_ratio(name, organ)
    if (name, organ) in (("stomach", "ovary"), ("melanoma", "brain")):
        assert ratio > 1, ratio
    else:
        assert ratio < 3, ratio


def test_ewing_lung_primary_seeds_systemic_organs_first():
    """A lung primary drains through the pulmonary veins to the left heart: under Ewing the
    first capillary beds its blood-borne cells meet are systemic (in proportion to cardiac
    output: kidneys 19 %, muscle 17 %, brain 12 % ...); the lung's own capillaries only
    catch what the bronchial bed takes and what passes a systemic bed and comes back. With
    only the blood route open, the cells arrested per organ over 60 days (millions: the
    multinomial noise is far below the differences) put systemic organs first."""
    from sim import MetastasisModel
    from sim.biology.anatomy import ORGAN_KEYS

    model = MetastasisModel("presets/lung", rng=3, hypothesis="ewing", overrides={
        "primary.routes": {"blood": 1.0, "lymph": 0.0, "cavity": 0.0, "contiguous": 0.0},
        "simulation.horizon_days": 60.0})
    model.run()
    arrested = dict(zip(ORGAN_KEYS, model.arrested_by_organ.tolist(), strict=True))
    total = sum(arrested.values())
    assert total > 1e6
    ranked = sorted(arrested, key=lambda o: -arrested[o])
    assert ranked[0] in ("kidney", "muscle"), ranked[:4]
    assert arrested["kidney"] > 1.5 * arrested["lung"] and arrested["brain"] > 0.05 * total
    # Contrast: a caval (breast) primary's blood-borne cells stop in the lung first.
    breast = MetastasisModel("presets/breast", rng=3, hypothesis="ewing", overrides={
        "primary.routes": {"blood": 1.0, "lymph": 0.0, "cavity": 0.0, "contiguous": 0.0},
        "primary.venous_drainage": {"caval": 1.0}, "simulation.horizon_days": 30.0})
    breast.run()
    b = dict(zip(ORGAN_KEYS, breast.arrested_by_organ.tolist(), strict=True))
    assert b["lung"] > 0.8 * sum(b.values())
