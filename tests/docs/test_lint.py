"""House style: ruff clean (configured in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys

from ..conftest import ROOT


def test_ruff_is_clean():
    """`pip install -e .[test]` installs ruff into the same environment as pytest."""
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "sim", "tests", "benchmarks"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_is_clean():
    """The package type-checks (mypy, configured in pyproject.toml; installed by the test
    extra), so annotations stay true as the code changes."""
    proc = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
