"""The "Model and evidence" document lists every scenario key (docs/model-and-evidence.md)."""

from __future__ import annotations

import typing

from pydantic import BaseModel

from sim.config.schema import Scenario
from tests.conftest import ROOT

DOC = ROOT / "docs" / "model-and-evidence.md"


def _leaf_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, info in model.model_fields.items():
        ann = info.annotation
        inner = [a for a in typing.get_args(ann) if isinstance(a, type)] or [ann]
        sub = next((a for a in inner if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if sub is None:
            keys.append(prefix + name)
        else:
            keys.extend(_leaf_keys(sub, f"{prefix}{name}."))
    return keys


def test_every_scenario_key_is_documented_with_its_source():
    text = DOC.read_text(encoding="utf-8")
    keys = _leaf_keys(Scenario)
    assert len(keys) > 60
    missing = [k for k in keys if f"`{k}`" not in text]
    assert not missing, f"not in {DOC.name}: {missing}"


def test_the_validation_table_is_filled_in():
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Validation against autopsy data", 1)[1].split("\n## ", 1)[0]
    assert "| primary |" in section and "ewing" in section and "Font-Clos" in section
