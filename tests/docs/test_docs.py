"""The documentation says what the code does: every scenario key is documented with its
source (docs/model-and-evidence.md), the reference pages name real keys, and every
``metasim`` command written in a code block of the README or of the site's pages is a real
command with real options and values (so a renamed option cannot leave a page behind)."""

from __future__ import annotations

import re
import shlex
import typing
from pathlib import Path

import click
import pytest
from pydantic import BaseModel

from sim.config.schema import Scenario
from tests.conftest import ROOT

DOCS = ROOT / "docs"
DOC = DOCS / "model-and-evidence.md"


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


def _pages() -> list[Path]:
    return [ROOT / "README.md",
            *sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.relative_to(DOCS).parts)]


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


def _table_keys(page: Path, heading: str) -> list[str]:
    """The backticked names in the first column of the first table under ``heading``."""
    section = page.read_text(encoding="utf-8").split(heading, 1)[1].split("\n## ", 1)[0]
    rows = [ln for ln in section.splitlines() if ln.startswith("| `")]
    return [k for ln in rows for k in re.findall(r"`([^`]+)`", ln.split("|")[1])]


def test_the_scenario_reference_names_real_keys():
    """The keys table of docs/reference/scenario-files.md lists real scenario keys, and its
    experiment table real keys of an experiment file."""
    from sim.experiments.design import Design, Experiment, SensitivitySpec

    page = DOCS / "reference" / "scenario-files.md"
    known = set(_leaf_keys(Scenario)) | set(Scenario.model_fields)
    keys = _table_keys(page, "## The keys users and scripts rely on")
    assert len(keys) >= 8
    assert not [k for k in keys if k not in known], keys
    exp_keys = [k.strip("[]") for k in _table_keys(page, "## Experiment files")]
    fields = {*Experiment.model_fields, *(f"design.{f}" for f in Design.model_fields)}
    assert {"scenarios", "hypotheses", "design", "design.parameters", "sensitivity"} <= set(
        exp_keys)
    assert not [k for k in exp_keys if k not in fields], exp_keys
    assert set(SensitivitySpec.model_fields) <= set(re.findall(r"`(\w+)`", page.read_text()))


def _code_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced code block, indented ones (in lists) included."""
    blocks, lang, body = [], None, []
    for line in text.splitlines():
        fence = re.match(r"^\s*```(\S*)", line)
        if lang is None and fence:
            lang, body = fence[1], []
        elif lang is not None and re.match(r"^\s*```\s*$", line):
            blocks.append((lang, "\n".join(body)))
            lang = None
        elif lang is not None:
            body.append(line.strip())
    return blocks


def _documented_commands() -> list[tuple[str, str]]:
    """(page, command) for every `metasim ...` command in a bash, console or plain code block
    of the README and the site's pages (continuation lines joined, `&&` chains split,
    comments and prompts cut)."""
    found = []
    for page in _pages():
        for lang, block in _code_blocks(page.read_text(encoding="utf-8")):
            if lang not in ("bash", "console", "sh", ""):
                continue
            for line in block.replace("\\\n", " ").splitlines():
                line = re.sub(r"^\$\s*", "", line)
                for part in line.split("&&"):
                    part = part.split(" #")[0].strip()
                    if part.startswith("metasim "):
                        found.append((str(page.relative_to(ROOT)), part))
    return found


def test_the_pages_write_commands():
    """The extraction below finds the commands (a broken pattern would pass vacuously)."""
    commands = {c.split()[1] for _, c in _documented_commands()}
    assert {"run", "compare", "sweep", "sensitivity", "calibrate", "calibrate-presets",
            "validate", "params", "app", "animate", "demo"} <= commands


@pytest.mark.parametrize(("page", "command"), _documented_commands(),
                         ids=[f"{p}:{c[:60]}" for p, c in _documented_commands()])
def test_every_documented_command_is_a_real_command_with_real_options(page, command):
    """Parsing only (nothing runs): the command exists, every option exists, every value has
    the right type and range, and no required argument is missing."""
    from sim.apps.cli import main

    args = shlex.split(command)[1:]
    if args[0].startswith("-"):  # an option of the group itself (--version, --help)
        assert args[0] in {o for p in main.params for o in p.opts}, (page, command)
        return
    parent = click.Context(main, info_name="metasim")
    cmd = main.get_command(parent, args[0])
    assert cmd is not None, f"{page}: no command {args[0]!r} in {command!r}"
    try:
        with cmd.make_context(args[0], args[1:], parent=parent):
            pass
    except click.ClickException as e:
        pytest.fail(f"{page}: {command!r}: {e.format_message()}")
