"""The presets' autopsy rows, made ready for the factorial trial (:mod:`sim.experiments.factorial`).

For each preset: its autopsy row (diSibio & French 2008), the site frequencies its course
gives at any level under anatomical and under uniform delivery (one simulated cohort of each,
neutral soil, through the site emulator), a bank of draws of Ewing's uncertain inputs from
their prior and what each does to the delivery, and the level's prior, the same for every
cell.

Priors of Ewing's inputs (ASSUMPTIONS; none of them is fitted to an autopsy row, and the
first draw of every bank is the scenario's own value):

* the split of invading cells between blood, lymph, cavity and contiguous spread:
  Dirichlet(``ROUTE_CONCENTRATION`` x the scenario's split), over the routes the scenario
  uses (a share of 0.5 has an SD of ~0.11);
* the venous drainage, Batson's vertebral share included where the scenario has one:
  Dirichlet(``DRAINAGE_CONCENTRATION`` x the scenario's drainage);
* the share retained by the first capillary bed (0.917, Butler & Gullino 1975's ~12-fold
  arterial-venous difference): Beta with mean the scenario's value and concentration
  ``ARREST_CONCENTRATION`` (SD ~0.05: a venous-arterial ratio between ~5 and ~50).

The level's prior is the course's prior of the competence (:data:`~.course_parameters.COURSE_PARAMETERS`,
log10 uniform on [-7, -4]) as a normal on the natural log with its mean and SD: the same
for every cell and preset, and free of autopsy data. The population targets speak through
the course calibration instead.

Colon and rectum are one group; the colorectal row, their union (the same patients), is left
out beside them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from ..biology.delivery import delivered_fractions, route_tables
from ..config.loading import make_scenario
from ..config.schema import Scenario
from ..streams import calibration_seed
from .course_parameters import COURSE_PARAMETERS
from .emulator import SiteEmulator, check_emulable, exposure_batch
from .executors import Executor
from .factorial import DELIVERIES, Row
from .inference import autopsy_counts, calibration_scenario, frequency_grid
from .seeds import population_batches

#: Concentrations of the priors of Ewing's inputs (ASSUMPTIONS, see the module doc).
ROUTE_CONCENTRATION = 20.0
DRAINAGE_CONCENTRATION = 20.0
ARREST_CONCENTRATION = 30.0
#: Draws of Ewing's inputs per preset (the first is the scenario's own).
BANK_DRAWS = 32
#: The hypothesis whose cohort stands for each delivery: neutral soil under each.
COHORT_HYPOTHESIS = {"anatomical": "ewing", "uniform": "null"}
#: Colon and rectum: one group (left out together); the colorectal row is their union (the
#: same patients) and is left out beside them.
GROUPS = {"colon": "colorectum", "rectum": "colorectum"}
UNION_ROWS = {"colorectal": ("colon", "rectum")}


def level_prior() -> tuple[float, float]:
    """Mean and SD (natural log) of the competence's uniform log10 prior."""
    p = COURSE_PARAMETERS["competence"]
    mean = (p.low + p.high) / 2 * math.log(10)
    sd = (p.high - p.low) / math.sqrt(12) * math.log(10)
    return mean, sd


def input_draws(scenario: Scenario, draws: int, rng: np.random.Generator
                ) -> list[list[tuple[str, object]]]:
    """Overrides for ``draws`` draws of Ewing's inputs from their prior (the first: none)."""
    t = route_tables(scenario)
    arrest = scenario.circulation.arrest_probability_per_pass
    out: list[list[tuple[str, object]]] = [[]]
    for _ in range(draws - 1):
        over: list[tuple[str, object]] = []
        for key, table, conc in (("primary.routes", t["routes"], ROUTE_CONCENTRATION),
                                 ("primary.venous_drainage", t["venous_drainage"],
                                  DRAINAGE_CONCENTRATION)):
            used = {k: v for k, v in table.items() if v > 0}
            if len(used) > 1:
                x = rng.dirichlet(conc * np.array(list(used.values())))
                over.append((key, {**dict.fromkeys(table, 0.0),
                                   **dict(zip(used, (float(v) for v in x), strict=True))}))
        if 0 < arrest < 1:
            over.append(("circulation.arrest_probability_per_pass",
                         float(rng.beta(ARREST_CONCENTRATION * arrest,
                                        ARREST_CONCENTRATION * (1 - arrest)))))
        out.append(over)
    return out


def delivery_offsets(scenario: Scenario, organs: Sequence[str], delivery: str,
                     overrides: Sequence[Sequence[tuple[str, object]]]) -> np.ndarray:
    """(draws, organs): log of each organ's arrested share under each draw over the
    scenario's own (0 where the scenario delivers nothing there)."""
    base = delivered_fractions(scenario, delivery)
    out = np.zeros((len(overrides), len(organs)))
    for i, over in enumerate(overrides):
        if not over:
            continue
        d = delivered_fractions(make_scenario(scenario.to_input(), list(over),
                                              source="<factorial>"), delivery)
        for j, o in enumerate(organs):
            if base.get(o, 0.0) > 0 and d.get(o, 0.0) > 0:
                out[i, j] = math.log(d[o] / base[o])
    return out


def preset_rows(presets: Mapping[str, Scenario], *, seed: int, patients: int,
                executor: Executor, bank: int = BANK_DRAWS,
                say: Callable[[str], None] = lambda _m: None) -> list[Row]:
    """One :class:`Row` per preset (a union row is dropped beside its parts). The cohorts
    of every preset and delivery share the executor's workers."""
    names = [n for n in presets
             if not (n in UNION_ROWS and all(p in presets for p in UNION_ROWS[n]))]
    jobs, owner = [], []
    runs: dict[tuple[str, str], Scenario] = {}
    for pi, n in enumerate(names):
        for di, d in enumerate(DELIVERIES):
            sc = calibration_scenario(presets[n], COHORT_HYPOTHESIS[d])
            check_emulable(sc)
            runs[n, d] = sc
            for b in population_batches(patients):
                jobs.append((sc, calibration_seed(seed, 30, pi, di), b))
                owner.append((n, d))
    say(f"simulating {len(names)} presets x {len(DELIVERIES)} deliveries x {patients} patients")
    parts: dict[tuple[str, str], list] = {k: [] for k in runs}
    for k, part in zip(owner, executor.map(exposure_batch, jobs), strict=True):
        parts[k].append(part)
    mean, sd = level_prior()
    rows = []
    for pi, n in enumerate(names):
        organs, counts, total = autopsy_counts(presets[n])
        freq, offsets = {}, {}
        rng = np.random.default_rng(calibration_seed(seed, 31, pi))
        overrides = input_draws(presets[n], bank, rng)
        for d in DELIVERIES:
            emu = SiteEmulator(runs[n, d], np.concatenate([p[0] for p in parts[n, d]]),
                               np.concatenate([p[1] for p in parts[n, d]]))
            freq[d] = frequency_grid(emu, organs)
            offsets[d] = delivery_offsets(presets[n], organs, d, overrides)
        rows.append(Row(n, organs, counts, total, freq, offsets, mean, sd,
                        group=GROUPS.get(n, n)))
    return rows


__all__ = ["BANK_DRAWS", "GROUPS", "UNION_ROWS", "delivery_offsets", "input_draws",
           "level_prior", "preset_rows"]
