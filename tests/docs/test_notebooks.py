"""The notebooks run top to bottom (quick settings: METASIM_NOTEBOOK_QUICK=1), are stored
without outputs, and show every figure they build.

A *figure cell* is a code cell tagged ``figure`` in its metadata (Jupyter's cell tags). The
tags are checked against the code: a cell is tagged exactly when it calls one of metasim's
figure functions (:func:`figure_builders`), so a new figure cell cannot be left untagged and
escape the check that it shows a picture."""

from __future__ import annotations

import ast
import inspect
import os

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

import sim.viz.bodymap
import sim.viz.calibration_figures
import sim.viz.figures
import sim.viz.sweep_figures

from ..conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
FIGURE_TAG = "figure"


def figure_builders() -> set[str]:
    """The public functions of sim.viz that build a figure: names ending in ``_figure``, and
    ``body_map``."""
    names = set()
    for module in (sim.viz.figures, sim.viz.sweep_figures, sim.viz.bodymap,
                   sim.viz.calibration_figures):
        names |= {name for name, f in inspect.getmembers(module, inspect.isfunction)
                  if not name.startswith("_")
                  and (name.endswith("_figure") or name == "body_map")}
    return names


def _called_names(source: str) -> set[str]:
    """Names of the functions a cell calls (``f(...)`` and ``module.f(...)``); IPython magics
    (lines starting with % or !) are left out of the parse."""
    code = "\n".join(line for line in source.splitlines()
                     if not line.lstrip().startswith(("%", "!")))
    names = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name):
                names.add(node.func.id)
            elif isinstance(node.func, ast.Attribute):
                names.add(node.func.attr)
    return names


def _code_cells(nb) -> list[tuple[int, nbformat.NotebookNode]]:
    return [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]


def _tagged(cell) -> bool:
    return FIGURE_TAG in cell.get("metadata", {}).get("tags", [])


def _pngs(cell) -> int:
    return sum("image/png" in o.get("data", {}) for o in cell.get("outputs", []))


def _execute(nb, tmp_path, env: dict[str, str]) -> None:
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute(env=env)


def _kernel_env(monkeypatch, backend: str | None) -> dict[str, str]:
    """The kernel's environment: quick settings, and matplotlib's backend ``backend`` (None:
    unset, so ipykernel chooses its inline backend as it does for a user)."""
    monkeypatch.setenv("METASIM_NOTEBOOK_QUICK", "1")
    if backend is None:
        monkeypatch.delenv("MPLBACKEND", raising=False)
    else:
        monkeypatch.setenv("MPLBACKEND", backend)
    return dict(os.environ)


def test_the_three_notebooks_exist_and_are_stored_without_outputs():
    """The three notebooks are there and hold no outputs (a stored picture would go stale
    and bloat every diff)."""
    assert [p.stem for p in NOTEBOOKS] == ["01_classroom_tour", "02_seed_vs_soil",
                                           "03_sweeps_and_sensitivity"]
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), path.name


def test_the_figure_functions_are_found():
    """The list of figure functions the tags are checked against is not empty by accident
    (a renamed module would leave every cell 'not building a figure')."""
    assert {"body_map", "funnel_figure", "site_frequency_figure", "response_figure",
            "weiss_heatmap_figure", "timecourse_figure"} <= figure_builders()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_figure_cells_are_tagged_and_end_with_their_figure(path):
    """Each notebook has figure cells, and a code cell is tagged ``figure`` exactly when it
    calls a figure function of sim.viz. A figure cell's last line is not silenced with
    ``;`` (that hid every figure: a cell shows what its last expression returns)."""
    nb = nbformat.read(path, as_version=4)
    builders = figure_builders()
    tagged = {i for i, c in _code_cells(nb) if _tagged(c)}
    building = {i for i, c in _code_cells(nb) if _called_names(c.source) & builders}
    assert tagged, f"{path.name}: no cell is tagged {FIGURE_TAG!r}"
    assert tagged == building, (path.name, sorted(tagged), sorted(building))
    silenced = [i for i in tagged if nb.cells[i].source.rstrip().endswith(";")]
    assert silenced == [], (path.name, silenced)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["Agg", None], ids=["MPLBACKEND=Agg", "inline"])
def test_a_figure_ending_a_cell_is_shown_once(backend, tmp_path, monkeypatch):
    """A metasim figure that ends a cell is shown as one PNG, whatever the matplotlib
    backend: with MPLBACKEND=Agg (the figure's own PNG), with ipykernel's default inline
    backend, and after ``%matplotlib inline`` (whose figure formatter takes precedence, so
    the figure is not shown twice). Before, each such cell showed only the text
    '<Figure size ... with 1 Axes>'."""
    nb = new_notebook(cells=[
        new_code_cell("from sim.viz.figures import funnel_figure\n"
                      "fig = funnel_figure([{'stage': 'detachment', 'reached': 100.0, "
                      "'lost': 10.0}])\nfig"),
        new_code_cell("%matplotlib inline\nfig"),
        new_code_cell("print('no figure here')"),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                "language": "python"}})
    _execute(nb, tmp_path, _kernel_env(monkeypatch, backend))
    assert [_pngs(c) for c in nb.cells] == [1, 1, 0]


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom_and_shows_every_figure(path, tmp_path, monkeypatch):
    """Quick settings, Agg backend (no inline backend to rely on): no cell raises, and every
    figure cell holds exactly one PNG picture (before: 0 pictures in every notebook)."""
    nb = nbformat.read(path, as_version=4)
    _execute(nb, tmp_path, _kernel_env(monkeypatch, "Agg"))
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    shown = {i: _pngs(c) for i, c in _code_cells(nb) if _tagged(c)}
    assert shown and all(n == 1 for n in shown.values()), (path.name, shown)
