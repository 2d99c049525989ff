"""Validation against the clinic: simulated site frequencies vs an autopsy table.

For each primary (a preset scenario) and each hypothesis, the simulated fraction of patients
with a detectable metastasis in each organ is set beside the autopsy fraction (diSibio &
French 2008) over the organs both share:

* ``spearman`` - Spearman rank correlation (does the model order the organs right?);
* ``r2`` - the squared Pearson correlation between observed and simulated frequencies, the
  share of the variance across organs that the simulation explains. This is the statistic
  Font-Clos, Zapperi & La Porta 2020 (iScience 23:101073) report: blood flow alone explains
  about 40 % of it on average, from ~0.8 for lung to ~0.1 for liver primaries;
* Weiss's metastatic efficiency index per organ (Weiss 1992, Clin Exp Metastasis 10:191):
  autopsy incidence (Poisson intensity ``-ln(1 - f)``) divided by the fraction of cells the
  anatomy delivers there, scaled to a median of 1. An index far above the rest marks a
  seed-and-soil effect; one in line with the rest, a mechanical one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats

from ..analysis.summaries import at_diagnosis, site_frequency
from ..biology import soil
from ..biology.anatomy import PRIMARY_SITES
from ..biology.reference import DISIBIO_2008
from ..config.schema import Scenario
from .replicates import RunResult


def shared_organs(site: str) -> list[str]:
    """Organs both the model and the autopsy table report for this primary."""
    row = PRIMARY_SITES[site].disibio_row
    if row is None:
        return []
    return sorted(DISIBIO_2008.counts(row))


def agreement(observed: Sequence[float], simulated: Sequence[float]) -> dict[str, float]:
    """Spearman rank correlation (with p-value) and R^2 between two frequency vectors."""
    obs, sim = np.asarray(observed, float), np.asarray(simulated, float)
    if len(obs) < 3 or np.ptp(sim) == 0 or np.ptp(obs) == 0:
        return {"spearman": float("nan"), "spearman_p": float("nan"), "r2": float("nan")}
    rho = stats.spearmanr(obs, sim)
    r = stats.pearsonr(obs, sim)
    return {"spearman": float(rho.statistic), "spearman_p": float(rho.pvalue),
            "r2": float(r.statistic ** 2)}


def relative_weiss_index(scenario: Scenario) -> dict[str, float]:
    """Weiss's efficiency index per organ for the scenario's primary under anatomical
    delivery (:func:`sim.biology.soil.weiss_index`), scaled to a median of 1."""
    index = soil.weiss_index(scenario, "anatomical")
    if not index:
        return {}
    median = float(np.median(list(index.values())))
    return {o: v / median for o, v in index.items()}


def score(run: RunResult) -> dict[str, Any]:
    """One row of the validation table for one primary under one hypothesis."""
    sc = run.scenario
    site = sc.primary.site
    organs = shared_organs(site)
    freq = site_frequency(run.patients, organs)
    table_row = PRIMARY_SITES[site].disibio_row
    observed = DISIBIO_2008.frequencies(table_row) if organs and table_row else {}
    row: dict[str, Any] = {"primary": site, "hypothesis": sc.hypothesis,
                           "replicates": run.replicates, "organs": len(organs)}
    row.update(agreement([observed[o] for o in organs], [freq[o]["fraction"] for o in organs]))
    row["at_diagnosis"] = at_diagnosis(run.patients)
    row["sites"] = {o: {"observed": observed[o], "simulated": freq[o]["fraction"],
                        "low": freq[o]["low"], "high": freq[o]["high"]} for o in organs}
    return row


def summarise(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean Spearman and R^2 per hypothesis over primaries (NaN rows left out)."""
    out: dict[str, dict[str, float]] = {}
    for h in dict.fromkeys(r["hypothesis"] for r in rows):
        out[h] = {}
        for k in ("spearman", "r2"):
            finite = [r[k] for r in rows if r["hypothesis"] == h and not math.isnan(r[k])]
            out[h][k] = float(np.mean(finite)) if finite else float("nan")
    return out
