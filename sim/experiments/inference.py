"""Bayesian calibration of a preset: ABC-SMC for the course, a hierarchical soil for the sites.

Two kinds of data constrain a preset, and the model lets them be used in turn:

1. **The course** (:data:`COURSE_PARAMETERS`: shedding scale, colonisation competence, the
   spreads of shedding and competence between patients) against the preset's *non-site*
   population targets (:mod:`sim.biology.targets`: CTCs and DTCs at diagnosis, node
   involvement, synchronous metastasis, untreated survival). Their likelihood has no closed
   form, so the posterior is approximated by ABC-SMC (pyabc; Toni et al. 2009, J R Soc
   Interface 6:187; Klinger et al. 2018, Bioinformatics 34:3591): each particle simulates a
   cohort of patients with the population engine and is accepted when its shares lie close
   to the published ones (distance: squared differences scaled by their binomial variance).
   The three hypotheses are three *models* of one multi-model ABC-SMC on the same targets,
   so Ewing's arm never sees an autopsy, and the model particles give the posterior model
   probabilities from these targets.
   *Why pyabc, not sbi*: a particle here is a cohort simulated in ~1-3 s, a few thousand
   are affordable, and the targets are a handful of shares with known sampling error;
   ABC-SMC needs no training of a neural density estimator (sbi's strength is amortising
   thousands to millions of cheap simulations), runs on multiprocessing or Dask, stores
   every generation in a database that a stopped run resumes from, and does model selection
   out of the box.
2. **The soil** against the autopsy table (diSibio & French 2008), given the course: the
   hierarchical soil of :mod:`sim.experiments.soil_model` (organ soil shared across
   primaries, primary-specific deviations shrunk towards it). Its likelihood *is* available,
   through the site emulator (:mod:`sim.experiments.emulator`), so it is sampled exactly
   (Gibbs) rather than by ABC; the emulator is first order away from the soil it simulated,
   so the cohort is simulated again at the posterior median (``rounds``).

Random streams: every simulation of a calibration draws from seeds derived from
``SeedSequence(seed, spawn_key=(CALIBRATION_SPAWN_KEY, ...))``, never from the replicate
streams ``SeedSequence(seed, spawn_key=(i,))`` that ``metasim run`` and ``metasim validate``
use, so a calibration and the validation that scores it never share a random number.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..analysis.summaries import population
from ..biology.anatomy import ORGAN_KEYS, PRIMARY_SITES
from ..biology.reference import AUTOPSY_TABLES
from ..biology.soil import affinity_vector
from ..biology.targets import Target, targets_for
from ..config.errors import ScenarioError
from ..config.loading import make_scenario
from ..config.schema import Scenario
from ..streams import CALIBRATION_SPAWN_KEY, calibration_seed
from .course_parameters import COURSE_PARAMETERS, DEFAULT_PARAMETERS, CourseParameter, Settings
from .emulator import SiteEmulator, check_emulable
from .executors import Executor, SerialExecutor
from .replicates import batch_engine
from .soil_model import A_GRID, PrimaryData, SoilPosterior, gibbs

#: Spawn key (after the seed) of every stream a calibration draws from; the replicate
#: streams use keys below 10^6 and the design / population-engine streams 2^31 and 2^31 + 2.
#: The hypotheses compared (``null``, no metastasis at all, is not a candidate).
MODELS = ("ewing", "paget", "combined")




def with_parameters(scenario: Scenario, values: Mapping[str, float],
                    base: Scenario | None = None) -> Scenario:
    """``scenario`` with the course parameters set (relative ones against ``base``, the
    preset, default ``scenario`` itself)."""
    base = base or scenario
    overrides = [(COURSE_PARAMETERS[n].key, COURSE_PARAMETERS[n].value(x, base))
                 for n, x in values.items()]
    return make_scenario(scenario.to_input(), overrides, source="<calibration>")


def calibration_scenario(scenario: Scenario, hypothesis: str) -> Scenario:
    """The preset as the calibration simulates it: under ``hypothesis``, with the
    population engine and no twin courses."""
    return make_scenario(scenario.to_input(), [
        ("hypothesis", hypothesis), ("simulation.engine", "population"),
        ("population.assess_initiated", False)], source="<calibration>")


# --------------------------------------------------------------------------------------
# Stage 1: the course, ABC-SMC on the non-site targets
# --------------------------------------------------------------------------------------

class CohortModel:
    """A pyabc model: the course parameters -> the targets' simulated shares.

    Simulates ``patients`` patients (one population-engine batch) from a seed drawn from
    numpy's global generator, which the sampler seeds for every particle."""

    def __init__(self, scenario: Scenario, targets: Sequence[Target], patients: int,
                 base: Scenario):
        self.scenario = scenario
        self.targets = tuple(targets)
        self.patients = patients
        self.base = base

    def __call__(self, pars: Mapping[str, float]) -> dict[str, float]:
        # pyabc works on numpy's global generator, seeded per particle by the sampler.
        seed = int(np.random.randint(0, 2**31 - 1))  # noqa: NPY002
        sc = with_parameters(self.scenario, {k: float(v) for k, v in pars.items()}, self.base)
        patients = batch_engine(sc, seed, range(self.patients)).run()
        return summarise_targets(patients, self.targets)


def summarise_targets(patients: Sequence[Any], targets: Sequence[Target]) -> dict[str, float]:
    """Each target's simulated share (NaN when nobody was measured)."""
    pop = population(patients)
    out = {}
    for t in targets:
        v, _ = t.simulated(pop)
        out[t.name] = float("nan") if v is None else float(v)
    return out


class TargetDistance:
    """Sum over targets of (simulated - published)^2 / variance, the variance that of the
    difference of two shares at the published value: the publication's patients (none for
    a registry) and the simulated cohort. A target nobody was measured for counts as a
    difference of 1."""

    def __init__(self, targets: Sequence[Target], cohort: int):
        self.weights = {}
        for t in targets:
            p = min(max(t.observed, 0.02), 0.98)
            var = p * (1 - p) * ((1 / t.patients if t.patients else 0.0) + 1 / cohort)
            self.weights[t.name] = 1.0 / var

    def __call__(self, x: Mapping[str, float], x0: Mapping[str, float]) -> float:
        d = 0.0
        for name, w in self.weights.items():
            diff = x[name] - x0[name]
            d += w * (1.0 if not np.isfinite(diff) else diff * diff)
        return float(d)


def _simulate_one(job: tuple[bytes, int]) -> Any:
    import cloudpickle

    blob, seed = job
    simulate_one = cloudpickle.loads(blob)
    np.random.seed(seed)  # noqa: NPY002 (pyabc proposes from numpy's global generator)
    return simulate_one()


def _make_sampler(executor: Executor, seed: int, batch: int,
                  progress: Callable[[dict], None] | None):
    from pyabc.sampler import Sampler

    class SeededSampler(Sampler):
        """pyabc sampler whose result depends only on the seed: particles are proposed and
        simulated in fixed batches, slot ``j`` of batch ``b`` of generation ``t`` from
        :func:`calibration_seed` ``(seed, t, b, j)``, on any executor, and accepted in slot
        order (pyabc's own parallel samplers reseed from the operating system)."""

        def __init__(self) -> None:
            super().__init__()
            self.executor, self.seed, self.batch = executor, seed, batch

        def sample_until_n_accepted(self, n, simulate_one, t, *, max_eval=np.inf,
                                    all_accepted=False, ana_vars=None):
            import cloudpickle

            blob = cloudpickle.dumps(simulate_one)
            sample = self._create_empty_sample()
            evaluations = accepted = b = 0
            t0 = time.perf_counter()
            while accepted < n and evaluations < max_eval:
                jobs = [(blob, calibration_seed(self.seed, t + 1, b, j))
                        for j in range(self.batch)]
                for particle in self.executor.map(_simulate_one, jobs):
                    if accepted >= n:
                        break  # later slots are ignored: the same sample on any executor
                    sample.append(particle)
                    evaluations += 1
                    accepted += bool(particle.accepted)
                b += 1
                if progress:
                    progress({"generation": t, "accepted": accepted, "needed": n,
                              "simulated": evaluations,
                              "seconds": time.perf_counter() - t0})
            self.nr_evaluations_ = evaluations
            if sample.n_accepted < n:
                sample.ok = False
            return sample

    return SeededSampler()


@dataclass
class CoursePosterior:
    """The ABC-SMC result for one preset."""

    database: str
    parameters: list[str]
    #: Per hypothesis: (samples as {parameter: array}, weights) of the last generation.
    samples: dict[str, tuple[dict[str, np.ndarray], np.ndarray]]
    #: Posterior model probabilities from the non-site targets.
    model_probabilities: dict[str, float]
    generations: int
    simulations: int
    epsilons: list[float]
    wall_time_s: float

    def median(self, hypothesis: str) -> dict[str, float]:
        samples, w = self.samples[hypothesis]
        return {k: weighted_quantile(v, w, 0.5) for k, v in samples.items()}

    def interval(self, hypothesis: str, name: str, level: float = 0.9) -> tuple[float, float]:
        samples, w = self.samples[hypothesis]
        a = (1 - level) / 2
        return (weighted_quantile(samples[name], w, a),
                weighted_quantile(samples[name], w, 1 - a))


def weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    order = np.argsort(x)
    cw = np.cumsum(w[order])
    return float(x[order][min(np.searchsorted(cw, q * cw[-1]), len(x) - 1)])


def course_posterior(scenario: Scenario, database: str, *, seed: int,
                     hypotheses: Sequence[str] = MODELS,
                     parameters: Sequence[str] = DEFAULT_PARAMETERS,
                     population_size: int = 40, cohort: int = 24, generations: int = 5,
                     min_acceptance: float = 0.03, executor: Executor | None = None,
                     batch: int = 8, resume: bool = False,
                     progress: Callable[[dict], None] | None = None,
                     targets: Sequence[Target] | None = None) -> CoursePosterior:
    """Multi-model ABC-SMC of the course parameters against the non-site targets.

    ``database``: the pyabc SQLite file (``resume``: continue the run stored there; every
    particle's seed depends only on its place, so a resumed run ends where an uninterrupted
    one would). ``targets``: instead of the primary's published ones (a synthetic check)."""
    import pyabc

    targets = tuple(targets) if targets is not None else targets_for(scenario.primary.site)
    if not targets:
        raise ScenarioError(f"primary.site = {scenario.primary.site!r}: no population target "
                            "is published here (sim/biology/targets.py), so the course keeps "
                            "its prior")
    unknown = [p for p in parameters if p not in COURSE_PARAMETERS]
    if unknown:
        raise ScenarioError(f"--parameters {unknown}: allowed: {', '.join(COURSE_PARAMETERS)}")
    base = scenario
    models = [CohortModel(calibration_scenario(scenario, h), targets, cohort, base)
              for h in hypotheses]
    prior = pyabc.Distribution(**{p: pyabc.RV("uniform", COURSE_PARAMETERS[p].low,
                                               COURSE_PARAMETERS[p].high - COURSE_PARAMETERS[p].low)
                                  for p in parameters})
    ex = executor or SerialExecutor()
    t0 = time.perf_counter()
    np.random.seed(calibration_seed(seed, 0))  # noqa: NPY002 (pyabc's draws in this process)
    with ex:
        abc = pyabc.ABCSMC(models, [prior] * len(models), TargetDistance(targets, cohort),
                           population_size=population_size,
                           sampler=_make_sampler(ex, seed, batch, progress),
                           eps=pyabc.QuantileEpsilon(alpha=0.5))
        url = f"sqlite:///{database}"
        remaining = generations
        if resume:
            done = abc.load(url, 1)
            # A resumed run goes on to the generations asked for in all (pyabc counts the
            # populations of this call).
            remaining = generations - (done.max_t + 1)
        else:
            abc.new(url, {t.name: t.observed for t in targets})
        if remaining > 0:
            history = abc.run(max_nr_populations=remaining, min_acceptance_rate=min_acceptance)
        else:
            history = abc.history
    t_last = history.max_t
    probs = history.get_model_probabilities(t_last)["p"]
    model_p = {h: float(probs.get(m, 0.0)) for m, h in enumerate(hypotheses)}
    samples = {}
    for m, h in enumerate(hypotheses):
        if model_p[h] > 0:
            df, w = history.get_distribution(m=m, t=t_last)
            samples[h] = ({p: df[p].to_numpy() for p in parameters}, np.asarray(w))
        else:  # the model died out: its last living generation
            for t in range(t_last, -1, -1):
                df, w = history.get_distribution(m=m, t=t)
                if len(df):
                    samples[h] = ({p: df[p].to_numpy() for p in parameters}, np.asarray(w))
                    break
            else:  # never accepted at all: nothing learnt, the prior stands for it
                samples[h] = (prior_samples(parameters, 1000, seed), np.ones(1000))
    pops = history.get_all_populations()
    eps = [float(e) for e in pops["epsilon"].tolist() if np.isfinite(e)]
    return CoursePosterior(database, list(parameters), samples, model_p, t_last + 1,
                           int(history.total_nr_simulations), eps, time.perf_counter() - t0)


#: Below this effective sample size an arm's posterior is a handful of particles: its
#: intervals and its model probability mean little.
MIN_EFFECTIVE_PARTICLES = 10


def course_warnings(course: CoursePosterior) -> list[str]:
    """Warnings about an ABC result that should not be read as a posterior: an arm that
    died out, an arm resting on fewer than :data:`MIN_EFFECTIVE_PARTICLES` effective
    particles, an interval that collapsed to a point."""
    out = []
    for h, (samples, w) in course.samples.items():
        w = np.asarray(w, float)
        ess = float(w.sum() ** 2 / max((w ** 2).sum(), 1e-300))
        if course.model_probabilities.get(h, 0.0) <= 0:
            out.append(f"warning: the {h} arm died out (no particle in the last generation): "
                       "its course is from its last living generation, and its model "
                       "probability 0 is a sampling outcome, not evidence")
        elif ess < MIN_EFFECTIVE_PARTICLES:
            out.append(f"warning: the {h} arm rests on {ess:.1f} effective particles: its "
                       "intervals and model probability are rough (more --population)")
        for name, v in samples.items():
            lo, hi = (weighted_quantile(np.asarray(v), w, q) for q in (0.05, 0.95))
            if hi - lo <= 1e-12 * max(1.0, abs(lo)):
                out.append(f"warning: the {h} arm's 90 % interval of {name} collapsed to "
                           f"one value ({lo:.3g}): too few distinct particles to say")
    return out


def prior_samples(parameters: Sequence[str], draws: int, seed: int) -> dict[str, np.ndarray]:
    """Draws from the course parameters' prior (a preset without population targets)."""
    rng = np.random.default_rng(calibration_seed(seed, 1))
    return {p: rng.uniform(COURSE_PARAMETERS[p].low, COURSE_PARAMETERS[p].high, draws)
            for p in parameters}


# --------------------------------------------------------------------------------------
# Stage 2: the soil, through the site emulator
# --------------------------------------------------------------------------------------

def autopsy_counts(scenario: Scenario) -> tuple[list[str], np.ndarray, int]:
    """(organs, patients with a metastasis there, table patients) of the preset's row."""
    row = PRIMARY_SITES[scenario.primary.site].disibio_row
    if row is None:
        raise ScenarioError(f"primary.site = {scenario.primary.site!r}: the autopsy table has "
                            "no row for this primary")
    table = AUTOPSY_TABLES[scenario.tropism.source]
    counts = table.counts(row)
    organs = sorted(counts)
    return organs, np.array([counts[o] for o in organs]), table.patients(row)


def frequency_grid(emulator: SiteEmulator, organs: Sequence[str]) -> np.ndarray:
    """f_o(a) on A_GRID for each organ: the emulated site frequency when the product of
    competence and affinity is exp(a) (the cohort ran at its own, a0)."""
    sc = emulator.scenario
    a0 = np.log(sc.colonization.competence * affinity_vector(sc))
    out = np.empty((len(organs), len(A_GRID)))
    for i, o in enumerate(organs):
        j = ORGAN_KEYS.index(o)
        lam = emulator.expected[:, j]
        ratio = np.exp(A_GRID - a0[j])
        out[i] = (-np.expm1(-np.outer(lam, ratio))).mean(axis=0)
    return out


@dataclass
class SoilInput:
    """One preset under one hypothesis, ready for the soil posterior."""

    hypothesis: str
    scenario: Scenario          # the course the cohort ran (posterior median)
    data: PrimaryData
    emulator_patients: int


def level_prior(course: dict[str, np.ndarray], weights: np.ndarray | None = None
                ) -> tuple[float, float]:
    """Mean and sd of ln(competence) from course-parameter draws (log10 coordinates)."""
    x = np.asarray(course["competence"]) * math.log(10)
    w = np.ones_like(x) if weights is None else np.asarray(weights)
    m = float(np.average(x, weights=w))
    return m, float(math.sqrt(max(np.average((x - m) ** 2, weights=w), 1e-4)))


def soil_scenario(scenario: Scenario, hypothesis: str, course: Mapping[str, float],
                  level: tuple[float, float],
                  affinity: Mapping[str, float] | None = None) -> Scenario:
    """The course a soil cohort runs: ``course`` (competence at the level prior's mean unless
    ``course`` says otherwise), soil ``affinity`` when given."""
    values = dict(course)
    values.setdefault("competence", level[0] / math.log(10))
    sc = with_parameters(calibration_scenario(scenario, hypothesis), values, scenario)
    if affinity is not None and hypothesis != "ewing":
        field_ = "affinity" if sc.delivery == "anatomical" else "affinity_uniform_delivery"
        sc = make_scenario(sc.to_input(), [(f"tropism.{field_}", dict(affinity)),
                                           ("tropism.strength", 1.0)], source="<calibration>")
    check_emulable(sc)
    return sc


def soil_inputs(preset: Scenario, runs: Mapping[str, Scenario],
                levels: Mapping[str, tuple[float, float]], *, seed: int, patients: int,
                executor: Executor, round_: int = 0) -> dict[str, SoilInput]:
    """Simulate the soil cohorts of several hypotheses at once (their batches share the
    executor's workers) and tabulate their site frequencies."""
    from .emulator import exposure_batch
    from .seeds import population_batches

    jobs, owner = [], []
    for h, sc in runs.items():
        cohort_seed = calibration_seed(seed, 2, MODELS.index(h), round_)
        for b in population_batches(patients):
            jobs.append((sc, cohort_seed, b))
            owner.append(h)
    parts: dict[str, list] = {h: [] for h in runs}
    for h, part in zip(owner, executor.map(exposure_batch, jobs), strict=True):
        parts[h].append(part)
    organs, counts, n = autopsy_counts(preset)
    out = {}
    for h, sc in runs.items():
        emu = SiteEmulator(sc, np.concatenate([p[0] for p in parts[h]]),
                           np.concatenate([p[1] for p in parts[h]]))
        out[h] = SoilInput(h, sc, PrimaryData(preset.primary.site, organs, counts, n,
                                              frequency_grid(emu, organs), *levels[h]),
                           patients)
    return out


def soil_ratio_to_affinity(post: SoilPosterior, primary: int = 0) -> tuple[float, dict[str, float]]:
    """(competence, affinities) at the posterior median: the competence exp(median c_p), each
    organ's affinity exp(median a_po - median c_p); organs outside the table take the
    shared soil's median."""
    c = float(np.median(post.level[:, primary]))
    aff = {}
    for j, o in enumerate(post.organs):
        col = post.a[:, primary, j]
        a = float(np.median(col)) if np.all(np.isfinite(col)) else c + float(np.median(post.soil[:, j]))
        aff[o] = float(np.exp(a - c))
    return float(np.exp(c)), aff


@dataclass
class PresetCalibration:
    """Everything :func:`calibrate_preset` found for one preset."""

    scenario: Scenario
    seed: int
    course: CoursePosterior | None
    #: Per hypothesis: course draws (log10 coordinates) and weights used downstream.
    course_draws: dict[str, tuple[dict[str, np.ndarray], np.ndarray]]
    inputs: dict[str, SoilInput]
    soil: dict[str, SoilPosterior]
    wall_time_s: float
    notes: list[str] = field(default_factory=list)


__all__ = [
    "CALIBRATION_SPAWN_KEY",
    "COURSE_PARAMETERS",
    "MODELS",
    "CohortModel",
    "CourseParameter",
    "CoursePosterior",
    "PresetCalibration",
    "Settings",
    "SoilInput",
    "TargetDistance",
    "autopsy_counts",
    "calibrate_preset",
    "calibration_seed",
    "course_posterior",
    "course_warnings",
    "ewing_level",
    "frequency_grid",
    "gibbs",
    "level_prior",
    "prior_samples",
    "soil_inputs",
    "soil_ratio_to_affinity",
    "soil_scenario",
    "summarise_targets",
    "with_parameters",
]


# --------------------------------------------------------------------------------------
# One preset, end to end
# --------------------------------------------------------------------------------------

def _course_draws(scenario: Scenario, seed: int, settings: Settings, database: str,
                  executor: Executor, resume: bool, progress: Callable[[dict], None] | None
                  ) -> tuple[CoursePosterior | None, dict[str, tuple[dict, np.ndarray]]]:
    if targets_for(scenario.primary.site):
        course = course_posterior(scenario, database, seed=seed, parameters=settings.parameters,
                                  population_size=settings.population_size,
                                  cohort=settings.cohort, generations=settings.generations,
                                  min_acceptance=settings.min_acceptance, executor=executor,
                                  batch=max(4, 2 * executor.workers), resume=resume,
                                  progress=progress)
        return course, dict(course.samples)
    draws = prior_samples(settings.parameters, 1000, seed)
    return None, {h: (draws, np.ones(1000)) for h in MODELS}


def _course_point(draws: tuple[dict, np.ndarray]) -> dict[str, float]:
    """The course parameters the soil cohort runs at: weighted medians, competence left to
    the level prior (it is the soil model's c)."""
    samples, w = draws
    return {k: weighted_quantile(np.asarray(v), np.asarray(w), 0.5)
            for k, v in samples.items() if k != "competence"}


def ewing_level(data: PrimaryData) -> float:
    """Median of the level c given the site counts under neutral soil (only to place the
    emulator's second cohort where the evidence integral has its mass; Ewing's predictions
    use the level's prior)."""
    from scipy import special

    from .soil_model import normal_weights

    lw = data.loglik().sum(axis=0) + np.log(np.maximum(
        normal_weights(np.array(data.level_mean), np.array(data.level_sd)), 1e-300))
    w = np.exp(lw - special.logsumexp(lw))
    return float(A_GRID[min(int(np.searchsorted(np.cumsum(w), 0.5)), len(A_GRID) - 1)])


def calibrate_preset(scenario: Scenario, out: str, *, seed: int,
                     settings: Settings | None = None, executor: Executor | None = None,
                     shared_soil: Mapping[str, dict] | None = None, resume: bool = False,
                     progress: Callable[[dict], None] | None = None) -> PresetCalibration:
    """Calibrate one preset: the course by ABC-SMC (if it has population targets), then the
    soil of each hypothesis against the autopsy table, against the shared organ soil
    ``shared_soil[hypothesis]`` (another fit's :meth:`SoilPosterior.shared_summary`; None:
    this primary alone under the hierarchical prior)."""
    settings = settings or Settings()
    ex = executor or SerialExecutor()
    t0 = time.perf_counter()
    notes: list[str] = []
    with ex:
        course, draws = _course_draws(scenario, seed, settings, f"{out}/abc.db", ex, resume,
                                      progress)
        if course is None:
            notes.append("no population target: the course parameters keep their prior")
        else:
            notes.extend(course_warnings(course))
        levels = {h: level_prior(*draws[h]) for h in MODELS}
        points = {h: _course_point(draws[h]) for h in MODELS}
        # The first cohorts run at the preset's own competence and soil: an expansion point
        # for the emulator (first order away from it), not data; later rounds move it to
        # where the posterior landed.
        own = math.log10(scenario.colonization.competence)
        runs = {h: soil_scenario(scenario, h, {**points[h], "competence": own}, levels[h])
                for h in MODELS}
        inputs = soil_inputs(scenario, runs, levels, seed=seed,
                             patients=settings.soil_patients, executor=ex)
        soil: dict[str, SoilPosterior] = {}
        for r in range(1, settings.rounds + 1):
            for h in MODELS:
                if h == "ewing":
                    continue
                soil[h] = gibbs([inputs[h].data], inputs[h].data.organs,
                                np.random.default_rng(calibration_seed(seed, 3, MODELS.index(h), r)),
                                draws=settings.gibbs_draws,
                                soil_prior=(shared_soil or {}).get(h))
            if r == settings.rounds:
                break
            if progress:
                progress({"stage": "soil", "round": r + 1})
            # Simulate again where the posterior landed (the emulator is first order away
            # from the soil it simulated); Ewing at the level its evidence integral favours.
            for h in MODELS:
                if h == "ewing":
                    c = ewing_level(inputs[h].data)
                    runs[h] = soil_scenario(scenario, h, {**points[h],
                                                          "competence": c / math.log(10)},
                                            levels[h])
                else:
                    comp, aff = soil_ratio_to_affinity(soil[h])
                    runs[h] = soil_scenario(scenario, h, {**points[h],
                                                          "competence": math.log10(comp)},
                                            levels[h], aff)
            inputs = soil_inputs(scenario, runs, levels, seed=seed,
                                 patients=settings.soil_patients, executor=ex, round_=r)
    return PresetCalibration(scenario, seed, course, draws, inputs, soil,
                             time.perf_counter() - t0, notes)


#: The shared organ soil of the bundled presets' joint calibration (``metasim
#: calibrate-presets``): per hypothesis, the fit over every preset and the fit without each.
SHARED_SOIL_FILE = Path(__file__).with_name("shared_soil.json")


def shared_soil_prior(site: str, path: Path = SHARED_SOIL_FILE
                      ) -> tuple[dict[str, dict] | None, str]:
    """The other primaries' shared soil to calibrate ``site`` against, and a note saying
    which: the joint fit *without* this primary when the presets' calibration has one (so its
    own table is not used twice), else the fit over all presets; None (this primary alone,
    the hierarchical prior) when no joint calibration is bundled."""
    if not path.is_file():
        return None, "no joint calibration bundled: the soil prior is the hierarchical prior alone"
    data = json.loads(path.read_text(encoding="utf-8"))
    out, which = {}, set()
    for h, fits in data["hypotheses"].items():
        if site in fits.get("without", {}):
            out[h] = fits["without"][site]
            which.add(f"the shared soil of the other {fits['primaries'] - 1} presets")
        else:
            out[h] = fits["all"]
            which.add(f"the shared soil of all {fits['primaries']} presets")
    return out, "soil prior: " + " / ".join(sorted(which)) + f" ({path.name}, {data['date']})"


def check_calibratable(scenario: Scenario) -> None:
    """Refuse, before any simulation, a scenario the calibration cannot use: a primary the
    autopsy table has no row for, or a course the site emulator cannot take."""
    autopsy_counts(scenario)
    check_emulable(calibration_scenario(scenario, "combined"))


def joint_soil(calibrations: Sequence[PresetCalibration], seed: int, draws: int = 1500
               ) -> dict[str, SoilPosterior]:
    """The hierarchical soil of several presets fitted together, per hypothesis with soil."""
    out = {}
    for h in MODELS:
        if h == "ewing":
            continue
        data = [c.inputs[h].data for c in calibrations]
        organs = sorted({o for d in data for o in d.organs})
        out[h] = gibbs(data, organs, np.random.default_rng(calibration_seed(seed, 9, MODELS.index(h))),
                       draws=draws)
    return out


def slice_posterior(post: SoilPosterior, index: int) -> SoilPosterior:
    """One primary's part of a joint posterior (the shared soil and tau kept)."""
    return SoilPosterior(post.organs, [post.primaries[index]], post.a[:, index:index + 1, :],
                         post.level[:, index:index + 1], post.soil, post.tau)
