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


def test_the_models_core_is_type_checked_strictly():
    """The biology, the engines and the configuration are checked as ``mypy --strict`` would
    (every function annotated, no bare generics, no Any returned for a promised type, no
    implicit re-export): the configuration that ``test_mypy_is_clean`` runs says so, and
    dropping a package or a flag from it fails here."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    overrides = config["tool"]["mypy"]["overrides"]
    strict = [o for o in overrides if o.get("disallow_untyped_defs")]
    modules = {m for o in strict for m in o["module"]}
    assert {"sim.biology.*", "sim.engine.*", "sim.config.*"} <= modules
    for flag in ("disallow_incomplete_defs", "disallow_any_generics", "warn_return_any",
                 "no_implicit_reexport", "check_untyped_defs", "strict_equality"):
        assert all(o.get(flag) for o in strict), flag
