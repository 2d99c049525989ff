"""Site frequencies for any soil from one simulated cohort (conditional Monte Carlo).

Where a cancer is found at autopsy depends on the soil through one thing only: how often the
lodged cells of each organ found a colony (the soil affinity multiplies the proliferation
and awakening hazards, :class:`~sim.engine.cohorts.LodgedCells`). Founding is rare (a
probability of ~10^-7 a cell and day), so given a patient's course the colonies founded in
an organ are a Poisson process whose intensity is the affinity times the *founding exposure*
the population engine records (:attr:`~sim.engine.population.PopulationEngine.founding_exposure`:
units at risk times their probability of founding, per time bin). Each colony then grows on
its own, independently of the soil: by the birth-death process of a micrometastasis it holds
at least the autopsy's detectable size ``s`` days later with the probability
:func:`~sim.biology.cascade.reaches_probability`. So patient ``i`` has an autopsy-detectable
metastasis in organ ``o`` at the end of its course with probability

    P_io(r) = 1 - exp(-r_o * Lambda_io),
    Lambda_io = sum over bins t of exposure_io(t) * reaches(end_i - t),

where ``r_o`` is the organ's affinity relative to the simulated one, and the site frequency
is the mean of ``P_io`` over the cohort. At ``r = 1`` this is the conditional expectation of
the simulated patients' own outcomes (the same mean, less variance: Rao-Blackwell); at other
soils it is a first-order prediction: it keeps each patient's course (its end, the cells
reaching the organ) as simulated, and so leaves out what the changed colonies would change
in turn (an earlier death, cells shed by the new metastases).

Measured against direct simulation (400 patients each, independent streams; 2026-11-26;
recorded in ``docs/model-and-evidence.md``, "Two engines, one model"):
colorectal liver x2, 0.411 emulated against 0.408 +- 0.025 simulated; breast liver x1.5,
0.543 against 0.480 +- 0.025; breast bone x0.4, 0.324 against 0.280 +- 0.022. On breast,
where metastases shed and kill, the emulator runs a few points high (about 1.5-2 standard
errors of the difference in both cases): the courses it keeps are those of the simulated
soil. A calibration must therefore re-simulate where its posterior lands, and use the
emulator only near a simulated soil.
``tests/statistical/test_emulator.py`` checks it. What it is for: a calibration can ask
for the site frequencies of thousands of soils in seconds, and re-simulate only where its
posterior lands (the Bayesian calibration, ``sim.experiments.inference``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..biology.anatomy import ORGAN_KEYS
from ..biology.cascade import reaches_probability
from ..biology.units import diameter_to_cells
from ..config.errors import ScenarioError
from ..config.schema import Scenario
from ..engine.population import unsupported
from .executors import Executor, SerialExecutor
from .replicates import batch_engine
from .seeds import population_batches

#: Width of the founding-exposure bins, days: a colony's growth changes little in 10 days
#: (a net birth-death rate of 0.05 a day: x1.6), and 10 years are 366 bins.
BIN_DAYS = 10.0


@dataclass
class SiteEmulator:
    """The founding exposure of a simulated cohort, ready to give site frequencies."""

    scenario: Scenario
    #: Lambda_io: expected autopsy-detectable colonies per patient and organ (ORGAN_KEYS
    #: order) at the simulated soil.
    expected: np.ndarray
    #: Whether each simulated patient had an autopsy-detectable metastasis in each organ.
    observed: np.ndarray

    @property
    def patients(self) -> int:
        return len(self.expected)

    def probabilities(self, soil_ratio: Mapping[str, float] | None = None) -> np.ndarray:
        """P_io at the soil ``simulated affinity x soil_ratio[organ]`` (organs left out keep
        theirs): one row per patient, one column per organ."""
        r = np.ones(len(ORGAN_KEYS))
        for organ, ratio in (soil_ratio or {}).items():
            if organ not in ORGAN_KEYS:
                raise ScenarioError(f"soil ratio for {organ!r}: unknown organ; known: "
                                    f"{', '.join(ORGAN_KEYS)}")
            if not ratio >= 0:
                raise ScenarioError(f"soil ratio for {organ}: {ratio}: allowed range >= 0")
            r[ORGAN_KEYS.index(organ)] = ratio
        return -np.expm1(-self.expected * r[None, :])

    def frequencies(self, soil_ratio: Mapping[str, float] | None = None) -> dict[str, float]:
        """The site frequency of every organ at that soil (mean of :meth:`probabilities`)."""
        p = self.probabilities(soil_ratio).mean(axis=0)
        return dict(zip(ORGAN_KEYS, p.tolist(), strict=True))


def _expected(scenario: Scenario, exposure: np.ndarray, end_days: np.ndarray) -> np.ndarray:
    """Lambda_io from the exposure (bin, patient, organ, unit kind) and each course's end.

    A colony founded in the step that starts on day t first grows in the next step, so by
    the end of the course it has grown ``end - t - dt`` days. Within a bin the exposure is
    taken as spread evenly over the bin's steps: the probability of reaching the autopsy
    size is averaged over them."""
    col, cl, sim = scenario.colonization, scenario.clusters, scenario.simulation
    threshold = diameter_to_cells(col.autopsy_detectable_diameter_mm)
    dt = sim.dt_days
    starts = np.arange(sim.n_steps) * dt
    bin_of = np.minimum((starts // BIN_DAYS).astype(np.int64), len(exposure) - 1)
    steps_in_bin = np.bincount(bin_of, minlength=len(exposure)).astype(float)
    age = end_days[None, :] - (starts[:, None] + dt)              # (step, patient)
    out = np.zeros(exposure.shape[1:3])
    for kind, founders in ((0, 1), (1, cl.cells_per_cluster)):
        reach_step = reaches_probability(founders, age, threshold,
                                         col.micrometastasis_birth_rate_per_day,
                                         col.micrometastasis_death_rate_per_day)
        reach = np.zeros((len(exposure), len(end_days)))
        np.add.at(reach, bin_of, reach_step)
        reach /= np.maximum(steps_in_bin, 1.0)[:, None]
        out += np.einsum("bp,bpo->po", reach, exposure[:, :, :, kind])
    return out


def exposure_batch(job: tuple[Scenario, int, range]) -> tuple[np.ndarray, np.ndarray]:
    """One batch's (Lambda_io, observed) of :func:`site_emulator` (a job for an executor)."""
    scenario, seed, replicates = job
    engine = batch_engine(scenario, seed, replicates, exposure_bin_days=BIN_DAYS)
    results = engine.run()
    assert engine.founding_exposure is not None
    end = np.array([r.days for r in results])
    observed = np.array([[r.autopsy_by_organ.get(o, 0) > 0 for o in ORGAN_KEYS]
                         for r in results], dtype=bool)
    return _expected(scenario, engine.founding_exposure, end), observed


def check_emulable(scenario: Scenario) -> None:
    """Raise :class:`ScenarioError` if the emulator's derivation does not hold for
    ``scenario``: it needs the population engine, no intervention (a therapy changes the
    colonies' growth) and an autopsy size below the avascular limit (the colonies that reach
    it grow by the birth-death process alone)."""
    problems = list(unsupported(scenario))
    if scenario.intervention:
        problems.append("intervention: the emulator is for untreated courses")
    col = scenario.colonization
    if col.autopsy_detectable_diameter_mm >= col.avascular_diameter_mm:
        problems.append(f"colonization.autopsy_detectable_diameter_mm = "
                        f"{col.autopsy_detectable_diameter_mm:g}: must be below "
                        f"colonization.avascular_diameter_mm = {col.avascular_diameter_mm:g}")
    if problems:
        raise ScenarioError("the site emulator cannot use this scenario: " + "; ".join(problems))


def site_emulator(scenario: Scenario, seed: int, patients: int,
                  executor: Executor | None = None) -> SiteEmulator:
    """Simulate ``patients`` courses of ``scenario`` with the population engine (batches
    as :func:`~sim.experiments.seeds.population_batches`, so the result does not depend on
    the executor) and return their :class:`SiteEmulator`."""
    check_emulable(scenario)
    if patients < 1:
        raise ScenarioError(f"patients = {patients}: allowed range >= 1")
    ex = executor or SerialExecutor()
    jobs = [(scenario, seed, b) for b in population_batches(patients)]
    with ex:
        parts: Sequence[tuple[np.ndarray, np.ndarray]] = list(ex.map(exposure_batch, jobs))
    return SiteEmulator(scenario, np.concatenate([p[0] for p in parts]),
                        np.concatenate([p[1] for p in parts]))


__all__ = ["BIN_DAYS", "SiteEmulator", "check_emulable", "exposure_batch", "site_emulator"]
