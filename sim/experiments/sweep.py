"""Experiments at scale: a design of simulated patients, run by any executor, stored run by run.

An *experiment file* (TOML) names base scenarios, the hypotheses to compare, the parameters
to vary (an explicit grid, random or Latin-hypercube ranges), replicates per point and the
outputs to keep. :func:`build_design` turns it into the :class:`RunList` of every
(scenario, hypothesis, point, replicate) with its scenario overrides and its random stream -
*before* anything runs; an executor only executes that list. Replicate ``r`` gets child ``r``
of ``SeedSequence(seed)`` (:func:`sim.experiments.replicates.replicate_stream`, in O(1)) at every point
and under every hypothesis (common random numbers), so results are identical whichever
executor runs them, with however many workers, in whatever order they finish.

Nothing grows with the number of runs: the design is enumerated by index (a grid's points
by mixed-radix arithmetic), runs are handed to the executor a few at a time, and
:func:`write_tables` streams the stored runs into the tables chunk by chunk. The size of a
design is computed from the experiment alone and a design that cannot be held or stored is
refused (:class:`SweepError`, with the points, runs, memory and disk it would need) before
anything is built.

Results are written by :class:`ResultStore` as soon as each run finishes, one JSON file per
run, atomically (a temporary file renamed into place): killing a sweep loses only the runs in
flight, ``--resume`` skips the runs already on disk, and a run that raises - or whose worker
process dies, e.g. killed by the out-of-memory killer - is recorded with its error while the
sweep goes on. Worker processes ignore Ctrl-C (the parent stops them) and exit when their
parent dies. :func:`collect` gathers the runs into one tidy table (``results.csv`` and
``results.parquet``, one row per simulated patient).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import itertools
import json
import math
import os
import shutil
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, ValidationError, model_validator

from ..biology.anatomy import TARGET_ORGANS
from ..biology.stages import FUNNEL_STAGES
from ..config.bundled import find_scenario, scenario_dir
from ..config.scenario import (
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
from ..engine.model import simulate
from ..engine.results import PatientResult
from ..io.outputs import OutputError
from .replicates import replicate_stream

OUTPUT_GROUPS = ("sites", "funnel", "timing", "diagnosis")
EXECUTORS = ("serial", "processes", "dask")

#: Most runs one sweep may hold. Each run is a file in ``runs/`` (a 4 kB block on most file
#: systems) and a row of the tables; at ~0.1-10 s per simulated patient 10^8 runs are
#: already 100 CPU-days or more.
MAX_RUNS = 100_000_000
#: Disk taken by one run: its JSON file (one file-system block) and its rows in
#: results.csv (~1 kB) and results.parquet.
RUN_FILE_BYTES = 4096
TABLE_BYTES_PER_RUN = 1_500
#: Memory held per design point listed in memory (a dict of parameter values): a base and
#: a cost per parameter, rounded up (sys.getsizeof of the dict, keys shared, float values).
POINT_BYTES = 250
POINT_BYTES_PER_PARAMETER = 120
#: Fraction of the available memory a design may plan to hold.
MEMORY_FRACTION = 0.5
#: Points written one by one into experiment.json; a larger grid is written as its axes.
MANIFEST_POINTS = 100_000
#: Rows per chunk when the runs are streamed into results.csv / results.parquet.
COLLECT_CHUNK = 2_000


class SweepError(ScenarioError):
    """A sweep that cannot run (too large, too many workers, every run failed, not an
    experiment file). A :class:`ScenarioError`, so the command line reports it in one line
    with exit status 2."""


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

    @property
    def bounds(self) -> tuple[float, float]:
        """``(low, high)`` of a range (validated: both set when ``values`` is not)."""
        if self.low is None or self.high is None:
            raise TypeError("not a range")
        return self.low, self.high

    @property
    def listed(self) -> list[float | int | str | bool]:
        """The listed ``values`` (validated: set when this is not a range)."""
        if self.values is None:
            raise TypeError("not a list of values")
        return self.values


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
    # Sobol: base sample N (N * (D + 2) points); Morris: trajectories (r * (D + 1) points).
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


#: Fields of an experiment that do not shape the results (left out of the design digest).
_NOT_DIGESTED = {"description", "sensitivity"}


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

    Every listed value of every varied key, and the ends and middle of every range (as the
    real numbers a range draws), is checked against every base scenario, so a bad key, an
    out-of-range value or a real number for an integer key fails here, with the experiment
    file and the key named, before anything runs.
    """
    p = _find_experiment(path)
    pairs = [parse_override(o) if isinstance(o, str) else o for o in overrides]
    raw = read_toml(p)
    _refuse_scenario_file(raw, p, path)
    # ``set.<scenario key>`` overrides one entry of the flat [set] table (its keys are dotted).
    cli_set: set[str] = set()
    for key, value in pairs:
        if key.startswith("set."):
            if not isinstance(raw.setdefault("set", {}), dict):
                raise ScenarioError(f"{p}: set = {raw['set']!r}: must be a table of scenario "
                                    "keys")
            raw["set"][key.removeprefix("set.")] = value
            cli_set.add(key.removeprefix("set."))
    raw = apply_overrides(raw, [(k, v) for k, v in pairs if not k.startswith("set.")])
    try:
        exp = Experiment.model_validate(raw)
    except ValidationError as err:
        overridden = {k: f"--set {k}" for k, _ in pairs}
        raise ScenarioError(_format_errors(err, str(p), overridden, Experiment)
                            .replace("invalid scenario", "invalid experiment")) from None
    twice = sorted({h for h in exp.hypotheses if exp.hypotheses.count(h) > 1})
    if twice:
        raise ScenarioError(f"{p}: hypotheses: {', '.join(map(repr, twice))} listed twice")
    bases: dict[str, Scenario] = {}
    for name in exp.scenarios:
        scen_path = _resolve_scenario(name, p.parent)
        base = _base_scenario(read_toml(scen_path), exp.set, cli_set, p, name, scen_path)
        label = _label(name)
        if label in bases:
            raise ScenarioError(f"{p}: scenarios: {name!r} is listed twice")
        bases[label] = base
        for key, spec in exp.design.parameters.items():
            _check_values(p, name, base, key, spec)
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


def _refuse_scenario_file(raw: dict, p: Path, given: str | Path) -> None:
    """A scenario given where an experiment file is expected: say so, in one line."""
    scenario_only = set(Scenario.model_fields) - set(Experiment.model_fields)
    found = [k for k in raw if k in scenario_only]
    if "scenarios" not in raw and found:
        raise SweepError(
            f"{p}: this is a scenario, not an experiment file (it has {', '.join(found[:3])}"
            f"{', ...' if len(found) > 3 else ''} and no scenarios = [...]); run it with "
            f"`metasim run {given}`, or name it in an experiment file's scenarios list (see "
            "scenarios/experiments/)")


def _base_scenario(data: dict, set_: dict[str, Any], cli_set: set[str], p: Path, name: str,
                   scen_path: Path) -> Scenario:
    """The base scenario with the experiment's [set]; a bad [set] value is blamed on the
    experiment file's key (or on the ``--set set.KEY`` that was typed), not on a --set."""
    labels = {k: f"--set set.{k}" if k in cli_set else f"{p}: set.{k}" for k in set_}
    pairs = list(set_.items())
    try:
        raw = apply_overrides(copy.deepcopy(data), pairs)
    except ScenarioError as e:
        msg = str(e)
        for k, label in labels.items():
            msg = msg.replace(f"--set {k}:", f"{label}:")
        raise ScenarioError(f"{msg} (scenario {name})") from None
    try:
        return Scenario.model_validate(raw)
    except ValidationError as err:
        msg = _format_errors(err, str(scen_path), labels)
        for k, label in labels.items():
            # "<label>: <key> = <value>: why" -> "<label> = <value>: why"
            msg = msg.replace(f"{label}: {k} = ", f"{label}=" if label.startswith("--set")
                              else f"{label} = ")
        raise ScenarioError(msg.replace("invalid scenario",
                                        f"invalid scenario {name} with {p}'s [set]", 1)) from None


def _check_values(p: Path, name: str, base: Scenario, key: str, spec: ParameterSpec) -> None:
    """Validate every value the design can give ``key`` (see :func:`_values_to_check`)."""
    inputs = base.to_input()
    for value in _values_to_check(spec):
        try:
            make_scenario(inputs, [(key, value)], source=f"{p}: design.parameters")
        except ScenarioError as e:
            why = str(e).splitlines()[-1].strip().removeprefix(f"--set {key}={value!r}: ")
            hint = ""
            if spec.is_range and _accepts(inputs, key, round(value)):
                hint = (f"\n  {key} takes whole numbers, but a range draws real numbers: list "
                        "the integers instead (values = [...])")
            raise ScenarioError(
                f"{p}: design.parameters.{key}: the value {value!r} is not valid for "
                f"scenario {name}:\n  {why}{hint}") from None


def _accepts(inputs: dict, key: str, value: Any) -> bool:
    try:
        make_scenario(inputs, [(key, value)])
    except ScenarioError:
        return False
    return True


def _values_to_check(spec: ParameterSpec) -> list[Any]:
    """Every distinct listed value; for a range its ends and its middle, as the real numbers
    (floats) a grid, random or Latin-hypercube design draws from it."""
    if spec.is_range:
        low, high = spec.bounds
        mid = math.sqrt(low * high) if spec.scale == "log" else (low + high) / 2
        return [float(low), float(high), float(mid)]
    seen: dict[tuple[str, Any], Any] = {}
    for v in spec.listed:
        seen.setdefault((type(v).__name__, v), v)
    return list(seen.values())


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
        """Child ``replicate`` of ``SeedSequence(seed)``: identical to
        ``SeedSequence(seed).spawn(replicates)[replicate]``, in O(1)."""
        return replicate_stream(self.seed, self.replicate)


class GridPoints(Sequence):
    """Every combination of the axes' values, enumerated by index (the last axis varies
    fastest, as in :func:`itertools.product`) without listing them."""

    def __init__(self, keys: Sequence[str], axes: Sequence[Sequence[Any]]):
        self.keys = list(keys)
        self.axes = [list(a) for a in axes]
        self.n = math.prod(len(a) for a in self.axes)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self.n))]
        if i < 0:
            i += self.n
        if not 0 <= i < self.n:
            raise IndexError(i)
        values = []
        for axis in reversed(self.axes):
            i, j = divmod(i, len(axis))
            values.append(axis[j])
        return dict(zip(self.keys, reversed(values), strict=True))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for combo in itertools.product(*self.axes):
            yield dict(zip(self.keys, combo, strict=True))


def count_points(design: Design) -> int:
    """Points of a design, computed from its specification alone (nothing is built)."""
    if not design.parameters:
        return 1
    if design.kind != "grid":
        return design.samples
    return math.prod(len(s.listed) if not s.is_range else design.samples
                     for s in design.parameters.values())


def design_points(design: Design, seed: int) -> Sequence[dict[str, Any]]:
    """Parameter values of each point of the design ({key: value} per point; a grid is a
    lazy :class:`GridPoints`, random and Latin-hypercube designs a list)."""
    keys = list(design.parameters)
    if not keys:
        return [{}]
    specs = [design.parameters[k] for k in keys]
    if design.kind == "grid":
        axes = []
        for s in specs:
            if not s.is_range:
                axes.append(list(s.listed))
            elif s.scale == "log":
                axes.append(np.geomspace(*s.bounds, design.samples).tolist())
            else:
                axes.append(np.linspace(*s.bounds, design.samples).tolist())
        return GridPoints(keys, axes)
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
        return s.listed[min(int(u * len(s.listed)), len(s.listed) - 1)]
    low, high = s.bounds
    if s.scale == "log":
        return float(math.exp(math.log(low) + u * (math.log(high) - math.log(low))))
    return float(low + u * (high - low))


def _width(n: int) -> int:
    """Digits of the indices 0..n-1 in run ids (at least 5), so ids sort in index order."""
    return max(5, len(str(max(n - 1, 0))))


class RunList(Sequence):
    """Every run of a design, in a fixed order (scenario, hypothesis, point, replicate),
    enumerated by index: ``len``, indexing and iteration cost nothing per run held."""

    def __init__(self, labels: Sequence[str], hypotheses: Sequence[str],
                 points: Sequence[dict[str, Any]], replicates: int, seed: int):
        self.labels = list(labels)
        self.hypotheses = list(hypotheses)
        self.points = points
        self.replicates = int(replicates)
        self.seed = int(seed)
        self.n_points = len(points)
        self.widths = (_width(self.n_points), _width(self.replicates))
        self._n = len(self.labels) * len(self.hypotheses) * self.n_points * self.replicates

    def __len__(self) -> int:
        return self._n

    def run_id(self, label: str, hypothesis: str, point: int, replicate: int) -> str:
        wp, wr = self.widths
        return f"{label}__{hypothesis}__p{point:0{wp}d}__r{replicate:0{wr}d}"

    def _run(self, label: str, h: str, i: int, params: tuple, r: int) -> Run:
        return Run(self.run_id(label, h, i, r), label, h, i, r, params, self.seed,
                   self.replicates)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._n))]
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError(i)
        i, r = divmod(i, self.replicates)
        i, p = divmod(i, self.n_points)
        s, h = divmod(i, len(self.hypotheses))
        return self._run(self.labels[s], self.hypotheses[h], p,
                         tuple(self.points[p].items()), r)

    def __iter__(self) -> Iterator[Run]:
        for label in self.labels:
            for h in self.hypotheses:
                for i, point in enumerate(self.points):
                    params = tuple(point.items())
                    for r in range(self.replicates):
                        yield self._run(label, h, i, params, r)


def _fmt_count(n: int) -> str:
    return f"{n:,}" if n < 10**9 else f"{n:.3g}"


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.3g} {unit}" if unit != "B" else f"{n:.0f} B"
        n /= 1000
    return f"{n:.3g} EB"  # pragma: no cover


def available_memory() -> int | None:
    """Memory this machine can still give, bytes (None if unknown)."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # psutil missing or unsupported: try sysconf
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def _design_shape(loaded: LoadedExperiment, n_points: int) -> str:
    exp = loaded.experiment
    shape = (f"{len(loaded.bases)} scenario(s) x {len(exp.hypotheses)} hypothesis(es) x "
             f"{_fmt_count(n_points)} point(s)")
    d = exp.design
    if d.kind == "grid" and len(d.parameters) > 1:
        axes = " x ".join(_fmt_count(len(s.listed) if not s.is_range else d.samples)
                          for s in d.parameters.values())
        shape += f" (a grid of {axes} values)"
    return shape + f" x {_fmt_count(exp.replicates)} replicate(s)"


def check_design_size(loaded: LoadedExperiment, n_points: int, memory_bytes: int = 0,
                      memory_limit: int | None = None) -> int:
    """Refuse a design that cannot be run, from its size alone (before building anything).

    ``n_points`` is the number of design points; ``memory_bytes`` what the caller will
    hold for them (points listed in memory, a sensitivity sample). Refused: more than
    :data:`MAX_RUNS` runs, or more memory than :data:`MEMORY_FRACTION` of ``memory_limit``
    (default: the memory available now). Returns the number of runs.

    Raises
    ------
    SweepError
        Naming the points, the runs and the memory and disk they would need.
    """
    exp = loaded.experiment
    runs = len(loaded.bases) * len(exp.hypotheses) * n_points * exp.replicates
    shape = _design_shape(loaded, n_points)
    fix = ("use fewer values or samples per parameter, fewer replicates, or a random or "
           "Latin-hypercube design (kind = 'latin_hypercube', samples = N)")
    if runs > MAX_RUNS:
        disk = runs * (RUN_FILE_BYTES + TABLE_BYTES_PER_RUN)
        listing = n_points * (POINT_BYTES + POINT_BYTES_PER_PARAMETER * len(exp.design.parameters))
        raise SweepError(
            f"{loaded.source}: the design is too large: {shape} = {_fmt_count(runs)} runs, "
            f"more than the {MAX_RUNS:,} a sweep can hold (one file per run: "
            f"~{_fmt_bytes(disk)} on disk; listing its points alone would take "
            f"~{_fmt_bytes(listing)} of memory). Nothing was run; {fix}")
    limit = available_memory() if memory_limit is None else memory_limit
    if limit is not None and memory_bytes > MEMORY_FRACTION * limit:
        raise SweepError(
            f"{loaded.source}: the design does not fit in memory: {shape} = "
            f"{_fmt_count(runs)} runs; holding its {_fmt_count(n_points)} points needs "
            f"~{_fmt_bytes(memory_bytes)}, and {_fmt_bytes(limit)} are available (at most "
            f"{MEMORY_FRACTION:.0%} may be planned). Nothing was run; {fix}")
    return runs


def build_design(loaded: LoadedExperiment,
                 points: Sequence[dict[str, Any]] | None = None) -> RunList:
    """Every run of the experiment, in a fixed order, before anything is executed.

    The design's size is computed from the experiment first and checked
    (:func:`check_design_size`); then the runs are a :class:`RunList`, enumerated by index.
    """
    exp = loaded.experiment
    if points is None:
        n_points = count_points(exp.design)
        held = 0 if exp.design.kind == "grid" else n_points * (
            POINT_BYTES + POINT_BYTES_PER_PARAMETER * len(exp.design.parameters))
        check_design_size(loaded, n_points, held)
        points = design_points(exp.design, exp.seed)
    else:
        check_design_size(loaded, len(points))
    return RunList(list(loaded.bases), exp.hypotheses, points, exp.replicates, exp.seed)


def _points_record(points: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """How experiment.json (and the digest) records the points: listed, or a large grid
    by its axes."""
    if isinstance(points, GridPoints) and points.n > MANIFEST_POINTS:
        return {"points_count": points.n, "grid": dict(zip(points.keys, points.axes,
                                                                 strict=True))}
    return {"points_count": len(points), "points": [dict(p) for p in points]}


def _digest_inputs(loaded: LoadedExperiment) -> dict[str, Any]:
    return {"experiment": loaded.experiment.model_dump(mode="json", exclude=_NOT_DIGESTED),
            "scenarios": {label: sc.resolved_dict() for label, sc in loaded.bases.items()}}


def design_digest(loaded: LoadedExperiment, runs: Sequence[Run]) -> str:
    """A fingerprint of everything that shapes the results, to refuse resuming a different
    design: the outputs kept, the [set] overrides, hypotheses, seed, replicates and design
    (the whole experiment but its description and sensitivity section), every base
    scenario's resolved content, and the design's points."""
    if isinstance(runs, RunList):
        points = runs.points
    else:
        seen: dict[int, dict] = {}
        for r in runs:
            seen.setdefault(r.point, dict(r.params))
        points = [seen[i] for i in sorted(seen)]
    payload = {"format": 2, **_digest_inputs(loaded), **_points_record(points)}
    text = json.dumps(payload, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# ------------------------------------------------------------------------------ running
def scalar_outputs() -> list[str]:
    """Per-patient numbers a sensitivity analysis or a response curve can use."""
    return (["macrometastases", "detectable_metastases", "metastatic_sites", "days",
             "died", "first_detectable_day", "disseminated_at_diagnosis",
             "micrometastasis_at_diagnosis"]
            + [f"site:{o}" for o in TARGET_ORGANS]
            + [f"reached:{s}" for s in FUNNEL_STAGES])


def _head(run: Run, status: str, error: str, wall_s: float) -> dict[str, Any]:
    row: dict[str, Any] = {"run_id": run.run_id, "scenario": run.scenario,
                           "hypothesis": run.hypothesis, "point": run.point,
                           "replicate": run.replicate, "seed": run.seed,
                           "spawn_key": run.replicate, "status": status, "error": error,
                           "wall_s": wall_s}
    return row


def record(run: Run, result: PatientResult, outputs: Sequence[str], wall_s: float) -> dict:
    """The flat, JSON-able row kept for one finished run."""
    row = _head(run, "ok", "", wall_s)
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


def failed_record(run: Run, error: str, wall_s: float = 0.0, tb: str = "") -> dict:
    """The row kept for a run that did not finish (its error instead of its outputs)."""
    row = _head(run, "error", error, wall_s)
    row["traceback"] = tb
    for k, v in run.params:
        row[f"param:{k}"] = v
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


def make_jobs(loaded: LoadedExperiment, runs: Iterable[Run]) -> Iterator[Job]:
    """The jobs of ``runs``, made one at a time as the executor asks for them."""
    outputs = tuple(loaded.experiment.outputs)
    base_inputs = {label: sc.to_input() for label, sc in loaded.bases.items()}
    return (Job(run, base_inputs[run.scenario], outputs) for run in runs)


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
        return failed_record(run, f"{type(e).__name__}: {e}".strip(), time.perf_counter() - t0,
                             traceback.format_exc(limit=8))


def execute(jobs: Iterable[Job], executor: str = "serial", workers: int = 1,
            scheduler: str | None = None) -> Generator[dict, None, None]:
    """Yield each job's record as it finishes (completion order).

    ``jobs`` is consumed lazily, a few at a time, so it may be a generator over millions of
    runs. A job that raises, or whose worker process dies, yields an error record; the
    others go on. Close the generator (or let it finish) to stop the workers.
    """
    if executor not in EXECUTORS:
        raise ScenarioError(f"--executor {executor!r}: allowed: {', '.join(EXECUTORS)}")
    if executor == "serial":
        for job in jobs:
            yield execute_job(job)
    elif executor == "processes":
        yield from _execute_processes(jobs, max(1, workers))
    else:
        yield from _execute_dask(jobs, workers, scheduler)


# -- local worker processes ------------------------------------------------------------
# A small pool of our own rather than ProcessPoolExecutor: each worker has its own pipe
# and runs one job at a time, so when a worker dies (the out-of-memory killer, a segfault)
# the parent knows exactly which run it held, records that run as failed, starts a new
# worker and goes on - nothing else is lost (a ProcessPoolExecutor breaks as a whole and
# fails every pending job). No queue is shared, so a worker killed at any moment cannot
# leave a lock held. Workers ignore SIGINT (Ctrl-C is the parent's to handle: it stops them)
# and exit when their parent dies, even by kill -9.

def _worker_init(parent_pid: int) -> None:
    """In a worker: leave Ctrl-C to the parent, and exit when the parent dies."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        # The kernel kills us when the parent (the thread that started us) exits.
        with contextlib.suppress(Exception):
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:  # portable fallback: orphans are re-parented
        while True:
            time.sleep(0.5)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, daemon=True, name="metasim-parent-watch").start()


def _worker_main(conn: Any, parent_pid: int) -> None:
    _worker_init(parent_pid)
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        row = execute_job(job)
        try:
            conn.send(row)
        except (OSError, ValueError):
            return


@dataclass(eq=False)
class _Worker:
    proc: Any
    conn: Any
    job: Job | None = None


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT while a worker is forked, so it never starts with Python's handler."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def _start_worker(ctx: Any) -> _Worker:
    parent_end, child_end = ctx.Pipe(duplex=True)
    proc = ctx.Process(target=_worker_main, args=(child_end, os.getpid()), daemon=True,
                       name="metasim-sweep-worker")
    with _sigint_ignored():
        proc.start()
    child_end.close()
    return _Worker(proc, parent_end)


def _reap(w: _Worker) -> int | None:
    with contextlib.suppress(OSError):
        w.conn.close()
    w.proc.join(timeout=10)
    return w.proc.exitcode


def died_message(exitcode: int | None) -> str:
    """The error recorded for a run whose worker process died."""
    if exitcode is not None and exitcode < 0:
        sig = -exitcode
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = "unknown signal"
        why = f"killed by signal {sig} ({name})"
        if sig == signal.SIGKILL:
            why += ": by the out-of-memory killer? try fewer --workers or a smaller scenario"
    else:
        why = f"exit status {exitcode}"
    return f"WorkerDied: the worker process running this run died ({why})"


def _execute_processes(jobs: Iterable[Job], workers: int) -> Iterator[dict]:
    import multiprocessing as mp
    from multiprocessing.connection import wait

    ctx = mp.get_context("spawn")  # explicit: the parent-death watch relies on getppid()
    it = iter(jobs)
    pool: list[_Worker] = []
    waiting: Job | None = None   # taken from ``jobs``, not yet handed to a worker
    exhausted = finished = False
    try:
        while True:
            while not exhausted:   # hand jobs to idle workers (starting up to ``workers``)
                if waiting is None:
                    waiting = next(it, None)
                    if waiting is None:
                        exhausted = True
                        break
                w = next((w for w in pool if w.job is None), None)
                if w is None:
                    if len(pool) >= workers:
                        break
                    w = _start_worker(ctx)
                    pool.append(w)
                try:
                    w.conn.send(waiting)
                except OSError:   # died while idle: replace it, the job waits
                    _reap(w)
                    pool.remove(w)
                    continue
                w.job, waiting = waiting, None
            busy = [w for w in pool if w.job is not None]
            if not busy:
                break
            ready = set(wait([w.conn for w in busy] + [w.proc.sentinel for w in busy]))
            for w in busy:
                if w.conn not in ready and w.proc.sentinel not in ready:
                    continue
                row = None
                try:
                    if w.conn.poll():
                        row = w.conn.recv()
                except (EOFError, OSError):
                    row = None
                job, w.job = w.job, None
                if row is None:   # the worker died with this job
                    pool.remove(w)
                    assert job is not None  # a busy worker holds its job
                    row = failed_record(job.run, died_message(_reap(w)))
                yield row
        finished = True
    finally:
        _stop_workers(pool, graceful=finished)


def _stop_workers(pool: list[_Worker], graceful: bool) -> None:
    """Idle workers are asked to exit; on an interruption (Ctrl-C, an error, the consumer
    stopping early) every worker is killed at once - its run is lost, not half-written."""
    for w in pool:
        if graceful and w.job is None:
            with contextlib.suppress(OSError, ValueError):
                w.conn.send(None)
        else:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                w.proc.kill()
    deadline = time.monotonic() + 5
    for w in pool:
        w.proc.join(timeout=max(0.1, deadline - time.monotonic()))
        if w.proc.is_alive():
            w.proc.kill()
            w.proc.join(timeout=1)
        with contextlib.suppress(OSError):
            w.conn.close()


def _execute_dask(jobs: Iterable[Job], workers: int, scheduler: str | None) -> Iterator[dict]:
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:  # pragma: no cover - dask is a dependency
        raise ScenarioError("--executor dask needs dask.distributed: "
                            "python3 -m pip install 'dask[distributed]'") from None
    import uuid

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
        # A few jobs per worker thread in flight at a time: the client and the scheduler
        # never hold the whole design. Keys are unique to this call, so a shared scheduler
        # never hands back another sweep's result for the same run id.
        threads = sum(client.nthreads().values()) or max(1, workers)
        token = uuid.uuid4().hex[:8]
        it = iter(jobs)
        running: dict[str, Job] = {}
        done = as_completed()

        def submit(n: int) -> None:
            for job in itertools.islice(it, n):
                fut = client.submit(execute_job, job, pure=False,
                                    key=f"metasim-{token}-{job.run_id}")
                running[str(fut.key)] = job
                done.add(fut)

        submit(4 * threads)
        for fut in done:
            job = running.pop(fut.key)
            try:
                row = fut.result()
            except Exception as e:  # e.g. KilledWorker: recorded, go on
                row = failed_record(job.run, f"{type(e).__name__}: {e} (the Dask worker "
                                             "running it failed or died)".strip())
            fut.release()
            yield row
            submit(1)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# ------------------------------------------------------------------------------ storing
def _why(e: OSError) -> str:
    return e.strerror or str(e) or type(e).__name__


class ResultStore:
    """A sweep folder: ``experiment.json``, ``runs/<run_id>.json``, collected tables.

    Every failure to write becomes an :class:`~sim.io.outputs.OutputError` naming the folder
    and the cause (one message, exit status 2 on the command line).
    """

    MANIFEST = "experiment.json"

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.runs_dir = self.folder / "runs"
        self._written = 0

    def prepare(self, loaded: LoadedExperiment, runs: Sequence[Run], resume: bool) -> None:
        """Create the folder or check that it holds this experiment (for --resume), and
        prove it writable by writing a file there, before any run starts."""
        try:
            self._prepare(loaded, runs, resume)
        except (ScenarioError, OutputError):
            raise
        except OSError as e:
            raise OutputError(f"--out {self.folder}: cannot create or write the sweep folder "
                              f"({_why(e)}); nothing was run") from None

    def _prepare(self, loaded: LoadedExperiment, runs: Sequence[Run], resume: bool) -> None:
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
                differ = _differences(old, loaded)
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
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self._probe()
        self._check_disk(len(runs), len(runs))
        exp = loaded.experiment
        points = runs.points if isinstance(runs, RunList) else _unique_points(runs)
        widths = runs.widths if isinstance(runs, RunList) else (5, 5)
        _atomic_write(manifest, json.dumps({
            "source": loaded.source, "design_digest": digest, "runs": len(runs),
            "experiment": exp.model_dump(mode="json"),
            "scenarios": {k: v.to_input() for k, v in loaded.bases.items()},
            "primaries": {k: v.primary.site for k, v in loaded.bases.items()},
            "run_id_widths": list(widths),
            **_points_record(points),
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
                f"--out {self.folder}: {_fmt_count(runs)} runs need ~{_fmt_bytes(need)} on disk "
                f"(a file per run, then the tables) and {_fmt_bytes(free)} are free there; "
                "nothing was run. Free space, choose another --out, or make the design smaller")

    def done(self) -> set[str]:
        """Ids of the runs on disk (a set: for small sweeps; see :meth:`has`)."""
        if not self.runs_dir.is_dir():
            return set()
        return {p.stem for p in self.runs_dir.glob("*.json")}

    def done_count(self) -> int:
        """How many runs are on disk (counted without holding their names)."""
        if not self.runs_dir.is_dir():
            return 0
        with os.scandir(self.runs_dir) as entries:
            return sum(1 for e in entries if e.name.endswith(".json")
                       and not e.name.startswith("."))

    def has(self, run_id: str) -> bool:
        return (self.runs_dir / f"{run_id}.json").is_file()

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

    def run_ids(self) -> Iterator[str]:
        """The design's run ids in sorted order, from experiment.json (nothing listed)."""
        m = self.manifest()
        labels = list(m["scenarios"])
        hypotheses = list(m["experiment"]["hypotheses"])
        replicates = int(m["experiment"]["replicates"])
        n_points = int(m.get("points_count") or len(m.get("points") or [{}]))
        wp, wr = m.get("run_id_widths") or (_width(n_points), _width(replicates))
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

    def rows(self) -> list[dict]:
        """All stored runs as a list (small sweeps; :meth:`iter_rows` streams them)."""
        return list(self.iter_rows())

    def manifest(self) -> dict:
        path = self.folder / self.MANIFEST
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ScenarioError(f"{self.folder}: not a metasim sweep folder (no "
                                f"{self.MANIFEST})") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ScenarioError(f"{path}: cannot be read ({e})") from None


def _differences(old: dict, loaded: LoadedExperiment) -> list[str]:
    """Which settings of a stored sweep differ from ``loaded`` (for the resume message)."""
    new = _digest_inputs(loaded)
    old_exp = {k: v for k, v in (old.get("experiment") or {}).items() if k not in _NOT_DIGESTED}
    keys = sorted(set(old_exp) | set(new["experiment"]))
    differ = [k for k in keys if old_exp.get(k) != new["experiment"].get(k)]
    old_sc = old.get("scenarios") or {}
    new_sc = {k: v.to_input() for k, v in loaded.bases.items()}
    if json.dumps(old_sc, sort_keys=True, default=str) != json.dumps(new_sc, sort_keys=True,
                                                                      default=str):
        differ.append("the scenarios' content")
    return differ


def _unique_points(runs: Iterable[Run]) -> list[dict]:
    seen: dict[int, dict] = {}
    for r in runs:
        seen.setdefault(r.point, dict(r.params))
    return [seen[i] for i in sorted(seen)]


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
    """Build the design, skip what is done, execute the rest, store each run as it ends.

    Memory does not grow with the design: runs are enumerated and handed to the executor
    as it asks for them, and nothing is kept per run but a count.

    Raises
    ------
    SweepError
        Before anything runs, if the design is too large (:func:`check_design_size`); at the
        end, if every run executed failed (see below).
    OutputError
        If ``out`` cannot be created or written (checked by writing there first), or a run
        cannot be stored.
    """
    from tqdm.auto import tqdm

    runs = build_design(loaded)
    store = ResultStore(out)
    store.prepare(loaded, runs, resume)
    done_before = min(store.done_count(), len(runs))
    todo = (r for r in runs if not store.has(r.run_id)) if done_before else iter(runs)
    t0 = time.perf_counter()
    ran = errors = 0
    sample: list[str] = []
    bar = tqdm(total=len(runs), initial=done_before, unit="run",
               desc=f"sweep ({executor})", disable=None if progress is None else not progress,
               smoothing=0.05)
    records = execute(make_jobs(loaded, todo), executor, workers, scheduler)
    try:
        for row in records:
            store.write(row)
            ran += 1
            if row["status"] != "ok":
                errors += 1
                if len(sample) < 5:
                    sample.append(f"{row['run_id']}: {row['error']}")
            if on_record:
                on_record(row)
            bar.update(1)
    finally:
        records.close()   # stops the workers at once if we leave early (Ctrl-C, an error)
        bar.close()
    # Failures are recorded and the sweep goes on; a partial failure is reported in the
    # summary (the command prints how many failed and the first errors, exit status 0, the
    # rows carry status/error). But a sweep in which *every* run executed failed has no
    # result at all - almost always a design that cannot run (a value the simulation rejects
    # at run time, a scenario too large) - so it is an error: the tables are still written
    # (the error records are the only diagnosis) and SweepError (exit status 2) says so.
    if ran and errors == ran:
        write_tables(store)
        raise SweepError(
            f"{loaded.source}: every one of the {ran} run(s) failed; nothing to analyse. "
            f"First error: {sample[0]}. The error of each run is in {store.folder}/results.csv "
            f"(status, error) and its traceback in {store.folder}/runs/")
    return SweepSummary(len(runs), done_before, ran, errors, time.perf_counter() - t0, sample)
