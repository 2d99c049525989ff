"""Shared fixtures. Statistical tests use fixed seeds; their tolerances come from the
variance of what they measure (stated next to each), not from tuning until green."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


def pytest_collection_modifyitems(config, items):
    """The statistical tests first. They hold the longest tests (minutes each): started at
    once, they run beside the many quick ones on the other cores, instead of one of them
    starting last and leaving a core idle for minutes at the end of the suite (pytest-xdist
    hands tests out in this order). Otherwise the order is unchanged."""
    items.sort(key=lambda item: 0 if "/statistical/" in f"/{item.nodeid}" else 1)


@pytest.fixture(scope="session")
def small_scenario_path() -> Path:
    return DATA / "small.toml"
