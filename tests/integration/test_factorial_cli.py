"""`metasim factorial`: refusals before any simulation, and a small trial end to end."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from sim.apps.cli import main
from sim.experiments.factorial import CELLS


@pytest.mark.parametrize(("args", "message"), [
    (["--primaries", "colon,rectum,breast"], "2 independent rows"),
    (["--primaries", "colon,nosuch"], "nosuch"),
    (["--patients", "5"], "--patients"),
])
def test_bad_requests_are_refused_before_any_simulation(args, message, tmp_path):
    """Colon and rectum are one group, so with breast they are two independent rows (too
    few for a shared term); an unknown preset and a tiny cohort are refused too: exit 2,
    one message, nothing written."""
    res = CliRunner().invoke(main, ["factorial", *args, "--out", str(tmp_path / "f")])
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert not (tmp_path / "f").exists()


@pytest.mark.slow
def test_a_small_trial_writes_its_tables_and_provenance(tmp_path):
    """Three presets, small cohorts and few draws: every model is scored for every preset,
    the probabilities of each primary sum to 1, and the folder holds the report, its tables
    and the provenance."""
    out = tmp_path / "f"
    res = CliRunner().invoke(main, ["factorial", "--primaries", "kidney,thyroid,bladder",
                                    "--patients", "20", "--draws", "60", "--folds", "2",
                                    "--workers", "1", "--seed", "3", "--out", str(out)])
    assert res.exit_code == 0, res.output
    report = json.loads((out / "factorial.json").read_text())
    assert set(report["evidence"]) == {c.name for c in CELLS}
    for primary, probs in report["probabilities"].items():
        assert primary in ("kidney", "thyroid", "bladder")
        assert sum(probs.values()) == pytest.approx(1.0)
    md = (out / "factorial.md").read_text()
    assert "| kidney |" in md and "`uniform+organ+seed`" in md
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["seed"] == 3
