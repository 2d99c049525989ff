"""Where a sweep's results live: a folder with one file per run, and the tables.

Results are written by :class:`ResultStore` as soon as each run finishes, one JSON file per
run, atomically (a temporary file renamed into place): killing a sweep loses only the runs in
flight, and ``--resume`` skips the runs already on disk. :func:`write_tables` streams the
stored runs into one tidy table (``results.csv`` and ``results.parquet``, one row per
simulated patient) chunk by chunk, so memory does not grow with the number of runs;
:func:`collect` returns it as a DataFrame.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..config.errors import ScenarioError
from ..io.folder import OutputError
from .design import (
    RUN_FILE_BYTES,
    TABLE_BYTES_PER_RUN,
    LoadedExperiment,
    RunList,
    design_digest,
    differences,
    format_bytes,
    format_count,
    id_width,
    points_record,
)

#: Rows per chunk when the runs are streamed into results.csv / results.parquet.
COLLECT_CHUNK = 2_000

def _why(e: OSError) -> str:
    return e.strerror or str(e) or type(e).__name__


class ResultStore:
    """A sweep folder: ``experiment.json``, ``runs/<run_id>.json``, collected tables.

    Every failure to write becomes an :class:`~sim.io.folder.OutputError` naming the folder
    and the cause (one message, exit status 2 on the command line).
    """

    MANIFEST = "experiment.json"

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.runs_dir = self.folder / "runs"
        self._written = 0
        self._failed: set[str] | None = None

    def prepare(self, loaded: LoadedExperiment, runs: RunList, resume: bool) -> None:
        """Create the folder or check that it holds this experiment (for --resume), and
        prove it writable by writing a file there, before any run starts."""
        try:
            self._prepare(loaded, runs, resume)
        except (ScenarioError, OutputError):
            raise
        except OSError as e:
            raise OutputError(f"--out {self.folder}: cannot create or write the sweep folder "
                              f"({_why(e)}); nothing was run") from None

    def _prepare(self, loaded: LoadedExperiment, runs: RunList, resume: bool) -> None:
        digest = design_digest(loaded, runs)
        manifest = self.folder / self.MANIFEST
        if self.folder.exists() and not self.folder.is_dir():
            raise OutputError(f"--out {self.folder}: exists and is not a folder")
        if manifest.exists():
            old = self.manifest()
            if not resume:
                raise ScenarioError(
                    f"--out {self.folder}: already holds a sweep ({self.done_count()} runs "
                    "done); add --resume to finish it, or choose another --out")
            if old.get("design_digest") != digest:
                differ = differences(old, loaded)
                raise ScenarioError(
                    f"--out {self.folder}: holds a different experiment or design ("
                    + (f"these differ: {', '.join(differ)}; " if differ else "")
                    + f"digest {old.get('design_digest')} vs {digest}); --resume only "
                    "finishes the same experiment")
            self.runs_dir.mkdir(parents=True, exist_ok=True)
            self._probe()
            self._check_disk(len(runs) - self.done_count(), len(runs))
            return
        if self.folder.is_dir() and any(self.folder.iterdir()):
            raise ScenarioError(f"--out {self.folder}: folder is not empty and holds no "
                                "metasim sweep; nothing was written")
        # A sweep refused here (no space, cannot write) leaves no folder behind: an empty
        # runs/ would make the retry look like a folder that holds something else.
        made = [p for p in (self.runs_dir, self.folder, *self.folder.absolute().parents)
                if not p.exists()]
        try:
            self.runs_dir.mkdir(parents=True, exist_ok=True)
            self._probe()
            self._check_disk(len(runs), len(runs))
        except (OSError, ScenarioError):
            for folder in made:     # innermost first; only what this call created
                with contextlib.suppress(OSError):
                    folder.rmdir()
            raise
        exp = loaded.experiment
        _atomic_write(manifest, json.dumps({
            "source": loaded.source, "design_digest": digest, "runs": len(runs),
            "experiment": exp.model_dump(mode="json"),
            "scenarios": {k: v.to_input() for k, v in loaded.bases.items()},
            "primaries": {k: v.primary.site for k, v in loaded.bases.items()},
            "run_id_widths": list(runs.widths),
            **points_record(runs.points),
        }, indent=2, default=str))

    def _probe(self) -> None:
        probe = self.runs_dir / f".probe-{os.getpid()}"
        try:
            probe.write_text("metasim", encoding="utf-8")
        finally:
            with contextlib.suppress(OSError):
                probe.unlink()

    def _check_disk(self, new_runs: int, runs: int) -> None:
        need = new_runs * RUN_FILE_BYTES + runs * TABLE_BYTES_PER_RUN
        free = shutil.disk_usage(self.folder).free
        if need > free:
            raise OutputError(
                f"--out {self.folder}: {format_count(runs)} runs need ~{format_bytes(need)} on disk "
                f"(a file per run, then the tables) and {format_bytes(free)} are free there; "
                "nothing was run. Free space, choose another --out, or make the design smaller")

    def done_count(self) -> int:
        """How many runs finished without error (counted without holding their names)."""
        return self.stored_count() - len(self.failed_ids())

    def stored_count(self) -> int:
        """How many run records are on disk, failed ones included."""
        if not self.runs_dir.is_dir():
            return 0
        with os.scandir(self.runs_dir) as entries:
            return sum(1 for e in entries if e.name.endswith(".json")
                       and not e.name.startswith("."))

    def failed_ids(self) -> set[str]:
        """The runs stored with an error: ``--resume`` runs them again.

        Read once per store from the head of each record (its status comes within the first
        few hundred bytes), then kept up to date as records are written."""
        if self._failed is None:
            self._failed = set()
            if self.runs_dir.is_dir():
                with os.scandir(self.runs_dir) as entries:
                    for e in entries:
                        if e.name.endswith(".json") and not e.name.startswith(".") \
                                and _stored_status(e.path) != "ok":
                            self._failed.add(e.name[:-5])
        return self._failed

    def has(self, run_id: str) -> bool:
        """The run is stored and finished without error."""
        return (self.runs_dir / f"{run_id}.json").is_file() and run_id not in self.failed_ids()

    def write(self, row: dict) -> None:
        path = self.runs_dir / f"{row['run_id']}.json"
        try:
            _atomic_write(path, json.dumps(row, default=str))
        except OSError as e:
            raise OutputError(
                f"--out {self.folder}: cannot write {path.relative_to(self.folder)} "
                f"({_why(e)}); the {self._written} run(s) written before are kept: fix the "
                "cause and finish the sweep with --resume") from None
        self._written += 1
        if self._failed is not None:
            if row.get("status") == "ok":
                self._failed.discard(row["run_id"])
            else:
                self._failed.add(row["run_id"])

    def run_ids(self) -> Iterator[str]:
        """The design's run ids in sorted order, from experiment.json (nothing listed)."""
        m = self.manifest()
        labels = list(m["scenarios"])
        hypotheses = list(m["experiment"]["hypotheses"])
        replicates = int(m["experiment"]["replicates"])
        n_points = int(m.get("points_count") or len(m.get("points") or [{}]))
        wp, wr = m.get("run_id_widths") or (id_width(n_points), id_width(replicates))
        for prefix in sorted(f"{label}__{h}__" for label in labels for h in hypotheses):
            for p in range(n_points):
                for r in range(replicates):
                    yield f"{prefix}p{p:0{wp}d}__r{r:0{wr}d}"

    def iter_rows(self) -> Iterator[dict]:
        """The stored runs, one at a time, sorted by run id."""
        for run_id in self.run_ids():
            path = self.runs_dir / f"{run_id}.json"
            try:
                text = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                continue
            except OSError as e:
                raise OutputError(f"{path}: cannot be read ({_why(e)})") from None
            try:
                yield json.loads(text)
            except json.JSONDecodeError as e:
                raise OutputError(f"{path}: not a complete run record ({e}); delete it and "
                                  "run the sweep again with --resume") from None

    def manifest(self) -> dict:
        path = self.folder / self.MANIFEST
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ScenarioError(f"{self.folder}: not a metasim sweep folder (no "
                                f"{self.MANIFEST})") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ScenarioError(f"{path}: cannot be read ({e})") from None


def _stored_status(path: str) -> str:
    """The ``status`` of a stored run record ("ok" or "error"), read from its head; a record
    that cannot be read counts as not done ("unreadable"), so it is run again."""
    try:
        with open(path, encoding="utf-8") as f:
            head = f.read(4096)
    except OSError:
        return "unreadable"
    marker = '"status": "'
    i = head.find(marker)
    if i < 0:
        try:
            return str(json.loads(Path(path).read_text(encoding="utf-8")).get("status"))
        except (OSError, ValueError, AttributeError):
            return "unreadable"
    return head[i + len(marker):].split('"', 1)[0]


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


# -- the tables --------------------------------------------------------------------------
_BASE_COLUMNS = ("run_id", "scenario", "hypothesis", "point", "replicate", "seed", "spawn_key",
                 "status", "error", "wall_s")
_INT64 = (-(2**63), 2**63)


def _kind(v: Any) -> str:
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int" if _INT64[0] <= v < _INT64[1] else "str"
    if isinstance(v, float):
        return "float"
    return "str"


def _column_type(kinds: set[str]) -> str:
    kinds = kinds - {"none"}
    if not kinds:
        return "null"
    if kinds == {"bool"}:
        return "bool"
    if kinds == {"int"}:
        return "int"
    if kinds <= {"int", "float"}:
        return "float"
    return "str"


def _frame(rows: list[dict], columns: dict[str, str]) -> Any:
    import pandas as pd

    data = {}
    for c, t in columns.items():
        vals = [row.get(c) for row in rows]
        if t == "int":
            data[c] = pd.array(vals, dtype="Int64")
        elif t == "float":
            data[c] = np.array([math.nan if v is None else float(v) for v in vals], dtype=float)
        elif t == "bool":
            data[c] = pd.array(vals, dtype="boolean")
        elif t == "str":
            data[c] = pd.array([None if v is None else str(v) for v in vals], dtype=object)
        else:
            data[c] = pd.array([None] * len(vals), dtype=object)
    return pd.DataFrame(data, columns=list(columns))


def _arrow_schema(columns: dict[str, str]) -> Any:
    import pyarrow as pa

    types = {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(), "str": pa.string(),
             "null": pa.null()}
    return pa.schema([(c, types[t]) for c, t in columns.items()])


def write_tables(store: ResultStore, chunk_rows: int = COLLECT_CHUNK) -> int:
    """Stream the stored runs into ``results.csv`` and ``results.parquet`` (sorted by run
    id; the traceback of failed runs stays in their JSON file) and return the row count.

    Memory stays that of ``chunk_rows`` rows however many runs there are: a first pass
    finds the columns (in order of first appearance) and each column's type, the second
    writes chunk by chunk. Both tables appear (atomically) only once complete.
    """
    columns: dict[str, set[str]] = {}
    n = 0
    for row in store.iter_rows():
        n += 1
        for k, v in row.items():
            if k != "traceback":
                columns.setdefault(k, set()).add(_kind(v))
    if not columns:
        columns = {c: {"none"} for c in _BASE_COLUMNS}
    types = {c: _column_type(k) for c, k in columns.items()}
    csv_path = store.folder / "results.csv"
    pq_path = store.folder / "results.parquet"
    csv_tmp = csv_path.with_name(f".{csv_path.name}.{os.getpid()}.tmp")
    pq_tmp = pq_path.with_name(f".{pq_path.name}.{os.getpid()}.tmp")
    pq_error: str | None = None
    writer = None
    try:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq

            schema = _arrow_schema(types)
            writer = pq.ParquetWriter(pq_tmp, schema)
        except ImportError as e:  # pragma: no cover - pyarrow is a dependency
            pq_error = str(e)
        with open(csv_tmp, "w", encoding="utf-8", newline="") as f:
            chunk: list[dict] = []
            first = True

            def flush() -> None:
                nonlocal first, writer, pq_error
                df = _frame(chunk, types)
                df.to_csv(f, header=first, index=False)
                first = False
                if writer is not None:
                    try:
                        writer.write_table(pa.Table.from_pandas(df, schema=schema,
                                                                preserve_index=False))
                    except (pa.ArrowException, ValueError, TypeError) as e:
                        pq_error = f"{type(e).__name__}: {e}"
                        writer.close()
                        writer = None
                chunk.clear()

            for row in store.iter_rows():
                chunk.append(row)
                if len(chunk) >= chunk_rows:
                    flush()
            if chunk or first:
                flush()
        if writer is not None:
            writer.close()
            writer = None
            os.replace(pq_tmp, pq_path)
        os.replace(csv_tmp, csv_path)
        if pq_error is not None:
            (store.folder / "results.parquet.error.txt").write_text(pq_error, encoding="utf-8")
    except OSError as e:
        if isinstance(e, OutputError):
            raise
        raise OutputError(f"--out {store.folder}: cannot write the results tables "
                          f"({_why(e)}); the runs are kept in runs/ (`metasim plot "
                          f"{store.folder}` writes the tables again)") from None
    finally:
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.close()
        for tmp in (csv_tmp, pq_tmp):
            with contextlib.suppress(OSError):
                tmp.unlink()
    return n


def collect(store: ResultStore) -> Any:
    """All run records as one tidy pandas DataFrame, sorted by run id; also written as
    ``results.csv`` and ``results.parquet`` in the sweep folder.

    The tables are written by streaming (:func:`write_tables`); the DataFrame returned holds
    every row, so for a very large sweep call :func:`write_tables` and read the Parquet file
    by columns instead.
    """
    import pandas as pd

    write_tables(store)
    pq_path = store.folder / "results.parquet"
    if pq_path.is_file():
        return pd.read_parquet(pq_path)
    return pd.read_csv(store.folder / "results.csv")  # pragma: no cover - no pyarrow
