"""The documentation site builds without a single warning, and holds what it promises.

What this proves: ``python -m sphinx -W --keep-going -b html docs <tmp>`` succeeds, so

* every page under ``docs/`` is in the table of contents, and every link between pages and
  to a heading (``page.md#anchor``) resolves;
* every module of the ``sim`` package imports without a display and its docstrings are valid
  reStructuredText / NumPy style (autodoc and napoleon warn otherwise), so the API reference
  is complete: a new module is picked up by the ``metasim-modules`` directive of
  ``docs/conf.py`` and must build cleanly too;
* the command-line reference is generated from the ``metasim`` command itself (sphinx-click),
  so it lists every command;

and, from the built HTML, that the API pages document each subpackage's modules and the CLI
page every command. The site is built into a temporary folder; nothing is written into
``docs/``. About half a minute on 2 cores, hence ``slow``."""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys

import pytest

from ..conftest import ROOT

DOCS = ROOT / "docs"
PACKAGES = ("config", "biology", "engine", "experiments", "analysis", "io", "viz", "apps")


@pytest.mark.slow
def test_the_site_builds_without_warnings_and_documents_every_module_and_command(tmp_path):
    out = tmp_path / "html"
    env = {**os.environ, "MPLBACKEND": "Agg"}
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(out)],
        cwd=tmp_path, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0 and "WARNING" not in proc.stderr, \
        f"the site does not build cleanly:\n{proc.stderr[-6000:]}"

    for page in ("index", "tutorials/lesson", "tutorials/research", "tutorials/cluster-sweep",
                 "reference/cli", "reference/output-folder", "reference/scenario-files",
                 "model-and-evidence", "references", "architecture", "cluster"):
        assert (out / f"{page}.html").is_file(), page

    import sim
    from sim.apps.cli import main

    for package in PACKAGES:
        html = (out / "reference" / "api" / f"{package}.html").read_text(encoding="utf-8")
        pkg = __import__(f"sim.{package}", fromlist=["_"])
        modules = [m.name for m in pkgutil.walk_packages(pkg.__path__, f"sim.{package}.")
                   if not any(part.startswith("_") for part in m.name.split("."))]
        assert modules, package
        missing = [m for m in modules if f'id="{m.replace(".", "-").replace("_", "-")}"'
                   not in html]
        assert not missing, f"API page of sim.{package} lacks {missing}"
    assert sim.MetastasisModel.__name__ in (out / "reference" / "api" / "engine.html").read_text(
        encoding="utf-8")

    cli = (out / "reference" / "cli.html").read_text(encoding="utf-8")
    missing = [name for name in main.commands if f'id="metasim-{name}"' not in cli]
    assert not missing, f"the CLI reference lacks {missing}"
