"""metasim: an agent-based simulator of the metastatic cascade (Mesa).

Quick use::

    from sim import MetastasisModel
    model = MetastasisModel("breast", rng=1, hypothesis="ewing").run()
    print(model.result().detectable_by_organ)
"""

from importlib.metadata import PackageNotFoundError, version

from .biology.stages import FUNNEL_STAGES
from .config.errors import ScenarioError
from .config.loading import load_scenario, make_scenario
from .config.schema import Scenario
from .engine.cohorts import SimulationLimitError
from .engine.model import MetastasisModel
from .engine.results import PatientResult

try:
    __version__ = version("metasim")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"

__all__ = ["FUNNEL_STAGES", "MetastasisModel", "PatientResult", "Scenario", "ScenarioError",
           "SimulationLimitError", "__version__", "load_scenario", "make_scenario"]
