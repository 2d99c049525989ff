"""Scenarios: what a user asks for, checked before any long computation starts.

* :mod:`.schema`: every section and key of a scenario, with units, ranges, defaults and
  their sources; the resolved :class:`~sim.config.schema.Scenario`;
* :mod:`.loading`: reading a TOML file safely, ``--set`` overrides, messages that name the
  file, key, value and allowed range;
* :mod:`.errors`: :class:`~sim.config.errors.ScenarioError`, the one error a user sees;
* :mod:`.bundled`: the scenario files shipped with metasim;
* :mod:`.params`: the table of every parameter (``metasim params``).
"""
