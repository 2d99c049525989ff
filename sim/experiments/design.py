"""What an experiment runs: the experiment file, its design points and the list of runs.

An *experiment file* (TOML) names base scenarios, the hypotheses to compare, the parameters
to vary (an explicit grid, random or Latin-hypercube ranges), replicates per point and the
outputs to keep. :func:`load_experiment` reads and validates it (every value the design can
give a key is checked against every base scenario before anything runs), and
:func:`build_design` turns it into the :class:`RunList` of every (scenario, hypothesis,
point, replicate) with its scenario overrides and its random stream - *before* anything
runs; an executor (:mod:`sim.experiments.executors`) only executes that list. Replicate
``r`` gets child ``r`` of ``SeedSequence(seed)`` (:func:`sim.experiments.seeds.replicate_stream`,
in O(1)) at every point and under every hypothesis (common random numbers).

Nothing grows with the number of runs: the design is enumerated by index (a grid's points by
mixed-radix arithmetic). The size of a design is computed from the experiment alone and a
design that cannot be held or stored is refused (:class:`SweepError`, with the points, runs,
memory and disk it would need) before anything is built.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, ValidationError, model_validator

from ..config.bundled import find_scenario, scenario_dir
from ..config.errors import ScenarioError
from ..config.hypotheses import HYPOTHESES
from ..config.loading import apply_overrides, format_errors, make_scenario, parse_override, read_toml
from ..config.schema import Scenario, Section
from .limits import available_memory_bytes
from .outcomes import OUTPUT_GROUPS, scalar_outputs
from .seeds import design_stream, replicate_stream

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


class SweepError(ScenarioError):
    """A sweep that cannot run (too large, too many workers, every run failed, not an
    experiment file). A :class:`ScenarioError`, so the command line reports it in one line
    with exit status 2."""


# ------------------------------------------------------------------------------ schema
class ParameterSpec(Section):
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


class Design(Section):
    # grid: every combination of the parameters' values (ranges: ``samples`` evenly spaced
    # values each); random: ``samples`` independent uniform (or log-uniform) draws;
    # latin_hypercube: ``samples`` points of a Latin hypercube (scipy.stats.qmc).
    kind: Literal["grid", "random", "latin_hypercube"] = "grid"
    samples: Annotated[int, Field(ge=1, le=100_000)] = 5
    parameters: dict[str, ParameterSpec] = Field(default_factory=dict)


class SensitivitySpec(Section):
    # Sobol (Saltelli sampling, bootstrap intervals) or Morris (elementary effects screen).
    method: Literal["sobol", "morris"] = "sobol"
    # Sobol: base sample N (N * (D + 2) points); Morris: trajectories (r * (D + 1) points).
    samples: Annotated[int, Field(ge=2, le=100_000)] = 32
    levels: Annotated[int, Field(ge=2, le=20)] = 4
    outputs: list[str] = Field(default_factory=lambda: ["macrometastases"], min_length=1)
    confidence: Annotated[float, Field(gt=0.5, lt=1.0)] = 0.95
    bootstrap: Annotated[int, Field(ge=10, le=100_000)] = 200


class Experiment(Section):
    description: str = ""
    # Base scenarios: bundled names (presets/breast) or paths relative to the experiment file.
    scenarios: list[str] = Field(min_length=1)
    hypotheses: list[Literal[tuple(HYPOTHESES)]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: ["combined"], min_length=1)
    replicates: Annotated[int, Field(ge=1, le=1_000_000)] = 10
    # Always set (a sweep is resumed run by run on the same streams; see experiments.seeds).
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
    raw = read_toml(p, "experiment file")
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
        raise ScenarioError(format_errors(err, str(p), overridden, Experiment)
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
        msg = format_errors(err, str(scen_path), labels)
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
    rng = design_stream(seed)  # the design's own stream, apart from the replicates'
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


def id_width(n: int) -> int:
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
        self.widths = (id_width(self.n_points), id_width(self.replicates))
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


def format_count(n: int) -> str:
    return f"{n:,}" if n < 10**9 else f"{n:.3g}"


def format_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.3g} {unit}" if unit != "B" else f"{n:.0f} B"
        n /= 1000
    return f"{n:.3g} EB"  # pragma: no cover


def _design_shape(loaded: LoadedExperiment, n_points: int) -> str:
    exp = loaded.experiment
    shape = (f"{len(loaded.bases)} scenario(s) x {len(exp.hypotheses)} hypothesis(es) x "
             f"{format_count(n_points)} point(s)")
    d = exp.design
    if d.kind == "grid" and len(d.parameters) > 1:
        axes = " x ".join(format_count(len(s.listed) if not s.is_range else d.samples)
                          for s in d.parameters.values())
        shape += f" (a grid of {axes} values)"
    return shape + f" x {format_count(exp.replicates)} replicate(s)"


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
            f"{loaded.source}: the design is too large: {shape} = {format_count(runs)} runs, "
            f"more than the {MAX_RUNS:,} a sweep can hold (one file per run: "
            f"~{format_bytes(disk)} on disk; listing its points alone would take "
            f"~{format_bytes(listing)} of memory). Nothing was run; {fix}")
    limit = available_memory_bytes() if memory_limit is None else memory_limit
    if memory_bytes > MEMORY_FRACTION * limit:
        raise SweepError(
            f"{loaded.source}: the design does not fit in memory: {shape} = "
            f"{format_count(runs)} runs; holding its {format_count(n_points)} points needs "
            f"~{format_bytes(memory_bytes)}, and {format_bytes(limit)} are available (at most "
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


def points_record(points: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """How experiment.json (and the digest) records the points: listed, or a large grid
    by its axes."""
    if isinstance(points, GridPoints) and points.n > MANIFEST_POINTS:
        return {"points_count": points.n, "grid": dict(zip(points.keys, points.axes,
                                                                 strict=True))}
    return {"points_count": len(points), "points": [dict(p) for p in points]}


def _digest_inputs(loaded: LoadedExperiment) -> dict[str, Any]:
    return {"experiment": loaded.experiment.model_dump(mode="json", exclude=_NOT_DIGESTED),
            "scenarios": {label: sc.resolved_dict() for label, sc in loaded.bases.items()}}


def design_digest(loaded: LoadedExperiment, runs: RunList) -> str:
    """A fingerprint of everything that shapes the results, to refuse resuming a different
    design: the outputs kept, the [set] overrides, hypotheses, seed, replicates and design
    (the whole experiment but its description and sensitivity section), every base
    scenario's resolved content, and the design's points."""
    payload = {"format": 2, **_digest_inputs(loaded), **points_record(runs.points)}
    text = json.dumps(payload, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def differences(old: dict, loaded: LoadedExperiment) -> list[str]:
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

