"""Summaries of many patients: funnels, site frequencies, the state at diagnosis, survival,
and the one confidence-interval rule used by tables, figures and validation."""

from .summaries import *  # noqa: F403
from .summaries import __all__  # noqa: F401
