"""The scenario files bundled with metasim (``scenarios/`` in the repository)."""

from __future__ import annotations

import tomllib
from pathlib import Path

_PACKAGED = Path(__file__).resolve().parent / "_scenarios"
_REPOSITORY = Path(__file__).resolve().parent.parent / "scenarios"


def scenario_dir() -> Path:
    """Folder of the bundled scenarios (installed copy, else the repository's)."""
    return _PACKAGED if _PACKAGED.is_dir() else _REPOSITORY


def is_experiment(path: Path) -> bool:
    """An experiment file (``metasim sweep``) rather than a scenario: it lists ``scenarios``."""
    try:
        return "scenarios" in tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, OSError):
        return False


def list_scenarios(experiments: bool = False) -> list[tuple[str, str]]:
    """(name, one-line description) of every bundled scenario (or experiment file)."""
    root = scenario_dir()
    out = []
    for p in sorted(root.rglob("*.toml")):
        if is_experiment(p) != experiments:
            continue
        try:
            desc = tomllib.loads(p.read_text(encoding="utf-8")).get("description", "")
        except (tomllib.TOMLDecodeError, OSError):
            desc = "(unreadable)"
        out.append((p.relative_to(root).with_suffix("").as_posix(), desc.strip().split("\n")[0]))
    return out


def find_scenario(name: str | Path) -> Path:
    """A scenario path, or a bundled name like ``presets/breast`` or ``breast``."""
    p = Path(name)
    if p.exists() or p.suffix == ".toml" or len(p.parts) > 2:
        return p
    root = scenario_dir()
    for candidate in (root / f"{p}.toml", root / "presets" / f"{p}.toml",
                      root / "classroom" / f"{p}.toml"):
        if candidate.is_file():
            return candidate
    return p
