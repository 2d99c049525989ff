"""Every parameter of a scenario with its value, default, unit, allowed range and source.

``metasim params SCENARIO`` prints this table (as BehaviorSpace and the EMA Workbench list
their parameters): a researcher sees at once what a scenario sets, what it leaves at the
default, and where each default comes from. The source is the comment written above the
field in :mod:`sim.config.schema` (every default there carries its citation or is named an
ASSUMPTION), so the table and the code cannot disagree.
"""

from __future__ import annotations

import inspect
import re
import typing
from dataclasses import dataclass
from typing import Any, get_args, get_origin

import annotated_types
from pydantic import BaseModel

from .schema import Scenario

#: Units read from the ending of a key's name (the project names keys with their units).
_UNIT_SUFFIXES = (
    ("_per_gram_per_day", "cells per gram per day"), ("_per_day", "per day"),
    ("_days", "days"), ("_hours", "hours"), ("_minutes", "minutes"), ("_mm", "mm"),
    ("_cells", "cells"), ("_probability", "probability"), ("_per_pass", "probability"),
    ("_per_node", "probability"),
)


@dataclass(frozen=True)
class Parameter:
    key: str
    value: Any
    default: Any
    unit: str
    allowed: str
    source: str

    @property
    def changed(self) -> bool:
        return bool(self.value != self.default)


def _field_comments(model: type[BaseModel]) -> dict[str, str]:
    """The comment block right above each field in the class source, joined."""
    try:
        lines = inspect.getsource(model).splitlines()
    except (OSError, TypeError):
        return {}
    out: dict[str, str] = {}
    block: list[str] = []
    for line in lines:
        text = line.strip()
        if text.startswith("#"):
            block.append(text.lstrip("#").strip())
            continue
        m = re.match(r"([a-z_][a-z0-9_]*)\s*:", text)
        if m and block:
            out[m.group(1)] = " ".join(block)
        block = []
    return out


def _allowed(annotation: Any, metadata: list[Any]) -> str:
    bounds = []
    flat: list[Any] = []
    for m in metadata:  # a pydantic FieldInfo inside Annotated carries its own constraints
        flat.extend(getattr(m, "metadata", None) or [m])
    for m in flat:
        for attr, sym in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            if isinstance(m, getattr(annotated_types, attr.capitalize())):
                bounds.append(f"{sym} {getattr(m, attr):g}")
    if bounds:
        return ", ".join(bounds)
    args = get_args(annotation)
    dicts = [a for a in (annotation, *args) if get_origin(a) is dict]
    if dicts:
        key_t, value_t = get_args(dicts[0])
        keys = " | ".join(map(str, get_args(key_t))) if get_origin(key_t) is typing.Literal \
            else "name"
        value = _allowed(value_t, []) or "value"
        return f"a table {{ key = value }}: keys {keys}; values {value}"
    if get_origin(annotation) is typing.Literal:
        return " | ".join(map(str, args))
    for a in args:
        if get_origin(a) is typing.Literal:
            return " | ".join(map(str, get_args(a))) + (" (or unset)" if type(None) in args else "")
        if get_origin(a) is typing.Annotated:
            return _allowed(get_args(a)[0], list(get_args(a)[1:]))
    if annotation is bool:
        return "true | false"
    if get_origin(annotation) is typing.Annotated:
        return _allowed(get_args(annotation)[0], list(get_args(annotation)[1:]))
    return ""


def _unit(key: str) -> str:
    return next((unit for suffix, unit in _UNIT_SUFFIXES if key.endswith(suffix)), "")


def _section_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def parameters(scenario: Scenario) -> list[Parameter]:
    """Every scalar-or-table key of the scenario's sections, in schema order."""
    rows: list[Parameter] = []
    defaults = Scenario()
    for name, field in Scenario.model_fields.items():
        section = _section_model(field.annotation)
        value = getattr(scenario, name)
        if section is None:
            if name in ("description", "what_to_look_for"):
                continue
            if name in ("injection", "intervention"):
                if value:
                    rows.append(Parameter(name, [v.model_dump() for v in value], [], "",
                                          "list of tables", "see docs/reference/scenario-files.md"))
                continue
            rows.append(Parameter(name, value, getattr(defaults, name), "",
                                  _allowed(field.annotation, list(field.metadata)), ""))
            continue
        comments = _field_comments(section)
        default_section = getattr(defaults, name)
        for key, sub in section.model_fields.items():
            v = getattr(value, key)
            if isinstance(v, list) and v and isinstance(v[0], BaseModel):
                v = [x.model_dump() for x in v]
            d = getattr(default_section, key)
            if isinstance(d, list) and d and isinstance(d[0], BaseModel):
                d = [x.model_dump() for x in d]
            rows.append(Parameter(f"{name}.{key}", v, d, _unit(key),
                                  _allowed(sub.annotation, list(sub.metadata)),
                                  comments.get(key, "")))
    return rows


def _show(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if v is None:
        return "(unset)"
    if isinstance(v, dict) and not v:
        return "{}"
    text = str(v)
    return text if len(text) <= 60 else text[:57] + "..."


def format_table(rows: list[Parameter], changed_only: bool = False, width: int = 100) -> str:
    """Plain text: one block per key (value, default if different, unit, range, source)."""
    import textwrap

    out = []
    for r in rows:
        if changed_only and not r.changed:
            continue
        head = f"{r.key} = {_show(r.value)}"
        if r.unit:
            head += f" [{r.unit}]"
        if r.changed:
            head += f"   (default {_show(r.default)})"
        out.append(head)
        if r.allowed:
            out.append(f"    allowed: {r.allowed}")
        if r.source:
            out.extend(textwrap.wrap(r.source, width, initial_indent="    source: ",
                                     subsequent_indent="            "))
    return "\n".join(out)


def as_records(rows: list[Parameter]) -> list[dict[str, Any]]:
    return [{"key": r.key, "value": r.value, "default": r.default, "unit": r.unit,
             "allowed": r.allowed, "source": r.source, "changed": r.changed} for r in rows]
