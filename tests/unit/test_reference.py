"""Reference tables: citations, organ mapping, nothing silently dropped."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from sim.apps.cli import main
from sim.biology.anatomy import ORGANS, PRIMARY_SITES, flow_fractions
from sim.biology.reference import DISIBIO_2008, ICRP89_FLOW, INEFFICIENCY, SOURCES, TABLES, describe

from ..conftest import ROOT


def test_disibio_rows_have_one_count_per_column_and_no_count_above_n():
    for row, (n, counts) in DISIBIO_2008.rows.items():
        assert len(counts) == len(DISIBIO_2008.columns), row
        assert all(0 <= c <= n for c in counts), row


def test_every_column_is_mapped_or_listed_as_unmapped():
    mapped = {c for c, o in DISIBIO_2008.column_to_organ.items() if o}
    assert set(DISIBIO_2008.unmapped_columns()) == set(DISIBIO_2008.columns) - mapped
    assert set(DISIBIO_2008.unmapped_columns()) == {"pericardium", "diaphragm", "omentum"}
    for organ in DISIBIO_2008.column_to_organ.values():
        assert organ is None or organ in ORGANS


def test_every_primary_with_a_row_points_to_an_existing_row():
    for site in PRIMARY_SITES.values():
        assert site.disibio_row is None or site.disibio_row in DISIBIO_2008.rows


def test_known_values_are_copied_exactly():
    assert DISIBIO_2008.patients("breast") == 432
    assert DISIBIO_2008.counts("prostate")["bone"] == 91
    assert DISIBIO_2008.frequencies("stomach")["ovary"] == pytest.approx(28 / 348)


def test_icrp_table_sums_to_about_100_percent_and_feeds_the_anatomy():
    parts = [t for t in ICRP89_FLOW.rows if t not in ("liver, total", "skeleton, red marrow")]
    for sex, total in (("male", 100.0), ("female", 100.0)):
        assert sum(ICRP89_FLOW.percent(t, sex) for t in parts) == pytest.approx(total, abs=0.2)
    # The anatomy takes its flows from this table (the values: test_anatomy.py).
    assert flow_fractions("male")["kidney"] == pytest.approx(
        ICRP89_FLOW.percent("kidneys", "male") / 100, rel=1e-9)


def test_cli_lists_tables_with_citations_and_prints_each():
    res = CliRunner().invoke(main, ["reference", "--list"])
    assert res.exit_code == 0
    assert "Arch Pathol Lab Med 132" in res.output and "ICRP Publication 89" in res.output
    for name in TABLES:
        assert describe(name).startswith(TABLES[name])
    res = CliRunner().invoke(main, ["reference", "disibio2008"])
    assert "UNMAPPED" in res.output and "pericardium" in res.output
    assert CliRunner().invoke(main, ["reference", "nope"]).exit_code == 2


# ------------------------------------------------------------------------------------------
# The project carries its own references
# ------------------------------------------------------------------------------------------
REFERENCES = ROOT / "docs" / "references.md"
# Built from parts so that this file does not match itself.
OUTSIDE_POINTERS = ("../" + "shared", "shared/" + "reference", "LITERATURE" + ".md")
TEXT_SUFFIXES = {".py", ".md", ".toml", ".ipynb", ".txt", ".cfg", ".ini", ".yml", ".yaml", ""}
# Author-year citations: "Luzzi et al. 1998", "Butler & Gullino 1975", "Chambers, Groom &
# MacDonald 2002", "Font-Clos, Zapperi & La Porta 2020", "di Sibio & French 2008".
CITATION = re.compile(
    r"\b([A-Z][a-zA-Z'\-]+)(?: et al\.?|(?:,? (?:&|and) (?:[a-z]+ )?[A-Z][a-zA-Z'\-]+)"
    r"|(?:, [A-Z][a-zA-Z'\-]+(?: [A-Z][a-zA-Z'\-]+)?)+ & [A-Z][a-zA-Z'\-]+(?: [A-Z][a-z]+)?)?"
    r",? \(?((?:18|19|20)\d\d)\b")
# Capitalised words that precede a year without being an author.
NOT_AUTHORS = {"Measured", "Publication", "ICRP", "Checked", "Fitted", "The", "In", "On",
               "Since", "From", "Until", "And", "Table", "Figure", "Python", "Seed"}


def _tracked_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                             check=True).stdout.decode()
        files = [ROOT / f for f in out.split("\0") if f]
    except (OSError, subprocess.CalledProcessError):   # not a git checkout: walk the tree
        skip = {".git", ".venv", "venv", "build", "dist", "__pycache__", ".pytest_cache"}
        files = [p for p in ROOT.rglob("*") if p.is_file() and not skip & set(p.parts)]
    return [f for f in files if f.suffix in TEXT_SUFFIXES and f.is_file()]


def _bibliography() -> list[str]:
    """The entries of the full reference list (one string per entry)."""
    text = REFERENCES.read_text(encoding="utf-8").split("## Full references", 1)[1]
    return [" ".join(e.split()) for e in re.split(r"\n- ", text)[1:]]


def test_no_file_points_outside_the_repository_for_its_sources():
    """The project cites its own docs/references.md: no tracked file points at the team's
    shared folder or its LITERATURE file, which are not part of the repository."""
    offenders = []
    for path in _tracked_files():
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (UnicodeDecodeError, OSError):
            continue
        offenders += [f"{path.relative_to(ROOT)}:{i}: {line.strip()[:90]}"
                      for i, line in enumerate(lines, 1)
                      if any(p in line for p in OUTSIDE_POINTERS)]
    assert not offenders, "point these at docs/references.md:\n" + "\n".join(offenders)


def test_every_citation_key_of_the_reference_module_is_in_the_references():
    """Every key of sim.biology.reference (tables and sources) has its entry in docs/references.md,
    and every source quoted by a table row names an author and year listed there."""
    text = REFERENCES.read_text(encoding="utf-8")
    for key in (*TABLES, *SOURCES):
        assert f"`{key}`" in text, key
    entries = _bibliography()
    for short in (*SOURCES.values(), *(fig.source for fig in INEFFICIENCY)):
        m = CITATION.search(short) or re.search(r"(ICRP) Publication 89 \((2002)\)", short)
        assert m, short
        assert any(m[1] in e and m[2] in e for e in entries), short


def test_every_author_year_citation_in_the_project_is_in_the_references():
    """A source cited as "Author [et al.] YEAR" anywhere in sim/, scenarios/, docs/, tests/,
    notebooks/ or the README has an entry in docs/references.md naming that author and that
    year, so a citation cannot be added without its full reference."""
    entries = _bibliography()
    missing = set()
    for path in _tracked_files():
        rel = path.relative_to(ROOT)
        if (rel.parts[0] not in ("sim", "scenarios", "docs", "tests", "notebooks") \
                and rel.name != "README.md") or rel == Path("docs/references.md"):
            continue
        # One line of prose per file: citations wrap across lines and comment markers.
        text = re.sub(r"\s*\n\s*(?:#+|//)?\s*", " ", path.read_text(encoding="utf-8"))
        for m in CITATION.finditer(text):
            author, year = m[1].removesuffix("'s"), m[2]
            if author in NOT_AUTHORS:
                continue
            if not any(author in e and year in e for e in entries):
                missing.add(f"{author} {year} ({rel})")
    assert not missing, "add to docs/references.md: " + ", ".join(sorted(missing))
