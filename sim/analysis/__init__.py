"""Summaries of many patients: funnels, site frequencies, the state at diagnosis, survival,
and the one confidence-interval rule used by tables, figures and validation."""

from .intervals import *  # noqa: F403
from .intervals import __all__ as _intervals
from .summaries import *  # noqa: F403
from .summaries import __all__ as _summaries

__all__ = [*_intervals, *_summaries]
