"""Out-of-sample scores and model probabilities for the calibrated soil.

Given every preset's tabulated site frequencies (:class:`~sim.experiments.soil_model.PrimaryData`
per hypothesis, from :func:`sim.experiments.inference.calibrate_preset`):

* **k-fold over organs** (``folds`` = 5): each primary's organs are dealt at random into five
  folds; fold ``f`` of *every* primary is hidden at once, the hierarchical soil is fitted to
  the rest, and each hidden count is predicted from the primary's level, the shared soil the
  other primaries give that organ, and tau. Every (primary, organ) is predicted once.
* **Leave one primary out** (LOPO): the shared soil is fitted without the primary; its
  counts are predicted from its level prior (the non-site targets only), the others' shared
  soil and tau. This also gives the primary's *site evidence* ``log p(counts | hypothesis,
  other primaries)``.
* **Ewing** has no soil: its predictions come from the level prior alone, so all of them are
  out of sample.

Organs the simulated cohort cannot reach at all (the ovaries of a preset whose patients are
men, against an autopsy row that counts women) are left out of the fit and the scores.
Scores per primary and hypothesis: mean log predictive density per organ, the share of
observed counts inside their central 90 % predictive interval, and Spearman's rho and R^2
between the observed frequencies and the predictive means (as the in-sample table did).
Model probabilities: the site evidence times the ABC model probabilities from the non-site
targets (equal prior probabilities), normalised over ewing, paget and combined.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

from .inference import MODELS, calibration_seed
from .soil_model import (
    PrimaryData,
    SoilPosterior,
    gibbs,
    level_only_evidence,
    organ_scores,
    predictive_counts,
    soil_evidence,
)
from .validation import agreement


@dataclass
class Prediction:
    """One (primary, organ) predicted out of sample."""

    primary: str
    organ: str
    observed: float
    scores: dict[str, float]


def _organ_union(data: Sequence[PrimaryData]) -> list[str]:
    return sorted({o for d in data for o in d.organs})


def _ewing_predictions(d: PrimaryData) -> list[Prediction]:
    out = []
    for j, o in enumerate(d.organs):
        if not d.reachable[j]:
            continue
        pred = predictive_counts(d.frequency[j], d.patients, np.array([d.level_mean]),
                                 np.array([d.level_sd]))
        out.append(Prediction(d.primary, o, d.counts[j] / d.patients,
                              organ_scores(pred, int(d.counts[j]))))
    return out


def kfold(data: Sequence[PrimaryData], seed: int, folds: int = 5, draws: int = 600
          ) -> list[Prediction]:
    """Every (primary, organ) predicted with its fold hidden (see the module doc)."""
    organs = _organ_union(data)
    assign = []
    for p, d in enumerate(data):
        rng = np.random.default_rng(calibration_seed(seed, 5, p))
        assign.append(rng.permutation(len(d.organs)) % folds)
    out: list[Prediction] = []
    for f in range(folds):
        held = [a == f for a in assign]
        post = gibbs(data, organs, np.random.default_rng(calibration_seed(seed, 6, f)),
                     draws=draws, burn=300, held_out=held)
        out.extend(_held_predictions(data, post, held))
    return out


def _held_predictions(data: Sequence[PrimaryData], post: SoilPosterior,
                      held: Sequence[np.ndarray]) -> list[Prediction]:
    col = {o: j for j, o in enumerate(post.organs)}
    out = []
    for p, d in enumerate(data):
        for j, o in enumerate(d.organs):
            if not held[p][j] or not d.reachable[j]:
                continue
            mean = post.level[:, p] + post.soil[:, col[o]]
            pred = predictive_counts(d.frequency[j], d.patients, mean, post.tau)
            out.append(Prediction(d.primary, o, d.counts[j] / d.patients,
                                  organ_scores(pred, int(d.counts[j]))))
    return out


def lopo(data: Sequence[PrimaryData], seed: int, draws: int = 600
         ) -> tuple[list[Prediction], dict[str, float], dict[str, dict]]:
    """(predictions, site evidence per primary, the shared soil without each primary)."""
    organs = _organ_union(data)
    preds: list[Prediction] = []
    evidence: dict[str, float] = {}
    shared: dict[str, dict] = {}
    for p, d in enumerate(data):
        others = [x for i, x in enumerate(data) if i != p]
        post = gibbs(others, organs, np.random.default_rng(calibration_seed(seed, 7, p)),
                     draws=draws, burn=300)
        shared[d.primary] = post.shared_summary()
        col = {o: j for j, o in enumerate(post.organs)}
        rng = np.random.default_rng(calibration_seed(seed, 8, p))
        c = rng.normal(d.level_mean, d.level_sd, len(post.tau))
        for j, o in enumerate(d.organs):
            if not d.reachable[j]:
                continue
            mean = c + post.soil[:, col[o]]
            pred = predictive_counts(d.frequency[j], d.patients, mean, post.tau)
            preds.append(Prediction(d.primary, o, d.counts[j] / d.patients,
                                    organ_scores(pred, int(d.counts[j]))))
        evidence[d.primary] = soil_evidence(d, post, draws=100, rng=rng)
    return preds, evidence, shared


def score_table(predictions: Sequence[Prediction]) -> dict[str, dict[str, float]]:
    """Per primary: mean log predictive density per organ, 90 % coverage, rho, R^2."""
    out: dict[str, dict[str, float]] = {}
    for primary in dict.fromkeys(p.primary for p in predictions):
        rows = [p for p in predictions if p.primary == primary]
        obs = [p.observed for p in rows]
        mean = [p.scores["mean"] for p in rows]
        out[primary] = {"lpd": float(np.mean([p.scores["lpd"] for p in rows])),
                        "coverage_90": float(np.mean([p.scores["covered"] for p in rows])),
                        "organs": len(rows), **agreement(obs, mean)}
    return out


def model_probabilities(site_evidence: Mapping[str, float],
                        target_probabilities: Mapping[str, float] | None = None
                        ) -> dict[str, float]:
    """P(hypothesis | sites, targets) with equal prior probabilities: the site evidence of
    each hypothesis times its ABC probability from the non-site targets (all equal when the
    preset has none)."""
    logp = {}
    for h in MODELS:
        lt = np.log(max((target_probabilities or {}).get(h, 1.0), 1e-300)) \
            if target_probabilities else 0.0
        logp[h] = site_evidence[h] + lt
    z = special.logsumexp(list(logp.values()))
    return {h: float(np.exp(v - z)) for h, v in logp.items()}


def cross_validate(data: Mapping[str, Sequence[PrimaryData]], seed: int,
                   target_probabilities: Mapping[str, Mapping[str, float]] | None = None,
                   folds: int = 5, draws: int = 600) -> dict:
    """The whole out-of-sample report over presets: ``data[hypothesis]`` lists every
    preset's tabulated frequencies in the same order; ``target_probabilities[primary]``
    the ABC model probabilities of presets with population targets."""
    report: dict = {"kfold": {}, "lopo": {}, "evidence": {}, "shared_soil_without": {}}
    for h in MODELS:
        if h == "ewing":
            preds = [x for d in data[h] for x in _ewing_predictions(d)]
            report["kfold"][h] = score_table(preds)
            report["lopo"][h] = report["kfold"][h]
            report["evidence"][h] = {d.primary: level_only_evidence(d) for d in data[h]}
            continue
        report["kfold"][h] = score_table(kfold(data[h], seed, folds, draws))
        preds, ev, shared = lopo(data[h], seed, draws)
        report["lopo"][h] = score_table(preds)
        report["evidence"][h] = ev
        report["shared_soil_without"][h] = shared
    primaries = [d.primary for d in data["ewing"]]
    report["model_probabilities"] = {
        p: model_probabilities({h: report["evidence"][h][p] for h in MODELS},
                               (target_probabilities or {}).get(p))
        for p in primaries}
    return report


__all__ = ["Prediction", "cross_validate", "kfold", "lopo", "model_probabilities",
           "score_table"]
