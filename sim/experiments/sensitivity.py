"""Global sensitivity analysis of simulated outputs with SALib.

The experiment's ``design.parameters`` given as ranges define the input space (uniform, or
log-uniform for ``scale = "log"``: the sample is drawn on the log scale). SALib draws the
sample - Saltelli's scheme for Sobol indices, trajectories for Morris' elementary effects -
every sample point is simulated ``replicates`` times (the same replicate streams at every
point: common random numbers, so the indices measure the parameters, not seed noise), and the
per-point mean of each output is analysed:

* **Sobol** (Sobol 2001; Saltelli 2002): first-order ``S1`` and total ``ST`` indices with
  bootstrap confidence intervals - the share of the output's variance due to each parameter
  alone, and with all its interactions;
* **Morris** (Morris 1991; Campolongo et al. 2007): ``mu_star`` (mean absolute elementary
  effect, the importance) and ``sigma`` (non-linearity or interactions) - a cheap screen.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .design import (
    LoadedExperiment,
    ParameterSpec,
    RunList,
    SweepError,
    build_design,
    check_design_size,
)
from .executors import Executor, open_executor
from .sweep import execute, make_jobs


@dataclass
class Problem:
    names: list[str]
    specs: list[ParameterSpec]

    def salib(self) -> dict:
        bounds = [[math.log(s.bounds[0]), math.log(s.bounds[1])] if s.scale == "log"
                  else list(s.bounds) for s in self.specs]
        return {"num_vars": len(self.names), "names": self.names, "bounds": bounds}

    def to_values(self, row: np.ndarray) -> dict[str, float]:
        return {n: float(math.exp(v) if s.scale == "log" else v)
                for n, s, v in zip(self.names, self.specs, row, strict=True)}


def problem_of(loaded: LoadedExperiment) -> Problem:
    params = {k: s for k, s in loaded.experiment.design.parameters.items() if s.is_range}
    return Problem(list(params), list(params.values()))


def sample(problem: Problem, method: str, n: int, levels: int, seed: int) -> np.ndarray:
    """The SALib sample (rows in SALib's scale: log for log-scaled parameters)."""
    spec = problem.salib()
    if method == "sobol":
        from SALib.sample import sobol as sobol_sample

        return sobol_sample.sample(spec, n, calc_second_order=False, seed=seed)
    if method == "morris":
        from SALib.sample import morris as morris_sample

        return morris_sample.sample(spec, n, num_levels=levels, seed=seed)
    raise ValueError(f"unknown method {method!r}")


def analyse(problem: Problem, method: str, x: np.ndarray, y: np.ndarray, *,
            confidence: float = 0.95, bootstrap: int = 200, seed: int = 1,
            levels: int = 4) -> list[dict]:
    """Indices per parameter for one output ``y`` (one value per row of ``x``)."""
    spec = problem.salib()
    y = np.asarray(y, dtype=float)
    if method == "sobol":
        from SALib.analyze import sobol

        res = sobol.analyze(spec, y, calc_second_order=False, num_resamples=bootstrap,
                            conf_level=confidence, seed=seed)
        return [{"parameter": n, "S1": float(res["S1"][i]), "S1_conf": float(res["S1_conf"][i]),
                 "ST": float(res["ST"][i]), "ST_conf": float(res["ST_conf"][i])}
                for i, n in enumerate(problem.names)]
    from SALib.analyze import morris

    res = morris.analyze(spec, x, y, num_resamples=bootstrap, conf_level=confidence,
                         num_levels=levels, seed=seed)
    return [{"parameter": n, "mu_star": float(res["mu_star"][i]),
             "mu_star_conf": float(res["mu_star_conf"][i]), "sigma": float(res["sigma"][i]),
             "mu": float(res["mu"][i])} for i, n in enumerate(problem.names)]


class SamplePoints(Sequence):
    """The design points of a SALib sample, made one at a time from its rows (explicit-value
    parameters held at their first value)."""

    def __init__(self, problem: Problem, x: np.ndarray, fixed: dict[str, Any]):
        self.problem, self.x, self.fixed = problem, x, fixed

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return {**self.problem.to_values(self.x[i]), **self.fixed}


def sample_size(method: str, n: int, parameters: int) -> int:
    """Points of a SALib sample: Sobol (no second order) N * (D + 2), Morris r * (D + 1)."""
    return n * (parameters + 2) if method == "sobol" else n * (parameters + 1)


def sensitivity(loaded: LoadedExperiment, method: str | None = None, samples: int | None = None,
                executor: str | Executor = "serial", workers: int = 1,
                scheduler: str | None = None,
                progress: bool | None = None,
                on_record: Callable[[dict], None] | None = None) -> dict:
    """Sample, simulate and analyse; returns the sample, per-point outputs and indices.

    The sample's size is computed and checked before it is drawn (a sample that cannot be
    held is refused with :class:`~sim.experiments.design.SweepError`); the runs are streamed by
    ``executor`` (as in :func:`~sim.experiments.sweep.sweep`) and only a running sum and count
    per point and output are kept.

    Raises
    ------
    SweepError
        The sample does not fit, or every run failed (nothing to analyse).
    """
    from .progress import progress_bar

    exp = loaded.experiment
    spec = exp.sensitivity
    if spec is None:
        raise SweepError(f"{loaded.source}: no [sensitivity] section (method, samples, outputs)")
    method = method or spec.method
    n = samples or spec.samples
    problem = problem_of(loaded)
    d = len(problem.names)
    n_points = sample_size(method, n, d)
    groups = len(loaded.bases) * len(exp.hypotheses)
    # The sample (and SALib's working copies of it) and two accumulators per group/output.
    held = n_points * (4 * d * 8 + groups * len(spec.outputs) * 16 + 64)
    check_design_size(loaded, n_points, held)
    x = sample(problem, method, n, spec.levels, exp.seed)
    fixed = {k: s.listed[0] for k, s in exp.design.parameters.items() if not s.is_range}
    points = SamplePoints(problem, x, fixed)
    runs: RunList = build_design(loaded, points)
    outputs = list(spec.outputs)
    sums: dict[tuple[str, str], np.ndarray] = {}
    counts: dict[tuple[str, str], np.ndarray] = {}
    ran = failed = 0
    first_error = ""
    ex = open_executor(executor, workers, scheduler)
    bar = progress_bar(progress, total=len(runs), unit="run", desc=f"{method} ({ex.name})")
    try:
        with ex, contextlib.closing(execute(ex, make_jobs(loaded, runs))) as records:
            for r in records:
                ran += 1
                if r["status"] != "ok":
                    failed += 1
                    first_error = first_error or f"{r['run_id']}: {r['error']}"
                else:
                    key = (r["scenario"], r["hypothesis"])
                    if key not in sums:
                        sums[key] = np.zeros((len(points), len(outputs)))
                        counts[key] = np.zeros((len(points), len(outputs)))
                    for j, output in enumerate(outputs):
                        v = _value(r.get(output))
                        if v is not None:
                            sums[key][r["point"], j] += v
                            counts[key][r["point"], j] += 1
                if on_record:
                    on_record(r)
                bar.update(1)
    finally:
        bar.close()
    if ran and failed == ran:
        raise SweepError(f"{loaded.source}: every one of the {ran} run(s) failed; no index "
                         f"can be computed. First error: {first_error}")
    results = []
    for (scen, hyp), total in sums.items():
        with np.errstate(invalid="ignore", divide="ignore"):
            means = total / counts[(scen, hyp)]
        for j, output in enumerate(outputs):
            y = means[:, j]
            if not np.all(np.isfinite(y)):
                results.append({"scenario": scen, "hypothesis": hyp, "output": output,
                                "error": "some sample points have no value (failed runs or "
                                         "an output that is undefined, e.g. no metastasis)"})
                continue
            if np.ptp(y) == 0.0:
                # Indices of an output that never varies are 0/0, not "no influence"
                # (SALib divides by its variance and would report 0 with a warning).
                results.append({"scenario": scen, "hypothesis": hyp, "output": output,
                                "error": f"the output did not vary over the sample (always "
                                         f"{y[0]:g}, e.g. no metastasis in these courses); "
                                         "its indices are undefined"})
                continue
            for ind in analyse(problem, method, x, y, confidence=spec.confidence,
                               bootstrap=spec.bootstrap, seed=exp.seed, levels=spec.levels):
                results.append({"scenario": scen, "hypothesis": hyp, "output": output,
                                "method": method, **ind})
    return {"method": method, "problem": problem.salib(), "points": len(points),
            "runs": len(runs), "failed_runs": failed, "indices": results}


def _value(v: Any) -> float | None:
    """A number for the mean, or None (missing, NaN)."""
    if v is None:
        return None
    v = float(v)
    return None if math.isnan(v) else v
