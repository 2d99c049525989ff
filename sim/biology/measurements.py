"""What a clinic measures in a patient, as sampling from the simulated body.

**Circulating tumour cells per 7.5 mL of blood** (CellSearch, the sample of Cristofanilli et
al. 2004 and Lucci et al. 2012). Cells entering the venous blood at rate ``r`` (per day) stay
in the blood for a mean residence time ``tau``; at steady state the blood holds ``r * tau``
of them, well mixed (ASSUMPTION) in the blood volume ``V``, so a sample of ``v`` mL holds a
Poisson number of CTCs with mean ``r * tau * v / V``. The residence time comes from the CTC
half-life measured after removal of the primary (Meng et al. 2004: 1-2.4 h), which is a
clearance half-life - arrest in capillary beds included, not death in the blood alone - so
``tau = t_half / ln 2`` (``circulation.ctc_half_life_hours``).
"""

from __future__ import annotations

import math

#: Reference adult blood volume (ICRP Publication 89, 2002; widely quoted, not re-read).
BLOOD_VOLUME_ML: dict[str, float] = {"male": 5300.0, "female": 3900.0}
#: The CellSearch sample (Cristofanilli et al. 2004).
CTC_SAMPLE_ML = 7.5


def ctc_per_sample_expected(entering_per_day: float, half_life_hours: float, sex: str,
                            sample_ml: float = CTC_SAMPLE_ML) -> float:
    """Mean CTCs in a blood sample when ``entering_per_day`` cells enter the venous blood."""
    residence_days = half_life_hours / math.log(2.0) / 24.0
    return entering_per_day * residence_days * sample_ml / BLOOD_VOLUME_ML[sex]


__all__ = ["BLOOD_VOLUME_ML", "CTC_SAMPLE_ML", "ctc_per_sample_expected"]
