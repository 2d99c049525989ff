"""The layout keeps its promises (docs/architecture.md): no module reads another's private
names, the biology and the results import no Mesa, and the layers import only downwards."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SIM = Path(__file__).resolve().parents[2] / "sim"
MODULES = sorted(p for p in SIM.rglob("*.py") if "_scenarios" not in p.parts)


def _module_name(path: Path) -> str:
    parts = path.relative_to(SIM.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of the modules ``path`` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text())
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            mod = ".".join([*base, node.module] if node.module else base)
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)
    return out


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _defined_here(tree: ast.AST) -> set[str]:
    """Private names a module defines itself (functions, classes, attributes it assigns)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return {n for n in names if _private(n)}


def test_the_checks_below_see_every_module():
    """A control: the walk finds the packages the architecture names."""
    names = {_module_name(p) for p in MODULES}
    for expected in ("sim.engine.model", "sim.engine.ledger", "sim.biology.cascade",
                     "sim.config.schema", "sim.experiments.executors", "sim.io.outputs",
                     "sim.viz.style", "sim.apps.cli"):
        assert expected in names


@pytest.mark.parametrize("path", MODULES, ids=_module_name)
def test_no_module_reads_another_modules_private_names(path):
    """``obj._name`` is allowed only where the module itself defines ``_name`` (its own
    classes' internals); ``from x import _name`` never."""
    tree = ast.parse(path.read_text())
    own = _defined_here(tree)
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module != "__future__":
            bad += [f"imports {a.name}" for a in node.names if _private(a.name)]
        elif isinstance(node, ast.Attribute) and _private(node.attr) and node.attr not in own:
            base = node.value
            root = base.id if isinstance(base, ast.Name) else None
            if root not in ("self", "cls", "os", "sys"):   # os._exit, sys._getframe: stdlib API
                bad.append(f"line {node.lineno}: .{node.attr}")
    assert not bad, bad


def test_the_private_name_check_would_catch_a_violation(tmp_path):
    """A control for the check above: a module reading another's private attribute fails."""
    tree = ast.parse("def f(m):\n    return m._prune\n")
    own = _defined_here(tree)
    found = [n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
             and _private(n.attr) and n.attr not in own]
    assert found == ["_prune"]


@pytest.mark.parametrize("path", [p for p in MODULES if p.parent.name == "biology"]
                         + [SIM / "engine" / "results.py"], ids=_module_name)
def test_the_biology_and_the_results_import_no_mesa(path):
    """The biology is independent of the engine that simulates it, and results can be read
    without importing the simulator."""
    imported = _imports(path)
    assert not any(m == "mesa" or m.startswith("mesa.") for m in imported)
    assert not any(m.startswith("sim.engine") and m not in ("sim.engine.results",)
                   for m in imported), imported


LAYERS = {
    # package: packages it must not import
    "biology": ("sim.engine", "sim.experiments", "sim.io", "sim.viz", "sim.apps",
                "sim.analysis"),
    "config": ("sim.engine", "sim.experiments", "sim.io", "sim.viz", "sim.apps",
               "sim.analysis"),
    "engine": ("sim.experiments", "sim.io", "sim.viz", "sim.apps", "sim.analysis"),
    "analysis": ("sim.engine.model", "sim.experiments", "sim.io", "sim.viz", "sim.apps"),
    "viz": ("sim.engine.model", "sim.engine.cohorts", "sim.engine.colonies", "sim.engine.agents",
            "sim.engine.clinic", "sim.engine.dissemination", "sim.engine.ledger",
            "sim.experiments", "sim.io", "sim.apps", "mesa"),
    "experiments": ("sim.apps", "sim.viz.bodymap", "sim.viz.svg"),
    "io": ("sim.apps",),
}


@pytest.mark.parametrize("path", [p for p in MODULES if p.parent.name in LAYERS],
                         ids=_module_name)
def test_layers_import_only_downwards(path):
    """Each package imports only the layers below it (docs/architecture.md)."""
    forbidden = LAYERS[path.parent.name]
    bad = sorted(m for m in _imports(path) if m.startswith(forbidden))
    assert not bad, bad


@pytest.mark.parametrize("path", [p for p in MODULES if p.parent.name == "experiments"],
                         ids=_module_name)
def test_the_experiments_take_only_the_style_from_the_pictures(path):
    """docs/architecture.md: experiments import ``viz.style`` and nothing else of the
    pictures (figures are written by ``sim.io``); a calibration that drew its own figures
    from ``experiments`` broke this unnoticed."""
    bad = sorted(m for m in _imports(path)
                 if m.startswith("sim.viz.") and not m.startswith("sim.viz.style"))
    assert not bad, bad


def test_the_random_streams_have_one_owner_below_the_engine():
    """Every spawn key is defined in ``sim.streams``, which imports nothing of metasim, so the
    engine, the experiments and the calibration all take their streams from one place (they
    were defined in three modules, kept apart by a comment)."""
    assert not any(m.startswith("sim") for m in _imports(SIM / "streams.py"))
    owners = sorted(_module_name(p) for p in MODULES
                    if "_SPAWN_KEY = 2**31" in p.read_text() or "SPAWN_KEY = 2 **" in
                    p.read_text())
    assert owners == ["sim.streams"], owners


def test_the_mesa_model_is_what_the_results_read():
    """``sim.engine.results`` types the model it reads as structural protocols (it may not
    import the engine); a real model, its colonies, cohorts, ledger, clinic, primary and
    traits, and a colony, have every member those protocols name. Renaming one on either
    side fails here (mypy cannot see it: mesa's Model has no type information)."""
    import numpy as np

    from sim import MetastasisModel, load_scenario
    from sim.engine import results as r

    model = MetastasisModel(load_scenario("presets/breast", [("simulation.horizon_days", 3)]),
                            rng=np.random.default_rng(1))
    while model.running:
        model.step()
    model.colonies.found(organ=3, clone=0, cluster_size=1, n=1, origin="solitary", day=0.0)
    assert isinstance(model, r.CourseView)
    for part, view in ((model.colonies, r.ColoniesView), (model.cohorts, r.CohortsView),
                       (model.ledger, r.LedgerView), (model.clinic, r.ClinicView),
                       (model.primary, r.PrimaryView), (model.traits, r.TraitsView),
                       (next(iter(model.colonies)), r.ColonyView)):
        assert isinstance(part, view), (part, view)
