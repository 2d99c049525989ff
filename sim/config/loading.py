"""Loading a scenario: reading the file safely, parsing TOML, ``--set`` overrides, and
error messages that name the file, the key, the value and what is allowed.

Every failure is a :class:`~sim.config.errors.ScenarioError`, raised before any simulation
starts.
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .errors import ScenarioError
from .schema import Scenario


def parse_override(text: str) -> tuple[str, Any]:
    """Parse ``dotted.key=value``; the value is read as TOML, else taken as a string."""
    if "=" not in text:
        raise ScenarioError(f"--set {text!r}: expected KEY=VALUE, e.g. "
                            "--set primary.site=colon")
    key, raw = text.split("=", 1)
    key, raw = key.strip(), raw.strip()
    if not key or any(not part for part in key.split(".")):
        raise ScenarioError(f"--set {_short(text)}: the key must be a dotted path such as "
                            "simulation.dt_days")
    if key.count(".") >= MAX_NESTING:
        raise ScenarioError(f"--set {_short(key)}: {key.count('.') + 1} key parts; no scenario "
                            f"key has more than 4 (at most {MAX_NESTING} accepted)")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    except RecursionError:
        raise ScenarioError(f"--set {_short(key)}: the value is nested too deeply") from None
    if nesting_depth(value) > MAX_NESTING:
        raise ScenarioError(f"--set {_short(key)}: the value is nested more than "
                            f"{MAX_NESTING} levels deep")
    return key, value


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def apply_overrides(data: dict[str, Any], overrides: Sequence[tuple[str, Any]]) -> dict:
    """Set each dotted key in a nested dict (list items by index)."""
    for key, value in overrides:
        node: Any = data
        parts = key.split(".")
        for i, part in enumerate(parts[:-1]):
            here = ".".join(parts[: i + 1])
            if isinstance(node, list):
                nxt = node[_list_item_index(node, part, here)]
            else:
                nxt = node.get(part)
                if nxt is None:
                    if parts[i + 1].isdigit():
                        raise ScenarioError(
                            f"--set {key}: {here} is not set in the scenario; define the list "
                            "in the file first (e.g. [[primary.subclones]])")
                    nxt = {}
                    node[part] = nxt
            if not isinstance(nxt, (dict, list)):
                raise ScenarioError(f"--set {key}: {here} is a value ({nxt!r}), not a section")
            node = nxt
        if isinstance(node, list):
            node[_list_item_index(node, parts[-1], key)] = value
        else:
            node[parts[-1]] = value
    return data


def _list_item_index(node: list, part: str, path: str) -> int:
    if not part.isdigit() or int(part) >= len(node):
        raise ScenarioError(f"--set {path}: {part!r} is not an index of a list of "
                            f"{len(node)} item(s)")
    return int(part)


def _fmt_value(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 80 else text[:77] + "..."


def _allowed_keys(loc: tuple, root: Any = None) -> list[str]:
    model: Any = root or Scenario
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if hasattr(model, "model_fields") else None
        if field is None:
            return []
        ann = field.annotation
        for candidate in (ann, *getattr(ann, "__args__", ())):
            inner = getattr(candidate, "__args__", ())
            for c in (candidate, *inner):
                if isinstance(c, type) and issubclass(c, BaseModel):
                    model = c
                    break
            else:
                continue
            break
        else:
            return []
    return list(model.model_fields) if hasattr(model, "model_fields") else []


def format_errors(err: ValidationError, source: str,
                   overridden: Mapping[str, str], root: Any = None) -> str:
    lines = []
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if p != "[key]")
        path = ".".join(str(p) for p in loc) or "(top level)"
        where = next((label for k, label in overridden.items()
                      if k == path or path.startswith(k + ".")), None)
        if where is None:
            below = [label for k, label in overridden.items() if k.startswith(path + ".")]
            where = f"{source} (with {', '.join(below)})" if below and path != "(top level)" \
                else source
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            allowed = _allowed_keys(loc, root)
            msg = "unknown key" + (f"; allowed here: {', '.join(allowed)}" if allowed else "")
        elif e["type"] == "literal_error" and e["loc"][-1] == "[key]":
            msg = f"unknown name; {msg.replace('Input should be', 'allowed:')}"
        elif e["type"] == "finite_number":
            msg = "must be a finite number (NaN and infinity are not allowed)"
        elif e["type"] in ("missing",):
            msg = "required key is missing"
        if where == f"--set {path}" and e["type"] != "extra_forbidden":
            lines.append(f"{where}={_fmt_value(e['input'])}: {msg}")
        elif e["type"] == "value_error" and not e["loc"]:
            lines.append(f"{where}: {msg}")
        elif e["type"] == "value_error" and isinstance(e["input"], dict):
            lines.append(f"{where}: {path}: {msg}")
        else:
            lines.append(f"{where}: {path} = {_fmt_value(e['input'])}: {msg}")
    head = "invalid scenario" if len(lines) == 1 else f"invalid scenario ({len(lines)} problems)"
    return head + ":\n  " + "\n  ".join(lines)


def make_scenario(data: Mapping[str, Any] | None = None,
                  overrides: Sequence[str | tuple[str, Any]] = (),
                  source: str = "<scenario>") -> Scenario:
    """Validate a scenario from a mapping plus ``KEY=VALUE`` overrides.

    Raises
    ------
    ScenarioError
        With one message naming the source, the key path, the value and what is allowed.
    """
    pairs = [parse_override(o) if isinstance(o, str) else o for o in overrides]
    check_nesting(dict(data or {}), source)
    for key, value in pairs:
        if str(key).count(".") >= MAX_NESTING or nesting_depth(value) > MAX_NESTING:
            raise ScenarioError(f"--set {_short(str(key))}: nested more than {MAX_NESTING} "
                                "levels deep")
    raw = apply_overrides(_deepcopy(dict(data or {})), pairs)
    overridden = {k: f"--set {k}" for k, _ in pairs}
    try:
        return Scenario.model_validate(raw)
    except ValidationError as err:
        raise ScenarioError(format_errors(err, source, overridden)) from None


def _deepcopy(d: Any) -> Any:
    if isinstance(d, dict):
        return {k: _deepcopy(v) for k, v in d.items()}
    if isinstance(d, list):
        return [_deepcopy(v) for v in d]
    return d


#: Largest scenario or experiment file read (bytes). The bundled ones are under 10 KB; the
#: limit keeps ``/dev/zero`` or a huge file from exhausting memory.
MAX_FILE_BYTES = 1_000_000
#: Deepest nesting of tables and arrays accepted in a file or a ``--set`` value; no scenario
#: key is deeper than 4, and deep nesting would exhaust Python's recursion limit.
MAX_NESTING = 16


def read_text_file(path: str | Path, what: str = "scenario file",
                   max_bytes: int = MAX_FILE_BYTES) -> str:
    """Read a regular UTF-8 file of at most ``max_bytes``; every failure is a ScenarioError.

    Special files are refused without blocking: the file is opened non-blocking (a FIFO with
    no writer cannot pin the process) and checked with ``fstat`` on the open descriptor, so
    a device, a FIFO or a folder is never read.
    """
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise ScenarioError(f"{p}: no such {what}") from None
    except IsADirectoryError:
        raise ScenarioError(f"{p}: is a directory, not a {what}") from None
    except PermissionError:
        raise ScenarioError(f"{p}: permission denied (cannot read this {what})") from None
    except OSError as e:
        raise ScenarioError(f"{p}: cannot be read ({e.strerror or e})") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise ScenarioError(f"{p}: is a directory, not a {what}")
        if not stat.S_ISREG(info.st_mode):
            raise ScenarioError(f"{p}: is not a regular file (a device, FIFO or socket); "
                                f"a {what} must be a regular file")
        if info.st_size > max_bytes:
            raise ScenarioError(f"{p}: {info.st_size:,} bytes; a {what} may have at most "
                                f"{max_bytes:,}")
        with os.fdopen(fd, "rb", closefd=True) as fh:
            fd = -1
            data = fh.read(max_bytes + 1)
    except OSError as e:
        raise ScenarioError(f"{p}: cannot be read ({e.strerror or e})") from None
    finally:
        if fd >= 0:
            os.close(fd)
    if len(data) > max_bytes:
        raise ScenarioError(f"{p}: larger than {max_bytes:,} bytes, the most a {what} may have")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ScenarioError(f"{p}: not a UTF-8 text file ({e.reason})") from None


def parse_toml(text: str, source: str) -> dict[str, Any]:
    """Parse TOML text; malformed or too deeply nested input is a ScenarioError."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(f"{source}: malformed TOML: {e}") from None
    except RecursionError:
        raise ScenarioError(f"{source}: tables or arrays nested too deeply (at most "
                            f"{MAX_NESTING} levels)") from None
    check_nesting(data, source)
    return data


def nesting_depth(value: Any) -> int:
    """Depth of nested tables and arrays (0 for a plain value), computed without recursion."""
    deepest, todo = 0, [(value, 0)]
    while todo:
        v, depth = todo.pop()
        if isinstance(v, dict):
            todo.extend((x, depth + 1) for x in v.values())
        elif isinstance(v, list):
            todo.extend((x, depth + 1) for x in v)
        else:
            deepest = max(deepest, depth)
            continue
        deepest = max(deepest, depth + 1)
        if deepest > MAX_NESTING:
            break
    return deepest


def check_nesting(data: Any, source: str) -> None:
    depth = nesting_depth(data)
    if depth > MAX_NESTING:
        raise ScenarioError(f"{source}: tables or arrays nested more than {MAX_NESTING} levels "
                            "deep; no scenario key is deeper than 4")


def read_toml(path: str | Path, what: str = "scenario file") -> dict[str, Any]:
    """Read a TOML file; every failure becomes a :class:`ScenarioError`."""
    return parse_toml(read_text_file(path, what), str(path))


def load_scenario(path: str | Path, overrides: Sequence[str | tuple[str, Any]] = ()) -> Scenario:
    """Load, override and validate a scenario file (a path or a bundled name)."""
    from .bundled import find_scenario

    p = find_scenario(path)
    data = read_toml(p)
    if "scenarios" in data and "primary" not in data:
        raise ScenarioError(f"{path}: this is an experiment file (it lists scenarios to run), "
                            f"not a scenario; run it with `metasim sweep {path}`")
    return make_scenario(data, overrides, source=str(path))
