"""Reference tables: citations, organ mapping, nothing silently dropped."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from sim.anatomy import ORGANS, PRIMARY_SITES, flow_fractions
from sim.cli import main
from sim.reference import DISIBIO_2008, ICRP89_FLOW, TABLES, describe


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
    assert flow_fractions("male")["kidney"] == pytest.approx(0.19, rel=0.01)


def test_cli_lists_tables_with_citations_and_prints_each():
    res = CliRunner().invoke(main, ["reference", "--list"])
    assert res.exit_code == 0
    assert "Arch Pathol Lab Med 132" in res.output and "ICRP Publication 89" in res.output
    for name in TABLES:
        assert describe(name).startswith(TABLES[name])
    res = CliRunner().invoke(main, ["reference", "disibio2008"])
    assert "UNMAPPED" in res.output and "pericardium" in res.output
    assert CliRunner().invoke(main, ["reference", "nope"]).exit_code == 2
