"""The named hypotheses: each is one cell of the delivery x soil table.

A module of its own, importing nothing, so that the ``metasim`` command can offer the names
in ``--help`` without importing the scenario schema (pydantic, the anatomy).
"""

from __future__ import annotations

#: hypothesis -> (delivery, soil). Ewing 1928: anatomy alone; Paget 1889: seed and soil with
#: cells carried in all directions; combined: both (Weiss 1992); null: neither.
HYPOTHESES: dict[str, tuple[str, str]] = {
    "ewing": ("anatomical", "neutral"),
    "paget": ("uniform", "tropism"),
    "combined": ("anatomical", "tropism"),
    "null": ("uniform", "neutral"),
}
