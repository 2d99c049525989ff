"""The README's examples run as written (shortened courses), so the documentation cannot rot."""

from __future__ import annotations

import re
import shlex

import pytest
from click.testing import CliRunner

from sim.apps.cli import main

from ..conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", README, re.M | re.S)


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
    """The README's Python example runs (the two-year breast course cut to 200 days) and what
    it prints is not all zeros: cells reached the first stages of the funnel, and some of
    the ten colon patients have liver metastases (an example printing only zeros shows
    nothing; this fails for the former example, whose 2-year courses had no metastasis)."""
    code = _blocks("python")[0]
    assert '"simulation.horizon_days": 730' in code
    exec(compile(code.replace('"simulation.horizon_days": 730', '"simulation.horizon_days": 200'),
                 "README.md", "exec"), {})
    out = capsys.readouterr().out
    reached = {m[1]: float(m[2]) for m in re.finditer(r"^(\w+)\s+reached\s+(\S+)", out, re.M)}
    assert {"detachment", "invasion", "transit", "arrest"} <= set(reached), out
    assert reached["detachment"] > 0 and reached["arrest"] > 0, out
    liver = re.search(r"^liver: (\d+)% of patients", out, re.M)
    assert liver and int(liver[1]) > 0, out
    numbers = [float(x) for x in re.findall(r"\d+(?:\.\d+)?(?:e[+-]?\d+)?", out)]
    assert any(x > 0 for x in numbers)


def test_notebooks_line_installs_what_opening_the_notebooks_needs():
    """The README says how to open the notebooks, and the extra it installs exists and brings
    JupyterLab and a Python kernel (the quick start installs neither)."""
    import tomllib

    assert 'python3 -m pip install -e ".[notebooks]" && jupyter lab notebooks/' in README
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    names = {re.split(r"[<>=!~\[ ]", d, maxsplit=1)[0].lower() for d in extras["notebooks"]}
    assert {"jupyterlab", "ipykernel"} <= names


@pytest.mark.slow
def test_sweep_commands_run(tmp_path, monkeypatch):
    """The README's sweep block, in order (the --resume line resumes the first sweep), with
    one replicate and 60-day courses."""
    monkeypatch.chdir(tmp_path)
    block = next(b for b in _blocks("bash") if "metasim sweep" in b)
    commands = [ln.split("#")[0].strip() for ln in block.splitlines()
                if ln.strip().startswith("metasim ")]
    assert any("--resume" in c for c in commands)
    for command in commands:
        args = shlex.split(command)[1:]
        if args[0] in ("sweep", "sensitivity"):
            args += ["--set", "replicates=1", "--set", "set.simulation.horizon_days=60.0",
                     "--set", "set.simulation.dt_days=5.0", "--workers", "2"]
        if args[0] == "sensitivity":
            args += ["--samples", "2"]
        res = CliRunner().invoke(main, args, catch_exceptions=False)
        assert res.exit_code == 0, (command, res.output)


def test_every_picture_the_readme_shows_is_in_the_repository():
    """A picture the README links (the app's screenshot, figures) exists in the repository and
    is a PNG, so the README never shows a broken image."""
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README)
    assert links, "the README shows no picture"
    for link in links:
        path = ROOT / link
        assert path.is_file(), link
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", link
