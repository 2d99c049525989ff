"""The ``metasim`` command: a thin layer over :mod:`sim.experiments` and :mod:`sim.io`.

Each command parses its options, checks them (one message and exit status 2 for anything
wrong, before any long computation: :mod:`.common`) and hands the work to the library. The
commands live by topic:

* :mod:`.simulate` - ``run``, ``compare``, ``demo``;
* :mod:`.validate` - ``validate``;
* :mod:`.factorial` - ``factorial``;
* :mod:`.calibrate` - ``calibrate``, ``calibrate-presets``;
* :mod:`.batch` - ``sweep``, ``plot``, ``sensitivity``;
* :mod:`.classroom` - ``app``, ``animate``;
* :mod:`.info` - ``params``, ``scenarios``, ``reference``.

Nothing heavy is imported until a command runs, so ``metasim --help`` and ``--version``
answer at once (``benchmarks/cli_startup.py`` measures it).
"""

from __future__ import annotations

import click

from .batch import plot_cmd, sensitivity_cmd, sweep
from .calibrate import calibrate, calibrate_presets
from .classroom import animate_cmd, app_cmd
from .factorial import factorial_cmd
from .info import params_cmd, reference, scenarios
from .simulate import compare_cmd, demo, run
from .validate import validate


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="metasim")
def main() -> None:
    """metasim: simulate the metastatic cascade and compare Paget's seed-and-soil with
    Ewing's anatomical hypothesis.

    SCENARIO is a TOML file or the name of a bundled scenario (see `metasim scenarios`).
    """


for _command in (run, compare_cmd, validate, factorial_cmd, calibrate, calibrate_presets, sweep,
                 plot_cmd,
                 sensitivity_cmd, app_cmd, animate_cmd, params_cmd, scenarios, reference, demo):
    main.add_command(_command)

__all__ = ["main"]
