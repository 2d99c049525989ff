"""Provenance: what made an output folder, written the same way into every one.

Every command that writes a folder (``run``, ``compare``, ``demo``, ``validate``,
``sweep``, ``sensitivity``, ``calibrate``, ``calibrate-presets``) writes ``metadata.json``
with :func:`write_provenance`: the versions of metasim, Python and the libraries that shape
results, the command as typed, the seed and how the random streams were derived, the wall
time, and the machine (host name, platform, cores). A folder can then be traced to what
made it, and re-made.

Versions are read from the installed packages' metadata (no library is imported here).
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import socket
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

#: Name of the provenance file in every output folder.
PROVENANCE_FILE = "metadata.json"
#: The libraries whose versions can change a result or a figure.
LIBRARIES = ("mesa", "numpy", "scipy", "pandas", "matplotlib", "pydantic", "pyabc", "SALib",
             "dask", "distributed", "lifelines")


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def command_line(argv: Sequence[str] | None = None) -> str:
    """The command as a user would type it again (``metasim run ...``), shell-quoted."""
    argv = list(sys.argv if argv is None else argv)
    if argv and (Path(argv[0]).name in ("metasim", "__main__.py", "cli")
                 or argv[0].endswith(("sim/apps/cli", "sim.apps.cli"))):
        argv = ["metasim", *argv[1:]]
    return shlex.join(argv)


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the platform says)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def provenance(*, command: str | Sequence[str] | None = None, seed: int | None = None,
               seed_note: str | None = None, streams: str | None = None,
               wall_time_s: float | None = None, started_unix: float | None = None,
               workers: int | None = None, executor: str | None = None,
               extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The provenance record (a JSON-able dict); ``extra`` adds command-specific fields."""
    from .. import __version__

    if command is None or not isinstance(command, str):
        command = command_line(command)
    now = datetime.now(UTC)
    record: dict[str, Any] = {
        "metasim_version": __version__,
        "python": sys.version.split()[0],
        **{name.lower(): _version(name) for name in LIBRARIES},
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "host_cores": os.cpu_count(),
        "usable_cores": usable_cores(),
        "command": command,
        "working_folder": os.getcwd(),
        "seed": seed,
        "seed_source": seed_note,
        "random_streams": streams,
        "executor": executor,
        "workers": workers,
        "started_utc": (datetime.fromtimestamp(started_unix, UTC).isoformat(timespec="seconds")
                        if started_unix is not None else None),
        "finished_utc": now.isoformat(timespec="seconds"),
        "wall_time_s": None if wall_time_s is None else round(float(wall_time_s), 3),
    }
    if extra:
        record.update(extra)
    return record


def write_provenance(folder: str | Path, **kwargs: Any) -> Path:
    """Write :func:`provenance` (same arguments) as ``folder/metadata.json``; return its path."""
    path = Path(folder) / PROVENANCE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(provenance(**kwargs), indent=2, default=str) + "\n",
                    encoding="utf-8")
    return path
