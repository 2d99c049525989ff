"""The output folder: metasim recognises its own output by a
marker, never deletes what it did not write, checks a destination before the simulation,
turns every file-system failure into one message with exit status 2, cleans its own stale
staging folders, and never silently replaces an earlier run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from sim.apps.cli import main
from sim.io import folder as output_folder
from sim.io import outputs
from sim.io.folder import MARKER, STAGING_MARKER, OutputError, clean_stale_staging, staged

DATA = Path(__file__).resolve().parents[1] / "data"
SMALL = str(DATA / "small.toml")
QUICK = ["--replicates", "1", "--set", "simulation.horizon_days=10"]


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in folder.rglob("*") if p.is_file()}


def test_every_output_folder_carries_a_marker_listing_its_files(tmp_path):
    """The marker names metasim, its version and exactly the files the run wrote."""
    out = tmp_path / "o"
    assert invoke("run", SMALL, *QUICK, "--out", str(out)).exit_code == 0
    marker = json.loads((out / MARKER).read_text())
    assert marker["written_by"] == "metasim" and marker["metasim_version"]
    on_disk = sorted(p for p in tree(out) if p != MARKER)
    assert marker["files"] == on_disk
    assert "summary.json" in on_disk and "figures/funnel.png" in on_disk


def test_a_git_repository_with_a_summary_json_is_not_replaced(tmp_path):
    """a folder holding a summary.json but no metasim marker (e.g. a git repository)
    used to be deleted whole with exit 0; it is now refused and left byte for byte."""
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (repo / "summary.json").write_text("{}\n")
    (repo / "analysis.py").write_text("print('mine')\n")
    before = tree(repo)
    res = invoke("run", SMALL, *QUICK, "--out", str(repo))
    assert res.exit_code == 2 and "not a metasim output folder" in res.output
    assert tree(repo) == before


def test_a_forged_or_stale_marker_does_not_license_deleting_foreign_files(tmp_path):
    """Files the marker does not list make the folder foreign: refused, nothing touched."""
    out = tmp_path / "o"
    assert invoke("run", SMALL, *QUICK, "--out", str(out)).exit_code == 0
    (out / "notes.txt").write_text("my notes")
    before = tree(out)
    res = invoke("run", SMALL, *QUICK, "--out", str(out))
    assert res.exit_code == 2 and "notes.txt" in res.output
    assert tree(out) == before


def test_an_earlier_output_is_replaced_and_the_user_is_told(tmp_path):
    """An explicit --out holding an earlier metasim output is replaced whole (no files of
    two runs mix) and the command says so; nothing else is left next to it."""
    out = tmp_path / "o"
    assert invoke("compare", SMALL, "--hypotheses", "ewing,paget", *QUICK,
                  "--out", str(out)).exit_code == 0
    res = invoke("run", SMALL, *QUICK, "--out", str(out))
    assert res.exit_code == 0
    assert "replaced the earlier metasim output" in res.output
    assert not (out / "ewing").exists() and (out / "funnel.csv").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["o"]


def test_files_appearing_during_a_run_are_kept_and_results_saved(tmp_path, monkeypatch):
    """If a foreign file appears in --out while the simulation runs, the commit neither
    deletes it nor loses the results: they are saved next to it and the user is told."""
    out = tmp_path / "o"
    assert invoke("run", SMALL, *QUICK, "--out", str(out)).exit_code == 0
    real = outputs.write_run

    def write_and_intrude(stage, *a, **k):
        (out / "intruder.txt").write_text("not metasim's")
        return real(stage, *a, **k)

    monkeypatch.setattr("sim.io.outputs.write_run", write_and_intrude)
    res = invoke("run", SMALL, *QUICK, "--out", str(out))
    assert res.exit_code == 2 and "results were saved in" in res.output
    assert (out / "intruder.txt").read_text() == "not metasim's"
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("o.new-")]
    assert len(kept) == 1 and (kept[0] / "summary.json").is_file()


def test_default_output_folders_are_numbered_not_replaced(tmp_path, monkeypatch):
    """`run` without --out used to replace out/<name> silently; the second run now
    goes to out/<name>-2 and says so."""
    monkeypatch.chdir(tmp_path)
    assert invoke("run", SMALL, *QUICK).exit_code == 0
    first = tree(tmp_path / "out" / "small")
    res = invoke("run", SMALL, *QUICK)
    assert res.exit_code == 0 and "writing to out/small-2" in res.output
    assert tree(tmp_path / "out" / "small") == first
    assert (tmp_path / "out" / "small-2" / "summary.json").is_file()


@pytest.mark.parametrize("place", ["/proc/metasim-test/out", "/sys/metasim-test/out"])
def test_impossible_destination_fails_before_the_simulation(place, monkeypatch):
    """--out under /proc or /sys passed os.access, the run completed, then mkdtemp
    failed with a traceback. The staging folder is now created first: the command fails
    with exit 2 before any patient is simulated."""
    top = Path("/" + place.split("/")[1])
    if not top.is_dir():
        pytest.skip(f"no {top} here")
    calls = []
    monkeypatch.setattr("sim.experiments.replicates.run_replicates", lambda *a, **k: calls.append(1))
    res = invoke("run", SMALL, *QUICK, "--out", place)
    assert res.exit_code == 2 and place in res.output and "cannot" in res.output
    assert calls == []


def test_a_write_error_mid_way_is_one_message_and_leaves_nothing(tmp_path, monkeypatch):
    """an OSError while writing (here: disk full) ends in one message, exit 2, and
    no staging folder or partial output is left."""
    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("sim.io.outputs._json", full)
    out = tmp_path / "o"
    res = invoke("run", SMALL, *QUICK, "--out", str(out))
    assert res.exit_code == 2 and "no space left" in res.output
    assert list(tmp_path.iterdir()) == []


def test_read_only_parent_is_refused_before_running(tmp_path, monkeypatch):
    """a destination whose folder cannot be written fails before the simulation.
    (mkdtemp is made to fail as it would for a non-root user; tests may run as root.)"""
    def denied(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("sim.io.folder.tempfile.mkdtemp", denied)
    calls = []
    monkeypatch.setattr("sim.experiments.replicates.run_replicates", lambda *a, **k: calls.append(1))
    res = invoke("run", SMALL, *QUICK, "--out", str(tmp_path / "ro" / "o"))
    assert res.exit_code == 2 and "Permission denied" in res.output and calls == []
    assert not (tmp_path / "ro").exists()  # the folder it made for the run is gone again


def test_stale_staging_of_a_dead_run_is_cleaned_and_others_are_not(tmp_path):
    """a SIGKILL while writing leaves `.NAME.partial-*`; the next run into the same
    place removes it - but only staging folders metasim made for a process that is gone,
    never a look-alike without the marker, nor one of a live process."""
    out = tmp_path / "o"
    dead = tmp_path / ".o.partial-dead"
    live = tmp_path / ".o.partial-live"
    lookalike = tmp_path / ".o.partial-user"
    for folder in (dead, live, lookalike):
        folder.mkdir()
        (folder / "data.csv").write_text("x")
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    import socket

    for folder, pid in ((dead, proc.pid), (live, os.getpid())):
        (folder / STAGING_MARKER).write_text(json.dumps(
            {"written_by": "metasim", "pid": pid, "host": socket.gethostname()}))
    removed = clean_stale_staging(out)
    assert removed == [dead]
    assert live.exists() and lookalike.exists()


def test_a_killed_run_leaves_staging_that_the_next_run_removes(tmp_path):
    """End to end: kill -9 a real run while it works, then run again into the same
    place: the hidden staging folder of the killed run is gone afterwards."""
    out = tmp_path / "o"
    proc = subprocess.Popen([sys.executable, "-m", "sim.apps.cli", "run", "presets/breast",
                             "--replicates", "2", "--workers", "1", "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Killed once the staging folder carries its marker: a folder killed between its
    # creation and its marker is, rightly, not known to be metasim's and is left alone (a
    # race the test would lose now and then on a loaded machine).
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(f".o.partial-*/{STAGING_MARKER}")) \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(tmp_path.glob(f".o.partial-*/{STAGING_MARKER}")), \
        "the run never created its staging folder"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert invoke("run", SMALL, *QUICK, "--out", str(out)).exit_code == 0
    assert not list(tmp_path.glob(".o.partial-*"))
    assert (out / "summary.json").is_file()


def test_staged_turns_oserror_into_output_error(tmp_path):
    """The API raises OutputError (an OSError subclass with a plain message)."""
    with pytest.raises(OutputError, match="writing the results failed"), staged(tmp_path / "x"):
        raise OSError(5, "Input/output error")
    assert list(tmp_path.iterdir()) == []


def test_two_runs_racing_for_the_default_folder_both_keep_their_results(tmp_path,
                                                                         monkeypatch):
    """Two runs without --out started together both chose out/small; the one finishing
    second used to replace the first silently. Now it sees a newer metasim output there and
    moves on to the next free number, saying so."""
    monkeypatch.chdir(tmp_path)
    real = outputs.write_run

    def other_run_finishes_first(stage, *a, **k):
        monkeypatch.setattr("sim.io.outputs.write_run", real)
        assert invoke("run", SMALL, *QUICK, "--seed", "7", "--out", "out/small").exit_code == 0
        return real(stage, *a, **k)

    monkeypatch.setattr("sim.io.outputs.write_run", other_run_finishes_first)
    res = invoke("run", SMALL, *QUICK, "--seed", "5")
    assert res.exit_code == 0 and "taken meanwhile; writing to out/small-2" in res.output
    seeds = {json.loads((tmp_path / "out" / d / "summary.json").read_text())["seed"]
             for d in ("small", "small-2")}
    assert seeds == {5, 7}


def test_an_explicit_folder_written_by_another_run_meanwhile_is_kept(tmp_path, monkeypatch):
    """The same race with an explicit --out: the other run's results stay, this run's go
    beside them, and the command says where (exit 2: not where the user asked)."""
    out = tmp_path / "o"
    real = outputs.write_run

    def other_run_finishes_first(stage, *a, **k):
        monkeypatch.setattr("sim.io.outputs.write_run", real)
        assert invoke("run", SMALL, *QUICK, "--seed", "7", "--out", str(out)).exit_code == 0
        return real(stage, *a, **k)

    monkeypatch.setattr("sim.io.outputs.write_run", other_run_finishes_first)
    res = invoke("run", SMALL, *QUICK, "--seed", "5", "--out", str(out))
    assert res.exit_code == 2 and "another metasim run wrote it" in res.output
    assert json.loads((out / "summary.json").read_text())["seed"] == 7
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("o.new-")]
    assert len(kept) == 1 and json.loads((kept[0] / "summary.json").read_text())["seed"] == 5


def test_a_mount_point_is_filled_and_replaced_in_place(tmp_path, monkeypatch):
    """A mount point as --out (a Docker volume) used to be removed and renamed onto, which
    fails there after the whole simulation. metasim now stages inside it and fills it in
    place, and replaces an earlier output in it the same way: the folder itself (its inode)
    never changes, and nothing is left behind. (The mount is emulated: os.path.ismount.)"""
    out = tmp_path / "volume"
    out.mkdir()
    real = os.path.ismount
    monkeypatch.setattr(output_folder.os.path, "ismount", lambda p: Path(p) == out or real(p))
    inode = out.stat().st_ino
    assert invoke("run", SMALL, *QUICK, "--out", str(out)).exit_code == 0
    assert out.stat().st_ino == inode
    assert (out / "summary.json").is_file() and (out / MARKER).is_file()
    first = json.loads((out / MARKER).read_text())["files"]
    res = invoke("run", SMALL, *QUICK, "--seed", "3", "--out", str(out))
    assert res.exit_code == 0 and "replaced" in res.output
    assert out.stat().st_ino == inode
    assert sorted(p for p in tree(out) if p != MARKER) == first
    assert json.loads((out / "summary.json").read_text())["seed"] == 3
    assert [p.name for p in tmp_path.iterdir()] == ["volume"]


def test_an_ordinary_empty_folder_is_replaced_in_one_step(tmp_path):
    """An empty ordinary folder is replaced by one rename (atomic), not filled file by
    file."""
    out = tmp_path / "o"
    out.mkdir()
    assert invoke("run", SMALL, *QUICK, "--out", str(out)).exit_code == 0
    assert (out / "summary.json").is_file() and [p.name for p in tmp_path.iterdir()] == ["o"]


def test_an_empty_folder_that_takes_no_files_fails_before_the_run(tmp_path, monkeypatch):
    """An empty --out that cannot take files (immutable, read-only mount) is probed before
    the simulation (emulated: tests may run as root, whom modes do not stop)."""
    out = tmp_path / "ro"
    out.mkdir()
    real = output_folder.tempfile.mkstemp

    def refuse_in_out(*a, **k):
        if Path(k.get("dir", "")) == out:
            raise PermissionError(1, "Operation not permitted")
        return real(*a, **k)

    monkeypatch.setattr("sim.io.folder.tempfile.mkstemp", refuse_in_out)
    calls = []
    monkeypatch.setattr("sim.experiments.replicates.run_replicates", lambda *a, **k: calls.append(1))
    res = invoke("run", SMALL, *QUICK, "--out", str(out))
    assert res.exit_code == 2 and "Operation not permitted" in res.output and calls == []


def test_an_empty_folder_metasim_did_not_make_is_not_deleted(tmp_path):
    """Empty folders inside an output folder that metasim did not write make it foreign:
    refused, and the folders stay (they used to be deleted with the old output)."""
    out = tmp_path / "o"
    assert invoke("run", SMALL, *QUICK, "--out", str(out)).exit_code == 0
    (out / "my_notes").mkdir()
    (out / "figures" / "sub").mkdir()
    res = invoke("run", SMALL, *QUICK, "--out", str(out))
    assert res.exit_code == 2 and "my_notes/" in res.output and "figures/sub/" in res.output
    assert (out / "my_notes").is_dir() and (out / "figures" / "sub").is_dir()


def test_a_dangling_link_as_the_default_folder_is_skipped(tmp_path, monkeypatch):
    """Review: a default destination that was a dangling symlink counted as free up front
    and taken at commit, recursing until RecursionError. It is now skipped at once."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "small").symlink_to(tmp_path / "nowhere")
    res = invoke("run", SMALL, *QUICK)
    assert res.exit_code == 0 and (tmp_path / "out" / "small-2" / "summary.json").is_file()
    assert (tmp_path / "out" / "small").is_symlink()


@pytest.mark.parametrize("marker_text", ['{"written_by": "metasim", "files": [], '
                                         '"finished_unix": "yesterday"}',
                                         "[" * 100_000 + "]" * 100_000])
def test_a_corrupt_marker_is_never_a_traceback(tmp_path, marker_text):
    """Review: a marker with a non-numeric time, or JSON nested 100,000 deep, raised
    ValueError / RecursionError after the run and lost its results."""
    out = tmp_path / "o"
    assert invoke("run", SMALL, *QUICK, "--out", str(out)).exit_code == 0
    marker = json.loads((out / MARKER).read_text())
    if marker_text.startswith("{"):
        data = json.loads(marker_text)
        data["files"] = marker["files"]
        marker_text = json.dumps(data)
    (out / MARKER).write_text(marker_text)
    res = invoke("run", SMALL, *QUICK, "--out", str(out))
    assert res.exit_code in (0, 2) and "Traceback" not in res.output
    if res.exit_code == 2:
        assert "not a metasim output folder" in res.output


def test_results_that_cannot_be_moved_into_place_are_kept_visibly(tmp_path, monkeypatch):
    """If the final move fails (a file-system error), the finished results are not deleted
    with the staging folder: they are kept beside the destination and the message names
    them."""
    def fail(*a, **k):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr("sim.io.folder._commit", fail)
    out = tmp_path / "o"
    res = invoke("run", SMALL, *QUICK, "--out", str(out))
    assert res.exit_code == 2 and "they were saved in" in res.output
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("o.new-")]
    assert len(kept) == 1 and (kept[0] / "summary.json").is_file()
    assert not list(tmp_path.glob(".o.partial-*"))


def test_a_symlinked_subfolder_of_an_earlier_output_is_foreign(tmp_path):
    """A link to a folder elsewhere, put where the marker lists a subfolder of metasim's
    (``figures``, and ``tables/by_organ`` one level down), is not metasim's: it is listed
    by ``foreign_entries`` (as ``figures/``, ``tables/by_organ/``) and the folder is
    refused, with the linked folders' files left alone, although every listed file name
    resolves through the links. A check that took a linked folder with a listed name for
    metasim's own would let a replacement delete the user's files behind the link; it
    fails here. Exact: a constructed folder and marker, no run."""
    out = tmp_path / "o"
    (out / "tables").mkdir(parents=True)
    (out / "summary.json").write_text("{}")
    (out / "tables" / "funnel.csv").write_text("x")
    users = tmp_path / "users"
    (users / "plots").mkdir(parents=True)
    (users / "plots" / "funnel.png").write_text("the user's own figure")
    (users / "organs").mkdir()
    (users / "organs" / "liver.csv").write_text("the user's own table")
    (out / "figures").symlink_to(users / "plots", target_is_directory=True)
    (out / "tables" / "by_organ").symlink_to(users / "organs", target_is_directory=True)
    marker = {"written_by": "metasim", "files": ["figures/funnel.png", "summary.json",
                                                "tables/by_organ/liver.csv",
                                                "tables/funnel.csv"]}
    (out / MARKER).write_text(json.dumps(marker))
    assert all((out / f).is_file() for f in marker["files"])
    assert output_folder.foreign_entries(out, marker) == ["figures/", "tables/by_organ/"]
    with pytest.raises(OutputError, match=r"figures/, tables/by_organ/"):
        output_folder.check_destination(out)
    # The same folders as real folders are metasim's: nothing foreign.
    real = tmp_path / "real"
    for f in marker["files"]:
        (real / f).parent.mkdir(parents=True, exist_ok=True)
        (real / f).write_text("x")
    assert output_folder.foreign_entries(real, marker) == []
    assert (users / "plots" / "funnel.png").read_text() == "the user's own figure"
    assert (users / "organs" / "liver.csv").read_text() == "the user's own table"
