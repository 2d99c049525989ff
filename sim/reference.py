"""Published tables the model is built from and compared with, each with its citation.

Every number here is copied from ../shared/reference/LITERATURE.md, which gives its source.
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
