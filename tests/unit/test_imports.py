"""Importing metasim changes nothing of the user's: the matplotlib backend a notebook or a
desktop chose stays (the modules used to call matplotlib.use("Agg"), which overrode it)."""

from __future__ import annotations

import os
import subprocess
import sys


def test_importing_every_module_keeps_the_users_backend():
    """In a fresh interpreter whose backend is set to 'svg', importing every metasim module
    and drawing a figure leaves the backend as it was."""
    code = (
        "import importlib, pkgutil, matplotlib, sim\n"
        "before = matplotlib.get_backend()\n"
        "for m in pkgutil.walk_packages(sim.__path__, 'sim.'):\n"
        "    if m.name != 'sim.apps.classroom':\n"
        "        importlib.import_module(m.name)\n"
        "from sim.viz import figures as plots\n"
        "plots.funnel_figure([{'stage': 'detachment', 'reached': 10.0, 'lost': 1.0,"
        " 'lost_fraction': 0.1}], 'x')\n"
        "after = matplotlib.get_backend()\n"
        "assert before.lower() == after.lower() == 'svg', (before, after)\n"
    )
    env = {**os.environ, "MPLBACKEND": "svg"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
