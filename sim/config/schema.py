"""The scenario schema: every section, key, unit, allowed range and default, and the
resolved :class:`Scenario` the rest of metasim trusts.

A scenario is data from a person. It is validated once, at the boundary
(:mod:`sim.config.loading`), with pydantic; any problem becomes one
:class:`~sim.config.errors.ScenarioError` whose message names the file (or the ``--set``
override), the dotted key path, the offending value and what is allowed.

Every default below carries its source; ASSUMPTION marks a value the literature does not
give, chosen and named here so that it can be changed from a scenario file.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..biology.anatomy import (
    CAVITIES,
    INJECTION_ENTRIES,
    PRIMARY_SITES,
    ROUTES,
    TARGET_ORGANS,
    VENOUS_ENTRIES,
    Sex,
)
from ..biology.units import diameter_to_cells
from .hypotheses import HYPOTHESES

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
#: The default shedding of a 1 g tumour per day (CALIBRATED to breast CTC counts, Janni et
#: al. 2016; each preset sets its own calibrated value).
SHEDDING_DEFAULT = 1.27e4
NonNegativeFloat = Annotated[float, Field(ge=0.0)]
Rate = Annotated[float, Field(ge=0.0, le=1e6)]
OrganKey = Literal[TARGET_ORGANS]  # type: ignore[valid-type]
#: An organ's soil affinity (relative: the presets scale them to a delivery-weighted mean of
#: 1). ASSUMPTION for the upper bound: the calibrated presets' largest is ~1.6e3; a
#: million-fold soil keeps every hazard (rate x affinity ** strength) finite, where 1e308
#: overflowed to infinity and gave the engines NaN probabilities.
AFFINITY_MAX = 1e6
Affinity = Annotated[float, Field(ge=0.0, le=AFFINITY_MAX)]

#: Default lethal burdens of organ failure (cells of tumour in the organ). Masses from ICRP
#: Publication 89 (2002), the reference adult (mean of the male and female values), at 1e9
#: cells per gram; the lethal shares are ASSUMPTIONS, with these reasons:
#: brain 5e10 (~50 g, ~4 % of 1.4 kg): the skull leaves only a few tens of mL for an added
#: mass before intracranial pressure rises steeply (the Monro-Kellie doctrine); no published
#: lethal volume of brain metastases was found. Lung 6e11 (~55 % of 1.1 kg): patients live
#: after a pneumonectomy, which removes about that share of lung function, so failure needs
#: more than that replaced. Liver 1.2e12 (~75 % of 1.6 kg): a remnant below ~20-25 % of the
#: liver leads to hepatic failure after resection (Kishi et al. 2009, Ann Surg 250:540), and
#: the share of liver replaced predicts survival with untreated colorectal metastases (Stangl
#: et al. 1994, Lancet 343:1405). Bone 8e11 (~75 % of 1.0 kg of red marrow, ICRP 89): marrow
#: failure, counted from the metastases in bone (a primary bone sarcoma grows in one bone and
#: does not count). The liver's lies above the default whole-body burden (1e12), which comes
#: first: it matters only where a scenario raises that.
ORGAN_LETHAL_BURDEN_CELLS: dict[str, float] = {"brain": 5e10, "lung": 6e11, "liver": 1.2e12,
                                               "bone": 8e11}

#: Most steps in one course: at ~1.5 ms a step (the slowest measured, sim.experiments.limits) about
#: 5 minutes per patient. A finer step than that buys nothing (results converge well before).
MAX_STEPS = 200_000


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False,
                              validate_default=True)


def _sums_to_one(name: str, values: Mapping[str, float]) -> None:
    total = sum(values.values())
    if values and not math.isclose(total, 1.0, abs_tol=1e-6):
        parts = " + ".join(f"{k} {v:g}" for k, v in values.items())
        raise ValueError(f"{name} must sum to 1 (got {parts} = {total:g})")


class Subclone(Section):
    """A subclone of the primary and its trait multipliers.

    Each multiplier scales a *hazard* (a rate, or ``-ln(1 - p)`` for a probability), so a
    probability stays in [0, 1] whatever the multiplier: ``p' = 1 - (1 - p) ** m``.
    """

    name: str = "bulk"
    fraction: Probability = 1.0
    shedding: NonNegativeFloat = 1.0
    invasion: NonNegativeFloat = 1.0
    transit_death: NonNegativeFloat = 1.0
    extravasation: NonNegativeFloat = 1.0
    proliferation: NonNegativeFloat = 1.0
    dormancy: NonNegativeFloat = 1.0
    awakening: NonNegativeFloat = 1.0


class Primary(Section):
    site: str = "breast"
    # false: no primary tumour (an injection experiment); ``site`` still sets the body.
    present: bool = True
    # Diameter of the primary when the simulation starts, mm. ASSUMPTION: 10 mm (T1b-c),
    # a tumour just visible on mammography.
    initial_diameter_mm: Annotated[float, Field(ge=0.05, le=300.0)] = 10.0
    # Volume doubling time at the diagnosis size (``diagnosis_diameter_mm``), where clinical
    # series measure it; Gompertz growth is faster below that size and slower above.
    # Breast: 1.7 +/- 0.9 months (Coumans et al. 2013, BMC Cancer 13:283) = 52 days.
    doubling_time_days: Annotated[float, Field(gt=0.0, le=1e5)] = 52.0
    # Gompertz plateau. Norton 1988, Cancer Res 48:7067: N_inf = 3.1e12 cells (breast;
    # widely quoted, primary text not re-read here).
    carrying_capacity_cells: Annotated[float, Field(gt=1.0, le=1e13)] = 3.1e12
    # Cells released per day by a tumour of 1 g (see shedding_mass_exponent). CALIBRATED to
    # CTCs in patients: the breast calibration's value, which gave >= 1 CTC per 7.5 mL at
    # diagnosis in 20.2 % of stage I-III breast cancers (Janni et al. 2016, Clin Cancer Res
    # 22:2583, 3,173 patients); see scenarios/presets/breast.toml. (A growing rat mammary
    # tumour of 2-4 g released 3.2e6 per gram per day into its venous blood: Butler &
    # Gullino 1975, Cancer Res 35:512.)
    shedding_rate_per_gram_per_day: Annotated[float, Field(ge=0.0, le=1e9)] = SHEDDING_DEFAULT
    # Shedding grows as mass ** exponent: 0.663, the fractal dimension of the colonising
    # surface that Iwata, Kawasaki & Shigesada 2000 (J Theor Biol 203:177) fitted to the
    # colony sizes of a human liver (colonisation rate proportional to size^0.663): a
    # tumour sheds from its vascularised surface, not its whole volume. The CTC data agree:
    # calibrated per gram with exponent 1, colorectal primaries (median 40 mm at diagnosis)
    # would shed 10x less per gram than breast primaries (18 mm). Allowed down to 0 (a rate
    # independent of size): Michaelson et al. 2005's spread per cell, falling ~10^5-fold
    # from 0.1 to 12 mm, implies ~0.15; but a primary sheds cells it loses, and below ~0.3
    # a breast primary started at 1 mm (shedding fitted at the diagnosis size) sheds more
    # than it grows and dies out.
    shedding_mass_exponent: Annotated[float, Field(ge=0.0, le=1.5)] = 0.663
    # Seeds lose competence as the shedding tumours (the primary and the macrometastases)
    # grow: a share (cells / seed_competence_reference_cells) ** -exponent of the cells
    # arriving in an organ can found a colony; the rest lodge, sleep and die like the others
    # (a marrow aspirate counts them) but never proliferate or wake. 0 (the default)
    # switches it off. Michaelson et al. 2005 (Br J Cancer 93:1244) count spread events per
    # cell falling ~1e5-fold from 0.1 mm to 12 mm (~1.7e6-fold more cells): with shedding
    # as mass^0.663, an exponent of ~0.5 carries that fall (total spread ~ cells^0.16). The
    # power law is an ASSUMPTION (sim.biology.cascade.competent_seed_share_one).
    seed_competence_exponent: Annotated[float, Field(ge=0.0, le=2.0)] = 0.0
    # Below this many cells every shed cell is competent: 524 cells, a 0.1 mm tumour, the
    # smallest Michaelson et al. 2005 measured (ASSUMPTION: the law is not extrapolated
    # below their data).
    seed_competence_reference_cells: Annotated[float, Field(ge=1.0, le=1e13)] = 524.0
    # Size at which the primary is diagnosed (an event; the course goes on untreated unless
    # an [[intervention]] acts at diagnosis).
    # ~1 cm^3 ~ 1e9 cells ~ 30 doublings from one cell, the classic threshold of clinical
    # detection (widely quoted, e.g. Friberg & Mattson 1997, J Surg Oncol 65:284): a sphere of
    # 1 cm^3 is 12.4 mm across. At least 0.05 mm (~60 cells), the floor of
    # initial_diameter_mm too: the growth rate is fitted at this size (a 1e-308 mm tumour
    # holds no cell, and the fit divided by zero).
    diagnosis_diameter_mm: Annotated[float, Field(ge=0.05, le=300.0)] = 12.4
    # Splits; None = the site's anatomy (sim.biology.anatomy.PRIMARY_SITES).
    routes: dict[Literal[ROUTES], Probability] | None = None  # type: ignore[valid-type]
    venous_drainage: dict[Literal[VENOUS_ENTRIES], Probability] | None = None  # type: ignore[valid-type]
    cavity: dict[Literal[CAVITIES], Probability] | None = None  # type: ignore[valid-type]
    contiguous: dict[OrganKey, NonNegativeFloat] | None = None
    subclones: list[Subclone] = Field(default_factory=lambda: [Subclone()], min_length=1)

    @field_validator("site")
    @classmethod
    def _known_site(cls, v: str) -> str:
        if v not in PRIMARY_SITES:
            close = difflib.get_close_matches(v, list(PRIMARY_SITES), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"unknown primary site{hint}; allowed: "
                             + ", ".join(PRIMARY_SITES))
        return v

    @model_validator(mode="after")
    def _splits(self) -> Primary:
        for name in ("routes", "venous_drainage", "cavity"):
            value = getattr(self, name)
            if value is not None:
                _sums_to_one(f"primary.{name}", value)
        names = [c.name for c in self.subclones]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"primary.subclones: the name {', '.join(map(repr, repeated))} "
                             f"is used more than once; each subclone needs its own name "
                             f"(got {names})")
        _sums_to_one("the fractions of primary.subclones",
                     {c.name: c.fraction for c in self.subclones})
        if diameter_to_cells(self.diagnosis_diameter_mm) >= self.carrying_capacity_cells:
            raise ValueError(
                f"primary.diagnosis_diameter_mm = {self.diagnosis_diameter_mm:g} mm is not "
                f"below primary.carrying_capacity_cells = {self.carrying_capacity_cells:.3g}")
        if self.initial_cells >= self.carrying_capacity_cells:
            raise ValueError(
                f"primary.initial_diameter_mm = {self.initial_diameter_mm:g} mm is "
                f"{self.initial_cells:.3g} cells, not below primary.carrying_capacity_cells "
                f"= {self.carrying_capacity_cells:.3g}")
        return self

    @property
    def initial_cells(self) -> float:
        return diameter_to_cells(self.initial_diameter_mm)


class Patient(Section):
    # None = the site's sex if it has one (prostate: male; ovary, uterus, cervix: female),
    # else female (ICRP 89 reference female flow column).
    sex: Literal["female", "male"] | None = None


class Invasion(Section):
    # Probability that a detached cell crosses the basement membrane and the stroma alive.
    # ASSUMPTION: 0.5 (no per-step figure is published; the cascade's overall efficiency is
    # what the literature constrains, Chambers et al. 2002, Nat Rev Cancer 2:563).
    success_probability: Probability = 0.5


class Circulation(Section):
    """The blood as one compartment with two kinds of tumour cell (derivation in
    docs/model-and-evidence.md, "One blood compartment").

    A share ``arrest_probability_per_pass`` of the cells entering the blood is retained by
    the first capillary bed they meet; the others pass capillaries and circulate until they
    are cleared - by arrest in some bed or by death - with the measured CTC clearance
    half-life. A blood sample finds only passing cells: at steady state the blood holds
    (cells entering per day) x (1 - retained share) x (half-life / ln 2).
    """

    # Share of cells retained by the first capillary bed: arterial blood holds ~12-fold
    # fewer tumour cells than the tumour's venous blood (Butler & Gullino 1975), so
    # 1 - 1/12 are held back by the first bed.
    arrest_probability_per_pass: Probability = 0.917
    # Clearance half-life of passing cells, arrest included: 1-2.4 h after removal of the
    # primary (Meng et al. 2004, Clin Cancer Res 10:8152): midpoint.
    ctc_half_life_hours: Annotated[float, Field(gt=0.0, le=1e4)] = 1.7
    # Of that clearance, the share that is death in the blood (the rest is arrest).
    # ASSUMPTION 0.5: no measurement separates the two for circulating human cells; the
    # early steps are efficient for injected cells (> 80 % survive to extravasate, Koop et
    # al. 1995; 87 % arrest, Luzzi 1998), which are mostly retained cells.
    transit_death_fraction: Probability = 0.5
    # One full circulation: blood volume / cardiac output = 5.3 L / 6.5 L/min (ICRP 89).
    pass_time_minutes: Annotated[float, Field(gt=0.0, le=60.0)] = 0.8


class Lymph(Section):
    # ASSUMPTIONS: nodes filter about half of the cells that reach them; a fifth die per
    # node group passed.
    node_arrest_probability: Probability = 0.5
    death_probability_per_node: Probability = 0.2
    # The regional (sentinel) nodes' own colonisation kinetics, whatever the hypothesis:
    # multiplies the proliferation and awakening hazards of cells lodged in the regional
    # nodes (on top of the soil's affinity). The regional nodes are where lymph carries
    # cells first and where they grow well (Pereira et al. 2018, Science 359:1403; Brown
    # et al. 2018, Science 359:1408); involvement at diagnosis rises with the primary's size
    # (Carter et al. 1989). The distant nodes, reached through the thoracic duct and the
    # blood, keep the kinetics of a distant organ. ASSUMPTION: 1 (the organs' kinetics) by
    # default; the presets that set it fit it to node involvement at diagnosis.
    regional_node_colonization_multiplier: Annotated[float, Field(ge=0.0, le=1e4)] = 1.0


class Cavity(Section):
    # ASSUMPTIONS: of cells shed into a body cavity, 30 % implant on a serosal surface, 10 %
    # drain into the lymph, the rest die (anoikis in the fluid).
    implantation_probability: Probability = 0.3
    lymphatic_drainage_probability: Probability = 0.1

    @model_validator(mode="after")
    def _total(self) -> Cavity:
        if self.implantation_probability + self.lymphatic_drainage_probability > 1.0:
            raise ValueError("cavity.implantation_probability + "
                             "cavity.lymphatic_drainage_probability must be <= 1")
        return self


class Clusters(Section):
    # Clusters were ~2.6 % of CTC events in Aceto et al. 2014, Cell 158:1110 (mouse; widely
    # quoted, not re-read here).
    fraction_of_shedding_events: Probability = 0.026
    # ASSUMPTION: 5 cells (clusters are 2 to ~50 cells, "typically fewer than 10").
    cells_per_cluster: Annotated[int, Field(ge=2, le=1000)] = 5
    # ASSUMPTION: a cluster's cells die in transit at half the single-cell rate (shielded
    # from anoikis).
    transit_death_multiplier: NonNegativeFloat = 0.5
    # Multiplies the proliferation hazard of a lodged cluster. Together with the lower
    # extinction of a colony founded by several cells this makes a cluster ~20-40x more
    # likely than a single cell to found a surviving micrometastasis, inside the 23-50x
    # metastatic potential Aceto et al. 2014 measured (CALIBRATION to that figure).
    proliferation_multiplier: NonNegativeFloat = 8.0


class Extravasation(Section):
    # Luzzi et al. 1998, Am J Pathol 153:865: ~87 % of cells arrested in the liver at 90 min
    # and ~83 % extravasated by day 3, so 95 % of arrested cells leave the vessel, nearly all
    # within 3 days: competing hazards 0.95/day (out) and 0.05/day (death).
    rate_per_day: Rate = 0.95
    intravascular_death_rate_per_day: Rate = 0.05


class Colonization(Section):
    # Fate of a solitary extravasated cell, competing hazards per day. Luzzi 1998: of
    # injected cells, 36 % solitary dormant at day 13 and ~2.5 % in micrometastases at day 3,
    # so of extravasated cells ~43 % go dormant and the rest die within days.
    solitary_death_rate_per_day: Rate = 0.54
    dormancy_rate_per_day: Rate = 0.43
    # Start of proliferation of a solitary cell: 0.03/day. In Luzzi 1998 ~2.5 % of injected
    # B16F1 cells had formed micrometastases by day 3, ~3 % of the extravasated ones; against
    # the competing hazards above, p / (0.54 + 0.43 + p) = 0.03 gives p ~ 0.03/day.
    proliferation_rate_per_day: Rate = 0.03
    # Colonisation competence: the multiplier of the proliferation and awakening hazards
    # that carries what separates human disseminated carcinoma cells from B16F1 melanoma
    # cells in a mouse liver (the one fitted constant of the colonisation steps). Luzzi's
    # cells found macroscopic metastases at ~2e-4 per injected cell; human breast cancer
    # makes ~1 metastasis per 6e7 disseminated cells (Coumans et al. 2013, BMC Cancer
    # 13:283), so competence is of the order of 1e-4 to 1e-6 - the range of the frequency of
    # tumour-initiating cells among human cancer cells in limiting-dilution assays in
    # NOD/SCID mice (~1 in 10^6 for melanoma, Quintana et al. 2008, Nature 456:593; widely
    # quoted). CALIBRATED per preset (metasim calibrate), with the soil affinities. When seeds
    # lose competence with the tumours' size (primary.seed_competence_exponent), this is the
    # competence of the seeds a tumour of 1e9 cells sheds (sim.biology.soil.seed_competence).
    competence: Annotated[float, Field(ge=0.0, le=1e6)] = 1e-5
    # Death of dormant cells: 0.003/day (half-life ~230 days). Of breast patients with
    # DTC-positive marrow at surgery, 19 % were still positive 12-24 months later (35/190;
    # Hartkopf et al. 2014, Breast Cancer Res Treat, doi 10.1007/s10549-014-2853-6):
    # -ln(0.19) / 548 days. Measured under adjuvant therapy and including cells falling
    # below detection, so an upper bound for untreated dormant cells.
    dormant_death_rate_per_day: Rate = 3e-3
    # Re-awakening of a dormant cell: ASSUMPTION a tenth of the solitary proliferation
    # hazard (mean sleep ~1 year against death at 0.003/day: no human figure is published).
    awakening_rate_per_day: Rate = 3e-3
    # Dormant units one organ can hold (each unit needs a niche; a unit falling dormant
    # when the organ's niches are full dies). Disseminated cells compete for the
    # haematopoietic stem-cell niche (Shiozawa et al. 2011, J Clin Invest 121:1298), which
    # holds only ~10^4 stem cells (Abkowitz et al. 2002, Blood 100:2665), but Braun et al.
    # 2005's 30.6 % positive marrow aspirates (2e6 of ~7.5e11 marrow cells sampled) imply
    # 10^5-10^6 DTCs in a positive patient, so the dormant niche is wider than the stem-cell
    # niche. ASSUMPTION: 10^7 per organ (~10 mg of cells), above every measured DTC load; it
    # stops the unbounded pile-up (1.6e11 cells, ~160 g, at death without a limit).
    dormant_niche_capacity: Annotated[int, Field(ge=0, le=10**12)] | None = 10**7
    # Avascular micrometastasis, a linear birth-death process. ASSUMPTIONS: birth 0.35/day
    # (cell cycle ~2 days), death 0.30/day: net doubling ~14 days, and 6 in 7 lineages founded
    # by one cell die out (most micrometastases vanish, Luzzi 1998).
    micrometastasis_birth_rate_per_day: Rate = 0.35
    micrometastasis_death_rate_per_day: Rate = 0.30
    # Folkman 1972, Ann Surg 175:409: without new vessels tumours stay "perhaps 2-3 mm".
    avascular_diameter_mm: Annotated[float, Field(gt=0.0, le=100.0)] = 2.0
    # ASSUMPTION: at the avascular limit the angiogenic switch comes at 1/365 per day
    # (mean one year of angiogenic dormancy).
    angiogenic_switch_rate_per_day: Rate = 1.0 / 365.0
    # Gompertz growth of vascularised metastases: Iwata, Kawasaki & Shigesada 2000,
    # J Theor Biol 203:177 (liver metastases of HCC): a = 0.00286/day, plateau 7.3e10.
    macrometastasis_gompertz_rate_per_day: Rate = 0.00286
    macrometastasis_carrying_capacity_cells: Annotated[float, Field(gt=1.0, le=1e13)] = 7.3e10
    # Imaging detects metastases from ~5 mm (CT: Henschke et al. 2004, Radiology 231:164;
    # Xie et al. 2013, Eur Radiol 23:139).
    detectable_diameter_mm: Annotated[float, Field(gt=0.0, le=200.0)] = 5.0
    # Smallest metastasis counted "at autopsy" (the site frequencies compared with autopsy
    # tables): ASSUMPTION 1 mm, a nodule found at gross examination. Autopsy series such as
    # diSibio & French 2008 report metastases far below the imaging threshold above.
    autopsy_detectable_diameter_mm: Annotated[float, Field(gt=0.0, le=200.0)] = 1.0

    @model_validator(mode="after")
    def _sizes(self) -> Colonization:
        if diameter_to_cells(self.avascular_diameter_mm) >= \
                self.macrometastasis_carrying_capacity_cells:
            raise ValueError("colonization.avascular_diameter_mm must correspond to fewer "
                             "cells than colonization.macrometastasis_carrying_capacity_cells")
        return self


class Tropism(Section):
    # Where affinities come from when not given: an autopsy table (sim.biology.reference).
    source: Literal["disibio2008"] = "disibio2008"
    # 0 = neutral soil, 1 = the affinities as derived; values in between interpolate on a
    # log scale (affinity ** strength).
    strength: Annotated[float, Field(ge=0.0, le=5.0)] = 1.0
    # Explicit affinities (multiplying the proliferation and awakening hazards in each organ)
    # used with anatomical delivery; missing organs come from the source table.
    affinity: dict[OrganKey, Affinity] = Field(default_factory=dict)
    # The same for uniform delivery (Paget's pure form needs its own fit).
    affinity_uniform_delivery: dict[OrganKey, Affinity] = Field(default_factory=dict)




class Injection(Section):
    """Tumour cells put straight into a vessel or cavity, as in an experiment.

    ``entry`` is where they start: ``portal`` (mesenteric or portal vein: liver first),
    ``caval`` (tail vein or any systemic vein: lungs first), ``pulmonary_vein`` (left
    ventricle / arterial: systemic organs first), ``vertebral``, ``lymph``, ``peritoneal``,
    ``pleural``. Injected cells skip detachment and invasion.
    """

    entry: Literal[INJECTION_ENTRIES]  # type: ignore[valid-type]
    cells: Annotated[int, Field(ge=1, le=10**12)]
    day: Annotated[float, Field(ge=0.0, le=36_500.0)] = 0.0
    subclone: Annotated[int, Field(ge=0)] = 0


KILL_COMPARTMENTS = ("circulating", "arrested", "solitary", "dormant", "micrometastasis",
                     "macrometastasis")
#: Default kill rates of systemic therapy, per day, by compartment. ASSUMPTIONS (no per-stage
#: figures are published): proliferating cells are killed by a constant fraction per day
#: (the log-kill hypothesis, Skipper et al. 1964, Cancer Chemother Rep 35:1); dormant,
#: non-dividing cells are largely spared (Aguirre-Ghiso 2007, Nat Rev Cancer 7:834; widely
#: quoted): 0.02/day over 6 months removes ~97 % of a macrometastasis (1.6 logs) and ~17 %
#: of dormant cells at 0.001/day.
DEFAULT_KILL_RATE_PER_DAY = {"circulating": 0.0, "arrested": 0.05, "solitary": 0.05,
                             "dormant": 0.001, "micrometastasis": 0.05,
                             "macrometastasis": 0.02}
SYMPTOMS = {
    "brain": "headache, seizures, vision problems", "liver": "loss of appetite, jaundice",
    "bone": "bone pain, fracture risk", "lung": "breathlessness",
    "pleura": "breathlessness, pleural fluid", "peritoneum": "abdominal swelling (ascites)",
    "adrenal": "usually silent; adrenal insufficiency when both are replaced",
    "skin": "a lump in the skin", "regional_lymph_nodes": "swollen lymph nodes",
    "distant_lymph_nodes": "swollen lymph nodes",
}


class Intervention(Section):
    """A treatment on the patient's timeline, at a ``day`` or at an event (``at``).

    ``kind``: ``resection`` of the primary (``fraction_removed``); ``systemic`` therapy
    (``kill_rate_per_day`` by compartment for ``duration_days``); ``local`` therapy of the
    metastases in one ``organ`` (surgery, radiotherapy, radiofrequency ablation:
    ``efficacy`` = fraction of their cells killed, ``target`` = the detectable ones or all);
    ``growth_inhibition`` (every growth rate x ``growth_multiplier`` for ``duration_days``).
    """

    kind: Literal["resection", "systemic", "local", "growth_inhibition"]
    name: str = ""
    day: Annotated[float, Field(ge=0.0, le=36_500.0)] | None = None
    # diagnosis: when the primary reaches primary.diagnosis_diameter_mm; first_detection:
    # when the first metastasis becomes detectable on imaging.
    at: Literal["diagnosis", "first_detection"] | None = None
    delay_days: Annotated[float, Field(ge=0.0, le=36_500.0)] = 0.0
    fraction_removed: Probability = 1.0
    duration_days: Annotated[float, Field(gt=0.0, le=36_500.0)] = 180.0
    kill_rate_per_day: dict[Literal[KILL_COMPARTMENTS], Rate] = Field(  # type: ignore[valid-type]
        default_factory=dict)
    organ: OrganKey | None = None
    efficacy: Probability = 0.9
    target: Literal["detectable", "all"] = "detectable"
    growth_multiplier: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5

    @model_validator(mode="after")
    def _when_and_what(self) -> Intervention:
        if (self.day is None) == (self.at is None):
            raise ValueError("give either day = <days> or at = \"diagnosis\" | "
                             "\"first_detection\" (one of them)")
        if self.kind == "local" and self.organ is None:
            raise ValueError("a local intervention needs organ = <target organ>")
        if self.kind != "local" and self.organ is not None:
            raise ValueError(f"organ is only for kind = \"local\" (not {self.kind!r})")
        return self

    def kill_rates(self) -> dict[str, float]:
        return {**DEFAULT_KILL_RATE_PER_DAY, **self.kill_rate_per_day}


class Clinical(Section):
    # An organ's metastases cause symptoms once they hold this many cells. ASSUMPTION:
    # ~1e10 cells (~10 g), a burden that typically declares itself clinically.
    symptom_burden_cells: Annotated[float, Field(gt=1.0, le=1e13)] = 1e10
    # A blood sample is taken when the metastases outside the regional nodes first hold this
    # many cells: the measurable, progressing metastatic disease of the CTC cohorts
    # (Cristofanilli et al. 2004: women starting a new line of therapy for measurable
    # metastatic breast cancer; de Bono et al. 2008: castration-resistant prostate cancer).
    # ASSUMPTION: 1e10 cells (~10 g, a few metastases of 2-3 cm); neither paper gives the
    # burden. The sample at the first detectable distant metastasis is kept beside it.
    metastatic_sample_burden_cells: Annotated[float, Field(gt=1.0, le=1e13)] = 1e10


class Assay(Section):
    # Days at which the fates of injected cells are reported in summary.json ("assay").
    report_days: list[Annotated[float, Field(ge=0.0, le=36_500.0)]] = Field(default_factory=list)


class Simulation(Section):
    dt_days: Annotated[float, Field(gt=0.0, le=30.0)] = 1.0
    horizon_days: Annotated[float, Field(gt=0.0, le=36_500.0)] = 3650.0
    # True: agents carry a count of identical cells; False: one agent per cell (reference).
    aggregate: bool = True
    seed: Annotated[int, Field(ge=0)] | None = None
    replicates: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    # "absorbing": one multinomial draw over the exact absorption probabilities;
    # "walk": the same chain pass by pass (classroom view, tests).
    circulation: Literal["absorbing", "walk"] = "absorbing"
    # Which engine simulates the patients: "mesa" (the Mesa model, one patient at a time:
    # single-patient inspection, the classroom app, the single-cell reference) or
    # "population" (many patients at once, the same biology: sim/engine/population.py).
    # Unset: the command's choice (the population engine for two patients or more when the
    # scenario allows it; docs/explanation/design-decisions.md, "Which engine").
    engine: Literal["mesa", "population"] | None = None
    # The course ends when primary + metastases reach this many cells (~1 kg; widely quoted
    # as the lethal tumour burden, e.g. Norton 1988).
    lethal_burden_cells: Annotated[float, Field(gt=1.0, le=1e13)] = 1e12
    # Organ failure: the course also ends when the tumour in one organ (its metastases, and
    # the primary if it grows there) reaches that organ's lethal burden. Organs listed here
    # replace their defaults (ORGAN_LETHAL_BURDEN_CELLS, whose comment gives the sources),
    # the others keep them; an organ with no lethal burden fails only through the whole-body
    # one.
    organ_lethal_burden_cells: dict[OrganKey, Annotated[float, Field(gt=1.0, le=1e13)]] = \
        Field(default_factory=lambda: dict(ORGAN_LETHAL_BURDEN_CELLS))

    @field_validator("organ_lethal_burden_cells", mode="before")
    @classmethod
    def _keep_default_organs(cls, value: Any) -> Any:
        """A scenario's organs replace their defaults; the other defaults stay (so that
        ``metasim params`` and scenario.json show every burden in use)."""
        return {**ORGAN_LETHAL_BURDEN_CELLS, **value} if isinstance(value, dict) else value
    # Bounds (shedding <= 1e9 /g/day, burden <= 1e13 cells = 10 kg, horizon <= 100 years)
    # keep every cell count below 2^63; at most MAX_STEPS steps keep a run finite.

    @property
    def organ_lethal_cells(self) -> dict[str, float]:
        """Each organ's lethal burden (the defaults, with the scenario's own replacing them)."""
        return dict(self.organ_lethal_burden_cells)

    @property
    def n_steps(self) -> int:
        """Steps of one full course, ``ceil(horizon / dt)``: the day is always steps x dt."""
        return max(1, math.ceil(self.horizon_days / self.dt_days - 1e-9))

    @model_validator(mode="after")
    def _steps(self) -> Simulation:
        steps = self.horizon_days / self.dt_days
        if steps > MAX_STEPS:
            minutes = steps * 1.5e-3 / 60
            raise ValueError(f"simulation.horizon_days / simulation.dt_days = {_count(steps)} "
                             f"steps (about {_count(minutes)} min per patient at ~1.5 ms a "
                             f"step); at most {MAX_STEPS:,} are allowed (about "
                             f"{MAX_STEPS * 1.5e-3 / 60:.0f} min): raise simulation.dt_days")
        return self


LogSpread = Annotated[float, Field(ge=0.0, le=3.0)]


class Population(Section):
    """How patients differ. Each patient draws its own value of these parameters from a
    log-normal distribution whose median is the scenario's value (``primary.*``; for
    colonisation, a multiplier of median 1 on the competence) and whose spread is the
    standard deviation of the natural log given here (0: every patient has the scenario's
    value). The draws come first from the patient's
    own stream, so every hypothesis of a comparison sees the same patients."""

    # false: every patient is the scenario's median patient (teaching one patient).
    heterogeneity: bool = True
    # Spread of primary.doubling_time_days. ASSUMPTION 1.0 where a preset gives no source:
    # the lower end of the measured spreads (colorectal 0.95, Burke et al. 2020; breast 1.26,
    # Weedon-Fekjaer et al. 2008; prostate 1.55, Schmid et al. 1993).
    doubling_time_log_sd: LogSpread = 1.0
    # Spread of primary.shedding_rate_per_gram_per_day. ASSUMPTION 1.0: no measurement of
    # shedding per gram across patients; with the spread of sizes at diagnosis it gives CTC
    # counts a log-SD of ~2, below the ~3.5 that the CTC counts of metastatic breast cancer
    # imply (70 % >= 1 and 49 % >= 5 per 7.5 mL, Cristofanilli et al. 2004, a spread that
    # includes their differences in tumour burden).
    shedding_log_sd: LogSpread = 1.0
    # Spread of primary.diagnosis_diameter_mm (the size at which the primary is found; the
    # doubling time keeps its reference at the scenario's diagnosis size). ASSUMPTION 0.4
    # where a preset gives no source: a quarter of tumours below 0.76x and a quarter above
    # 1.3x the median size.
    diagnosis_diameter_log_sd: LogSpread = 0.4
    # Spread of the colonisation competence: one multiplier per patient on the proliferation
    # and awakening hazards of its lodged cells. ASSUMPTION 0 (no evidence of its spread).
    colonization_log_sd: LogSpread = 0.0
    # Also run each diagnosed patient's twin with the primary removed at diagnosis and
    # nothing else done, to tell whether the patient had "initiated the metastatic process"
    # by then (doubles the cost of a course; summary.json population.initiated_at_diagnosis).
    assess_initiated: bool = False
    # The population engine advances the cells lodged in organs from one event to the next
    # (exact k-step draws; the primary loses its shed cells as a Poisson count drawn apart
    # from their fates, a correlation below 1e-7 of its size). true: one step at a time, the
    # primary losing exactly the drawn cells - the reference, several times slower.
    daily_steps: bool = False

    @property
    def spreads(self) -> tuple[float, float, float, float]:
        """The four log-SDs in the order the patient's draws are made."""
        return (self.doubling_time_log_sd, self.shedding_log_sd,
                self.diagnosis_diameter_log_sd, self.colonization_log_sd)

    @property
    def varies(self) -> bool:
        """Patients differ: heterogeneity on and some spread above 0."""
        return self.heterogeneity and any(v > 0 for v in self.spreads)


class Scenario(Section):
    """A fully validated scenario. Build one with :func:`load_scenario` or :func:`make_scenario`."""

    description: str = ""
    # A short note for the classroom app: what to look for when this scenario runs.
    what_to_look_for: str = ""
    hypothesis: Literal["ewing", "paget", "combined", "null"] = "combined"
    delivery: Literal["anatomical", "uniform"] | None = None
    soil: Literal["neutral", "tropism"] | None = None
    patient: Patient = Field(default_factory=Patient)
    primary: Primary = Field(default_factory=Primary)
    invasion: Invasion = Field(default_factory=Invasion)
    circulation: Circulation = Field(default_factory=Circulation)
    lymph: Lymph = Field(default_factory=Lymph)
    cavity: Cavity = Field(default_factory=Cavity)
    clusters: Clusters = Field(default_factory=Clusters)
    extravasation: Extravasation = Field(default_factory=Extravasation)
    colonization: Colonization = Field(default_factory=Colonization)
    tropism: Tropism = Field(default_factory=Tropism)
    population: Population = Field(default_factory=Population)
    simulation: Simulation = Field(default_factory=Simulation)
    injection: list[Injection] = Field(default_factory=list)
    intervention: list[Intervention] = Field(default_factory=list)
    clinical: Clinical = Field(default_factory=Clinical)
    assay: Assay = Field(default_factory=Assay)

    @model_validator(mode="after")
    def _resolve(self) -> Scenario:
        # ``hypothesis`` names a cell of the delivery x soil table; an explicit ``delivery``
        # or ``soil`` takes precedence and the hypothesis is renamed after the cell reached.
        d0, s0 = HYPOTHESES[self.hypothesis]
        delivery = self.delivery or d0
        soil = self.soil or s0
        name = next(h for h, cell in HYPOTHESES.items() if cell == (delivery, soil))
        object.__setattr__(self, "delivery", delivery)
        object.__setattr__(self, "soil", soil)
        object.__setattr__(self, "hypothesis", name)
        site = PRIMARY_SITES[self.primary.site]
        if site.sex is not None and self.patient.sex not in (None, site.sex):
            raise ValueError(f"patient.sex = {self.patient.sex!r} is impossible for a "
                             f"{site.label} primary (needs {site.sex!r})")
        if self.circulation.transit_death_fraction == 1.0 and \
                self.circulation.arrest_probability_per_pass < 1.0:
            multipliers = [c.transit_death for c in self.primary.subclones]
            multipliers += [c.transit_death * self.clusters.transit_death_multiplier
                            for c in self.primary.subclones]
            if min(multipliers) == 0.0:
                raise ValueError("with circulation.transit_death_fraction = 1 (passing cells "
                                 "are cleared only by death) a transit death multiplier of 0 "
                                 "(primary.subclones.*.transit_death or "
                                 "clusters.transit_death_multiplier) leaves cells circulating "
                                 "forever; lower the fraction or make the multiplier positive")
        for i, inj in enumerate(self.injection):
            if inj.subclone >= len(self.primary.subclones):
                raise ValueError(f"injection.{i}.subclone = {inj.subclone}: there are only "
                                 f"{len(self.primary.subclones)} subclone(s)")
            if inj.day > self.simulation.horizon_days:
                raise ValueError(f"injection.{i}.day = {inj.day:g} is after "
                                 f"simulation.horizon_days = {self.simulation.horizon_days:g}")
        if self.assay.report_days and not self.injection:
            raise ValueError("assay.report_days reports on injected cells: add an [[injection]]")
        blockers = self.population_engine_blockers()
        if self.simulation.engine == "population" and blockers:
            raise ValueError('simulation.engine = "population" does not run '
                             + "; ".join(blockers) + ': use simulation.engine = "mesa"')
        routes = self.primary.routes or site.routes
        contiguous = self.primary.contiguous if self.primary.contiguous is not None \
            else site.contiguous
        present = {o: w for o, w in contiguous.items() if self.sex == "female" or o != "ovary"}
        if routes.get("contiguous", 0.0) > 0 and sum(present.values()) <= 0:
            raise ValueError(
                f"primary.routes.contiguous = {routes['contiguous']:g} but primary.contiguous "
                f"names no organ of this body with a positive weight (got {dict(contiguous)})")
        if routes.get("cavity", 0.0) > 0 and self.primary.cavity is None and not site.cavity:
            raise ValueError(f"primary.routes.cavity = {routes['cavity']:g} but the "
                             f"{site.label} has no body cavity; set primary.cavity, e.g. "
                             "{ peritoneal = 1.0 }")
        return self

    def population_engine_blockers(self) -> list[str]:
        """What in this scenario only the Mesa engine runs (empty: both engines run it)."""
        out = []
        if self.injection:
            out.append("injection experiments ([[injection]])")
        if self.simulation.circulation != "absorbing":
            out.append('simulation.circulation = "walk"')
        if not self.simulation.aggregate:
            out.append("simulation.aggregate = false (the single-cell reference)")
        return out

    @property
    def sex(self) -> Sex:
        return self.patient.sex or PRIMARY_SITES[self.primary.site].sex or "female"

    def to_input(self) -> dict[str, Any]:
        """Plain data that validates back to this scenario and takes overrides naturally.

        After validation ``hypothesis`` names the delivery x soil cell, so ``delivery`` and
        ``soil`` are left out: an override of ``hypothesis`` then moves both.
        """
        data = self.model_dump()
        data.pop("delivery")
        data.pop("soil")
        return data

    def with_hypothesis(self, hypothesis: str) -> Scenario:
        """The same scenario under another hypothesis (delivery and soil follow it)."""
        from .loading import make_scenario

        return make_scenario(self.to_input(), [("hypothesis", hypothesis)])

    def resolved_dict(self) -> dict[str, Any]:
        """Everything, defaults included, with the site's anatomy filled in."""
        data = self.model_dump(mode="json")
        site = PRIMARY_SITES[self.primary.site]
        p = data["primary"]
        p["routes"] = p["routes"] or dict(site.routes)
        p["venous_drainage"] = p["venous_drainage"] or dict(site.venous_drainage)
        p["cavity"] = p["cavity"] or dict(site.cavity)
        p["contiguous"] = p["contiguous"] or dict(site.contiguous)
        data["patient"]["sex"] = self.sex
        return data


def _count(x: float) -> str:
    """A large count for a message: with thousands separators, or 1.2e+300 when huge."""
    return f"{x:,.0f}" if x < 1e12 else f"{x:.3g}"
