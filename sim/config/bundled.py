"""The scenario files bundled with metasim (``scenarios/`` in the repository)."""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path

_PACKAGED = Path(__file__).resolve().parent / "_scenarios"
_REPOSITORY = Path(__file__).resolve().parents[2] / "scenarios"


def scenario_dir() -> Path:
    """Folder of the bundled scenarios (installed copy, else the repository's)."""
    return _PACKAGED if _PACKAGED.is_dir() else _REPOSITORY


def is_experiment(path: Path) -> bool:
    """An experiment file (``metasim sweep``) rather than a scenario: it lists ``scenarios``."""
    from .errors import ScenarioError
    from .loading import read_toml

    try:
        return "scenarios" in read_toml(path)
    except ScenarioError:
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


def bundled_names() -> list[str]:
    """Every bundled scenario and experiment name (``presets/breast``, ...)."""
    root = scenario_dir()
    return sorted(p.relative_to(root).with_suffix("").as_posix() for p in root.rglob("*.toml"))


def suggest(name: str | Path) -> str:
    """`` (did you mean 'presets/breast'?)`` for a mistyped bundled name, else ``""``."""
    names = bundled_names()
    text = str(name).removesuffix(".toml")
    folder, _, stem = text.rpartition("/")
    # Compare the last part only (a shared "presets/" prefix would make anything look close),
    # within the folder named, or within the folders a bare name is looked up in.
    pool = [n for n in names if n.rpartition("/")[0] == folder] if folder else \
        [n for n in names if n.startswith(("presets/", "classroom/"))]
    stems = {n.rpartition("/")[2]: n for n in reversed(pool)}
    hit = difflib.get_close_matches(stem, list(stems), n=1, cutoff=0.75)
    if not hit and len(stem) >= 3:  # the start of a name: clinical/late -> late_relapse
        hit = sorted(n for n in stems if n.startswith(stem))[:1]
    return f" (did you mean {stems[hit[0]]!r}?)" if hit else ""


def bundled_path(name: str | Path) -> Path | None:
    """The file of a bundled scenario name (``presets/breast``, or a bare ``breast`` looked up
    in ``presets/`` and ``classroom/``), or None. Never a path relative to the working folder."""
    p = Path(name)
    root = scenario_dir()
    if p.suffix != ".toml" and len(p.parts) <= 2 and not p.is_absolute() and ".." not in p.parts:
        for candidate in (root / f"{p}.toml", root / "presets" / f"{p}.toml",
                          root / "classroom" / f"{p}.toml"):
            if candidate.is_file():
                return candidate
    return None


def find_scenario(name: str | Path) -> Path:
    """A scenario path, or a bundled name like ``presets/breast`` or ``breast``.

    A name that is neither an existing path nor a bundled scenario raises ScenarioError with
    the closest bundled name, if any.
    """
    from .errors import ScenarioError

    if not str(name).strip():
        raise ScenarioError("no scenario given: name a TOML file or a bundled scenario "
                            "(`metasim scenarios` lists them)")
    p = Path(name)
    try:
        exists = p.exists()
    except OSError:  # e.g. a path inside a folder that cannot be searched
        exists = True  # let the reader report why it cannot be read
    if exists:
        return p
    found = bundled_path(p)
    if found is not None:
        return found
    raise ScenarioError(f"{name}: no such file or bundled scenario{suggest(name)}; "
                        "`metasim scenarios` lists the bundled ones")
