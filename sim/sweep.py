"""Experiments at scale: a design of simulated patients, run by any executor, stored run by run.

An *experiment file* (TOML) names base scenarios, the hypotheses to compare, the parameters
to vary (an explicit grid, random or Latin-hypercube ranges), replicates per point and the
outputs to keep. :func:`build_design` turns it into a list of :class:`Run` s - every
(scenario, hypothesis, point, replicate) with its scenario overrides and its random stream -
*before* anything runs; an executor only executes that list. Replicate ``r`` gets child ``r``
of ``SeedSequence(seed).spawn(replicates)`` at every point and under every hypothesis
(common random numbers), so results are identical whichever executor runs them, with however
many workers, in whatever order they finish.

Results are written by :class:`ResultStore` as soon as each run finishes, one JSON file per
run, atomically (a temporary file renamed into place): killing a sweep loses only the runs in
flight, ``--resume`` skips the runs already on disk, and a run that raises is recorded with
its error while the sweep goes on. :func:`collect` gathers them into one tidy table
(``results.csv`` and ``results.parquet``, one row per simulated patient).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, ValidationError, model_validator

from .anatomy import TARGET_ORGANS
from .model import FUNNEL_STAGES, PatientResult, simulate
from .scenario import (
    HYPOTHESES,
    Scenario,
    ScenarioError,
    _format_errors,
    _Section,
    apply_overrides,
    make_scenario,
    parse_override,
    read_toml,
)
from .scenarios import find_scenario, scenario_dir

OUTPUT_GROUPS = ("sites", "funnel", "timing", "diagnosis")
EXECUTORS = ("serial", "processes", "dask")


# ------------------------------------------------------------------------------ schema
class ParameterSpec(_Section):
    """One varied scenario key: explicit ``values`` or a range ``low``..``high``."""

    values: list[float | int | str | bool] | None = Field(default=None, min_length=1)
    low: float | None = None
    high: float | None = None
    scale: Literal["linear", "log"] = "linear"

    @model_validator(mode="after")
    def _either(self) -> ParameterSpec:
        if self.values is None and (self.low is None or self.high is None):
            raise ValueError("give either values = [...] or low and high")
        if self.values is not None and (self.low is not None or self.high is not None):
            raise ValueError("give values or a range (low, high), not both")
        if self.low is not None and self.high is not None:
            if not self.low < self.high:
                raise ValueError(f"low ({self.low:g}) must be below high ({self.high:g})")
            if self.scale == "log" and self.low <= 0:
                raise ValueError(f"scale = 'log' needs low > 0 (got {self.low:g})")
        return self

    @property
    def is_range(self) -> bool:
        return self.values is None


class Design(_Section):
    # grid: every combination of the parameters' values (ranges: ``samples`` evenly spaced
    # values each); random: ``samples`` independent uniform (or log-uniform) draws;
    # latin_hypercube: ``samples`` points of a Latin hypercube (scipy.stats.qmc).
    kind: Literal["grid", "random", "latin_hypercube"] = "grid"
    samples: Annotated[int, Field(ge=1, le=100_000)] = 5
    parameters: dict[str, ParameterSpec] = Field(default_factory=dict)


class SensitivitySpec(_Section):
    # Sobol (Saltelli sampling, bootstrap intervals) or Morris (elementary effects screen).
    method: Literal["sobol", "morris"] = "sobol"
    # Sobol: base sample N (N * (2D + 2) points); Morris: trajectories (r * (D + 1) points).
    samples: Annotated[int, Field(ge=2, le=100_000)] = 32
    levels: Annotated[int, Field(ge=2, le=20)] = 4
    outputs: list[str] = Field(default_factory=lambda: ["macrometastases"], min_length=1)
    confidence: Annotated[float, Field(gt=0.5, lt=1.0)] = 0.95
    bootstrap: Annotated[int, Field(ge=10, le=100_000)] = 200


class Experiment(_Section):
    description: str = ""
    # Base scenarios: bundled names (presets/breast) or paths relative to the experiment file.
    scenarios: list[str] = Field(min_length=1)
    hypotheses: list[Literal[tuple(HYPOTHESES)]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: ["combined"], min_length=1)
    replicates: Annotated[int, Field(ge=1, le=1_000_000)] = 10
    seed: Annotated[int, Field(ge=0)] = 1
    # Scenario overrides applied to every run (dotted keys, like --set).
    set: dict[str, Any] = Field(default_factory=dict)
    design: Design = Field(default_factory=Design)
    outputs: list[Literal[OUTPUT_GROUPS]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: list(OUTPUT_GROUPS), min_length=1)
    sensitivity: SensitivitySpec | None = None


# ------------------------------------------------------------------------------ loading
@dataclass
class LoadedExperiment:
    experiment: Experiment
    source: str
    folder: Path
    bases: dict[str, Scenario]   # label -> validated base scenario (with `set` applied)


def _label(name: str) -> str:
    p = Path(name)
    return p.stem if p.suffix == ".toml" else name.replace("/", "-").removeprefix("presets-")


def load_experiment(path: str | Path, overrides: Sequence[str | tuple[str, Any]] = ()
                    ) -> LoadedExperiment:
    """Read, override and validate an experiment file (path or bundled name).

    Every varied key is checked against every base scenario with the lowest and highest of
    its values, so a bad key or an out-of-range value fails here, with the experiment file
    and the key named, before anything runs.
    """
    p = _find_experiment(path)
    pairs = [parse_override(o) if isinstance(o, str) else o for o in overrides]
    raw = read_toml(p)
    # ``set.<scenario key>`` overrides one entry of the flat [set] table (its keys are dotted).
    for key, value in pairs:
        if key.startswith("set."):
            raw.setdefault("set", {})[key.removeprefix("set.")] = value
    raw = apply_overrides(raw, [(k, v) for k, v in pairs if not k.startswith("set.")])
    try:
        exp = Experiment.model_validate(raw)
    except ValidationError as err:
        overridden = {k: f"--set {k}" for k, _ in pairs}
        raise ScenarioError(_format_errors(err, str(p), overridden)
                            .replace("invalid scenario", "invalid experiment")) from None
    bases: dict[str, Scenario] = {}
    for name in exp.scenarios:
        scen_path = _resolve_scenario(name, p.parent)
        data = read_toml(scen_path)
        try:
            base = make_scenario(data, list(exp.set.items()),
                                 source=f"{p}: scenario {name} with [set]")
        except ScenarioError as e:
            raise ScenarioError(str(e)) from None
        label = _label(name)
        if label in bases:
            raise ScenarioError(f"{p}: scenarios: {name!r} is listed twice")
        bases[label] = base
        for key, spec in exp.design.parameters.items():
            for value in _extremes(spec):
                try:
                    make_scenario(base.to_input(), [(key, value)],
                                  source=f"{p}: design.parameters")
                except ScenarioError as e:
                    raise ScenarioError(
                        f"{p}: design.parameters.{key}: the value {value!r} is not valid for "
                        f"scenario {name}:\n  {str(e).splitlines()[-1].strip()}") from None
    if exp.sensitivity is not None:
        ranges = [k for k, s in exp.design.parameters.items() if s.is_range]
        if not ranges:
            raise ScenarioError(f"{p}: sensitivity needs design.parameters given as ranges "
                                "(low, high)")
        for out in exp.sensitivity.outputs:
            if out not in scalar_outputs():
                raise ScenarioError(f"{p}: sensitivity.outputs: unknown output {out!r}; "
                                    f"allowed: {', '.join(scalar_outputs())}")
    return LoadedExperiment(exp, str(p), p.parent, bases)


def _find_experiment(path: str | Path) -> Path:
    p = Path(path)
    if p.exists() or p.suffix == ".toml":
        if not p.exists():
            raise ScenarioError(f"{p}: no such experiment file")
        return p
    for candidate in (scenario_dir() / f"{p}.toml", scenario_dir() / "experiments" / f"{p}.toml"):
        if candidate.is_file():
            return candidate
    raise ScenarioError(f"{p}: no such experiment file (nor a bundled experiment)")


def _resolve_scenario(name: str, folder: Path) -> Path:
    local = folder / name
    if local.suffix == ".toml" and local.is_file():
        return local
    return find_scenario(name)


def _extremes(spec: ParameterSpec) -> list[Any]:
    if spec.is_range:
        return [spec.low, spec.high]
    numeric = [v for v in spec.values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    others = [v for v in spec.values if v not in numeric]
    return ([min(numeric), max(numeric)] if numeric else []) + others


# ------------------------------------------------------------------------------ design
@dataclass(frozen=True)
class Run:
    """One simulated patient of the design."""

    run_id: str
    scenario: str
    hypothesis: str
    point: int
    replicate: int
    params: tuple[tuple[str, Any], ...]
    seed: int
    replicates: int

    @property
    def stream(self) -> np.random.SeedSequence:
        return np.random.SeedSequence(self.seed).spawn(self.replicates)[self.replicate]


def design_points(design: Design, seed: int) -> list[dict[str, Any]]:
    """Parameter values of each point of the design (a list of {key: value})."""
    keys = list(design.parameters)
    if not keys:
        return [{}]
    specs = [design.parameters[k] for k in keys]
    if design.kind == "grid":
        axes = []
        for s in specs:
            if not s.is_range:
                axes.append(list(s.values))
            elif s.scale == "log":
                axes.append(np.geomspace(s.low, s.high, design.samples).tolist())
            else:
                axes.append(np.linspace(s.low, s.high, design.samples).tolist())
        return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*axes)]
    # The design's own stream, apart from the replicates' (spawn key 2**31).
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2**31,)))
    if design.kind == "random":
        unit = rng.random((design.samples, len(keys)))
    else:
        from scipy.stats import qmc

        unit = qmc.LatinHypercube(d=len(keys), seed=rng).random(design.samples)
    points = []
    for row in unit:
        point = {}
        for k, s, u in zip(keys, specs, row, strict=True):
            point[k] = _from_unit(s, float(u), rng)
        points.append(point)
    return points


def _from_unit(s: ParameterSpec, u: float, rng: np.random.Generator) -> Any:
    if not s.is_range:
        return s.values[min(int(u * len(s.values)), len(s.values) - 1)]
    if s.scale == "log":
        return float(math.exp(math.log(s.low) + u * (math.log(s.high) - math.log(s.low))))
    return float(s.low + u * (s.high - s.low))


def build_design(loaded: LoadedExperiment,
                 points: list[dict[str, Any]] | None = None) -> list[Run]:
    """Every run of the experiment, in a fixed order, before anything is executed."""
    exp = loaded.experiment
    points = design_points(exp.design, exp.seed) if points is None else points
    runs = []
    for label in loaded.bases:
        for h in exp.hypotheses:
            for i, point in enumerate(points):
                for r in range(exp.replicates):
                    runs.append(Run(f"{label}__{h}__p{i:05d}__r{r:05d}", label, h, i, r,
                                    tuple(point.items()), exp.seed, exp.replicates))
    return runs


def design_digest(loaded: LoadedExperiment, runs: Sequence[Run]) -> str:
    """A fingerprint of what the design runs (to refuse resuming a different design)."""
    h = hashlib.sha256()
    for label, sc in loaded.bases.items():
        h.update(label.encode())
        h.update(json.dumps(sc.to_input(), sort_keys=True, default=str).encode())
    for run in runs:
        h.update(json.dumps([run.run_id, run.params, run.seed], default=str).encode())
    return h.hexdigest()[:16]


# ------------------------------------------------------------------------------ running
def scalar_outputs() -> list[str]:
    """Per-patient numbers a sensitivity analysis or a response curve can use."""
    return (["macrometastases", "detectable_metastases", "metastatic_sites", "days",
             "died", "first_detectable_day", "disseminated_at_diagnosis",
             "micrometastasis_at_diagnosis"]
            + [f"site:{o}" for o in TARGET_ORGANS]
            + [f"reached:{s}" for s in FUNNEL_STAGES])


def record(run: Run, result: PatientResult, outputs: Sequence[str], wall_s: float) -> dict:
    """The flat, JSON-able row kept for one finished run."""
    row: dict[str, Any] = {"run_id": run.run_id, "scenario": run.scenario,
                           "hypothesis": run.hypothesis, "point": run.point,
                           "replicate": run.replicate, "seed": run.seed,
                           "spawn_key": run.replicate, "status": "ok", "error": "",
                           "wall_s": wall_s}
    for k, v in run.params:
        row[f"param:{k}"] = v
    autopsy = result.autopsy_by_organ
    row["macrometastases"] = int(sum(result.detectable_by_organ.values()))
    row["detectable_metastases"] = row["macrometastases"]
    row["metastatic_sites"] = int(sum(1 for o in TARGET_ORGANS if autopsy.get(o, 0) > 0))
    if "timing" in outputs:
        row["days"] = result.days
        row["died"] = bool(result.died)
        row["first_detectable_day"] = result.first_detectable_day
    if "sites" in outputs:
        for o in TARGET_ORGANS:
            row[f"site:{o}"] = int(autopsy.get(o, 0) > 0)
    if "funnel" in outputs:
        for s in FUNNEL_STAGES:
            row[f"reached:{s}"] = int(result.reached[s])
            row[f"lost:{s}"] = int(result.lost[s])
    if "diagnosis" in outputs:
        d = result.diagnosis
        row["diagnosis_day"] = None if d is None else d["day"]
        row["disseminated_at_diagnosis"] = None if d is None else int(d["disseminated_cells"] > 0)
        row["micrometastasis_at_diagnosis"] = None if d is None else int(d["colonies"] > 0)
    return row


@dataclass
class Job:
    """Everything a worker needs for one run (picklable; no shared state)."""

    run: Run
    scenario: dict
    outputs: tuple[str, ...]

    @property
    def run_id(self) -> str:
        return self.run.run_id


def make_jobs(loaded: LoadedExperiment, runs: Iterable[Run]) -> list[Job]:
    outputs = tuple(loaded.experiment.outputs)
    base_inputs = {label: sc.to_input() for label, sc in loaded.bases.items()}
    return [Job(run, base_inputs[run.scenario], outputs) for run in runs]


def execute_job(job: Job) -> dict:
    """Run one job; any exception becomes an error record (the sweep goes on)."""
    run = job.run
    t0 = time.perf_counter()
    try:
        overrides = [("hypothesis", run.hypothesis), *run.params]
        sc = make_scenario(job.scenario, overrides, source=run.run_id)
        result = simulate(sc, run.stream, run.replicate)
        return record(run, result, job.outputs, time.perf_counter() - t0)
    except Exception as e:  # recorded with its error, not swallowed
        row = {"run_id": run.run_id, "scenario": run.scenario, "hypothesis": run.hypothesis,
               "point": run.point, "replicate": run.replicate, "seed": run.seed,
               "spawn_key": run.replicate, "status": "error",
               "error": f"{type(e).__name__}: {e}".strip(), "wall_s": time.perf_counter() - t0,
               "traceback": traceback.format_exc(limit=8)}
        for k, v in run.params:
            row[f"param:{k}"] = v
        return row


def execute(jobs: Sequence[Job], executor: str = "serial", workers: int = 1,
            scheduler: str | None = None) -> Iterator[dict]:
    """Yield each job's record as it finishes (completion order)."""
    if executor not in EXECUTORS:
        raise ScenarioError(f"--executor {executor!r}: allowed: {', '.join(EXECUTORS)}")
    if not jobs:
        return
    if executor == "serial":
        for job in jobs:
            yield execute_job(job)
    elif executor == "processes":
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
            futures = [pool.submit(execute_job, j) for j in jobs]
            try:
                for fut in as_completed(futures):
                    yield fut.result()
            except BaseException:
                for fut in futures:
                    fut.cancel()
                raise
    else:
        yield from _execute_dask(jobs, workers, scheduler)


def _execute_dask(jobs: Sequence[Job], workers: int, scheduler: str | None) -> Iterator[dict]:
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:  # pragma: no cover - dask is a dependency
        raise ScenarioError("--executor dask needs dask.distributed: "
                            "python3 -m pip install 'dask[distributed]'") from None
    cluster = None
    if scheduler:
        try:
            client = Client(scheduler, timeout="20s")
        except OSError as e:
            raise ScenarioError(f"--scheduler {scheduler}: cannot connect ({e})") from None
    else:
        cluster = LocalCluster(n_workers=max(1, workers), threads_per_worker=1,
                               processes=True, dashboard_address=None)
        client = Client(cluster)
    try:
        futures = client.map(execute_job, list(jobs), pure=False,
                             key=[f"metasim-{j.run_id}" for j in jobs])
        for fut in as_completed(futures):
            yield fut.result()
            fut.release()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# ------------------------------------------------------------------------------ storing
class ResultStore:
    """A sweep folder: ``experiment.json``, ``runs/<run_id>.json``, collected tables."""

    MANIFEST = "experiment.json"

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.runs_dir = self.folder / "runs"

    def prepare(self, loaded: LoadedExperiment, runs: Sequence[Run], resume: bool) -> None:
        """Create the folder or check that it holds this experiment (for --resume)."""
        digest = design_digest(loaded, runs)
        manifest = self.folder / self.MANIFEST
        if self.folder.exists() and not self.folder.is_dir():
            raise ScenarioError(f"--out {self.folder}: exists and is not a folder")
        if manifest.exists():
            old = json.loads(manifest.read_text(encoding="utf-8"))
            if not resume:
                raise ScenarioError(
                    f"--out {self.folder}: already holds a sweep ({len(self.done())} runs "
                    "done); add --resume to finish it, or choose another --out")
            if old.get("design_digest") != digest:
                raise ScenarioError(
                    f"--out {self.folder}: holds a different experiment or design (digest "
                    f"{old.get('design_digest')} vs {digest}); --resume only finishes the "
                    "same experiment")
            return
        if self.folder.is_dir() and any(self.folder.iterdir()):
            raise ScenarioError(f"--out {self.folder}: folder is not empty and holds no "
                                "metasim sweep; nothing was written")
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        exp = loaded.experiment
        _atomic_write(manifest, json.dumps({
            "source": loaded.source, "design_digest": digest, "runs": len(runs),
            "experiment": exp.model_dump(mode="json"),
            "scenarios": {k: v.to_input() for k, v in loaded.bases.items()},
            "primaries": {k: v.primary.site for k, v in loaded.bases.items()},
            "points": [dict(p) for p in _unique_points(runs)],
        }, indent=2, default=str))

    def done(self) -> set[str]:
        if not self.runs_dir.is_dir():
            return set()
        return {p.stem for p in self.runs_dir.glob("*.json")}

    def write(self, row: dict) -> None:
        _atomic_write(self.runs_dir / f"{row['run_id']}.json", json.dumps(row, default=str))

    def rows(self) -> list[dict]:
        out = []
        for p in sorted(self.runs_dir.glob("*.json")):
            out.append(json.loads(p.read_text(encoding="utf-8")))
        return out

    def manifest(self) -> dict:
        return json.loads((self.folder / self.MANIFEST).read_text(encoding="utf-8"))


def _unique_points(runs: Sequence[Run]) -> list[dict]:
    seen: dict[int, dict] = {}
    for r in runs:
        seen.setdefault(r.point, dict(r.params))
    return [seen[i] for i in sorted(seen)]


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def collect(store: ResultStore) -> Any:
    """All run records as one tidy pandas DataFrame, sorted by run id; also written as
    ``results.csv`` and ``results.parquet`` in the sweep folder."""
    import pandas as pd

    rows = store.rows()
    df = pd.DataFrame(rows)
    if not df.empty:
        df = df.sort_values("run_id", kind="stable").reset_index(drop=True)
        if "traceback" in df:
            df = df.drop(columns="traceback")
    df.to_csv(store.folder / "results.csv", index=False)
    try:
        df.to_parquet(store.folder / "results.parquet", index=False)
    except (ImportError, ValueError) as e:  # pragma: no cover - pyarrow is a dependency
        (store.folder / "results.parquet.error.txt").write_text(str(e))
    return df


@dataclass
class SweepSummary:
    runs: int
    done_before: int
    ran: int
    errors: int
    wall_time_s: float
    errors_sample: list[str] = field(default_factory=list)


def sweep(loaded: LoadedExperiment, out: str | Path, executor: str = "serial",
          workers: int = 1, scheduler: str | None = None, resume: bool = False,
          progress: bool | None = None,
          on_record: Callable[[dict], None] | None = None) -> SweepSummary:
    """Build the design, skip what is done, execute the rest, store each run as it ends."""
    from tqdm.auto import tqdm

    runs = build_design(loaded)
    store = ResultStore(out)
    store.prepare(loaded, runs, resume)
    done = store.done()
    todo = [r for r in runs if r.run_id not in done]
    jobs = make_jobs(loaded, todo)
    t0 = time.perf_counter()
    errors: list[str] = []
    bar = tqdm(total=len(runs), initial=len(runs) - len(todo), unit="run",
               desc=f"sweep ({executor})", disable=None if progress is None else not progress,
               smoothing=0.05)
    try:
        for row in execute(jobs, executor, workers, scheduler):
            store.write(row)
            if row["status"] != "ok":
                errors.append(f"{row['run_id']}: {row['error']}")
            if on_record:
                on_record(row)
            bar.update(1)
    finally:
        bar.close()
    return SweepSummary(len(runs), len(runs) - len(todo), len(todo), len(errors),
                        time.perf_counter() - t0, errors[:5])
