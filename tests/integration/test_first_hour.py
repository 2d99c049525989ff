"""Defects a new user met in the first hour, each pinned by a test that failed before its fix:
the command's start, its messages for empty or odd arguments, values that validated but
crashed the engine, --set of an inline table, progress bars in redirected output, the
provenance and marker of every output folder, and sweeps that are resumed, refused, very
large, or interrupted while they write their tables."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from sim.apps.cli import main
from sim.config.errors import ScenarioError
from sim.config.loading import load_scenario
from sim.experiments.design import build_design, load_experiment
from sim.experiments.store import ResultStore
from sim.experiments.sweep import failed_record, sweep
from sim.io.folder import MARKER

from .test_sweep import SMALL, _experiment

TINY = """hypotheses = ["combined"]
replicates = 3
seed = 4
[set]
"simulation.horizon_days" = 2.0
"""
FAST = ("--set", "simulation.horizon_days=20", "--set", "simulation.dt_days=5")


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


# -- the command starts at once --------------------------------------------------------------
def test_help_and_version_import_nothing_heavy():
    """`metasim --help`, `--version` and `metasim run --help` import neither Mesa, pandas,
    SciPy nor pyabc: they took 2 s (6-10 s on a busy machine) when the command imported them
    before parsing its arguments. Import-based, not timed (benchmarks/cli_startup.py times
    it)."""
    code = ("import sys\nfrom click.testing import CliRunner\nfrom sim.apps.cli import main\n"
            "for args in (['--help'], ['--version'], ['run', '--help'], ['sweep', '--help'],"
            " ['calibrate', '--help']):\n"
            "    r = CliRunner().invoke(main, args)\n"
            "    assert r.exit_code == 0, (args, r.output)\n"
            "heavy = sorted(m for m in ('mesa', 'pandas', 'scipy', 'pyabc', 'dask', 'pydantic',"
            " 'matplotlib') if m in sys.modules)\n"
            "print(heavy)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout.strip()
    assert out == "[]", out


# -- messages for empty or odd arguments ---------------------------------------------------
@pytest.mark.parametrize("args, says", [
    (["validate", "--primaries", ""], "names no preset"),
    (["validate", "--primaries", ","], "names no preset"),
    (["validate", "--hypotheses", ","], "names no hypothesis"),
    (["compare", "breast", "--hypotheses", ","], "names no hypothesis"),
    (["calibrate", "breast", "--parameters", ""], "names no course parameter"),
    (["calibrate-presets", "--presets", " , "], "names no preset"),
    (["run", "breast", "--out", ""], "current folder"),
    (["sweep", str(SMALL), "--scheduler", "garbage://x", "--executor", "dask"],
     "unknown address scheme 'garbage'"),
    (["sweep", str(SMALL), "--scheduler", "http://localhost:8787", "--executor", "dask"],
     "web address"),
])
def test_empty_and_malformed_arguments_get_a_message_and_status_2(args, says):
    """An empty list of names used to mean "every preset" (validate ran all 17) or to say
    "unknown []"; an empty --out wrote into the current folder; a scheduler address with a
    wrong scheme ended in a ValueError traceback (exit 1)."""
    res = invoke(*args)
    assert res.exit_code == 2, res.output
    assert says in res.output, res.output
    assert "Traceback" not in res.output


def test_out_at_a_link_or_a_loop_of_links_is_named_as_such(tmp_path):
    """--out at a symbolic link to a folder said "not a folder", and a loop of links said
    "no such file": each is named for what it is."""
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    res = invoke("run", "breast", "--out", str(link), *FAST)
    assert res.exit_code == 2 and "symbolic link to a folder" in res.output, res.output
    a, b = tmp_path / "a", tmp_path / "b"
    a.symlink_to(b)
    b.symlink_to(a)
    res = invoke("run", "breast", "--out", str(a / "out"), *FAST)
    assert res.exit_code == 2 and "loop of symbolic links" in res.output, res.output
    assert list(real.iterdir()) == []


def test_a_bad_set_is_blamed_on_the_key_the_user_typed():
    """`--set simulation=5 --replicates 3` blamed `simulation.replicates`, a key the command
    added after the user's; the message now names `simulation`."""
    res = invoke("run", "breast", "--set", "simulation=5", "--replicates", "3")
    assert res.exit_code == 2
    assert "--set simulation=5" in res.output or "simulation" in res.output
    assert "simulation.replicates" not in res.output, res.output


# -- values that passed validation and crashed the engine ----------------------------------
@pytest.mark.parametrize("override", ["tropism.affinity.pancreas=1e308",
                                      "tropism.affinity_uniform_delivery.pleura=1e308",
                                      "primary.diagnosis_diameter_mm=1e-308"])
def test_values_the_engines_cannot_take_are_refused_by_the_schema(override):
    """These validated, then raised ValueError (NaN probabilities) or ZeroDivisionError in
    the engine, and became silent error rows in a sweep."""
    with pytest.raises(ScenarioError, match=override.split("=")[0].replace(".", r"\.")):
        load_scenario("bone_sarcoma", [override])


@pytest.mark.parametrize("engine, replicates", [("mesa", 1), ("population", 2)])
def test_the_largest_affinity_allowed_runs_in_both_engines(engine, replicates, tmp_path):
    """The bound is low enough: a million-fold soil at the strongest tropism (affinity **
    5) gives finite hazards in both engines (1e308 gave NaN)."""
    res = invoke("run", "bone_sarcoma", "--set", "tropism.affinity.pancreas=1e6",
                 "--set", "tropism.affinity.lung=0", "--set", "tropism.strength=5",
                 "--set", f"simulation.engine=\"{engine}\"", "--replicates", str(replicates),
                 "--workers", "1", "--out", str(tmp_path / "o"), *FAST)
    assert res.exit_code == 0, res.output


# -- --set of an inline table merges as extends does ---------------------------------------
def test_set_of_an_inline_table_merges_key_by_key(tmp_path):
    """`--set 'primary.routes={...}'` replaced the whole table (so the other routes fell to
    nothing) while the same inline table in an extending file merged key by key."""
    base = tmp_path / "base.toml"
    base.write_text('[primary]\nsite = "breast"\nroutes = { blood = 0.5, lymph = 0.5, '
                    'cavity = 0.0, contiguous = 0.0 }\n', encoding="utf-8")
    sc = load_scenario(str(base), ["primary.routes={blood=0.4, contiguous=0.1}"])
    assert sc.primary.routes == {"blood": 0.4, "lymph": 0.5, "cavity": 0.0, "contiguous": 0.1}
    child = tmp_path / "child.toml"
    child.write_text(f'extends = "{base.name}"\n[primary]\nroutes = {{ blood = 0.4, '
                     'contiguous = 0.1 }\n', encoding="utf-8")
    assert load_scenario(str(child)).primary.routes == sc.primary.routes


# -- progress bars only on a terminal -------------------------------------------------------
def test_no_progress_bar_in_redirected_output(capsys):
    """The README's Python example printed a bar into its output: `progress=None` (the
    default) or-ed with False became False, i.e. "draw". stderr here is not a terminal."""
    from sim.experiments.replicates import run_replicates

    run_replicates(load_scenario("colon", ["simulation.horizon_days=20"]), replicates=2,
                   seed=1)
    assert capsys.readouterr().err == ""


# -- provenance and the marker in every output folder --------------------------------------
PROVENANCE_KEYS = {"metasim_version", "python", "numpy", "mesa", "command", "seed",
                   "wall_time_s", "host_cores", "usable_cores", "finished_utc"}


def _provenance(folder: Path) -> dict:
    meta = json.loads((folder / "metadata.json").read_text())
    assert PROVENANCE_KEYS <= set(meta), PROVENANCE_KEYS - set(meta)
    marker = json.loads((folder / MARKER).read_text())
    assert "metadata.json" in marker["files"]
    return meta


@pytest.mark.slow
def test_every_output_folder_carries_provenance_and_the_marker(tmp_path):
    """compare (at its top), validate, sweep and sensitivity folders recorded no versions,
    command or wall time, and the sweep folder had no marker; each now has both."""
    res = invoke("compare", "breast", "--hypotheses", "ewing,paget", "--replicates", "2",
                 "--workers", "1", "--out", str(tmp_path / "cmp"), *FAST)
    assert res.exit_code == 0, res.output
    assert _provenance(tmp_path / "cmp")["hypotheses"] == ["ewing", "paget"]
    res = invoke("validate", "--primaries", "breast", "--hypotheses", "ewing",
                 "--replicates", "2", "--workers", "1", "--out", str(tmp_path / "val"), *FAST)
    assert res.exit_code == 0, res.output
    assert _provenance(tmp_path / "val")["seeds"]
    assert (tmp_path / "val" / "bayesian_calibration.txt").is_file()
    exp = _experiment(tmp_path, TINY)
    res = invoke("sweep", str(exp), "--executor", "serial", "--out", str(tmp_path / "sw"),
                 "--no-plots")
    assert res.exit_code == 0, res.output
    meta = _provenance(tmp_path / "sw")
    assert meta["seed"] == 4 and meta["runs"] == 3
    sens = tmp_path / "sens.toml"
    sens.write_text(f'description = "s"\nscenarios = ["{SMALL}"]\nhypotheses = ["combined"]\n'
                    'replicates = 1\nseed = 3\n[set]\n"simulation.horizon_days" = 4.0\n'
                    '[design.parameters]\n"circulation.ctc_half_life_hours" = '
                    '{ low = 0.5, high = 3.0 }\n"invasion.success_probability" = '
                    '{ low = 0.2, high = 0.8 }\n[sensitivity]\nmethod = "morris"\n'
                    'samples = 2\noutputs = ["reached:arrest"]\n', encoding="utf-8")
    res = invoke("sensitivity", str(sens), "--executor", "serial", "--out",
                 str(tmp_path / "se"))
    assert res.exit_code == 0, res.output
    _provenance(tmp_path / "se")
    runs = (tmp_path / "se" / "runs.csv").read_text().splitlines()
    assert runs[0].startswith("run_id,") and "param:circulation.ctc_half_life_hours" in runs[0]
    assert len(runs) == 1 + 2 * 3   # Morris: r (D + 1) points, one replicate each


# -- sweeps: resumed, refused, very large, interrupted ---------------------------------------
def test_resume_runs_again_the_runs_that_failed(tmp_path):
    """--resume skipped every stored run, failed ones included, so an error row (a worker
    killed mid-sweep) was kept for good; it is now run again and replaced."""
    loaded = load_experiment(_experiment(tmp_path, TINY))
    out = tmp_path / "sw"
    sweep(loaded, out)
    store = ResultStore(out)
    run = next(r for r in build_design(loaded) if r.replicate == 1)
    store.write(failed_record(run, "WorkerError: the worker process died"))
    assert ResultStore(out).done_count() == 2
    summary = sweep(loaded, out, resume=True)
    assert (summary.ran, summary.errors) == (1, 0)
    assert json.loads((out / "runs" / f"{run.run_id}.json").read_text())["status"] == "ok"


def test_a_sweep_refused_for_disk_leaves_nothing_and_can_be_retried(tmp_path, monkeypatch):
    """Refused for lack of disk, a sweep left an empty runs/ behind, and the retry was
    refused as "holds no metasim sweep"."""
    import shutil

    exp = _experiment(tmp_path, TINY)
    out = tmp_path / "new" / "sw"
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: real(p)._replace(free=10))
    res = invoke("sweep", str(exp), "--executor", "serial", "--out", str(out), "--no-plots")
    assert res.exit_code == 2 and "free there" in res.output, res.output
    assert not (tmp_path / "new").exists()
    monkeypatch.setattr(shutil, "disk_usage", real)
    res = invoke("sweep", str(exp), "--executor", "serial", "--out", str(out), "--no-plots")
    assert res.exit_code == 0, res.output


def test_figures_on_a_full_disk_name_the_folder(tmp_path, monkeypatch):
    """A full disk while drawing the figures said only "No space left on device"."""
    import sim.viz.sweep_figures as figs

    def full(folder):
        raise OSError(errno.ENOSPC, "No space left on device", str(folder / "figures" / "x.png"))

    monkeypatch.setattr(figs, "plot_sweep", full)
    out = tmp_path / "sw"
    res = invoke("sweep", str(_experiment(tmp_path, TINY)), "--executor", "serial", "--out",
                 str(out))
    assert res.exit_code == 2
    assert f"--out {out}: cannot write the figures" in res.output, res.output
    assert "no space left" in res.output and "x.png" in res.output


def test_a_very_large_sweep_states_its_time_before_it_starts(tmp_path, monkeypatch):
    """A sweep of 1,000,000 replicates started with no estimate (run, compare and validate
    gave one)."""
    import sim.experiments.sweep as sweep_mod

    def stop_at_once(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(sweep_mod, "sweep", stop_at_once)
    body = TINY.replace("replicates = 3", "replicates = 1000000").replace(
        '"simulation.horizon_days" = 2.0', '"simulation.horizon_days" = 3650.0')
    res = invoke("sweep", str(_experiment(tmp_path, body)), "--out", str(tmp_path / "sw"),
                 "--workers", "1")
    assert "1,000,000 runs" in res.output and "estimated" in res.output, res.output
    assert "this sweep is long" in res.output


@pytest.mark.parametrize("phase", ["tables", "figures"])
def test_ctrl_c_while_a_sweep_writes_its_tables_or_figures(tmp_path, monkeypatch, phase):
    """Ctrl-C after the runs, while the tables or figures were written, escaped the sweep's
    handler and said "nothing was written"; every run is kept and the message says how to
    finish (metasim plot)."""
    import sim.experiments.store as store_mod
    import sim.viz.sweep_figures as figs

    def interrupt(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(store_mod if phase == "tables" else figs,
                        "write_tables" if phase == "tables" else "plot_sweep", interrupt)
    out = tmp_path / "sw"
    res = invoke("sweep", str(_experiment(tmp_path, TINY)), "--executor", "serial", "--out",
                 str(out))
    assert res.exit_code == 130
    assert "nothing was written" not in res.output
    assert "every run is kept" in res.output and f"metasim plot {out}" in res.output
    assert len(list((out / "runs").glob("*.json"))) == 3


@pytest.mark.slow
def test_ctrl_c_during_a_dask_sweep_is_one_line(tmp_path):
    """Ctrl-C to the whole process group (a terminal's) during a sweep on a local Dask
    cluster printed a CancelledError traceback and Dask's warnings; now one line, exit 130,
    and the finished runs are kept."""
    import signal
    import time

    body = TINY.replace("replicates = 3", "replicates = 20000").replace("2.0", "30.0")
    out = tmp_path / "sw"
    proc = subprocess.Popen(
        [sys.executable, "-c", "import signal, runpy, sys; signal.signal(signal.SIGINT, "
         "signal.default_int_handler); sys.argv = ['metasim'] + sys.argv[1:]; "
         "runpy.run_module('sim.apps.cli', run_name='__main__')",
         "sweep", str(_experiment(tmp_path, body)), "--executor", "dask", "--workers", "2",
         "--out", str(out), "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (
            (out / "runs").is_dir() and len(os.listdir(out / "runs")) > 20):
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert not any(w in err for w in ("Traceback", "WARNING", "CancelledError")), err
    assert lines[-1].startswith("metasim: interrupted; the finished runs are kept"), err


def test_a_second_ctrl_c_while_stopping_changes_nothing(tmp_path, monkeypatch):
    """A second Ctrl-C while the sweep was already stopping (its message, closing the
    workers) interrupted the handler itself: the user got a traceback or the wrong message.
    Further stops are ignored once the command is on its way out, and Ctrl-C's handler is
    restored after it (pytest's own Ctrl-C still works)."""
    import signal

    import sim.apps.cli.batch as batch
    import sim.experiments.sweep as sweep_mod

    def stop_at_once(*a, **k):
        raise KeyboardInterrupt

    def second_ctrl_c(stop):
        os.kill(os.getpid(), signal.SIGINT)   # delivered at once: the handler runs now
        return "interrupted"

    before = signal.getsignal(signal.SIGINT)
    monkeypatch.setattr(sweep_mod, "sweep", stop_at_once)
    monkeypatch.setattr(batch, "how_stopped", second_ctrl_c)
    res = invoke("sweep", str(_experiment(tmp_path, TINY)), "--out", str(tmp_path / "sw"),
                 "--executor", "serial")
    assert res.exit_code == 130, res.output
    assert "the finished runs are kept" in res.output and "nothing was written" not in \
        res.output, res.output
    assert signal.getsignal(signal.SIGINT) is before


# -- found by a reviewer trying the changes as a new user -----------------------------------
def test_the_resume_hint_repeats_every_option_of_the_interrupted_sweep(tmp_path, monkeypatch):
    """After Ctrl-C the hint dropped the --set options, so the command it printed was
    refused as "a different experiment"."""
    import sim.experiments.sweep as sweep_mod

    def stop_at_once(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(sweep_mod, "sweep", stop_at_once)
    exp, out = _experiment(tmp_path, TINY), tmp_path / "sw"
    monkeypatch.setattr(sys, "argv", ["metasim", "sweep", str(exp), "--set", "replicates=2",
                                      "--out", str(out)])
    res = invoke("sweep", str(exp), "--set", "replicates=2", "--out", str(out))
    assert f"`metasim sweep {exp} --set replicates=2 --out {out} --resume`" in res.output, \
        res.output


def test_resume_says_how_many_failed_runs_it_ran_again(tmp_path):
    """The summary of a resumed sweep said "0 failed" without a word about the failed run
    it had just run again."""
    exp = _experiment(tmp_path, TINY)
    out = tmp_path / "sw"
    assert invoke("sweep", str(exp), "--out", str(out), "--executor", "serial",
                  "--no-plots").exit_code == 0
    record = next((out / "runs").glob("*.json"))
    record.write_text(record.read_text().replace('"status": "ok"', '"status": "error"'))
    res = invoke("sweep", str(exp), "--out", str(out), "--executor", "serial", "--no-plots",
                 "--resume")
    assert res.exit_code == 0 and "2 already done, 1 that had failed run again" in res.output, \
        res.output


def test_a_serial_sweep_has_one_worker_and_no_scheduler(tmp_path):
    """A serial sweep reported (and recorded) all cores as workers, and took a --scheduler it
    never used."""
    exp = _experiment(tmp_path, TINY)
    res = invoke("sweep", str(exp), "--out", str(tmp_path / "sw"), "--executor", "serial",
                 "--no-plots")
    assert "executor serial, 1 worker(s)" in res.output, res.output
    assert json.loads((tmp_path / "sw" / "metadata.json").read_text())["workers"] == 1
    res = invoke("sweep", str(exp), "--executor", "serial", "--scheduler", "tcp://h:8786")
    assert res.exit_code == 2 and "only with --executor dask" in res.output, res.output


def test_a_constant_output_has_no_sensitivity_index():
    """An output that never varied over the sample (no metastasis in short courses) was
    reported with indices of 0, which reads as "no influence"; its indices are undefined."""
    from sim.experiments.sensitivity import sensitivity

    body = ('description = "s"\nscenarios = ["' + str(SMALL) + '"]\nhypotheses = ["combined"]\n'
            'replicates = 1\nseed = 3\n[set]\n"simulation.horizon_days" = 2.0\n'
            '[design.parameters]\n"circulation.ctc_half_life_hours" = { low = 0.5, high = 3.0 }\n'
            '"invasion.success_probability" = { low = 0.2, high = 0.8 }\n[sensitivity]\n'
            'method = "morris"\nsamples = 2\noutputs = ["macrometastases"]\n')
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "sens.toml"
        path.write_text(body, encoding="utf-8")
        report = sensitivity(load_experiment(path))
    (row,) = report["indices"]
    assert "did not vary" in row["error"], row
