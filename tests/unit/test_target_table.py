"""The docs' population-target tables (sim.analysis.target_table): the agreement words
follow the stated 1.5x criterion, every fitted target and check of a site gets its row, and
a folder without a run's summary is refused with its path."""

from __future__ import annotations

import json

import pytest

from sim.analysis.target_table import agreement, death_row, main, target_table
from sim.biology.targets import CHECKS, targets_for


@pytest.mark.parametrize("value, low, high, words", [
    (0.30, 0.25, 0.35, "within"),        # ratio 1.5: the boundary is inside
    (0.10, 0.05, 0.15, "overlaps"),      # ratio 0.5; the interval reaches 0.2 / 1.5
    (0.10, 0.05, 0.12, "outside"),       # ratio 0.5; the interval stops below 0.133
    (0.05, 0.00, 0.30, "overlaps"),
    (None, None, None, "not measured"),
])
def test_agreement_words_follow_the_factor_of_one_and_a_half(value, low, high, words):
    """Published 20 %: within 1.5x means 13.3-30 %; otherwise the interval must meet that
    band to overlap. A criterion of another factor, or a test on the value alone, fails."""
    assert words in agreement(0.20, value, low, high)


def test_every_target_and_check_of_a_site_has_a_row():
    """A breast summary with one measured share: the table has one row per fitted target
    and check, marks their roles, and prints the measured one with its interval and n."""
    summary = {"primary": "breast", "population": {
        "dtc_positive_marrow_at_diagnosis": {"fraction": 0.25, "low": 0.2, "high": 0.31,
                                             "of": 196}}}
    rows = [r for r in target_table(summary).splitlines()[2:]]
    assert len(rows) == len(targets_for("breast")) + len(CHECKS["breast"])
    assert sum("| fit |" in r for r in rows) == len(targets_for("breast"))
    dtc = next(r for r in rows if "DTC" in r)
    assert "25 % (20–31 %; n = 196)" in dtc and "within 1.5×" in dtc
    assert death_row(summary).count("|") == 9


def test_a_folder_without_a_summary_is_refused_with_its_path(tmp_path):
    with pytest.raises(SystemExit, match=r"summary\.json"):
        main([str(tmp_path)])
    (tmp_path / "summary.json").write_text(json.dumps({"primary": "lung", "replicates": 3}))
    assert "**lung**" in main([str(tmp_path)])
