"""The model's patients against distributions: the aggregated and single-cell engines agree in
distribution, the hypotheses send cells where anatomy or soil says, selection and delivery act
as specified. Fixed seeds; each tolerance comes from the variance, with its false-failure rate
stated in the test."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from sim import MetastasisModel
from sim.config.loading import load_scenario
from sim.engine.model import simulate
from sim.experiments.seeds import replicate_streams

from ..stats import binomial_greater_p, same_distribution_p, two_proportions_p


def _outputs(patients):
    return {
        **{f"reached_{s}": [p.reached[s] for p in patients]
           for s in ("transit", "arrest", "extravasation", "dormancy", "micrometastasis",
                     "macrometastasis")},
        "lost_transit": [p.lost["transit"] for p in patients],
        "colonies": [sum(p.colonies_by_organ.values()) for p in patients],
    }


def _colonies(scenario, hypothesis, n, horizon_days, seed=1, scale=100,
              what="colonies_by_organ"):
    """Colonies per organ per patient, with the colonisation hazard raised ``scale``-fold.

    Where colonies form is set by delivery x affinity; the overall colonisation scale only
    sets how many form. Raising it (and shortening the course from a 20 mm primary) gives
    every patient enough colonies for a paired test to have power, without changing the
    question asked. The median patient of the preset (no population spread): the question is
    where anatomy and soil send cells, not how patients differ; so every seed is equally
    competent and the regional nodes take the organs' kinetics (both change how many colonies
    form and when, not where the cells go).
    """
    base = [f"hypothesis={hypothesis}", f"simulation.horizon_days={horizon_days}",
            "primary.initial_diameter_mm=20.0", "population.heterogeneity=false",
            "primary.seed_competence_exponent=0", "lymph.regional_node_colonization_multiplier=1"]
    sc = load_scenario(scenario, base)
    sc = load_scenario(scenario, [
        *base,
        f"colonization.competence={min(1.0, scale * sc.colonization.competence)}"])
    patients = [simulate(sc, s, i) for i, s in enumerate(replicate_streams(seed, n))]
    organs = getattr(patients[0], what)
    return {o: np.array([getattr(p, what)[o] for p in patients]) for o in organs}


def _first_distant(colonies):
    distant = [o for o in colonies if "lymph" not in o]
    return sorted(distant, key=lambda o: -colonies[o].mean())


@pytest.mark.slow
@pytest.mark.parametrize("other", [{"simulation.aggregate": False},
                                   {"simulation.circulation": "walk"}],
                         ids=["single-cell", "walk"])
def test_aggregated_engine_matches_reference_in_distribution(small_scenario_path, other):
    """Two-sample tests over 200 seeds per engine (independent streams per engine).

    Exactness means every p-value is uniform on [0, 1]; with ~9 outputs tested at a
    Bonferroni-corrected 0.001 / 9 each, a false alarm has probability ~0.1 %. The seeds are
    fixed, so the outcome is deterministic.
    """
    sc = load_scenario(small_scenario_path)
    ref_sc = load_scenario(small_scenario_path, [f"{k}={str(v).lower()}" if isinstance(v, bool)
                                                 else f'{k}="{v}"' for k, v in other.items()])
    n = 200
    agg = [simulate(sc, s, i) for i, s in enumerate(replicate_streams(101, n))]
    ref = [simulate(ref_sc, s, i) for i, s in enumerate(replicate_streams(202, n))]
    oa, orf = _outputs(agg), _outputs(ref)
    alpha = 1e-3 / (len(oa) + 1)
    for key in oa:
        res = stats.mannwhitneyu(oa[key], orf[key])
        assert res.pvalue > alpha, (key, np.mean(oa[key]), np.mean(orf[key]), res.pvalue)
    lung_a = sum(p.colonies_by_organ["lung"] > 0 for p in agg)
    lung_r = sum(p.colonies_by_organ["lung"] > 0 for p in ref)
    table = [[lung_a, n - lung_a], [lung_r, n - lung_r]]
    assert stats.fisher_exact(table).pvalue > alpha, table


@pytest.mark.slow
def test_ewing_sends_colorectal_to_the_liver_and_breast_to_the_lungs():
    """Under Ewing's anatomy the first capillary bed collects most colonies: paired one-sided
    Wilcoxon test (same patients, first vs second organ) over 10 patients, p < 0.01."""
    crc = _colonies("colorectal", "ewing", 10, horizon_days=900)
    first, second = _first_distant(crc)[:2]
    assert first == "liver", {o: crc[o].mean() for o in _first_distant(crc)[:4]}
    assert stats.wilcoxon(crc["liver"], crc[second], alternative="greater").pvalue < 0.01
    br = _colonies("breast", "ewing", 10, horizon_days=500)
    first, second = _first_distant(br)[:2]
    assert first == "lung", {o: br[o].mean() for o in _first_distant(br)[:4]}
    assert stats.wilcoxon(br["lung"], br[second], alternative="greater").pvalue < 0.01


@pytest.mark.slow
def test_combined_moves_prostate_metastases_from_lung_to_bone():
    """Prostate, metastases of autopsy size (>= 1 mm): under Ewing the lung (the first bed
    of the caval veins) holds more than bone, and the soil of the combined view moves them
    towards bone - each patient's share of bone among bone + lung is larger under combined
    than under Ewing (same patients: common random numbers). Paired one-sided Wilcoxon over
    10 patients, p < 0.01 each (the colonisation hazard raised as in _colonies so that each
    patient has metastases: 400-fold, since the joint Bayesian calibration gave the
    prostate preset less shedding, and at 100-fold its patients had 0-4 metastases per
    organ, too few for a paired test)."""
    pro = _colonies("prostate", "combined", 10, horizon_days=1200, what="autopsy_by_organ",
                    scale=400)
    ew = _colonies("prostate", "ewing", 10, horizon_days=1200, what="autopsy_by_organ",
                   scale=400)
    assert stats.wilcoxon(ew["lung"], ew["bone"], alternative="greater").pvalue < 0.01
    share_combined = (pro["bone"] + 0.5) / (pro["bone"] + pro["lung"] + 1.0)
    share_ewing = (ew["bone"] + 0.5) / (ew["bone"] + ew["lung"] + 1.0)
    assert stats.wilcoxon(share_combined, share_ewing, alternative="greater").pvalue < 0.01


def test_selection_enriches_the_aggressive_subclone_among_colonies():
    """Cells that complete the cascade are a selected subset: the aggressive clone (5 % of
    the primary and of the cells shed - its shedding trait is 1 - with 5x proliferation and
    2x invasion in the breast preset) founds more than its 5 % share of colonies. One-sided
    exact binomial test of the colonies' clones against 5 %, p < 1e-6 (the rate at which a
    model without selection would pass by luck); a model ignoring the traits fails."""
    model = MetastasisModel("breast", rng=9, overrides={
        "simulation.horizon_days": 600, "colonization.competence": 1e-4,
        "primary.initial_diameter_mm": 10.0,
        # Every seed equally competent, as this course was sized (the selection is the
        # subclones', whatever the seeds' loss of competence with size).
        "primary.seed_competence_exponent": 0.0})
    clones = model.scenario.primary.subclones
    weights = np.array([c.fraction * c.shedding for c in clones])
    shed_share = float(weights[1] / weights.sum())
    assert shed_share == pytest.approx(0.05)
    model.run()
    clones = [c.clone for c in model.colonies]
    aggressive = int(np.sum(np.array(clones) == 1))
    assert binomial_greater_p(aggressive, len(clones), shed_share) < 1e-6, (aggressive,
                                                                            len(clones))


def test_uniform_delivery_changes_where_cells_arrive_not_how_many(small_scenario_path):
    """Uniform delivery moves arrests between organs but keeps the probability that a cell
    in transit arrests somewhere (the chain's death per pass is the same). Two tests on one
    seed per hypothesis: the arrested fraction of cells in transit does not differ (Fisher
    exact, p > 1e-3: the false-failure rate), and the organs they arrest in do (chi-square
    contingency, p < 1e-6). Counts are divided by the cluster size, since a cluster's cells
    share one fate: conservative, the units are independent."""
    results, by_organ = {}, {}
    for h in ("ewing", "null"):
        model = MetastasisModel(small_scenario_path, rng=1, hypothesis=h).run()
        k = model.scenario.clusters.cells_per_cluster
        results[h] = model.result()
        by_organ[h] = model.ledger.arrested_by_organ // k
    ew, nu = results["ewing"], results["null"]
    assert two_proportions_p(ew.reached["arrest"] // k, ew.reached["transit"] // k,
                             nu.reached["arrest"] // k, nu.reached["transit"] // k) > 1e-3
    assert same_distribution_p(by_organ["ewing"], by_organ["null"]) < 1e-6
