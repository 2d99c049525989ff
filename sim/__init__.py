"""metasim: an agent-based simulator of the metastatic cascade (Mesa).

Quick use::

    from sim import MetastasisModel
    model = MetastasisModel("breast", rng=1, hypothesis="ewing").run()
    print(model.result().detectable_by_organ)

The names below are imported when first used, not with the package: ``metasim --help``
and ``metasim --version`` start in a fraction of a second instead of importing Mesa,
pandas and SciPy first.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("metasim")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"

#: Public name -> the module that defines it.
_EXPORTS = {
    "FUNNEL_STAGES": "sim.biology.stages",
    "MetastasisModel": "sim.engine.model",
    "PatientResult": "sim.engine.results",
    "Scenario": "sim.config.schema",
    "ScenarioError": "sim.config.errors",
    "SimulationLimitError": "sim.engine.cohorts",
    "load_scenario": "sim.config.loading",
    "make_scenario": "sim.config.loading",
}

if TYPE_CHECKING:
    from .biology.stages import FUNNEL_STAGES
    from .config.errors import ScenarioError
    from .config.loading import load_scenario, make_scenario
    from .config.schema import Scenario
    from .engine.cohorts import SimulationLimitError
    from .engine.model import MetastasisModel
    from .engine.results import PatientResult


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value   # imported once
        return value
    raise AttributeError(f"module 'sim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = ["FUNNEL_STAGES", "MetastasisModel", "PatientResult", "Scenario", "ScenarioError",
           "SimulationLimitError", "__version__", "load_scenario", "make_scenario"]
