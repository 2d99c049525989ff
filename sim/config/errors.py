"""The one error a user sees for anything wrong in a scenario, an experiment or an override."""

from __future__ import annotations


class ScenarioError(ValueError):
    """A scenario that cannot be used; ``str(error)`` is the message for the user."""


__all__ = ["ScenarioError"]
