"""Published tables the model is built from and compared with, each with its citation.

Every number here carries its source; the full references, and the figures each source
supports, are in docs/references.md (:data:`SOURCES` lists the keys used there).
``metasim reference --list`` prints the tables with their citations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class AutopsyTable:
    """Counts of patients with metastases at each site, per primary.

    Attributes
    ----------
    citation
        Full reference.
    columns
        Site names as printed in the source.
    column_to_organ
        Source site name -> model organ key; sites with no organ in the model map to None
        and are listed by :meth:`unmapped_columns`, never silently dropped.
    rows
        Primary name as printed -> (number of autopsies, counts per column).
    """

    citation: str
    columns: tuple[str, ...]
    column_to_organ: Mapping[str, str | None]
    rows: Mapping[str, tuple[int, tuple[int, ...]]]

    def unmapped_columns(self) -> list[str]:
        return [c for c in self.columns if self.column_to_organ[c] is None]

    def patients(self, row: str) -> int:
        return self.rows[row][0]

    def counts(self, row: str) -> dict[str, int]:
        """Counts per model organ for one primary (mapped columns only)."""
        _, values = self.rows[row]
        out: dict[str, int] = {}
        for col, v in zip(self.columns, values, strict=True):
            organ = self.column_to_organ[col]
            if organ is not None:
                out[organ] = out.get(organ, 0) + v
        return out

    def frequencies(self, row: str) -> dict[str, float]:
        """Fraction of autopsied patients with metastases at each model organ."""
        n = self.patients(row)
        return {o: c / n for o, c in self.counts(row).items()}


DISIBIO_2008 = AutopsyTable(
    citation=("di Sibio G, French SW (2008). Metastatic patterns of cancers: results from a "
              "large autopsy study. Arch Pathol Lab Med 132(6):931-939. 3,827 untreated "
              "patients autopsied 1914-1943."),
    columns=("lymph nodes reg", "lymph nodes dist", "liver", "lung", "bone", "brain",
             "adrenal", "pleura", "peritoneum", "kidney", "spleen", "skin", "ovaries",
             "pancreas", "heart", "pericardium", "thyroid", "stomach", "small intestine",
             "large intestine", "skeletal muscle", "diaphragm", "omentum"),
    column_to_organ=MappingProxyType({
        "lymph nodes reg": "regional_lymph_nodes", "lymph nodes dist": "distant_lymph_nodes",
        "liver": "liver", "lung": "lung", "bone": "bone", "brain": "brain",
        "adrenal": "adrenal", "pleura": "pleura", "peritoneum": "peritoneum",
        "kidney": "kidney", "spleen": "spleen", "skin": "skin", "ovaries": "ovary",
        "pancreas": "pancreas", "heart": "heart", "thyroid": "thyroid",
        "stomach": "stomach", "small intestine": "small_intestine",
        "large intestine": "large_intestine", "skeletal muscle": "muscle",
        # Not separate organs in the model (a patient can have both heart and pericardium
        # metastases, so counts cannot simply be added to a neighbour).
        "pericardium": None, "diaphragm": None, "omentum": None,
    }),
    rows=MappingProxyType({
        "breast": (432, (230, 277, 218, 247, 213, 42, 149, 158, 59, 40, 52, 124, 53, 49, 22,
                         52, 35, 17, 12, 11, 0, 36, 8)),
        "colorectal": (560, (209, 109, 155, 101, 29, 3, 42, 12, 45, 20, 9, 9, 13, 13, 4, 2,
                             11, 1, 6, 8, 2, 7, 9)),
        "colon": (123, (42, 19, 35, 15, 2, 1, 9, 1, 20, 7, 1, 1, 3, 9, 0, 0, 3, 1, 3, 4, 0,
                        2, 6)),
        "rectum": (437, (167, 90, 120, 86, 27, 2, 33, 11, 25, 13, 8, 8, 10, 4, 4, 2, 8, 0, 3,
                         4, 2, 5, 3)),
        "stomach": (348, (225, 104, 125, 65, 33, 1, 39, 15, 79, 10, 13, 9, 28, 40, 8, 3, 3,
                          1, 24, 12, 1, 18, 28)),
        "esophagus": (129, (70, 22, 21, 19, 6, 0, 6, 8, 4, 4, 2, 2, 0, 4, 3, 3, 2, 2, 1, 1,
                            1, 2, 0)),
        "pancreas": (109, (68, 35, 63, 29, 7, 0, 12, 11, 25, 8, 7, 3, 4, 0, 1, 2, 3, 4, 6, 4,
                           0, 13, 7)),
        "lung": (163, (114, 76, 58, 48, 38, 15, 59, 27, 12, 30, 18, 8, 0, 23, 17, 13, 15, 5,
                       6, 9, 2, 12, 4)),
        "prostate": (193, (121, 85, 36, 59, 91, 0, 16, 8, 2, 8, 8, 2, 0, 6, 1, 0, 2, 1, 1, 1,
                           0, 1, 0)),
        "kidney": (62, (23, 26, 21, 30, 20, 4, 18, 10, 6, 8, 3, 3, 1, 9, 8, 1, 1, 2, 4, 5, 1,
                        2, 1)),
        "ovary": (86, (36, 26, 25, 18, 6, 2, 9, 16, 63, 8, 8, 4, 6, 2, 2, 2, 2, 4, 6, 7, 0,
                       13, 12)),
        "uterus": (120, (64, 42, 34, 30, 8, 0, 14, 7, 20, 8, 1, 4, 15, 4, 1, 0, 5, 2, 5, 2,
                         0, 2, 6)),
        "cervix": (418, (232, 133, 97, 94, 36, 1, 23, 11, 37, 19, 13, 5, 24, 6, 7, 2, 2, 2,
                         12, 11, 0, 10, 8)),
        "bladder": (183, (80, 45, 25, 30, 20, 0, 11, 4, 7, 9, 3, 1, 2, 2, 2, 1, 1, 0, 4, 1, 2,
                          2, 1)),
        "skin body": (67, (34, 31, 20, 34, 18, 10, 19, 11, 8, 13, 11, 16, 2, 11, 11, 8, 13, 5,
                           9, 2, 3, 7, 1)),
        "bone": (35, (8, 8, 6, 18, 15, 1, 4, 6, 1, 2, 1, 6, 1, 3, 2, 0, 0, 0, 0, 1, 0, 3,
                      0)),
        "thyroid": (43, (19, 13, 10, 22, 6, 1, 4, 5, 0, 1, 0, 4, 0, 3, 3, 4, 0, 0, 1, 0, 0, 0,
                         0)),
        "liver": (36, (18, 8, 0, 16, 3, 1, 7, 3, 7, 0, 0, 1, 0, 4, 2, 0, 1, 0, 1, 1, 0, 3,
                       2)),
    }),
)

AUTOPSY_TABLES: Mapping[str, AutopsyTable] = MappingProxyType({"disibio2008": DISIBIO_2008})


@dataclass(frozen=True)
class FlowTable:
    """Share of resting cardiac output per tissue, in percent (male, female)."""

    citation: str
    rows: Mapping[str, tuple[float, float]]

    def percent(self, tissue: str, sex: str) -> float:
        male, female = self.rows[tissue]
        return female if sex == "female" else male


ICRP89_FLOW = FlowTable(
    citation=("ICRP Publication 89 (2002). Basic anatomical and physiological data for use in "
              "radiological protection: reference values. Ann ICRP 32(3-4), Table 2.40; "
              "cardiac output 6.5 L/min (male), 5.9 L/min (female). Underlying review: "
              "Williams & Leggett 1989, Clin Phys Physiol Meas 10:187. Gonads and bladder as "
              "transcribed by Huisinga et al. 2012, CPT Pharmacometrics Syst Pharmacol 1:e4."),
    rows=MappingProxyType({
        "liver, total": (25.5, 27.0),
        "liver, hepatic artery": (6.5, 6.5),
        "kidneys": (19.0, 17.0),
        "skeletal muscle": (17.0, 12.0),
        "brain": (12.0, 12.0),
        "small intestine": (10.0, 11.0),
        "adipose": (5.0, 8.5),
        "skeleton": (5.0, 5.0),
        "skeleton, red marrow": (3.0, 3.0),
        "skin": (5.0, 5.0),
        "large intestine": (4.0, 5.0),
        "heart (coronary)": (4.0, 5.0),
        "spleen": (3.0, 3.0),
        "lungs (bronchial)": (2.5, 2.5),
        "lymph nodes": (1.7, 1.7),
        "thyroid": (1.5, 1.5),
        "stomach and oesophagus": (1.0, 1.0),
        "pancreas": (1.0, 1.0),
        "adrenals": (0.3, 0.3),
        "gonads": (0.05, 0.02),
        "urinary bladder": (0.06, 0.06),
        "other": (1.39, 1.92),
    }),
)


@dataclass(frozen=True)
class Figure:
    """One published figure: what was measured, the value, the source."""

    quantity: str
    value: str
    source: str


INEFFICIENCY: tuple[Figure, ...] = (
    Figure("B16F1 cells injected into the mesenteric vein: arrested in the liver at 90 min",
           "~87 % of injected cells", "Luzzi et al. 1998, Am J Pathol 153:865 (widely quoted)"),
    Figure("same: extravasated by day 3", "~83 %", "Luzzi et al. 1998"),
    Figure("same: formed micrometastases by day 3", "~1 in 40 cells (2.5 %)", "Luzzi et al. 1998"),
    Figure("same: macroscopic metastases by day 13", "~1 in 100 micrometastases, ~0.02 % of cells",
           "Luzzi et al. 1998"),
    Figure("same: solitary dormant cells at day 13", "~36 % of injected cells", "Luzzi et al. 1998"),
    Figure("B16F10 in chick embryo membrane: survived and extravasated by 24 h", "> 80 %",
           "Koop et al. 1995, Cancer Res 55:2520"),
    Figure("metastases per disseminated cell, breast cancer", "1 per ~6e7",
           "Coumans et al. 2013, BMC Cancer 13:283"),
    Figure("primary breast tumour volume doubling time", "1.7 +/- 0.9 months", "Coumans et al. 2013"),
    Figure("cells shed into the blood per gram of tumour per day", "3.2e6 (growing), 4.1e6 (regressing)",
           "Butler & Gullino 1975, Cancer Res 35:512"),
    Figure("tumour cells in arterial vs tumour-draining venous blood", "~12-fold fewer",
           "Butler & Gullino 1975"),
    Figure("half-life of CTCs in human blood", "1-2.4 h", "Meng et al. 2004, Clin Cancer Res 10:8152"),
    Figure("CTC clusters vs single CTCs: metastatic potential", "23-50x",
           "Aceto et al. 2014, Cell 158:1110"),
)
INEFFICIENCY_CITATION = ("Metastatic inefficiency and circulation figures (source per row; full "
                         "references in docs/references.md, sections 1-2)")


#: Key (as in docs/references.md) -> short citation, for every source the tables above cite.
SOURCES: Mapping[str, str] = MappingProxyType({
    "disibio2008": "di Sibio & French 2008, Arch Pathol Lab Med 132:931",
    "icrp89": "ICRP Publication 89 (2002), Ann ICRP 32(3-4), Table 2.40",
    "williams1989": "Williams & Leggett 1989, Clin Phys Physiol Meas 10:187",
    "huisinga2012": "Huisinga et al. 2012, CPT Pharmacometrics Syst Pharmacol 1:e4",
    "luzzi1998": "Luzzi et al. 1998, Am J Pathol 153:865",
    "koop1995": "Koop et al. 1995, Cancer Res 55:2520",
    "coumans2013": "Coumans et al. 2013, BMC Cancer 13:283",
    "butler1975": "Butler & Gullino 1975, Cancer Res 35:512",
    "meng2004": "Meng et al. 2004, Clin Cancer Res 10:8152",
    "aceto2014": "Aceto et al. 2014, Cell 158:1110",
})

#: Every table, by the name `metasim reference NAME` takes.
TABLES: Mapping[str, str] = MappingProxyType({
    "disibio2008": DISIBIO_2008.citation,
    "icrp89": ICRP89_FLOW.citation,
    "inefficiency": INEFFICIENCY_CITATION,
})


def describe(name: str) -> str:
    """A readable rendering of one table, its citation first."""
    lines = [TABLES[name], ""]
    if name == "disibio2008":
        t = DISIBIO_2008
        lines.append("Organ mapping (source column -> model organ):")
        for col in t.columns:
            organ = t.column_to_organ[col] or "UNMAPPED (no such organ in the model)"
            lines.append(f"  {col:<18} -> {organ}")
        lines.append("")
        lines.append("Patients with metastases at each site, % of autopsies (n):")
        for row, (n, _) in t.rows.items():
            freq = t.frequencies(row)
            top = sorted(freq.items(), key=lambda kv: -kv[1])[:6]
            lines.append(f"  {row:<11} (n={n:>3}): " + ", ".join(f"{o} {100 * f:.0f}" for o, f in top))
    elif name == "icrp89":
        lines.append(f"  {'tissue':<24} {'male %':>7} {'female %':>9}")
        for tissue, (m, f) in ICRP89_FLOW.rows.items():
            lines.append(f"  {tissue:<24} {m:>7g} {f:>9g}")
    else:
        for fig in INEFFICIENCY:
            lines.append(f"  {fig.quantity}: {fig.value}  [{fig.source}]")
    return "\n".join(lines)
