"""The population targets beside what a run measured, and how its patients died, as the
tables of docs/model-and-evidence.md ("Population targets") print them.

Usage: ``python -m sim.analysis.target_table OUTPUT_FOLDER [OUTPUT_FOLDER ...]``, each an
output folder of ``metasim run PRESET --replicates N`` (its ``summary.json``). Prints, per
folder, the fitted targets (:data:`sim.biology.targets.POPULATION_TARGETS`) and the checks
(:data:`sim.biology.targets.CHECKS`) as a Markdown table, then one table of how the
courses went for all folders: the primary's size when the first distant metastasis was
founded, the causes of death and where the tumour was at death.

"Agreement" is simulated / published; a row is *within 1.5x* when that ratio lies in
[1/1.5, 1.5], *interval overlaps 1.5x* when the simulated 95 % interval meets the published
value's [1/1.5, 1.5] band, and *outside* otherwise.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..biology.targets import CHECKS, Target, targets_for

#: The agreement criterion: a factor either way.
FACTOR = 1.5


def _node(population: dict[str, Any], path: Sequence[str]) -> dict[str, Any] | None:
    node: Any = population
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node if isinstance(node, dict) else None


def measured(population: dict[str, Any], target: Target) -> tuple[float | None, float | None,
                                                                  float | None, int | None]:
    """(value, 95 % low, 95 % high, patients it is out of) of ``target`` in a population
    summary (:func:`sim.analysis.summaries.population`); Nones where not measured."""
    node = _node(population, target.path)
    if node is None:
        return None, None, None, None
    if "survival" in node:      # Kaplan-Meier, out of every diagnosed patient
        diagnosed = (population.get("diagnosed") or {}).get("patients")
        return node.get("survival"), node.get("low"), node.get("high"), diagnosed
    return node.get("fraction"), node.get("low"), node.get("high"), node.get("of")


def agreement(observed: float, value: float | None, low: float | None,
              high: float | None) -> str:
    """The agreement words of a row (see the module's docstring)."""
    if value is None:
        return "not measured"
    if observed <= 0:
        return "published 0"
    ratio = value / observed
    if 1 / FACTOR <= ratio <= FACTOR:
        words = f"within {FACTOR:g}×"
    elif low is not None and high is not None and low <= observed * FACTOR \
            and high >= observed / FACTOR:
        words = f"interval overlaps {FACTOR:g}×"
    else:
        words = "outside"
    return f"{ratio:.2f}× ({words})"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f} %"


def _published(x: float) -> str:
    """A published share as given (20.2 %, 7.5 %, 52 %)."""
    return f"{100 * x:.3g} %"


def target_table(summary: dict[str, Any]) -> str:
    """The Markdown table of one run's fitted targets and checks."""
    site = summary.get("primary", "")
    pop = summary.get("population") or {}
    lines = ["| target | published | source | role | simulated (95 % interval; n) | agreement |",
             "|---|---|---|---|---|---|"]
    for role, targets in (("fit", targets_for(site)), ("check", CHECKS.get(site, ()))):
        for t in targets:
            v, lo, hi, n = measured(pop, t)
            sim = "not measured" if v is None else \
                f"{_pct(v)} ({_pct(lo).removesuffix(' %')}–{_pct(hi)}; n = {n})"
            lines.append(f"| {t.label} | {_published(t.observed)} | {t.source} | {role} | {sim} | "
                         f"{agreement(t.observed, v, lo, hi)} |")
    return "\n".join(lines)


def _seeding(summary: dict[str, Any]) -> str:
    q = (summary.get("population") or {}).get("primary_size_at_founding_mm") or {}
    if q.get("median") is None:
        return "-"
    return f"{q['median']:.0f} mm ({q['q1']:.0f}–{q['q3']:.0f})"


def death_row(summary: dict[str, Any]) -> str:
    """One run's row of the table of how the courses went."""
    course = summary.get("course") or {}
    b = course.get("burden_at_death") or {}
    n = b.get("deaths") or 0
    if not n:
        return (f"| {summary.get('primary', '')} | {summary.get('replicates')} | "
                f"{_seeding(summary)} | 0 | - | - | - | - |")
    causes = ", ".join(f"{'whole-body burden' if k == 'whole_body_burden' else k} {v}"
                       for k, v in (course.get("cause_of_death") or {}).items())
    organs = ", ".join(f"{k} {v}" for k, v in
                       list((b.get("largest_metastatic_organ") or {}).items())[:3])
    share = (f"{_pct(b['fraction_metastases_outweigh_primary'])} "
             f"({_pct(b['fraction_metastases_outweigh_primary_low']).removesuffix(' %')}–"
             f"{_pct(b['fraction_metastases_outweigh_primary_high'])})")
    return (f"| {summary.get('primary', '')} | {summary.get('replicates')} | "
            f"{_seeding(summary)} | {n} | {causes} | {b['median_metastatic_share']:.2g} | "
            f"{share} | {organs or '-'} |")


DEATH_HEADER = ("| preset | patients | primary's size when the first distant metastasis's "
                "colony was founded (median, quartiles) | deaths | cause of death (patients) | median "
                "share of the tumour in metastases at death | metastases outweigh the primary "
                "| organ with the most metastatic cells (deaths) |\n"
                "|---|---|---|---|---|---|---|---|")


def main(argv: Sequence[str]) -> str:
    """The tables of the output folders ``argv``, as Markdown."""
    if not argv:
        raise SystemExit("usage: python -m sim.analysis.target_table OUTPUT_FOLDER ...")
    summaries = []
    for folder in argv:
        path = Path(folder) / "summary.json"
        try:
            summaries.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as err:
            raise SystemExit(f"{path}: cannot read a run's summary ({err})") from None
    out = []
    for s in summaries:
        site = s.get("primary", "")
        out.append(f"**{site}** ({s.get('replicates')} patients, seed {s.get('seed')})\n")
        if not targets_for(site) and not CHECKS.get(site):
            out.append(f"No population targets are published here for {site}.\n")
            continue
        if s.get("clinical"):
            out.append("This run treats its patients; the targets describe untreated "
                       "courses (survival) and patients at diagnosis.\n")
        out.append(f"{target_table(s)}\n")
    out.append(DEATH_HEADER)
    out.extend(death_row(s) for s in summaries)
    return "\n".join(out)


if __name__ == "__main__":  # pragma: no cover
    print(main(sys.argv[1:]))
