"""Loading a scenario: reading the file safely, parsing TOML, ``extends`` (a scenario built
on another one), ``--set`` overrides, and error messages that name the file, the key, the
value and what is allowed.

Every failure is a :class:`~sim.config.errors.ScenarioError`, raised before any simulation
starts.
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

import annotated_types as at
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

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
    except tomllib.TOMLDecodeError as err:
        if raw[:1] in "{[":
            # Meant as a table or a list, but not one TOML can read: say so, rather than
            # pass it on as a string that the scenario then refuses for its type.
            example = ("'simulation.organ_lethal_burden_cells={brain=1e10}'" if raw[0] == "{"
                       else "'assay.report_days=[1.0, 3.0]'")
            raise ScenarioError(
                f"--set {_short(text)}: the value is not a valid TOML "
                f"{'table' if raw[0] == '{' else 'list'} ({str(err).split(' (at ')[0]}); "
                f"e.g. --set {example}") from None
        value = raw
    except RecursionError:
        raise ScenarioError(f"--set {_short(key)}: the value is nested too deeply") from None
    if nesting_depth(value) > MAX_NESTING:
        raise ScenarioError(f"--set {_short(key)}: the value is nested more than "
                            f"{MAX_NESTING} levels deep")
    return key, value


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def apply_overrides(data: dict[str, Any],
                    overrides: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    """Set each dotted key in a nested dict (list items by index).

    A table value (``--set 'primary.routes={blood=0.6}'``) is merged key by key into the
    table already there, as :func:`merge_scenarios` merges a file over the one it extends;
    any other value replaces what was there."""
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
        elif isinstance(value, dict) and isinstance(node.get(parts[-1]), dict):
            # An inline table merges key by key, as the same table does in a file that
            # ``extends`` another: one syntax, one meaning.
            node[parts[-1]] = merge_scenarios(node[parts[-1]], value)
        else:
            node[parts[-1]] = value
    return data


def _list_item_index(node: list[Any], part: str, path: str) -> int:
    if not part.isdigit() or int(part) >= len(node):
        raise ScenarioError(f"--set {path}: {part!r} is not an index of a list of "
                            f"{len(node)} item(s)")
    return int(part)


def _fmt_value(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 80 else text[:77] + "..."


def _allowed_keys(loc: tuple[Any, ...], root: Any = None) -> list[str]:
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


#: Pydantic's error types for a number outside one of its field's bounds.
_BOUND_ERRORS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal")


def _bounds(metadata: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for m in metadata:
        out.extend(_bounds(m.metadata) if isinstance(m, FieldInfo) else [m])
    return out


def _allowed_range(loc: tuple[Any, ...], root: Any = None) -> str | None:
    """The interval a number at ``loc`` must lie in, from the bounds its field declares
    ("(1, 1e+13]"); None where they cannot be found."""
    model: Any = root or Scenario
    ann: Any = None
    meta: list[Any] = []
    for part in loc:
        if ann is None and isinstance(part, int):
            continue                          # an item of a list of settings tables
        if ann is None:                       # a key of a settings table
            field = getattr(model, "model_fields", {}).get(part)
            if field is None:
                return None
            ann, meta = field.annotation, list(field.metadata)
        else:                                 # an item of a list, or a value of a table
            args = get_args(ann)
            ann = args[-1] if get_origin(ann) in (dict, list) and args else None
            meta = []
        while get_origin(ann) is Annotated:
            meta += list(ann.__metadata__)
            ann = get_args(ann)[0]
        inner = [a for a in (ann, *get_args(ann)) if isinstance(a, type)
                 and issubclass(a, BaseModel)]
        if inner:
            model, ann = inner[0], None
    lo = hi = None
    for b in _bounds(meta):
        if isinstance(b, at.Gt | at.Ge):
            lo = ("(" if isinstance(b, at.Gt) else "[") + f"{getattr(b, 'gt', getattr(b, 'ge', 0)):g}"
        elif isinstance(b, at.Lt | at.Le):
            hi = f"{getattr(b, 'lt', getattr(b, 'le', 0)):g}" + (")" if isinstance(b, at.Lt) else "]")
    if lo is None and hi is None:
        return None
    return f"{lo or '(-inf'}, {hi or 'inf)'}"


def format_errors(err: ValidationError, source: str,
                   overridden: Mapping[str, str], root: Any = None,
                   origins: Mapping[str, str] | None = None) -> str:
    """One line per problem, each naming where the value came from: ``source``, a ``--set``
    (``overridden``: dotted key -> label) or, for a scenario that ``extends`` another, the
    base file that set it (``origins``: dotted path of every value -> the file it came from,
    see :func:`resolve_extends`)."""
    lines = []
    bases = {k: f for k, f in (origins or {}).items() if f != source}
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if p != "[key]")
        path = ".".join(str(p) for p in loc) or "(top level)"
        where = next((label for k, label in overridden.items()
                      if k == path or path.startswith(k + ".")), None)
        if where is None and origins:
            where = _origin(path, source, origins)
        if where is None:
            below = [label for k, label in overridden.items() if k.startswith(path + ".")]
            below += sorted({f for k, f in bases.items()
                             if path == "(top level)" or k.startswith(path + ".")})
            where = f"{source} (with {', '.join(below)})" if below else source
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            allowed = _allowed_keys(loc, root)
            msg = "unknown key" + (f"; allowed here: {', '.join(allowed)}" if allowed else "")
        elif e["type"] == "literal_error" and e["loc"][-1] == "[key]":
            msg = f"unknown name; {msg.replace('Input should be', 'allowed:')}"
        elif e["type"] in _BOUND_ERRORS:
            rng = _allowed_range(tuple(p for p in e["loc"] if p != "[key]"), root)
            msg = f"{msg} (allowed range {rng})" if rng else msg
        elif e["type"] == "finite_number":
            msg = "must be a finite number (NaN and infinity are not allowed)"
        elif e["type"] in ("missing",):
            msg = "required key is missing"
        elif e["type"] in ("model_type", "dict_type"):
            keys = _allowed_keys((*loc, "x"), root)
            example = f"{path}.{keys[0]}" if keys else f"{path}.<key>"
            msg = (f"{path} is a table of settings, not a single value; set one of its keys, "
                   f"e.g. --set {example}=..." + (f" (its keys: {', '.join(keys)})"
                                                  if keys else ""))
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


def _origin(path: str, source: str, origins: Mapping[str, str]) -> str | None:
    """The file a value at ``path`` came from, when it is one base file (not ``source``)."""
    hit = next((f for k, f in origins.items() if k == path or path.startswith(k + ".")), None)
    if hit is None:
        under = {f for k, f in origins.items() if k.startswith(path + ".")}
        hit = under.pop() if len(under) == 1 else None
    return None if hit in (None, source) else f"{hit} (extended by {source})"


def make_scenario(data: Mapping[str, Any] | None = None,
                  overrides: Sequence[str | tuple[str, Any]] = (),
                  source: str = "<scenario>") -> Scenario:
    """Validate a scenario from a mapping plus ``KEY=VALUE`` overrides.

    A top-level ``extends`` (a bundled scenario name, or a path, relative to ``source`` when
    that names a file, else to the working folder) is resolved first: see
    :func:`resolve_extends`.

    Raises
    ------
    ScenarioError
        With one message naming the source, the key path, the value and what is allowed.
    """
    data = dict(data or {})
    check_nesting(data, source)
    origins: dict[str, str] = {}
    if EXTENDS in data:
        try:
            here = Path(source)
            is_file = here.is_file()
        except (OSError, ValueError):
            is_file = False
        data, origins = resolve_extends(data, source, here.parent if is_file else None,
                                        here if is_file else None)
    return _validate(data, overrides, source, origins)


def _validate(data: dict[str, Any], overrides: Sequence[str | tuple[str, Any]], source: str,
              origins: Mapping[str, str]) -> Scenario:
    pairs = [parse_override(o) if isinstance(o, str) else o for o in overrides]
    for key, value in pairs:
        if str(key).count(".") >= MAX_NESTING or nesting_depth(value) > MAX_NESTING:
            raise ScenarioError(f"--set {_short(str(key))}: nested more than {MAX_NESTING} "
                                "levels deep")
    raw = apply_overrides(_deepcopy(data), pairs)
    overridden = {k: f"--set {k}" for k, _ in pairs}
    try:
        return Scenario.model_validate(raw)
    except ValidationError as err:
        raise ScenarioError(format_errors(err, source, overridden, origins=origins)) from None


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


def _a(what: str) -> str:
    """``what`` with its indefinite article ("a scenario file", "an experiment file")."""
    return ("an " if what[:1].lower() in "aeiou" else "a ") + what


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
        raise ScenarioError(f"{p}: is a directory, not {_a(what)}") from None
    except PermissionError:
        raise ScenarioError(f"{p}: permission denied (cannot read this {what})") from None
    except OSError as e:
        raise ScenarioError(f"{p}: cannot be read ({e.strerror or e})") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise ScenarioError(f"{p}: is a directory, not {_a(what)}")
        if not stat.S_ISREG(info.st_mode):
            raise ScenarioError(f"{p}: is not a regular file (a device, FIFO or socket); "
                                f"{_a(what)} must be a regular file")
        if info.st_size > max_bytes:
            raise ScenarioError(f"{p}: {info.st_size:,} bytes; {_a(what)} may have at most "
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
        raise ScenarioError(f"{p}: larger than {max_bytes:,} bytes, the most {_a(what)} may have")
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
    """Read a TOML file, with the scenario it ``extends`` merged under it (see
    :func:`resolve_extends`); every failure becomes a :class:`ScenarioError`."""
    data = parse_toml(read_text_file(path, what), str(path))
    if EXTENDS in data:
        data, _ = resolve_extends(data, str(path), Path(path).parent, Path(path))
    return data


def load_scenario(path: str | Path, overrides: Sequence[str | tuple[str, Any]] = ()) -> Scenario:
    """Load, override and validate a scenario file (a path or a bundled name).

    A scenario that ``extends`` another is merged over it first (:func:`resolve_extends`);
    ``overrides`` apply last. A bad value is reported against the file that set it.
    """
    from .bundled import find_scenario

    p = find_scenario(path)
    data = parse_toml(read_text_file(p), str(p))
    if "scenarios" in data and "primary" not in data:
        raise ScenarioError(f"{path}: this is an experiment file (it lists scenarios to run), "
                            f"not a scenario; run it with `metasim sweep {path}`")
    origins: dict[str, str] = {}
    if EXTENDS in data:
        data, origins = resolve_extends(data, str(path), p.parent, p)
    return _validate(data, overrides, str(path), origins)


# ------------------------------------------------------------------------------ extends
#: The top-level key naming the scenario a scenario file builds on.
EXTENDS = "extends"
#: Longest chain of ``extends`` followed (a file extending one that extends another ...).
#: The bundled clinical scenarios use one level.
MAX_EXTENDS_DEPTH = 8


def merge_scenarios(base: Mapping[str, Any], child: Mapping[str, Any]) -> dict[str, Any]:
    """``child`` deep-merged over ``base`` (neither is changed).

    Tables merge key by key; anything else the child sets (a number, a string, a boolean,
    an array, an array of tables such as ``[[intervention]]`` or ``[[primary.subclones]]``)
    replaces the base's value whole. A table replaces a plain value and vice versa.
    """
    out: dict[str, Any] = _deepcopy(dict(base))
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_scenarios(out[key], value)
        else:
            out[key] = _deepcopy(value)
    return out


def _leaves(data: Mapping[str, Any]) -> list[str]:
    """Dotted paths of every value that is not a non-empty table (arrays count as values)."""
    out: list[str] = []
    todo: list[tuple[tuple[str, ...], Mapping[str, Any]]] = [((), data)]
    while todo:
        prefix, table = todo.pop()
        for key, value in table.items():
            path = (*prefix, str(key))
            if isinstance(value, dict) and value:
                todo.append((path, value))
            else:
                out.append(".".join(path))
    return out


def resolve_extends(data: Mapping[str, Any], source: str, folder: Path | None = None,
                    file: Path | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """Merge a scenario over the scenario its top-level ``extends`` names, recursively.

    ``extends`` is the name of a bundled scenario (``"presets/breast"``, as ``metasim run``
    takes it) or the path of a TOML file: absolute, or relative to ``folder`` (the extending
    file's folder; the working folder when None). A value ending in ``.toml`` or starting
    with ``.``, ``/`` or ``~`` is a path; anything else a bundled name. The base is read (and
    its own ``extends`` resolved) first, then ``data`` is merged over it
    (:func:`merge_scenarios`); ``extends`` itself is not part of the result, so the result
    validates, and its resolved scenario reloads, without the base file.

    Returns the merged data and its origins: the dotted path of every value -> the name of
    the file it came from (``source`` for this file's own), for error messages.

    Raises
    ------
    ScenarioError
        A bad ``extends`` value, a missing or unreadable base, a base that is an experiment
        file, a cycle, or a chain longer than :data:`MAX_EXTENDS_DEPTH`; each names the file
        and its ``extends`` value.
    """
    chain = [(_real(file) if file is not None else None, source)]
    return _resolve(dict(data), source, folder, chain)


def _resolve(data: dict[str, Any], source: str, folder: Path | None,
             chain: list[tuple[Path | None, str]]) -> tuple[dict[str, Any], dict[str, str]]:
    if EXTENDS not in data:
        return data, dict.fromkeys(_leaves(data), source)
    if "scenarios" in data:
        raise ScenarioError(f"{source}: extends: only a scenario file can extend another; an "
                            "experiment file names its base scenarios in scenarios = [...] "
                            "and changes them with [set]")
    value = data.pop(EXTENDS)
    own = dict.fromkeys(_leaves(data), source)
    head = f"{source}: extends = {_fmt_value(value)}"
    path, name = _find_base(value, head, folder)
    real = _real(path)
    names = [n for _, n in chain]
    if any(real == seen for seen, _ in chain):
        raise ScenarioError(f"{head}: the files extend each other in a cycle "
                            f"({' -> '.join([*names, name])}); a scenario cannot extend "
                            "itself or a file that extends it")
    if len(chain) > MAX_EXTENDS_DEPTH:
        raise ScenarioError(f"{head}: more than {MAX_EXTENDS_DEPTH} levels of extends "
                            f"({' -> '.join([*names, name])}); extend the base scenario "
                            "directly")
    try:
        base = parse_toml(read_text_file(path), name)
    except ScenarioError as e:
        raise ScenarioError(f"{head}: {e}") from None
    if "scenarios" in base:
        raise ScenarioError(f"{head}: {name} is an experiment file (it lists scenarios to "
                            "run), not a scenario; extend one of the scenarios it lists")
    base, base_origins = _resolve(base, name, path.parent, [*chain, (real, name)])
    merged = merge_scenarios(base, data)
    check_nesting(merged, source)
    origins = {leaf: own.get(leaf) or base_origins.get(leaf, name) for leaf in _leaves(merged)}
    return merged, origins


def _real(path: Path) -> Path:
    """The file's real path, to recognise it again in a cycle (its absolute path if the
    links cannot be followed: the reader then says why)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path.absolute()


def _find_base(value: Any, head: str, folder: Path | None) -> tuple[Path, str]:
    """The file ``extends = value`` names and the name to show for it in messages."""
    from .bundled import bundled_path, scenario_dir, suggest

    allowed = ("the name of a bundled scenario (e.g. 'presets/breast'; `metasim scenarios` "
               "lists them) or the path of a scenario file ending in .toml (relative to this "
               "file, or absolute)")
    if not isinstance(value, str) or not value.strip() or "\0" in value:
        raise ScenarioError(f"{head}: must be {allowed}")
    text = value.strip()
    if text.endswith(".toml") or text.startswith((".", "/", "~")) or os.path.isabs(text):
        given = Path(text).expanduser()
        path = given if given.is_absolute() or folder is None else folder / given
        name = os.path.normpath(path)
        try:
            exists = path.exists()
        except OSError:
            exists = True  # let the reader say why it cannot be read
        if not exists:
            bundled = bundled_path(text.removesuffix(".toml"))
            hint = (f"; for the bundled scenario write extends = "
                    f"{text.removesuffix('.toml')!r}") if bundled is not None else ""
            raise ScenarioError(f"{head}: no such file {name}{hint}")
        return path, name
    found = bundled_path(text)
    if found is None:
        raise ScenarioError(f"{head}: no such bundled scenario{suggest(text)}; extends takes "
                            f"{allowed}")
    return found, found.relative_to(scenario_dir()).with_suffix("").as_posix()
