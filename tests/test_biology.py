"""The known biology, on the presets (issue 3, item 6).

Each test simulates patients of a bundled preset with fixed seeds and asks a one-sided
question with a paired non-parametric test over patients (the same patients, i.e. the same
random streams, on both sides of the comparison), at p < 0.01: the tolerance is the sampling
variance of the patients simulated, not a tuned margin. Metastases are counted as an autopsy
would (colonies of at least ``colonization.autopsy_detectable_diameter_mm``) unless said.

The calibrated presets reproduce the autopsy table (diSibio & French 2008) within its
sampling error under ``combined``; these tests check that the resulting model shows the
patterns the literature names (LITERATURE.md §4), including the ones the fit does not target
directly (lymph nodes pooled over cancers, enrichment relative to Ewing's anatomy).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from sim.experiments import process_mapper, run_replicates
from sim.scenario import load_scenario
from tests.test_model import _colonies, _first_distant

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
    ("prostate", "bone", 20),
    ("colon", "liver", 24),
    ("bone_sarcoma", "lung", 30),
])
def test_top_distant_site_under_combined(name, organ, n):
    """The organ the literature names carries more metastases per patient than each other
    distant organ (paired Wilcoxon per organ, same patients)."""
    counts = _distant(_counts(_patients(name, "combined", n)))
    means = {o: float(v.mean()) for o, v in counts.items()}
    assert max(means, key=means.get) == organ, sorted(means.items(), key=lambda kv: -kv[1])[:4]
    for other, v in counts.items():
        if other != organ and v.any():
            assert _greater(counts[organ], v) < ALPHA or v.mean() < 0.5 * counts[organ].mean(), \
                (other, means[organ], means[other])


def test_breast_sends_more_to_bone_under_combined_than_under_ewing():
    """Breast -> bone: in the autopsy table bone (49 %) is third among distant sites, just
    behind lung (57 %) and liver (50 %), so the test asks what the table supports: bone is
    among the three most frequent distant sites under combined, and its share of distant
    metastases is larger than Ewing's anatomy alone gives (paired over patients)."""
    comb = _distant(_counts(_patients("breast", "combined", 16)))
    top3 = sorted(comb, key=lambda o: -comb[o].mean())[:3]
    assert "bone" in top3, top3
    ew = _distant(_counts(_patients("breast", "ewing", 16), "colonies_by_organ"))
    co = _distant(_counts(_patients("breast", "combined", 16), "colonies_by_organ"))
    assert _greater(_share(co, "bone"), _share(ew, "bone")) < ALPHA


def _share(counts, organ):
    total = sum(counts.values())
    return np.divide(counts[organ], total, out=np.zeros(len(total)), where=total > 0)


@pytest.mark.parametrize(("name", "organ"), [("stomach", "ovary"), ("melanoma", "brain")])
def test_soil_enriches_the_classic_examples_relative_to_ewing(name, organ):
    """Stomach -> ovary (Krukenberg) and melanoma -> brain: the organ's share of a patient's
    distant colonies (all sizes) is larger under combined than under ewing, same patients."""
    ew = _distant(_counts(_patients(name, "ewing", 16), "colonies_by_organ"))
    co = _distant(_counts(_patients(name, "combined", 16), "colonies_by_organ"))
    a, b = _share(co, organ), _share(ew, organ)
    assert a.mean() > b.mean()
    assert _greater(a, b) < ALPHA, (a.mean(), b.mean())


def test_ewing_lung_primary_seeds_systemic_organs_first():
    """A lung primary drains through the pulmonary veins to the left heart: under Ewing the
    first capillary beds are systemic (kidney, muscle, brain...), and the lung itself only
    gets what passes them. The organ with most colonies is systemic, and it beats the lung
    (paired Wilcoxon)."""
    lung = _colonies("lung", "ewing", 10, horizon_days=900)
    first = _first_distant(lung)[0]
    assert first != "lung"
    assert _greater(lung[first], lung["lung"]) < ALPHA
