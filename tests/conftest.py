"""Shared fixtures. Statistical tests use fixed seeds; their tolerances come from the
variance of what they measure (stated next to each), not from tuning until green."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def small_scenario_path() -> Path:
    return DATA / "small.toml"
