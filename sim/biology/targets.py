"""Clinical population targets: what the clinic measures, per primary, as data.

These are the non-site targets of the Bayesian calibration (:mod:`sim.experiments.inference`):
the share of patients with a measurement at diagnosis, and untreated survival. Each target
names where the simulated value is read in :func:`sim.analysis.summaries.population`, the
published share, the number of patients behind it (``None`` for a cancer registry, whose
sampling error is negligible next to the simulation's) and the source (docs/references.md).

Left out on purpose (they stay in the docs' "Population targets" tables as checks):

* "initiated the metastatic process at diagnosis" (60-70 %): a figure of the starting text,
  not a measurement;
* CTCs "when metastatic" (Cristofanilli et al. 2004; de Bono et al. 2008): measured in
  progressive, pre-treated metastatic disease; the model's sample at a stated metastatic
  burden (``clinical.metastatic_sample_burden_cells``, an ASSUMPTION) stands for it, so it
  stays a check (:data:`CHECKS`);
* the kidney's renal-vein CTC counts (Glaves et al. 1988): a concentration, not a share, and
  fitted by the preset's shedding directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Target:
    """One published share and where the simulation's is found."""

    #: Short name (a column of the posterior predictive table).
    name: str
    #: Path into :func:`sim.analysis.summaries.population`'s output; the last key's value is
    #: a share dict (``fraction``, ``of``) or, for survival, a dict with ``survival``.
    path: tuple[str, ...]
    #: Published share, 0-1.
    observed: float
    #: Patients behind it (None: a registry, sampling error negligible).
    patients: int | None
    source: str
    #: Plain words for tables and figures.
    label: str

    def simulated(self, population: dict[str, Any]) -> tuple[float | None, int]:
        """(simulated share, patients it is out of) from a population summary; (None, 0)
        when nobody was measured."""
        node: Any = population
        for key in self.path:
            if not isinstance(node, dict) or key not in node:
                return None, 0
            node = node[key]
        if node is None:
            return None, 0
        if "survival" in node:  # Kaplan-Meier, out of every diagnosed patient
            diagnosed = population.get("diagnosed") or {}
            return node.get("survival"), int(diagnosed.get("patients", 0) or 0)
        return node.get("fraction"), int(node.get("of", 0) or 0)


_SURV = ("survival_from_diagnosis",)
_NODES = ("node_positive_at_diagnosis",)

#: Targets per primary site (keys of sim.biology.anatomy.PRIMARY_SITES).
POPULATION_TARGETS: dict[str, tuple[Target, ...]] = {
    "breast": (
        Target("ctc_at_diagnosis", ("ctc_per_7_5ml_at_diagnosis", "at_least_1"), 0.202, 3173,
               "Janni et al. 2016 (stage I-III)", ">= 1 CTC per 7.5 mL at diagnosis"),
        Target("dtc_at_diagnosis", ("dtc_positive_marrow_at_diagnosis",), 0.306, 4703,
               "Braun et al. 2005", "DTC-positive marrow at diagnosis"),
        # Carter et al. 1989 (24,740 SEER cases): < 1 cm 20 %, 1-1.9 cm 33 % -> ~29 % for
        # <= 20 mm; 2-4.9 cm 45-60 % -> ~52 %; >= 5 cm 70 %.
        Target("nodes_up_to_20_mm", (*_NODES, "up_to_20_mm"), 0.29, None,
               "Carter et al. 1989", "node-positive, primary <= 20 mm"),
        Target("nodes_20_to_50_mm", (*_NODES, "20_to_50_mm"), 0.52, None,
               "Carter et al. 1989", "node-positive, primary 20-50 mm"),
        Target("synchronous_distant", ("synchronous_distant_metastasis",), 0.06, None,
               "SEER (distant stage)", "distant metastasis at diagnosis"),
        Target("alive_3_years", (*_SURV, "3y"), 0.44, 250,
               "Bloom et al. 1962 (untreated)", "alive 3 years after diagnosis"),
        Target("alive_5_years", (*_SURV, "5y"), 0.18, 250,
               "Bloom et al. 1962 (untreated)", "alive 5 years after diagnosis"),
    ),
    "colorectal": (
        Target("ctc_30ml_at_diagnosis", ("ctc_per_30ml_at_diagnosis", "at_least_1"), 0.24, 183,
               "van Dalum et al. 2015 (non-metastatic)", ">= 1 CTC per 30 mL at diagnosis"),
        Target("synchronous_distant", ("synchronous_distant_metastasis",), 0.23, None,
               "SEER (distant stage)", "distant metastasis at diagnosis"),
        Target("nodes_at_diagnosis", (*_NODES, "all"), 0.37, None,
               "SEER (regional stage)", "node-positive at diagnosis"),
    ),
    "lung": (
        Target("synchronous_distant", ("synchronous_distant_metastasis",), 0.51, None,
               "SEER (distant stage)", "distant metastasis at diagnosis"),
        Target("nodes_at_diagnosis", (*_NODES, "all"), 0.21, None,
               "SEER (regional stage)", "node-positive at diagnosis"),
        Target("alive_5_years", (*_SURV, "5y"), 0.06, 1432,
               "Raz et al. 2007 (untreated stage I)", "alive 5 years after diagnosis"),
    ),
    "prostate": (
        Target("ctc_at_diagnosis", ("ctc_per_7_5ml_at_diagnosis", "at_least_1"), 0.075, 65,
               "Zapatero et al. 2020 (localized high-risk)", ">= 1 CTC per 7.5 mL at diagnosis"),
        Target("synchronous_distant", ("synchronous_distant_metastasis",), 0.09, None,
               "SEER (distant stage)", "distant metastasis at diagnosis"),
        Target("nodes_at_diagnosis", (*_NODES, "all"), 0.14, None,
               "SEER (regional stage)", "node-positive at diagnosis"),
        # Johansson et al. 2004: 78.7 % at 15 years, so at least that at 10.
        Target("alive_10_years", (*_SURV, "10y"), 0.787, 223,
               "Johansson et al. 2004 (watchful waiting)", "alive 10 years after diagnosis"),
    ),
}


#: Published shares the calibration does not fit, kept as checks (predictions): the docs'
#: "Population targets" tables set them beside the fitted ones
#: (:mod:`sim.analysis.target_table`).
CHECKS: dict[str, tuple[Target, ...]] = {
    "breast": (
        Target("ctc_at_diagnosis_lucci", ("ctc_per_7_5ml_at_diagnosis", "at_least_1"), 0.24,
               302, "Lucci et al. 2012 (stage I-III)", ">= 1 CTC per 7.5 mL at diagnosis"),
        Target("ctc_at_metastatic_burden", ("ctc_per_7_5ml_at_metastatic_burden",
                                            "at_least_5"), 0.49, 177,
               "Cristofanilli et al. 2004 (measurable metastatic disease)",
               ">= 5 CTC per 7.5 mL, metastatic"),
        Target("nodes_over_50_mm", (*_NODES, "over_50_mm"), 0.70, None,
               "Carter et al. 1989", "node-positive, primary > 50 mm"),
        Target("initiated", ("initiated_at_diagnosis",), 0.65, None,
               "the starting text (60-70 %)", "initiated the metastatic process at diagnosis"),
        Target("alive_10_years", (*_SURV, "10y"), 0.04, 250,
               "Bloom et al. 1962 (untreated)", "alive 10 years after diagnosis"),
    ),
    "colorectal": (
        Target("initiated", ("initiated_at_diagnosis",), 0.65, None,
               "the starting text (60-70 %)", "initiated the metastatic process at diagnosis"),
    ),
    "lung": (
        Target("initiated", ("initiated_at_diagnosis",), 0.65, None,
               "the starting text (60-70 %)", "initiated the metastatic process at diagnosis"),
    ),
    "prostate": (
        Target("ctc_at_metastatic_burden", ("ctc_per_7_5ml_at_metastatic_burden",
                                            "at_least_5"), 0.57, 231,
               "de Bono et al. 2008 (castration-resistant)", ">= 5 CTC per 7.5 mL, metastatic"),
        Target("initiated", ("initiated_at_diagnosis",), 0.65, None,
               "the starting text (60-70 %)", "initiated the metastatic process at diagnosis"),
    ),
}


def targets_for(site: str) -> tuple[Target, ...]:
    """The population targets of a primary site (empty when none is published here)."""
    return POPULATION_TARGETS.get(site, ())


__all__ = ["CHECKS", "POPULATION_TARGETS", "Target", "targets_for"]
