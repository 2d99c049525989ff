"""Organs, blood flow, drainage of each primary site, and the circulation chain.

The body is a set of organs joined by blood vessels, lymphatics and body cavities. A
tumour cell that enters a vessel travels until it dies, or arrests in a capillary bed (or
lymph node, or serosal surface), or passes on. This is an absorbing Markov chain:

* transient states are conduits (the caval veins, the portal vein, the arterial tree, the
  vertebral venous plexus, the lymph, the body cavities) and capillary beds (one per organ);
* absorbing states are ``arrest:<organ>`` (the cell lodges in that organ) and
  ``death:<route>`` (the cell dies in transit: ``blood``, ``lymph`` or ``cavity``).

:func:`build_chain` builds the chain for a scenario; :meth:`CirculationChain.absorption`
gives the exact absorption probabilities ``B = (I - Q)^-1 R`` and :meth:`CirculationChain.walk`
moves a cohort pass by pass with multinomial draws. Both describe the same chain: the tests
check that they agree.

Routing rules (standard anatomy; docs/references.md §3):

* caval-draining organs -> right heart -> the **lungs are the first capillary bed**;
* stomach, intestines, pancreas and spleen -> portal vein -> the **liver is the first bed**;
* lung primaries -> pulmonary veins -> left heart -> the **systemic organs first**, in
  proportion to cardiac output;
* prostate and breast veins connect to Batson's vertebral venous plexus -> **spine** without
  passing the lungs (Batson 1940, Ann Surg 112:138);
* lymph: regional nodes -> distant nodes -> thoracic duct -> subclavian vein -> lungs.

Blood-flow fractions are ICRP Publication 89 (2002), Table 2.40, reference adult at rest
(cardiac output 6.5 L/min male, 5.9 L/min female); underlying review Williams & Leggett 1989,
Clin Phys Physiol Meas 10:187.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Literal

import numpy as np

from .reference import ICRP89_FLOW
from .units import step_probability

Sex = Literal["female", "male"]

# --------------------------------------------------------------------------------------
# Organs
# --------------------------------------------------------------------------------------

ICRP89 = "ICRP Publication 89 (2002), Table 2.40"

#: How blood leaving an organ's capillary bed travels on.
VenousReturn = Literal["caval", "portal", "arterial"]


@dataclass(frozen=True)
class Organ:
    """An organ in which tumour cells can lodge.

    Parameters
    ----------
    key
        Stable lower_snake_case key used in scenarios and outputs.
    label
        Human-readable name.
    flow_percent_male, flow_percent_female
        Share of resting cardiac output reaching the organ through its arteries, in percent.
    venous_return
        Where blood leaving the organ's capillary bed goes: ``"caval"`` (to the right heart
        and the lungs), ``"portal"`` (to the liver), ``"arterial"`` (lung: to the left heart).
    source
        Citation or named assumption for the flow figures.
    """

    key: str
    label: str
    flow_percent_male: float
    flow_percent_female: float
    venous_return: VenousReturn
    source: str

    def flow_percent(self, sex: Sex) -> float:
        return self.flow_percent_female if sex == "female" else self.flow_percent_male


def _icrp(tissue: str, share: float = 1.0) -> tuple[float, float]:
    """(male, female) percent of cardiac output from the ICRP 89 table (sim.biology.reference)."""
    male, female = ICRP89_FLOW.rows[tissue]
    return male * share, female * share


# The serosal surfaces are not listed separately in ICRP 89; their shares are taken out of
# "other" and are a named ASSUMPTION (small: these surfaces are mostly reached through the
# body cavities, not the arteries).
_PLEURA = (0.1, 0.1)
_PERITONEUM = (0.2, 0.2)
_ASSUMED_FROM_OTHER = "ASSUMPTION: share of ICRP 89 'other tissue'"
_other = tuple(o + b - pl - pe for o, b, pl, pe in zip(
    _icrp("other"), _icrp("urinary bladder"), _PLEURA, _PERITONEUM, strict=True))
# Testes have no organ here: their flow joins "other" in a male body.
_other = (_other[0] + _icrp("gonads")[0], _other[1])

_ORGAN_LIST: tuple[Organ, ...] = (
    # ICRP 89 gives 1.7 % for all lymph nodes; the split between regional and distant nodes
    # is an ASSUMPTION (half each).
    Organ("regional_lymph_nodes", "regional lymph nodes", *_icrp("lymph nodes", 0.5), "caval",
          f"{ICRP89} (lymph nodes, split half/half: ASSUMPTION)"),
    Organ("distant_lymph_nodes", "distant lymph nodes", *_icrp("lymph nodes", 0.5), "caval",
          f"{ICRP89} (lymph nodes, split half/half: ASSUMPTION)"),
    # Bronchial (systemic) supply only; the lungs also receive the whole cardiac output
    # through the pulmonary artery, which the chain models as the first bed after the veins.
    Organ("lung", "lung", *_icrp("lungs (bronchial)"), "arterial", f"{ICRP89} (bronchial)"),
    # Hepatic artery only; the portal flow arrives through the gut organs below.
    Organ("liver", "liver", *_icrp("liver, hepatic artery"), "caval", f"{ICRP89} (hepatic artery)"),
    Organ("bone", "bone (skeleton incl. red marrow)", *_icrp("skeleton"), "caval", ICRP89),
    Organ("brain", "brain", *_icrp("brain"), "caval", ICRP89),
    Organ("adrenal", "adrenal glands", *_icrp("adrenals"), "caval", ICRP89),
    Organ("kidney", "kidneys", *_icrp("kidneys"), "caval", ICRP89),
    Organ("spleen", "spleen", *_icrp("spleen"), "portal", ICRP89),
    Organ("skin", "skin", *_icrp("skin"), "caval", ICRP89),
    Organ("pleura", "pleura", *_PLEURA, "caval", _ASSUMED_FROM_OTHER),
    Organ("peritoneum", "peritoneum", *_PERITONEUM, "caval", _ASSUMED_FROM_OTHER),
    # ICRP 89 gonads (ovaries 0.02 %); no ovary in a male body.
    Organ("ovary", "ovaries", 0.0, _icrp("gonads")[1], "caval", f"{ICRP89} (gonads)"),
    Organ("pancreas", "pancreas", *_icrp("pancreas"), "portal", ICRP89),
    Organ("heart", "heart", *_icrp("heart (coronary)"), "caval", f"{ICRP89} (coronary)"),
    Organ("thyroid", "thyroid", *_icrp("thyroid"), "caval", ICRP89),
    Organ("stomach", "stomach and oesophagus", *_icrp("stomach and oesophagus"), "portal", ICRP89),
    Organ("small_intestine", "small intestine", *_icrp("small intestine"), "portal", ICRP89),
    Organ("large_intestine", "large intestine", *_icrp("large intestine"), "portal", ICRP89),
    Organ("muscle", "skeletal muscle", *_icrp("skeletal muscle"), "caval", ICRP89),
    Organ("adipose", "adipose tissue", *_icrp("adipose"), "caval", ICRP89),
    # ICRP 89 "other tissue" + urinary bladder (+ testes, male) less the assumed pleura and
    # peritoneum shares above.
    Organ("other", "other tissue", *_other, "caval", f"{ICRP89} ('other' less the above)"),
)

ORGANS: Mapping[str, Organ] = MappingProxyType({o.key: o for o in _ORGAN_LIST})
ORGAN_KEYS: tuple[str, ...] = tuple(ORGANS)

#: Organs in which the model tracks metastases (every organ except the "other" remainder).
TARGET_ORGANS: tuple[str, ...] = tuple(k for k in ORGAN_KEYS if k != "other")


def flow_fractions(sex: Sex) -> dict[str, float]:
    """Arterial blood-flow fraction of each organ (sums to 1), ICRP 89 Table 2.40."""
    raw = {k: o.flow_percent(sex) for k, o in ORGANS.items()}
    total = sum(raw.values())
    return {k: v / total for k, v in raw.items()}


# --------------------------------------------------------------------------------------
# Primary sites: how each drains
# --------------------------------------------------------------------------------------

ROUTES: tuple[str, ...] = ("blood", "lymph", "cavity", "contiguous")


@dataclass(frozen=True)
class EntryPoint:
    """A place where cells enter the circulation chain.

    ``route``: the route it belongs to (:data:`ROUTES`); ``from_primary``: a primary tumour's
    invading cells can enter here (metastases also shed into ``lymph_distant`` and
    ``thoracic_duct``); ``injectable``: an experiment can inject cells here.
    """

    name: str
    route: str
    from_primary: bool
    injectable: bool
    description: str


#: Every entry point of the chain, in the chain's order (one registry; the lists below and
#: the scenario schema are derived from it, and draws over entries follow this order).
ENTRY_POINTS: Mapping[str, EntryPoint] = MappingProxyType({e.name: e for e in (
    EntryPoint("caval", "blood", True, True, "the caval veins, to the right heart and lungs"),
    EntryPoint("portal", "blood", True, True, "the portal vein, to the liver"),
    EntryPoint("pulmonary_vein", "blood", True, True,
               "the pulmonary veins, to the left heart and the arteries"),
    EntryPoint("vertebral", "blood", True, True, "Batson's vertebral venous plexus, to the spine"),
    EntryPoint("lymph", "lymph", True, True, "the lymph vessels, to the regional nodes"),
    EntryPoint("lymph_distant", "lymph", False, False,
               "lymph leaving the regional nodes, to the distant nodes"),
    EntryPoint("thoracic_duct", "lymph", False, False,
               "the thoracic duct, emptying into the caval veins"),
    EntryPoint("peritoneal", "cavity", True, True, "the peritoneal cavity"),
    EntryPoint("pleural", "cavity", True, True, "the pleural cavity"),
    EntryPoint("contiguous", "contiguous", True, False, "direct growth into neighbouring organs"),
)})


def _entries(**match: object) -> tuple[str, ...]:
    return tuple(e.name for e in ENTRY_POINTS.values()
                 if all(getattr(e, k) == v for k, v in match.items()))


#: Blood entries (the venous outflows), cavities, entries a primary uses, injection sites.
VENOUS_ENTRIES: tuple[str, ...] = _entries(route="blood")
CAVITIES: tuple[str, ...] = _entries(route="cavity")
PRIMARY_ENTRIES: tuple[str, ...] = _entries(from_primary=True)
INJECTION_ENTRIES: tuple[str, ...] = _entries(injectable=True)


@dataclass(frozen=True)
class PrimarySite:
    """Where a primary tumour sits and how its cells leave.

    ``routes`` splits invading cells between blood, lymph, body cavity and contiguous
    growth; ``venous_drainage`` splits the blood route between the venous entries;
    ``cavity`` splits the cavity route; ``contiguous`` names the neighbouring organs.
    The venous anatomy is standard (docs/references.md §3); the *fractions* of each split are
    named ASSUMPTIONS (no per-route shedding figures are published), kept here as data and
    overridable from a scenario (``primary.routes`` etc.).
    """

    key: str
    label: str
    organ: str | None
    sex: Sex | None
    routes: Mapping[str, float]
    venous_drainage: Mapping[str, float]
    cavity: Mapping[str, float] = field(default_factory=dict)
    contiguous: Mapping[str, float] = field(default_factory=dict)
    disibio_row: str | None = None
    notes: str = ""


def _site(key: str, label: str, organ: str | None, sex: Sex | None,
          routes: tuple[float, float, float, float], drainage: dict[str, float],
          cavity: dict[str, float] | None = None, contiguous: dict[str, float] | None = None,
          disibio_row: str | None = None, notes: str = "") -> PrimarySite:
    r = dict(zip(ROUTES, routes, strict=True))
    return PrimarySite(key, label, organ, sex, MappingProxyType(r),
                       MappingProxyType(drainage), MappingProxyType(cavity or {}),
                       MappingProxyType(contiguous or {}), disibio_row, notes)


_PORTAL = {"portal": 1.0}
_CAVAL = {"caval": 1.0}

# routes = (blood, lymph, cavity, contiguous): ASSUMPTIONS, see PrimarySite.
_SITE_LIST: tuple[PrimarySite, ...] = (
    _site("breast", "breast", None, "female", (0.50, 0.45, 0.0, 0.05),
          {"caval": 0.9, "vertebral": 0.1}, contiguous={"skin": 0.5, "pleura": 0.5},
          disibio_row="breast",
          notes="axillary/internal thoracic veins -> caval; intercostal veins -> Batson's "
                "plexus (vertebral); chest-wall growth -> skin and pleura"),
    _site("colorectal", "colorectum", "large_intestine", None, (0.50, 0.40, 0.10, 0.0),
          {"portal": 0.85, "caval": 0.15}, cavity={"peritoneal": 1.0},
          disibio_row="colorectal",
          notes="colon and upper rectum -> portal; lower rectum -> iliac veins (caval)"),
    _site("colon", "colon", "large_intestine", None, (0.50, 0.40, 0.10, 0.0), _PORTAL,
          cavity={"peritoneal": 1.0}, disibio_row="colon"),
    _site("rectum", "rectum", "large_intestine", None, (0.50, 0.45, 0.05, 0.0),
          {"portal": 0.6, "caval": 0.4}, cavity={"peritoneal": 1.0}, disibio_row="rectum",
          notes="superior rectal vein -> portal; middle/inferior rectal -> iliac (caval)"),
    _site("stomach", "stomach", "stomach", None, (0.40, 0.45, 0.15, 0.0), _PORTAL,
          cavity={"peritoneal": 1.0}, disibio_row="stomach"),
    _site("esophagus", "oesophagus", None, None, (0.40, 0.55, 0.0, 0.05),
          {"caval": 0.6, "portal": 0.4}, contiguous={"pleura": 1.0},
          disibio_row="esophagus",
          notes="azygos (caval) above, left gastric (portal) below"),
    _site("pancreas", "pancreas", "pancreas", None, (0.45, 0.40, 0.15, 0.0), _PORTAL,
          cavity={"peritoneal": 1.0}, disibio_row="pancreas"),
    _site("lung", "lung", "lung", None, (0.50, 0.40, 0.10, 0.0), {"pulmonary_vein": 1.0},
          cavity={"pleural": 1.0}, disibio_row="lung",
          notes="pulmonary veins -> left heart: systemic organs are the first beds"),
    _site("prostate", "prostate", None, "male", (0.60, 0.40, 0.0, 0.0),
          {"caval": 0.7, "vertebral": 0.3}, disibio_row="prostate",
          notes="prostatic plexus -> internal iliac (caval) and Batson's plexus (vertebral)"),
    _site("kidney", "kidney", "kidney", None, (0.70, 0.30, 0.0, 0.0), _CAVAL,
          disibio_row="kidney"),
    _site("ovary", "ovary", "ovary", "female", (0.20, 0.30, 0.50, 0.0), _CAVAL,
          cavity={"peritoneal": 1.0}, disibio_row="ovary"),
    _site("uterus", "uterus", None, "female", (0.40, 0.50, 0.10, 0.0),
          {"caval": 0.9, "vertebral": 0.1}, cavity={"peritoneal": 1.0}, disibio_row="uterus"),
    _site("cervix", "cervix", None, "female", (0.40, 0.60, 0.0, 0.0),
          {"caval": 0.9, "vertebral": 0.1}, disibio_row="cervix"),
    _site("bladder", "bladder", None, None, (0.40, 0.60, 0.0, 0.0),
          {"caval": 0.9, "vertebral": 0.1}, disibio_row="bladder"),
    _site("melanoma", "skin (melanoma, trunk)", "skin", None, (0.50, 0.50, 0.0, 0.0), _CAVAL,
          disibio_row="skin body",
          notes="diSibio's 'skin body' row: skin cancers of the trunk, not only melanoma"),
    _site("bone_sarcoma", "bone (primary sarcoma)", "bone", None, (0.90, 0.10, 0.0, 0.0),
          _CAVAL, disibio_row="bone"),
    _site("thyroid", "thyroid", "thyroid", None, (0.50, 0.50, 0.0, 0.0), _CAVAL,
          disibio_row="thyroid"),
    _site("liver", "liver (hepatocellular)", "liver", None, (0.80, 0.20, 0.0, 0.0), _CAVAL,
          disibio_row="liver", notes="hepatic veins -> inferior vena cava"),
)

PRIMARY_SITES: Mapping[str, PrimarySite] = MappingProxyType({s.key: s for s in _SITE_LIST})

#: Organs reached by each body cavity (implantation weights; ASSUMPTION: the serosa takes
#: nearly all, the ovary surface a small share - the Krukenberg route, Krukenberg 1896).
CAVITY_SURFACES: Mapping[str, Mapping[str, float]] = MappingProxyType({
    "peritoneal": MappingProxyType({"peritoneum": 0.95, "ovary": 0.05}),
    "pleural": MappingProxyType({"pleura": 1.0}),
})

#: Where cells shed by a metastasis in each organ enter the circulation.
def metastasis_entry(organ: str) -> str:
    """Entry state for cells shed by a metastasis in ``organ``.

    Lymph-node metastases shed into the lymph onward (regional -> distant nodes; distant ->
    thoracic duct); a lung metastasis sheds into the pulmonary veins; organs drained by the
    portal vein shed into it; everything else sheds into the caval veins. ASSUMPTION: a
    metastasis sheds only into its venous (or lymphatic) outflow, not into cavities.
    """
    if organ == "regional_lymph_nodes":
        return "lymph_distant"
    if organ == "distant_lymph_nodes":
        return "thoracic_duct"
    ret = ORGANS[organ].venous_return
    return {"caval": "caval", "portal": "portal", "arterial": "pulmonary_vein"}[ret]


# --------------------------------------------------------------------------------------
# The circulation chain
# --------------------------------------------------------------------------------------

Delivery = Literal["anatomical", "uniform"]
DEATH_STATES: tuple[str, ...] = ("death:blood", "death:lymph", "death:cavity")


@dataclass(frozen=True)
class TransitParameters:
    """Per-bed probabilities of the circulation chain.

    The blood holds two kinds of tumour cell (the derivation is in
    ``docs/model-and-evidence.md``, "One blood compartment"):

    * **retained** cells (a fraction ``first_bed_arrest_probability``): too large or too stiff
      for a capillary, they arrest in the first capillary bed they meet, seconds after
      entering the blood. Arterial blood holds ~12-fold fewer tumour cells than the tumour's
      venous blood (Butler & Gullino 1975, Cancer Res 35:512): 1 - 1/12 = 0.917 are retained.
    * **passing** cells (the rest): they cross capillary beds and circulate until they are
      cleared, by arrest in a bed or by death, with the clearance half-life measured after
      removal of the primary (Meng et al. 2004, Clin Cancer Res 10:8152: 1-2.4 h). These are
      the cells a blood sample finds.

    Parameters
    ----------
    first_bed_arrest_probability
        Share of cells entering the blood that are retained by the first bed they meet.
    passing_arrest_probability_per_bed, passing_death_probability_per_bed
        For a passing cell, the probability of arresting in, and of dying while crossing,
        one capillary bed (a pass through the circulation crosses two: the lungs and one
        systemic bed).
    node_arrest_probability
        Probability that a cell in the lymph arrests in a node group it passes.
    lymph_death_probability_per_node
        Probability of death per node group passed.
    cavity_implantation_probability, cavity_drainage_probability
        Fate of a cell in a body cavity: implants on a surface, drains into the lymph, or
        (the remainder) dies.
    """

    first_bed_arrest_probability: float
    passing_arrest_probability_per_bed: float
    passing_death_probability_per_bed: float
    node_arrest_probability: float
    lymph_death_probability_per_node: float
    cavity_implantation_probability: float
    cavity_drainage_probability: float


class CirculationChain:
    """An absorbing Markov chain over vascular compartments.

    Attributes
    ----------
    transient : tuple[str, ...]
        Names of the transient states (conduits and capillary beds).
    absorbing : tuple[str, ...]
        ``arrest:<organ>`` for every organ, then the death states.
    Q, R : numpy.ndarray
        One-pass transition probabilities transient -> transient and transient -> absorbing.
    """

    def __init__(self, transient: list[str], absorbing: list[str], Q: np.ndarray,
                 R: np.ndarray):
        self.transient = tuple(transient)
        self.absorbing = tuple(absorbing)
        self.Q = Q
        self.R = R
        self._t_index = {s: i for i, s in enumerate(self.transient)}
        self._a_index = {s: i for i, s in enumerate(self.absorbing)}
        rows = Q.sum(axis=1) + R.sum(axis=1)
        if (Q < 0).any() or (R < 0).any() or not np.allclose(rows, 1.0, atol=1e-12):
            bad = [self.transient[i] for i in np.flatnonzero(~np.isclose(rows, 1.0))]
            raise ValueError(f"chain rows do not sum to one: {bad}")

    def index(self, state: str) -> int:
        """Index of a transient state."""
        return self._t_index[state]

    def absorbing_index(self, state: str) -> int:
        return self._a_index[state]

    @cached_property
    def B(self) -> np.ndarray:
        """Exact absorption probabilities ``(I - Q)^-1 R`` (transient x absorbing)."""
        n = len(self.transient)
        B = np.linalg.solve(np.eye(n) - self.Q, self.R)
        B = np.clip(B, 0.0, None)
        out: np.ndarray = B / B.sum(axis=1, keepdims=True)
        return out

    def absorption(self, entry: str) -> np.ndarray:
        """Probability of ending in each absorbing state, starting from ``entry``."""
        row: np.ndarray = self.B[self._t_index[entry]]
        return row

    def absorption_by_name(self, entry: str) -> dict[str, float]:
        return dict(zip(self.absorbing, self.absorption(entry).tolist(), strict=True))

    def walk(self, rng: np.random.Generator, entry: str, count: int,
             max_passes: int = 200) -> tuple[np.ndarray, int]:
        """Move ``count`` cells from ``entry`` pass by pass until all are absorbed.

        Each pass splits every occupied transient state by one multinomial draw over its
        row of ``[Q | R]``: the same distribution as moving each cell on its own. Cells still
        travelling after ``max_passes`` (passing cells cross hundreds of beds in their mean
        residence of t_half / ln 2) are resolved by the exact absorption probabilities of the
        state they are in - the same distribution, since the chain is Markov.

        Returns
        -------
        absorbed : numpy.ndarray of int
            Cells ending in each absorbing state.
        passes : int
            Number of passes walked.
        """
        n_t = len(self.transient)
        P = np.clip(np.hstack([self.Q, self.R]), 0.0, None)
        P = P / P.sum(axis=1, keepdims=True)
        occupancy = np.zeros(n_t, dtype=np.int64)
        occupancy[self._t_index[entry]] = count
        absorbed = np.zeros(len(self.absorbing), dtype=np.int64)
        passes = 0
        while occupancy.any() and passes < max_passes:
            new = np.zeros(n_t, dtype=np.int64)
            for i in np.flatnonzero(occupancy):
                split = rng.multinomial(occupancy[i], P[i])
                new += split[:n_t]
                absorbed += split[n_t:]
            occupancy = new
            passes += 1
        for i in np.flatnonzero(occupancy):
            absorbed += rng.multinomial(occupancy[i], self.B[i] / self.B[i].sum())
        return absorbed, passes


def _bed(organ: str) -> str:
    return f"bed:{organ}"


#: Prefixes of the two kinds of cell in the blood (see :class:`TransitParameters`).
RETAINED, PASSING = "retained:", "passing:"


def build_chain(params: TransitParameters, sex: Sex, delivery: Delivery = "anatomical",
                contiguous: Mapping[str, float] | None = None) -> CirculationChain:
    """Build the circulation chain for one body.

    Parameters
    ----------
    params
        Per-pass probabilities.
    sex
        Selects the ICRP 89 flow column; ovaries receive no flow in a male body.
    delivery
        ``"anatomical"``: blood follows the anatomy above (Ewing 1928). ``"uniform"``: a cell
        that enters the blood is "carried in all directions" (Paget 1889): it arrests in any
        target organ with equal probability. Uniform delivery keeps, for each blood entry,
        the same total probabilities of arrest and of death as the anatomical chain, so
        only *where* cells arrest changes. Lymphatic, cavity and contiguous spread follow
        the anatomy under both.
    contiguous
        Organ weights for the ``contiguous`` entry (direct growth into neighbours).
    """
    flows = flow_fractions(sex)
    organs = [k for k in ORGAN_KEYS if sex == "female" or k != "ovary"]
    conduits = list(ENTRY_POINTS)
    blood = ["caval", "portal", "pulmonary_vein", "vertebral", "bed:pulmonary",
             *(_bed(o) for o in organs)]
    kinds = {RETAINED: (1.0, 0.0),
             PASSING: (params.passing_arrest_probability_per_bed,
                       params.passing_death_probability_per_bed)}
    transient = conduits + [f"{kind}{s}" for kind in kinds for s in blood]
    absorbing = [f"arrest:{o}" for o in ORGAN_KEYS] + list(DEATH_STATES)
    ti = {s: i for i, s in enumerate(transient)}
    ai = {s: i for i, s in enumerate(absorbing)}
    Q = np.zeros((len(transient), len(transient)))
    R = np.zeros((len(transient), len(absorbing)))

    # A cell entering the blood (at a venous entry, or from the thoracic duct) is retained
    # or passing; each kind then travels its own copy of the vessels.
    r = params.first_bed_arrest_probability
    for entry in VENOUS_ENTRIES:
        Q[ti[entry], ti[f"{RETAINED}{entry}"]] = r
        Q[ti[entry], ti[f"{PASSING}{entry}"]] = 1.0 - r
    systemic = {o: flows[o] for o in organs}
    total = sum(systemic.values())
    onward = {"caval": "caval", "portal": "portal", "arterial": "pulmonary_vein"}
    def capillary_bed(kind: str, name: str, organ: str, nxt: str, a: float, d: float) -> None:
        """A bed of one kind of cell: death ``d``, arrest ``a``, else on to ``nxt``."""
        i = ti[f"{kind}{name}"]
        R[i, ai["death:blood"]] += d
        R[i, ai[f"arrest:{organ}"]] += a
        if a + d < 1.0:
            Q[i, ti[f"{kind}{nxt}"]] += 1.0 - a - d

    for kind, (a, d) in kinds.items():
        # Venous conduits: right heart -> pulmonary artery; portal vein -> liver sinusoids.
        Q[ti[f"{kind}caval"], ti[f"{kind}bed:pulmonary"]] = 1.0
        Q[ti[f"{kind}portal"], ti[f"{kind}{_bed('liver')}"]] = 1.0
        # Pulmonary veins -> left heart -> aorta -> every organ by its arterial share.
        for o, f in systemic.items():
            Q[ti[f"{kind}pulmonary_vein"], ti[f"{kind}{_bed(o)}"]] += f / total
        # Batson's plexus: vertebral marrow first, then back to the caval veins.
        capillary_bed(kind, "vertebral", "bone", "caval", a, d)
        # The pulmonary capillary bed (whole cardiac output) and every organ's own bed.
        capillary_bed(kind, "bed:pulmonary", "lung", "pulmonary_vein", a, d)
        for o in organs:
            capillary_bed(kind, _bed(o), o, onward[ORGANS[o].venous_return], a, d)

    # Lymph: regional nodes -> distant nodes -> thoracic duct -> caval veins.
    na, nd = params.node_arrest_probability, params.lymph_death_probability_per_node
    for state, organ, nxt in (("lymph", "regional_lymph_nodes", "lymph_distant"),
                              ("lymph_distant", "distant_lymph_nodes", "thoracic_duct")):
        R[ti[state], ai["death:lymph"]] = nd
        R[ti[state], ai[f"arrest:{organ}"]] = (1 - nd) * na
        Q[ti[state], ti[nxt]] = (1 - nd) * (1 - na)
    Q[ti["thoracic_duct"], ti["caval"]] = 1.0

    # Body cavities: implant on a surface, drain into the lymph (diaphragmatic and
    # mediastinal lymphatics reach the distant nodes), or die.
    imp, drain = params.cavity_implantation_probability, params.cavity_drainage_probability
    for cavity, surfaces in CAVITY_SURFACES.items():
        weights = {o: w for o, w in surfaces.items() if o in organs}
        wsum = sum(weights.values())
        for o, w in weights.items():
            R[ti[cavity], ai[f"arrest:{o}"]] = imp * w / wsum
        Q[ti[cavity], ti["lymph_distant"]] = drain
        R[ti[cavity], ai["death:cavity"]] = max(0.0, 1.0 - imp - drain)

    # Contiguous growth into neighbouring tissue: no transit, no loss.
    cont = {o: w for o, w in (contiguous or {}).items() if o in organs and w > 0}
    if not cont:
        cont = {"regional_lymph_nodes": 1.0}  # unused entry: any valid row
    csum = sum(cont.values())
    for o, w in cont.items():
        R[ti["contiguous"], ai[f"arrest:{o}"]] = w / csum

    chain = CirculationChain(transient, absorbing, Q, R)
    if delivery == "anatomical":
        return chain
    return _uniform_delivery(chain, organs)


def _uniform_delivery(anatomical: CirculationChain, organs: list[str]) -> CirculationChain:
    """Replace the blood's anatomy by delivery to every target organ with equal chance.

    The blood entries (caval, portal, pulmonary vein, vertebral plexus) become one-pass
    states whose arrest probability is spread evenly over the target organs and whose death
    probability equals the anatomical chain's, entry by entry.
    """
    Q = anatomical.Q.copy()
    R = anatomical.R.copy()
    targets = [o for o in organs if o in TARGET_ORGANS]
    for entry in VENOUS_ENTRIES:
        i = anatomical.index(entry)
        b = anatomical.absorption(entry)
        death = b[anatomical.absorbing_index("death:blood")]
        Q[i, :] = 0.0
        R[i, :] = 0.0
        R[i, anatomical.absorbing_index("death:blood")] = death
        for o in targets:
            R[i, anatomical.absorbing_index(f"arrest:{o}")] = (1.0 - death) / len(targets)
    return CirculationChain(list(anatomical.transient), list(anatomical.absorbing), Q, R)


def passing_cell_fates_per_bed(ctc_half_life_hours: float, bed_time_minutes: float,
                               death_fraction: float, death_multiplier: float = 1.0,
                               ) -> tuple[float, float]:
    """Arrest and death probabilities of a passing cell per capillary bed it crosses.

    A passing cell is cleared from the blood at rate ``k = ln 2 / half_life`` (the measured
    CTC half-life is a clearance, arrest included: Meng et al. 2004). A share
    ``death_fraction`` of that clearance is death in the blood (hazard ``k f``, times the
    unit's ``death_multiplier``) and the rest arrest in a bed (hazard ``k (1 - f)``). Crossing
    one bed takes ``bed_time_minutes``; the two competing hazards give
    ``(p_arrest, p_death)`` for that time.
    """
    k = float(np.log(2.0)) / (ctc_half_life_hours * 60.0)
    death, arrest = k * death_fraction * death_multiplier, k * (1.0 - death_fraction)
    total = death + arrest
    if total <= 0.0:
        return 0.0, 0.0
    p = step_probability(total, bed_time_minutes)
    return p * arrest / total, p * death / total
