"""Fit a primary's soil affinities to an autopsy table by simulation.

The fit answers "what must the soil add to the anatomy to reproduce where this cancer is
found at autopsy?". It starts from Weiss's efficiency index (observed incidence / cells
delivered, :func:`sim.biology.soil.derived_affinities`) and refines the affinity of every organ the
table reports by simulation:

1. simulate ``R`` patients with the current affinities (always the same ``R`` replicate
   streams, so successive iterations differ only by the affinities: common random numbers);
2. for each organ compare the simulated fraction of patients with a detectable metastasis,
   ``s``, with the autopsy fraction ``t`` of the table's ``n`` patients;
3. stop when every organ agrees within sampling error, i.e.
   ``|s - t| <= z * sqrt(t(1-t)/n + s(1-s)/R)`` (the two-proportion test at the chosen
   confidence; 0.5-patient continuity correction so a zero count has a variance);
4. otherwise move the affinity of each organ that disagrees by the ratio of Poisson intensities
   ``(-ln(1-t) / -ln(1-s)) ** gain`` (the number of metastases founded in an organ is close
   to proportional to its affinity, and ``-ln(1-f)`` is the mean of a Poisson count with
   ``P(count > 0) = f``), and go back to 1.

Organs the delivery cannot reach (no cells arrive, e.g. ovaries in a male patient) keep
their starting affinity and are reported as unreachable. Affinities are absolute
multipliers of the proliferation and awakening hazards: the fit sets the overall rate of
colonisation as well as its distribution over organs.
"""

from __future__ import annotations

import math
import os
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from ..analysis.intervals import proportion_interval
from ..analysis.summaries import site_frequency
from ..biology.anatomy import PRIMARY_SITES, TARGET_ORGANS
from ..biology.delivery import delivered_fractions
from ..biology.reference import AUTOPSY_TABLES
from ..biology.soil import MIN_DELIVERED_FRACTION, derived_affinities
from ..biology.soil import poisson_intensity as _intensity
from ..biology.soil import smoothed_frequency as _smoothed
from ..config.errors import ScenarioError
from ..config.loading import make_scenario, read_text_file
from ..config.schema import Scenario
from ..io.folder import OutputError
from .executors import Executor, SerialExecutor
from .replicates import run_replicates
from .seeds import resolve_seed

#: Range the fitted (absolute) affinities may take: an organ the table never reports still
#: gets a finite hazard, and the multiplicative update can move away from either bound.
MIN_AFFINITY = 1e-6
MAX_FITTED_AFFINITY = 1e8
#: Field of ``[tropism]`` holding the affinities for each delivery mode.
AFFINITY_FIELD = {"anatomical": "affinity", "uniform": "affinity_uniform_delivery"}


@dataclass
class OrganFit:
    """How well one organ's simulated frequency matches the table."""

    organ: str
    observed: float
    observed_low: float
    observed_high: float
    simulated: float
    simulated_low: float
    simulated_high: float
    affinity: float
    z: float
    z_limit: float
    reachable: bool

    @property
    def within(self) -> bool:
        return not self.reachable or self.z <= self.z_limit


@dataclass
class Calibration:
    """The result of :func:`calibrate`."""

    scenario: Scenario
    delivery: str
    source: str
    table_row: str
    table_patients: int
    replicates: int
    seed: int
    confidence: float
    affinities: dict[str, float]
    organs: list[OrganFit]
    history: list[dict[str, Any]] = field(default_factory=list)
    converged: bool = False
    wall_time_s: float = 0.0
    #: Delivery-weighted mean of the fitted affinities (anatomical fits; 1 for uniform).
    scale: float = 1.0
    #: The engine that simulated the patients ("mesa" or "population").
    engine: str = "mesa"

    def normalised(self) -> tuple[dict[str, float], float]:
        """(affinities / scale, colonisation competence x scale).

        The same model (every hazard that an affinity multiplies is multiplied by the
        competence too), written so that the affinities have a delivery-weighted mean of 1
        and the competence carries the overall level. Ewing's neutral soil then colonises at
        the level the fit found, and only the soil's *distribution* over organs differs
        between the hypotheses.
        """
        col = self.scenario.colonization
        return ({o: a / self.scale for o, a in self.affinities.items()},
                col.competence * self.scale)

    @property
    def iterations(self) -> int:
        return len(self.history)

    def outside(self) -> list[str]:
        return [f.organ for f in self.organs if not f.within]


def _z(s_k: int, r: int, t_k: int, n: int) -> float:
    s, t = s_k / r, t_k / n
    ss, tt = _smoothed(s_k, r), _smoothed(t_k, n)
    se = math.sqrt(tt * (1 - tt) / n + ss * (1 - ss) / r)
    return abs(s - t) / se


def _for_delivery(scenario: Scenario, delivery: str, affinities: dict[str, float]) -> Scenario:
    data = scenario.to_input()
    data["hypothesis"] = "combined" if delivery == "anatomical" else "paget"
    data["tropism"] = dict(data.get("tropism", {}))
    data["tropism"]["strength"] = 1.0
    data["tropism"][AFFINITY_FIELD[delivery]] = dict(affinities)
    # Site frequencies only: no twin courses for "initiated at diagnosis".
    data["population"] = {**data.get("population", {}), "assess_initiated": False}
    return make_scenario(data, source="<calibration>")


def calibrate(scenario: Scenario, delivery: str = "anatomical", *, replicates: int = 40,
              max_iterations: int = 8, seed: int | None = None, confidence: float = 0.95,
              gain: float = 1.0, start: str = "weiss", progress: bool | None = None,
              executor: Executor | None = None,
              report: Callable[[dict[str, Any]], None] | None = None) -> Calibration:
    """Fit the scenario primary's affinities under ``delivery`` to its autopsy row.

    Parameters
    ----------
    delivery
        ``"anatomical"`` (the combined hypothesis, stored in ``tropism.affinity``) or
        ``"uniform"`` (Paget's pure form, ``tropism.affinity_uniform_delivery``).
    replicates, seed
        Simulated patients per iteration and the seed of their streams (the same streams
        every iteration).
    max_iterations
        Simulation rounds at most; the affinities are updated after every round that does
        not yet agree.
    start
        ``"weiss"``: Weiss's index; ``"scenario"``: the scenario's own affinities (to check
        or refine an earlier fit).
    executor
        Runs the patients (default: this process); its workers are kept for every
        iteration.
    report
        Called with each iteration's summary (for progress output).
    """
    if delivery not in AFFINITY_FIELD:
        raise ScenarioError(f"--delivery {delivery!r}: allowed: anatomical, uniform")
    if not 0.5 <= confidence < 1:
        raise ScenarioError(f"--confidence {confidence}: allowed range [0.5, 1)")
    site = PRIMARY_SITES[scenario.primary.site]
    if site.disibio_row is None:
        raise ScenarioError(f"primary.site = {scenario.primary.site!r}: the autopsy table "
                            f"{scenario.tropism.source} has no row for this primary")
    table = AUTOPSY_TABLES[scenario.tropism.source]
    n = table.patients(site.disibio_row)
    counts = table.counts(site.disibio_row)
    z_limit = float(stats.norm.ppf(0.5 + confidence / 2))
    seed_value, _ = resolve_seed(scenario, seed)

    delivered = delivered_fractions(scenario, delivery)
    reachable = {o: delivered.get(o, 0.0) > MIN_DELIVERED_FRACTION for o in counts}
    if start == "weiss":
        aff = derived_affinities(scenario, delivery)
    elif start == "scenario":
        aff = derived_affinities(scenario, delivery)
        aff.update(getattr(scenario.tropism, AFFINITY_FIELD[delivery]))
    else:
        raise ValueError(f"start must be 'weiss' or 'scenario', not {start!r}")
    aff = {o: float(aff.get(o, 1.0)) for o in TARGET_ORGANS}

    t0 = time.perf_counter()
    ex = executor or SerialExecutor()
    history: list[dict[str, Any]] = []
    organs: list[OrganFit] = []
    converged = False
    engine = "mesa"
    with ex:  # the same workers for every iteration
        for it in range(max_iterations):
            sc = _for_delivery(scenario, delivery, aff)
            run = run_replicates(sc, replicates, seed_value, progress=progress, executor=ex,
                                 desc=f"calibrate {scenario.primary.site} / {delivery} #{it + 1}")
            engine = run.engine
            freq = site_frequency(run.patients, list(counts))
            organs = []
            for o, k in counts.items():
                sk = int(freq[o]["patients"])
                lo, hi = proportion_interval(k, n, confidence)
                organs.append(OrganFit(o, k / n, lo, hi, sk / replicates,
                                       *proportion_interval(sk, replicates, confidence), aff[o],
                                       _z(sk, replicates, k, n), z_limit, reachable[o]))
            outside = [f.organ for f in organs if not f.within]
            entry = {"iteration": it + 1, "outside": outside,
                     "max_z": max((f.z for f in organs if f.reachable), default=0.0),
                     "wall_time_s": run.wall_time_s}
            history.append(entry)
            if report:
                report(entry)
            if not outside:
                converged = True
                break
            if it == max_iterations - 1:
                break
            for f in organs:
                # Only organs that disagree move: one that agrees within sampling error has no
                # evidence to move on, and moving it would chase the simulation's own noise.
                if f.within:
                    continue
                k_sim = f.simulated * replicates
                ratio = (_intensity(_smoothed(f.observed * n, n))
                         / _intensity(_smoothed(k_sim, replicates)))
                aff[f.organ] = float(np.clip(aff[f.organ] * ratio ** gain, MIN_AFFINITY,
                                              MAX_FITTED_AFFINITY))
    scale = 1.0
    if delivery == "anatomical":
        weights = {o: delivered[o] for o in counts if reachable[o]}
        total = sum(weights.values())
        if total > 0:
            scale = sum(w * aff[o] for o, w in weights.items()) / total
    return Calibration(scenario, delivery, scenario.tropism.source, site.disibio_row, n,
                       replicates, seed_value, confidence,
                       dict(aff), organs, history, converged,
                       time.perf_counter() - t0, scale, engine)


# --------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------

def format_fit(cal: Calibration) -> str:
    """The per-organ table printed by ``metasim calibrate``."""
    pct = round(cal.confidence * 100)
    lines = [f"{cal.scenario.primary.site} / {cal.delivery} delivery vs {cal.source} "
             f"'{cal.table_row}' ({cal.table_patients} patients); {cal.replicates} simulated "
             f"patients, seed {cal.seed}",
             f"{'organ':22s} {'observed':>8s} {pct}% interval  {'simulated':>9s} "
             f"{pct}% interval  {'affinity':>9s}  agree"]
    for f in sorted(cal.organs, key=lambda f: -f.observed):
        agree = "-- unreachable" if not f.reachable else ("yes" if f.within else
                                                           f"NO (z={f.z:.1f})")
        lines.append(f"{f.organ:22s} {f.observed:8.3f} [{f.observed_low:.3f}, "
                     f"{f.observed_high:.3f}]  {f.simulated:9.3f} [{f.simulated_low:.3f}, "
                     f"{f.simulated_high:.3f}]  {f.affinity:9.3g}  {agree}")
    if cal.scale != 1.0:
        lines.append(f"(affinities as fitted, absolute; written normalised: / {cal.scale:.4g}, "
                     f"with the competence x {cal.scale:.4g})")
    state = ("converged" if cal.converged else "NOT converged") + \
        f" after {cal.iterations} iteration(s) in {cal.wall_time_s:.0f} s"
    out = cal.outside()
    lines.append(state + (f"; outside the interval: {', '.join(out)}" if out else
                          "; every reachable organ within sampling error"))
    return "\n".join(lines)


def parse_scenario_toml(path: Path, what: str):
    """tomlkit document of a scenario file; any problem is a ScenarioError naming it."""
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    text = read_text_file(path, what)
    try:
        return tomlkit.parse(text)
    except (TOMLKitError, ValueError) as e:
        raise ScenarioError(f"{path}: {what} is not valid TOML ({e}); metasim only updates "
                            "scenario files") from None
    except RecursionError:
        raise ScenarioError(f"{path}: {what} is nested too deeply") from None


def check_write_target(path: str | Path) -> None:
    """Fail before the fit if ``--write`` could not be written: an existing file must be a
    scenario TOML file metasim can parse, and its folder must take a new file."""
    p = Path(path)
    what = "--write file"
    if p.exists() or p.is_symlink():
        if p.is_dir():
            raise OutputError(f"--write {p}: is a directory")
        doc = parse_scenario_toml(p, what)
        try:  # only a scenario file is updated (not pyproject.toml, not `tropism = 5`)
            make_scenario(doc.unwrap(), source=str(p))
        except ScenarioError as e:
            raise ScenarioError(f"--write {p}: not a metasim scenario file, so it is not "
                                f"changed; give a scenario file or a new name.\n{e}") from None
        try:
            with open(p, "a", encoding="utf-8"):
                pass  # opened for writing, nothing written: fails if it cannot be changed
        except OSError as e:
            raise OutputError(f"--write {p}: cannot be changed ({e.strerror or e})") from None
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"--write {p}: folder {folder} does not exist")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise OutputError(f"--write {p}: cannot write in {folder} ({e.strerror or e})") from None


def write_affinities(cal: Calibration, path: str | Path, command: str = "",
                     template: str | Path | None = None) -> Path:
    """Write the fitted affinities into ``[tropism]`` of a scenario file.

    The file keeps its comments and layout (tomlkit); only the affinity table of the fitted
    delivery mode is replaced, with a comment saying how it was produced. A file that does
    not exist yet starts as a copy of ``template`` (the calibrated scenario's file) or, with
    none, of the calibrated scenario. The file is replaced atomically.
    """
    import tomlkit

    p = Path(path)
    if p.exists():
        doc = parse_scenario_toml(p, "--write file")
    elif template is not None:
        doc = parse_scenario_toml(Path(template), "scenario file")
    else:
        doc = tomlkit.document()
        for k, v in cal.scenario.to_input().items():
            if v not in ({}, [], None, ""):
                doc[k] = v
    if "tropism" not in doc:
        doc["tropism"] = tomlkit.table()
    trop = doc["tropism"]
    key = AFFINITY_FIELD[cal.delivery]
    if key in trop:
        del trop[key]
    state = "converged" if cal.converged else "NOT converged"
    head = f"Fitted by `metasim calibrate{(' ' + command) if command else ''}`"
    note = (f"on {date.today().isoformat()}: {cal.delivery} delivery, {cal.replicates} patients "
            f"(seed {cal.seed}, {cal.engine} engine), {state} after {cal.iterations} iteration(s); "
            f"{cal.source} '{cal.table_row}', n = {cal.table_patients}.")
    affinities, competence = cal.normalised()
    if cal.scale != 1.0:
        # The overall level goes into the competence (see Calibration.normalised).
        if "colonization" not in doc:
            doc["colonization"] = tomlkit.table()
        col = doc["colonization"]
        item = tomlkit.item(float(f"{competence:.4g}"))
        item.comment("CALIBRATED: metasim calibrate (see [tropism])")
        col["competence"] = item
        note += (f" Competence x {cal.scale:.4g} and affinities / {cal.scale:.4g} "
                 "(delivery-weighted mean affinity 1).")
    # A sub-table, one organ per line ([tropism.affinity]), with the note on top.
    table = tomlkit.table()
    table.add(tomlkit.comment(head))
    for line in textwrap.wrap(note, 88):
        table.add(tomlkit.comment(line))
    for organ in sorted(affinities):
        table.add(organ, float(f"{affinities[organ]:.4g}"))
    trop.add(key, table)
    text = tomlkit.dumps(doc)
    real = p.resolve()  # a link keeps pointing at the updated file
    mode = real.stat().st_mode & 0o7777 if real.exists() else 0o666 & ~_umask()
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".tmp", dir=real.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, mode)  # mkstemp makes it private; keep the file's own mode
        os.replace(tmp, real)
        tmp = None
    except OSError as e:
        raise OutputError(f"--write {p}: could not be written ({e.strerror or e}); the fit "
                          "above is complete: copy its affinities by hand") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    return p


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
