"""The README's and the documentation's examples run as written (shortened courses), so the
documentation cannot rot.

The README is the front door (what metasim is, the quick start, the key commands, the app's
picture, pointers into the site); the detailed material lives in the site's pages under
``docs/``, and each example is checked where it lives: the README's key commands here, the
Python example in ``docs/howto/python.md``, the sweep commands in
``docs/tutorials/cluster-sweep.md``, the notebooks' install line in
``docs/tutorials/lesson.md``. ``tests/docs/test_docs.py`` checks that every ``metasim``
command written anywhere in them is a real command with real options."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from sim.apps.cli import main

from ..conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = ROOT / "docs"
PYTHON_PAGE = DOCS / "howto" / "python.md"
SWEEP_PAGE = DOCS / "tutorials" / "cluster-sweep.md"
LESSON_PAGE = DOCS / "tutorials" / "lesson.md"


def _blocks(lang: str, text: str = README) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", text, re.M | re.S)


def _usage_commands() -> list[str]:
    section = README.split("## Using it", 1)[1]
    block = re.search(r"^```bash\n(.*?)^```", section, re.M | re.S).group(1)
    return [line.split("#")[0].strip() for line in block.splitlines()
            if line.strip().startswith("metasim ")]


def test_quick_start_has_exactly_two_commands():
    m = re.search(r"^##\s+Quick start\s*$(.*?)^```[a-z]*\n(.*?)^```", README, re.M | re.S)
    lines = [ln for ln in m.group(2).splitlines() if ln.strip() and not ln.startswith("#")]
    assert len(lines) == 2
    assert "metasim demo" in lines[0] and "pytest" in lines[1]


def test_readme_is_the_front_door():
    """The README keeps what a newcomer needs on one screen — the hypotheses table, the quick
    start, the key commands, the app's picture — and says how to build the site; everything
    else it points to, in pages that exist."""
    assert "| delivery **anatomical**" in README and "**Paget 1889**" in README
    assert len(_usage_commands()) >= 5
    assert "python -m sphinx -b html docs docs/_build/html" in README
    links = re.findall(r"\]\((docs/[^)#]+\.md)(?:#[^)]*)?\)", README)
    assert {"docs/tutorials/lesson.md", "docs/tutorials/research.md",
            "docs/tutorials/cluster-sweep.md", "docs/reference/output-folder.md",
            "docs/reference/scenario-files.md"} <= set(links)
    missing = [link for link in links if not (ROOT / link).is_file()]
    assert not missing, missing
    assert len(README.splitlines()) < 150, "the README is the front door: detail goes to docs/"


@pytest.mark.slow
@pytest.mark.parametrize("command", _usage_commands())
def test_usage_commands_run(command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = shlex.split(command)[1:]
    if args[0] in ("run", "compare", "validate", "calibrate"):
        args = [a.replace("scenarios/", str(ROOT / "scenarios") + "/") for a in args]
        args += ["--set", "simulation.horizon_days=60", "--set", "simulation.dt_days=5"]
        if args[0] == "calibrate":
            args += ["--population", "8", "--generations", "1", "--cohort", "5",
                     "--soil-patients", "20"]
        else:
            args += ["--replicates", "2"]
    res = CliRunner().invoke(main, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output


@pytest.mark.slow
def test_python_example_runs_and_prints_something_meaningful(capsys):
    """The Python example of docs/howto/python.md runs (the two-year breast course cut to 200
    days) and what it prints is not all zeros: cells reached the first stages of the funnel,
    and some of the ten colon patients have liver metastases (an example printing only zeros
    shows nothing; this fails for a former example, whose 2-year courses had no metastasis)."""
    code = _blocks("python", PYTHON_PAGE.read_text(encoding="utf-8"))[0]
    assert '"simulation.horizon_days": 730' in code
    exec(compile(code.replace('"simulation.horizon_days": 730', '"simulation.horizon_days": 200'),
                 str(PYTHON_PAGE), "exec"), {})
    out = capsys.readouterr().out
    reached = {m[1]: float(m[2]) for m in re.finditer(r"^(\w+)\s+reached\s+(\S+)", out, re.M)}
    assert {"detachment", "invasion", "transit", "arrest"} <= set(reached), out
    assert reached["detachment"] > 0 and reached["arrest"] > 0, out
    liver = re.search(r"^liver: (\d+)% of patients", out, re.M)
    assert liver and int(liver[1]) > 0, out
    numbers = [float(x) for x in re.findall(r"\d+(?:\.\d+)?(?:e[+-]?\d+)?", out)]
    assert any(x > 0 for x in numbers)


def test_notebooks_line_installs_what_opening_the_notebooks_needs():
    """The teachers' tutorial says how to open the notebooks (the README points to it), and
    the extra it installs exists and brings JupyterLab and a Python kernel (the quick start
    installs neither)."""
    import tomllib

    lesson = LESSON_PAGE.read_text(encoding="utf-8")
    assert 'python3 -m pip install -e ".[notebooks]" && jupyter lab notebooks/' in lesson
    assert "docs/tutorials/lesson.md" in README and "notebooks/" in README
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    names = {re.split(r"[<>=!~\[ ]", d, maxsplit=1)[0].lower() for d in extras["notebooks"]}
    assert {"jupyterlab", "ipykernel"} <= names


def test_docs_extra_installs_what_building_the_site_needs():
    """The install page and conf.py say `pip install -e ".[docs]"` builds the site: the extra
    exists and brings Sphinx, MyST, Furo and sphinx-click, and the test extra brings them too
    (the suite builds the site)."""
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    need = {"sphinx", "myst-parser", "furo", "sphinx-click"}
    for extra in ("docs", "test"):
        names = {re.split(r"[<>=!~\[ ]", d, maxsplit=1)[0].lower() for d in extras[extra]}
        assert need <= names, (extra, need - names)


@pytest.mark.slow
def test_sweep_commands_run(tmp_path, monkeypatch):
    """The sweep tutorial's block of commands, in order (the --resume line resumes the first
    sweep), with one replicate and 60-day courses."""
    monkeypatch.chdir(tmp_path)
    block = next(b for b in _blocks("bash", SWEEP_PAGE.read_text(encoding="utf-8"))
                 if "metasim sweep" in b and "--resume" in b and "metasim plot" in b)
    commands = [ln.split("#")[0].strip() for ln in block.splitlines()
                if ln.strip().startswith("metasim ")]
    assert any(c.startswith("metasim sensitivity") for c in commands)
    for command in commands:
        args = shlex.split(command)[1:]
        if args[0] in ("sweep", "sensitivity"):
            args += ["--set", "replicates=1", "--set", "set.simulation.horizon_days=60.0",
                     "--set", "set.simulation.dt_days=5.0", "--workers", "2"]
        if args[0] == "sensitivity":
            args += ["--samples", "2"]
        res = CliRunner().invoke(main, args, catch_exceptions=False)
        assert res.exit_code == 0, (command, res.output)


def _pages() -> list[Path]:
    return [ROOT / "README.md",
            *sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.relative_to(DOCS).parts)]


@pytest.mark.parametrize("page", _pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_picture_a_page_shows_is_in_the_repository(page):
    """A picture the README or a page of the site shows (the app's screenshot, figures) exists
    in the repository and is a PNG, so no page shows a broken image."""
    text = page.read_text(encoding="utf-8")
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    if page.name == "README.md":
        assert links, "the README shows no picture"
    for link in links:
        path = (page.parent / link).resolve()
        assert path.is_file(), link
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", link
