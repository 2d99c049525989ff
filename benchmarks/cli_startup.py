"""How long the ``metasim`` command takes to answer: ``python -m benchmarks.cli_startup``.

A user's first command is often ``metasim --help``; every command pays the start before it
parses its options. Measured as wall time of a fresh process (median of ``--repeats``), each
next to a baseline timed in the same run: ``python -c "import numpy"``, the floor of any
command of a numpy program. The full import of metasim's simulator (``import
sim.engine.model``, what the command used to import before parsing anything) is timed too,
to show what the lazy imports save.

Nothing here is asserted (machines differ; ``tests/integration/test_first_hour.py`` checks
instead that ``--help`` imports none of the heavy libraries). Results print as a table and
go to ``benchmarks/cli_results.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

OUT = Path(__file__).with_name("cli_results.json")


def _metasim() -> list[str]:
    exe = shutil.which("metasim")
    return [exe] if exe else [sys.executable, "-m", "sim.apps.cli"]


def cases() -> dict[str, list[str]]:
    py = [sys.executable]
    return {
        'baseline: python -c "import numpy"': [*py, "-c", "import numpy"],
        "metasim --version": [*_metasim(), "--version"],
        "metasim --help": [*_metasim(), "--help"],
        "metasim run --help": [*_metasim(), "run", "--help"],
        "metasim sweep --help": [*_metasim(), "sweep", "--help"],
        'reference: python -c "import sim.engine.model"': [*py, "-c",
                                                           "import sim.engine.model"],
    }


def wall_time(cmd: list[str], repeats: int) -> float:
    """Median wall time of ``cmd`` in a fresh process, seconds (after one warm-up run)."""
    subprocess.run(cmd, capture_output=True, check=True)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    measured = {name: wall_time(cmd, args.repeats) for name, cmd in cases().items()}
    base = next(v for k, v in measured.items() if k.startswith("baseline"))
    rows: list[dict[str, str | float]] = [
        {"command": k, "seconds": round(v, 4), "ratio_to_baseline": round(v / base, 2)}
        for k, v in measured.items()]
    result = {"measured_utc": datetime.now(UTC).isoformat(timespec="seconds"),
              "machine": f"{platform.processor() or platform.machine()}, "
                         f"{platform.platform()}, Python {platform.python_version()}",
              "repeats": args.repeats, "rows": rows}
    OUT.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    width = max(len(str(r["command"])) for r in rows)
    print(f"{'command':<{width}}  {'median s':>9}  {'x baseline':>10}")
    for r in rows:
        print(f"{r['command']!s:<{width}}  {r['seconds']:>9.3f}  {r['ratio_to_baseline']:>10.2f}")
    return result


if __name__ == "__main__":
    main()
