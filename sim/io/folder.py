"""The output folder: staged writing, the marker, and replacing an earlier output safely.

Everything is written into a staging folder next to the destination, created *before* the
simulation starts (so a destination that cannot be written is found at once), and moved into
place only when complete: a run that fails or is interrupted leaves the destination as it was,
with no half-written file that looks complete and nothing already there lost.

metasim recognises its own output by a marker, ``.metasim-output.json``, written last into
every folder it completes: the metasim version and the list of files it wrote. The
destination may be new, empty, or an earlier metasim output folder; an earlier one is
replaced - the old folder moved aside, the new one moved in by one rename, then *only the
files listed in the old marker* deleted. A folder without the marker, or holding files the
marker does not list, is refused before the simulation starts: metasim never writes into, or
deletes, what it did not write. Staging folders left behind by a killed run carry their own
marker (with the process id) and are removed by the next run into the same place.
"""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

#: Written last into every output folder metasim completes: version and files written.
MARKER = ".metasim-output.json"
#: Written first into every staging or set-aside folder: who made it (pid, host, time).
STAGING_MARKER = ".metasim-staging.json"


class OutputError(OSError):
    """The output folder cannot be used (the message names the folder and why)."""


def read_marker(folder: Path) -> dict[str, Any] | None:
    """The marker of an output folder metasim completed, or None."""
    data = _read_json(Path(folder) / MARKER)
    if not isinstance(data, dict) or data.get("written_by") != "metasim" \
            or not isinstance(data.get("files"), list) \
            or not all(isinstance(f, str) for f in data["files"]):
        return None
    finished = data.get("finished_unix", 0.0)
    data["finished_unix"] = float(finished) if isinstance(finished, int | float) \
        and not isinstance(finished, bool) and math.isfinite(finished) else 0.0
    return data


def _read_json(path: Path, max_bytes: int = 10_000_000) -> Any:
    """A small JSON file metasim wrote, or None if it is missing, a link, too large or not
    JSON (a corrupt or hand-made marker is simply not a marker)."""
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > max_bytes:
            return None
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None


def _listed_dirs(marker: Mapping[str, Any]) -> set[str]:
    """Folders that hold a listed file (they are metasim's too)."""
    out: set[str] = set()
    for f in marker.get("files", []):
        parts = str(f).split("/")[:-1]
        out.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    return out


def foreign_entries(folder: Path, marker: Mapping[str, Any],
                    ignore: frozenset[str] = frozenset()) -> list[str]:
    """Files, links and folders under ``folder`` that metasim did not write (the marker does
    not list them, nor any file inside them), as paths relative to ``folder``; top-level
    names in ``ignore`` (this run's own staging folder) are skipped."""
    listed = {str(f) for f in marker.get("files", [])} | {MARKER} | set(ignore)
    dirs = _listed_dirs(marker)
    out = []
    for root, subdirs, files in os.walk(folder):
        rel_root = Path(root).relative_to(folder)
        for name in files:
            rel = (rel_root / name).as_posix()
            if rel not in listed:
                out.append(rel)
        for name in subdirs:
            rel = (rel_root / name).as_posix()
            if rel in ignore:
                continue
            if Path(root, name).is_symlink() or rel not in dirs:
                out.append(rel + "/")
        subdirs[:] = [d for d in subdirs if (rel_root / d).as_posix() in dirs
                      and not Path(root, d).is_symlink()]
    return sorted(out)


def check_destination(out: Path) -> None:
    """Fail early, before any simulation, if ``out`` cannot become an output folder."""
    out = Path(out)
    try:
        if out.is_symlink() or (out.exists() and not out.is_dir()):
            raise OutputError(f"--out {out}: exists and is not a folder")
        if not out.is_dir():
            return
        entries = list(out.iterdir())
    except OutputError:
        raise
    except OSError as e:
        raise OutputError(f"--out {out}: cannot be used ({e.strerror or e})") from None
    if not entries:
        return
    marker = read_marker(out)
    if marker is None:
        raise OutputError(f"--out {out}: exists, is not empty and is not a metasim output "
                          f"folder (no {MARKER}); choose a new or empty folder")
    foreign = foreign_entries(out, marker)
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5
                                          else "")
        raise OutputError(f"--out {out}: an earlier metasim output folder, but it also holds "
                          f"files metasim did not write ({shown}); move them away or choose "
                          "another folder (metasim never deletes what it did not write)")


def is_free(folder: Path) -> bool:
    """Nothing there (not even a dangling link), or an empty real folder. Raises OSError
    when that cannot be known (a parent folder that cannot be searched)."""
    folder = Path(folder)
    if not os.path.lexists(folder):
        return True
    return folder.is_dir() and not folder.is_symlink() and not any(folder.iterdir())


def numbered_destination(out: Path) -> Path:
    """``out`` if it is free (:func:`is_free`), else ``out-2``, ``out-3``, ... (the first
    free one): a default output folder never replaces an earlier run."""
    out = Path(out)
    for n in range(1, 100_000):
        candidate = out if n == 1 else out.with_name(f"{out.name}-{n}")
        try:
            if is_free(candidate):
                return candidate
        except OSError as e:
            raise OutputError(f"{candidate}: cannot be used ({e.strerror or e})") from None
    raise OutputError(f"{out}: {out.name}-2 ... {out.name}-99999 are all taken; give --out")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_staging(out: Path) -> list[Path]:
    """Remove staging folders of ``out`` left by metasim runs that were killed.

    Only folders named like metasim's staging folders (``.NAME.partial-*``, beside ``out`` or
    inside it) that hold a staging marker of a process on this host that no longer exists
    are removed: they hold nothing but that run's unfinished results. Set-aside folders of
    an earlier output (``.NAME.previous-*``) may hold files that were not metasim's and are
    never removed here.
    """
    out = Path(out)
    parent = out.parent
    removed: list[Path] = []
    candidates = []
    for folder, prefix in ((parent, f".{out.name}.partial-"), (out, ".metasim.partial-")):
        try:
            if folder.is_dir() and not folder.is_symlink():
                candidates += [p for p in folder.iterdir() if p.name.startswith(prefix)]
        except OSError:
            continue
    for folder in candidates:
        info = _read_json(folder / STAGING_MARKER)
        try:
            if info.get("written_by") != "metasim":
                continue
            pid, host = int(info["pid"]), str(info["host"])
        except (AttributeError, ValueError, KeyError, TypeError):
            continue  # not ours (or not readable): leave it
        if folder.is_symlink() or host != socket.gethostname() or _pid_alive(pid):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def _mark_staging(folder: Path) -> None:
    (folder / STAGING_MARKER).write_text(json.dumps({
        "written_by": "metasim", "pid": os.getpid(), "host": socket.gethostname(),
        "created_unix": time.time()}), encoding="utf-8")


def _write_marker(stage: Path) -> None:
    from .. import __version__

    files = sorted(Path(root, f).relative_to(stage).as_posix()
                   for root, _, names in os.walk(stage) for f in names
                   if f not in (MARKER, STAGING_MARKER))
    (stage / STAGING_MARKER).unlink(missing_ok=True)
    (stage / MARKER).write_text(json.dumps({
        "written_by": "metasim", "metasim_version": __version__,
        "finished_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "finished_unix": time.time(),
        "files": files}, indent=2) + "\n", encoding="utf-8")


def mark_complete(folder: Path) -> None:
    """Write the marker into a folder that metasim fills in place rather than staging (a
    sweep, a calibration: resumable, so they cannot be moved in at the end), once it is
    complete. It lists every file there, as for a staged folder."""
    _write_marker(Path(folder))


def unmark(folder: Path) -> None:
    """Remove the marker of a folder metasim is about to add to (a resumed sweep): until
    it is complete again, it is not a finished output."""
    (Path(folder) / MARKER).unlink(missing_ok=True)


class Destination:
    """Where a command's output folder goes.

    ``default``: the folder was chosen by metasim (no ``--out``), so it never replaces
    anything: if another run took it meanwhile, the next free ``NAME-N`` is used instead.
    After the ``with staged(...)`` block, ``final`` is where the results are and ``replaced``
    whether an earlier metasim output was replaced.
    """

    def __init__(self, out: Path, default: bool = False):
        self.requested = Path(out)
        self.final = Path(out)
        self.default = default
        self.replaced = False


@contextmanager
def staged(out: Path | Destination) -> Iterator[Path]:
    """Yield a staging folder; on success it becomes the output folder (see the module
    docstring).

    Enter it *before* the simulation: the staging folder is really created (and an existing
    empty destination probed) at once, so a destination that cannot be written fails in
    seconds, not after the run. Any ``OSError`` while writing becomes an
    :class:`OutputError` naming the destination.
    """
    dest = out if isinstance(out, Destination) else Destination(out)
    out = dest.final
    started = time.time()
    clean_stale_staging(out.absolute())
    check_destination(out)
    try:
        parent = out.absolute().parent
        made = [p for p in (parent, *parent.parents) if not p.exists()]
    except OSError as e:
        raise OutputError(f"--out {out}: cannot be used ({e.strerror or e})") from None
    try:
        parent.mkdir(parents=True, exist_ok=True)
        clean_stale_staging(out.absolute())
        # An existing folder that is a mount point (a Docker volume, a scratch mount) cannot
        # be renamed or renamed onto, and files cannot be renamed into it from another file
        # system: stage inside it. Elsewhere stage beside it, so it is replaced in one step.
        inside = out.is_dir() and not out.is_symlink() and os.path.ismount(out)
        if out.is_dir() and not out.is_symlink():
            _probe(out)
        stage = Path(tempfile.mkdtemp(prefix=".metasim.partial-" if inside
                                      else f".{out.name}.partial-",
                                      dir=out if inside else parent))
    except OSError as e:
        _remove_empty(made)
        raise OutputError(f"--out {out}: cannot write there ({e.strerror or e})") from None
    try:
        _mark_staging(stage)
        umask = os.umask(0)
        os.umask(umask)
        stage.chmod(0o777 & ~umask)
    except OSError as e:
        shutil.rmtree(stage, ignore_errors=True)
        raise OutputError(f"--out {out}: cannot write there ({e.strerror or e})") from None
    ok = False
    try:
        try:
            yield stage
            _write_marker(stage)
        except OutputError:
            raise
        except OSError as e:
            what = "no space left on the device" if e.errno == errno.ENOSPC else (e.strerror or e)
            raise OutputError(f"--out {out}: writing the results failed ({what}); the "
                              "folder is as it was") from None
        try:
            with _signals_held():
                _commit(stage, dest, started)
        except OutputError:
            raise
        except OSError as e:  # keep the finished results where the user can find them
            kept = _keep_stage(stage, dest.final)
            raise OutputError(f"--out {dest.final}: could not move the results into place "
                              f"({e.strerror or e}); they were saved in {kept}") from None
        ok = True
    finally:
        if stage.exists() and not ok:
            shutil.rmtree(stage, ignore_errors=True)
        if not ok:
            _remove_empty(made)


def _probe(folder: Path) -> None:
    """Create and remove a file in ``folder``: raises OSError if it cannot take new files
    (read-only, immutable, a read-only mount)."""
    fd, probe = tempfile.mkstemp(prefix=".metasim-probe-", dir=folder)
    os.close(fd)
    os.unlink(probe)


def _remove_empty(made: list[Path]) -> None:
    """Remove the folders made for a run that failed, innermost first, if still empty."""
    for p in made:
        try:
            p.rmdir()
        except OSError:
            break


def _stamp() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S")


@contextmanager
def _signals_held() -> Iterator[None]:
    """Hold Ctrl-C, SIGTERM and SIGHUP while the results are moved into place (a few
    renames): interrupted half-way, neither the old nor the new output would be whole. They
    are delivered right after."""
    sigs = {signal.SIGINT, signal.SIGTERM} | ({signal.SIGHUP} if hasattr(signal, "SIGHUP")
                                               else set())
    held = hasattr(signal, "pthread_sigmask") and \
        threading.current_thread() is threading.main_thread()
    if held:
        signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    try:
        yield
    finally:
        if held:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, sigs)


def _unique_sibling(out: Path, tag: str) -> Path:
    """A new, empty, visible folder beside ``out`` named ``NAME.TAG-<time>-<random>``."""
    return Path(tempfile.mkdtemp(prefix=f"{out.name}.{tag}-{_stamp()}-", dir=out.parent))


def _keep_stage(stage: Path, out: Path) -> Path:
    """Move a finished stage that could not become ``out`` to a visible folder beside it (or,
    for a stage inside a mount point, to a visible name inside it)."""
    try:
        kept = _unique_sibling(out, "new")
        os.replace(stage, kept)
    except OSError:
        kept = stage.with_name(f"metasim-results-{_stamp()}-{os.getpid()}")
        os.replace(stage, kept)
    (kept / STAGING_MARKER).unlink(missing_ok=True)
    return kept


def _commit(stage: Path, dest: Destination, started: float) -> None:
    """Move the finished stage into place (see the module docstring).

    The destination is re-examined now, not trusted from the start of the run: another run
    may have written it meanwhile. A default destination then moves on to the next free
    number; an explicit one keeps what is there and the results are saved beside it.
    """
    for _ in range(1000):
        out = dest.final.absolute()
        inside = stage.parent == out
        own = frozenset({stage.name}) if inside else frozenset()
        if not os.path.lexists(out) or is_free(out) or (
                inside and all(e.name in own for e in out.iterdir())):
            try:
                if inside:
                    _move_into(stage, out)
                else:
                    os.replace(stage, out)  # also onto an empty folder, in one step
                return
            except OSError as e:
                if e.errno in (errno.EEXIST, errno.ENOTEMPTY):
                    continue  # another run took it this instant: look again
                raise
        if dest.default:  # a default destination never replaces anything
            dest.final = numbered_destination(dest.requested)
            print(f"metasim: {dest.requested} was taken meanwhile; writing to {dest.final}",
                  file=sys.stderr)
            continue
        marker = read_marker(out) if out.is_dir() and not out.is_symlink() else None
        newer = marker is not None and marker["finished_unix"] > started
        if marker is None or newer or foreign_entries(out, marker, own):
            kept = _keep_stage(stage, out)
            dest.final = kept
            why = ("another metasim run wrote it while this one ran" if newer else
                   "it now holds files metasim did not write")
            raise OutputError(f"--out {out}: {why}; nothing there was touched and the "
                              f"results were saved in {kept}")
        dest.replaced = True
        if inside:
            _replace_in_place(stage, out, marker)
        else:
            _replace_by_rename(stage, out, marker)
        return
    raise OutputError(f"--out {dest.final}: kept changing while the results were moved in")


def _replace_by_rename(stage: Path, out: Path, marker: Mapping[str, Any]) -> None:
    """Move the earlier output aside, the new one in (one rename), then delete only the
    files the earlier marker lists; anything else found there is kept, visibly."""
    aside = Path(tempfile.mkdtemp(prefix=f".{out.name}.previous-", dir=out.parent))
    os.replace(out, aside / out.name)
    os.replace(stage, out)
    _delete_listed(aside / out.name, marker)
    try:
        leftover = (aside / out.name).exists() and any((aside / out.name).iterdir())
        if leftover:  # files appeared after the check: keep them, visibly
            keep = _unique_sibling(out, "previous")
            os.replace(aside / out.name, keep)
            print(f"metasim: files not written by metasim were kept in {keep}",
                  file=sys.stderr)
    except OSError:
        print(f"metasim: the earlier output was left in {aside}", file=sys.stderr)
        return
    shutil.rmtree(aside, ignore_errors=True)


def _replace_in_place(stage: Path, out: Path, marker: Mapping[str, Any]) -> None:
    """Replace an earlier output inside a folder that cannot be renamed (a mount point):
    its listed files go into a hidden folder inside it first, the new ones move in, and only
    then are the old ones deleted - so a failure half-way loses neither."""
    aside = Path(tempfile.mkdtemp(prefix=".metasim.previous-", dir=out))
    for rel in [*marker.get("files", []), MARKER]:
        src = out / str(rel)
        if src.is_symlink() or src.is_file():
            (aside / str(rel)).parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, aside / str(rel))
    for rel in sorted(_listed_dirs(marker), key=lambda d: -d.count("/")):
        try:
            (out / rel).rmdir()
        except OSError:
            pass
    _move_into(stage, out)
    shutil.rmtree(aside, ignore_errors=True)


def _move_into(stage: Path, out: Path) -> None:
    """Move the stage's entries into the existing folder ``out``, the marker last (so the
    folder is recognised as complete only once everything is in), then drop the stage."""
    entries = [e for e in stage.iterdir() if e.name not in (MARKER, STAGING_MARKER)]
    for e in entries:
        os.replace(e, out / e.name)
    os.replace(stage / MARKER, out / MARKER)
    shutil.rmtree(stage, ignore_errors=True)


def _delete_listed(folder: Path, marker: Mapping[str, Any]) -> None:
    """Delete the files a marker lists (never following links), then the folders that held
    them if they are empty; nothing else."""
    root = folder.resolve()
    for rel in [*marker.get("files", []), MARKER]:
        path = folder / str(rel)
        try:
            if root not in path.parent.resolve().parents and path.parent.resolve() != root:
                continue  # a listed path outside the folder is never touched
            if path.is_symlink() or path.is_file():
                path.unlink()
        except OSError:
            continue
    for rel in sorted(_listed_dirs(marker), key=lambda d: -d.count("/")):
        path = folder / rel
        try:
            if not path.is_symlink() and root in path.resolve().parents:
                path.rmdir()
        except OSError:
            pass
