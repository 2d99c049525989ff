"""What a clinic measures in a patient, as sampling from the simulated body.

**Circulating tumour cells per 7.5 mL of blood** (CellSearch, the sample of Cristofanilli et
al. 2004 and Lucci et al. 2012). Cells enter the venous blood at rate ``r`` (per day). The
share retained by the first capillary bed (``circulation.arrest_probability_per_pass``) is
held there within seconds and never reaches an arm vein; the passing cells stay in the blood
for a mean residence time ``tau``. At steady state the blood holds ``r (1 - retained) tau``
passing cells, well mixed (ASSUMPTION) in the blood volume ``V``, so a sample of ``v`` mL
holds a Poisson number of CTCs with mean ``r (1 - retained) tau v / V``. The residence time
is the CTC clearance half-life measured after removal of the primary (Meng et al. 2004:
1-2.4 h; arrest included, not death in the blood alone): ``tau = t_half / ln 2``.

**Disseminated tumour cells in a bone-marrow aspirate** (Braun et al. 2005, NEJM 353:793:
immunocytochemistry of the mononuclear cells of an iliac-crest aspirate). The tumour cells
lodged in the marrow (arrested, solitary, dormant) are well mixed (ASSUMPTION) among the
marrow's nucleated cells; an aspirate of ``n`` cells holds a Poisson number of them, and the
aspirate is positive when it holds at least one (ASSUMPTION: a stained tumour cell is always
seen).

**Regional lymph nodes** are involved when they hold a metastasis of at least 0.2 mm, the
smallest that counts as nodal disease (pN1mi; smaller isolated tumour cells are pN0(i+):
AJCC Cancer Staging Manual, 8th edition, 2017).
"""

from __future__ import annotations

import math

import numpy as np

#: Reference adult blood volume (ICRP Publication 89, 2002; widely quoted, not re-read).
BLOOD_VOLUME_ML: dict[str, float] = {"male": 5300.0, "female": 3900.0}
#: The CellSearch sample (Cristofanilli et al. 2004).
CTC_SAMPLE_ML = 7.5
#: Mononuclear cells screened per marrow aspirate: 2 x 10^6, the standard of the studies
#: pooled by Braun et al. 2005 (e.g. Braun et al. 2000, NEJM 342:525; widely quoted).
MARROW_SAMPLE_CELLS = 2.0e6
#: Nucleated cells of the whole marrow: 10.4-11.1 x 10^9 per kg (Harrison 1962, J Clin Pathol
#: 15:254) x 70 kg.
MARROW_NUCLEATED_CELLS = 7.5e11


#: Smallest nodal metastasis counted as node involvement (pN1mi, AJCC 8th edition).
NODE_METASTASIS_MIN_DIAMETER_MM = 0.2


def ctc_per_sample_expected(entering_per_day: float, half_life_hours: float, sex: str,
                            retained_share: float = 0.0,
                            sample_ml: float = CTC_SAMPLE_ML) -> float:
    """Mean CTCs in a blood sample when ``entering_per_day`` cells enter the venous blood
    and a share ``retained_share`` of them is held by the first capillary bed."""
    residence_days = half_life_hours / math.log(2.0) / 24.0
    passing = entering_per_day * (1.0 - retained_share)
    return passing * residence_days * sample_ml / BLOOD_VOLUME_ML[sex]


def dtc_per_aspirate_expected(marrow_tumour_cells: float,
                              sample_cells: float = MARROW_SAMPLE_CELLS,
                              marrow_cells: float = MARROW_NUCLEATED_CELLS) -> float:
    """Mean tumour cells among the ``sample_cells`` nucleated cells of a marrow aspirate."""
    return marrow_tumour_cells * sample_cells / marrow_cells


def blood_sample(rng: np.random.Generator, entering_per_day: float, half_life_hours: float, sex: str,
                 retained_share: float) -> dict[str, float]:
    """A blood sample now: the CTCs in 7.5 mL (CellSearch) and in 30 mL (four tubes, as
    van Dalum et al. 2015), Poisson around the steady state of ``entering_per_day``, drawn
    from ``rng`` (the patient's measurement stream)."""
    mean = ctc_per_sample_expected(entering_per_day, half_life_hours, sex, retained_share)
    return {"ctc_entering_blood_per_day": float(entering_per_day),
            "ctc_per_7_5ml_expected": float(mean),
            "ctc_per_7_5ml": float(rng.poisson(mean)),
            "ctc_per_30ml": float(rng.poisson(mean * 30.0 / CTC_SAMPLE_ML))}


def marrow_sample(rng: np.random.Generator, marrow_tumour_cells: float) -> dict[str, float]:
    """A bone-marrow aspirate now: the DTCs among its nucleated cells, Poisson, drawn from
    ``rng`` (the patient's measurement stream)."""
    mean = dtc_per_aspirate_expected(marrow_tumour_cells)
    return {"bone_marrow_dtc_cells": float(marrow_tumour_cells),
            "dtc_per_aspirate_expected": float(mean),
            "dtc_per_aspirate": float(rng.poisson(mean))}


__all__ = ["BLOOD_VOLUME_ML", "CTC_SAMPLE_ML", "MARROW_NUCLEATED_CELLS", "MARROW_SAMPLE_CELLS",
           "NODE_METASTASIS_MIN_DIAMETER_MM", "blood_sample", "ctc_per_sample_expected",
           "dtc_per_aspirate_expected", "marrow_sample"]
