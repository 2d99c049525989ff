"""Progress bars: one rule for when metasim draws one.

A bar goes to stderr, and only where a person watches it: ``progress=True`` always,
``progress=False`` never, and ``progress=None`` (the default of every command and function)
only when stderr is a terminal. Output redirected to a file, a notebook's captured stderr
or a pipe gets no bar, so printed results are never interleaved with one.
"""

from __future__ import annotations

import sys
from typing import Any


def show_progress(progress: bool | None) -> bool:
    """Whether to draw a bar: ``progress`` when given, else whether stderr is a terminal."""
    if progress is not None:
        return bool(progress)
    try:
        return bool(sys.stderr.isatty())
    except (AttributeError, ValueError):   # no stderr, or a closed one
        return False


def progress_bar(progress: bool | None, iterable: Any = None, **kwargs: Any) -> Any:
    """A tqdm bar over ``iterable`` (or a manual one, with ``total=``) that is drawn only
    when :func:`show_progress` says so; otherwise a silent one with the same interface."""
    from tqdm.auto import tqdm

    return tqdm(iterable, disable=not show_progress(progress), **kwargs)
