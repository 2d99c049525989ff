"""The classroom app's teaching aids, apart from the page: what to try in each scenario, when
to pause by itself, the journey of one followed cell, and many patients at once.

Everything here is plain Python (no Solara), so it is tested without a browser.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..analysis.summaries import site_frequency
from ..biology.anatomy import ORGAN_KEYS, PRIMARY_SITES
from ..biology.stages import FUNNEL_STAGES, STAGE_EXPLANATIONS
from ..config.bundled import scenario_dir
from ..config.loading import load_scenario
from ..config.schema import Scenario
from ..experiments.replicates import compare
from ..io.outputs import autopsy_reference
from ..viz.plain import STEP_NAMES, organ_name

#: The hypotheses the app offers (and that the many-patients panel runs).
MAIN_HYPOTHESES = ("ewing", "paget", "combined")

_GENERIC_TRY = (
    "Switch between Ewing and Paget and press Restart. Where do cells arrive (grey bars), and "
    "where do they grow (red bars)?",
    "Tick 'Compare two hypotheses': the same patient with the same luck under two ideas.",
    "Press 'Run many patients' and compare the three ideas with the autopsies' column.",
    "Press 'Follow one cell' a few times: how far does a cell usually get?",
)

#: Things to try, per scenario (a scenario not listed gets the generic list).
THINGS_TO_TRY: dict[str, tuple[str, ...]] = {
    "classroom/demo": (
        "Press 'Jump to the end' under Ewing, then under Paget (the same patient restarts). "
        "Where did the metastases grow under each idea?",
        "Tick 'Compare two hypotheses': the grey bars (cells arrived) differ between the maps "
        "only when the delivery differs.",
        "Press 'Run many patients': which idea's column looks most like the autopsies'?",
    ),
    "classroom/inefficiency": (
        "Read the % column of the funnel: at which step do most cells die?",
        "Set the survival in the blood to 8 hours and continue from now: does the funnel "
        "change at the transit step only?",
        "Follow one cell ten times. How many of your ten cells started a colony?",
    ),
    "classroom/dormancy": (
        "Press 'Jump to the end'. How many years pass between the first sleeping cells and the "
        "first metastasis?",
        "Follow one cell until one falls asleep: in which organ did it stop?",
        "Set the soil strength to 0 (Paget) and restart: do the sleeping cells stay asleep?",
    ),
    "classroom/prostate_bone": (
        "Switch to Ewing (blood flow only): does the bone still come first?",
        "Set the soil strength to 0 and continue from now: what happens to the bone's red bar?",
        "Run many patients and compare the bone row with the autopsies.",
    ),
    "classroom/colon_liver": (
        "Switch to Paget: the portal-vein arrow disappears. Does the liver still fill first?",
        "Follow one cell: how often is its first stop the liver?",
        "Run many patients: how often is the liver affected under each idea?",
    ),
    "clinical/late_relapse": (
        "Let it play: the app pauses at diagnosis. How many cells had already left the tumour?",
        "Jump to the end: how many years after the operation does the cancer come back?",
        "Follow one cell: where do the sleeping cells wait?",
    ),
}


def things_to_try(name: str) -> tuple[str, ...]:
    """What a class could try in scenario ``name``."""
    return THINGS_TO_TRY.get(name, _GENERIC_TRY)


def things_to_notice(name: str, scenario: Scenario) -> str:
    """What to look for: the scenario's own note, or a general one for a preset."""
    if scenario.what_to_look_for:
        return " ".join(scenario.what_to_look_for.split())
    return ("Compare the grey bars (cells that arrived in an organ) with the red bars (cells "
            "in metastases). Where they differ, the organ's soil is at work. The cascade's % "
            "column shows how few cells survive each step. These patients are not treated.")


#: Events the app pauses at (if the box is ticked), with what to say then.
PAUSE_EVENTS: dict[str, str] = {
    "diagnosis": "Paused at diagnosis: the tumour has just been found. Look at the map: "
                 "have cells already left it?",
    "metastasis_detected": "Paused: the first metastasis is now big enough to see on a "
                           "scan.",
    "relapse": "Paused: the cancer is back (relapse), after the scans had been clear.",
}


def pause_reason(events: list[dict], seen: int, detected_before: bool,
                 quiet_until_day: float = 0.0) -> str | None:
    """The message to pause with if one of ``events[seen:]`` (the events logged since the
    last look) is a diagnosis (after ``quiet_until_day``: a story that starts at diagnosis
    does not stop at once), the first detected metastasis or a relapse; else None."""
    for e in events[seen:]:
        kind = e["event"]
        if kind == "diagnosis" and e.get("day", quiet_until_day + 1) <= quiet_until_day:
            continue
        if kind == "metastasis_detected" and detected_before:
            continue
        if kind in PAUSE_EVENTS:
            return PAUSE_EVENTS[kind]
    return None


@dataclass
class Journey:
    """The path of one followed cell: the places it passed (for the map), whether it died,
    and one sentence per step it took."""

    places: list[str]
    died: bool
    steps: list[str] = field(default_factory=list)


def follow_one_cell(model: Any, rng: np.random.Generator) -> Journey | None:
    """One cell's journey, drawn from what happened to this patient's cells so far: at each
    step of the cascade it survives with the share of cells that survived that step (the
    ledger), it stops in an organ with the share of arrested cells that stopped there, and
    the route follows from the organ. None while no cell has left the tumour."""
    ledger = model.ledger
    reached = ledger.reached.astype(float)
    lost = ledger.lost.astype(float)
    arrived = ledger.arrested_by_organ.astype(float)
    if reached[0] <= 0:
        return None
    site = model.scenario.primary.site
    places = ["primary"]
    steps: list[str] = []
    organ: str | None = None
    for i, stage in enumerate(FUNNEL_STAGES):
        if reached[i] <= 0:
            break
        if stage == "arrest":
            if arrived.sum() <= 0:
                break
            organ = ORGAN_KEYS[int(rng.choice(len(arrived), p=arrived / arrived.sum()))]
            places += _route_to(site, organ)
        # Of the cells that reached this step: died here, went on to the next, or still here.
        died = min(lost[i] / reached[i], 1.0)
        on = min(reached[i + 1] / reached[i], 1.0 - died) if i + 1 < len(reached) else 0.0
        where = f" in the {organ_name(organ).lower()}" if organ and i >= 3 else ""
        u = rng.random()
        if u < died:
            if stage == "transit" and len(places) == 1:
                places.append("heart")
            steps.append(f"{STEP_NAMES[stage]}{where}: the cell died at this step, like "
                         f"{died:.0%} of the cells that got here. {STAGE_EXPLANATIONS[stage]}")
            return Journey(places, True, steps)
        if u < died + on or i + 1 == len(FUNNEL_STAGES):
            steps.append(f"{STEP_NAMES[stage]}{where}: the cell made it "
                         f"({1 - died:.0%} of cells do).")
            continue
        steps.append(f"{STEP_NAMES[stage]}{where}: the cell is still at this step, waiting "
                     f"(like {1 - died - on:.0%} of the cells that got here).")
        if stage == "transit":
            places.append("heart")
        return Journey(places, False, steps)
    steps.append("It got through every step: it is part of a metastasis.")
    return Journey(places, False, steps)


def journey_key(journey: Journey) -> str:
    """What the numbers on the map mean: "On the map: 1 the tumour, 2 the heart, 3 the
    lungs; the cross marks where it died." """
    names = ["the tumour" if p == "primary" else f"the {organ_name(p).lower()}"
             for p in journey.places]
    stops = ", ".join(f"{k} {n}" for k, n in enumerate(names, start=1))
    end = ("the cross marks where it died" if journey.died
           else "the dot marks where it is now")
    return f"On the map, the places it passed: {stops}; {end}."


def _route_to(site: str, organ: str) -> list[str]:
    """The places between the primary and ``organ``: lymph goes straight to the nodes, gut
    blood straight to the liver (portal vein), other blood through the heart."""
    if organ in ("regional_lymph_nodes", "distant_lymph_nodes"):
        return [organ]
    sp = PRIMARY_SITES.get(site)
    if organ == "liver" and sp is not None and sp.venous_drainage.get("portal"):
        return [organ]
    if organ in ("peritoneum", "pleura"):  # shed into the body cavity
        return [organ]
    return ["heart", organ] if organ != "lung" else ["heart", "lung"]


def scenario_with(name: str, shedding_factor: float, half_life_factor: float,
                  soil_strength: float, extra: dict[str, Any] | None = None,
                  keep_scenario: bool = False) -> Scenario:
    """The bundled scenario ``name`` with the app's three sliders applied: its shedding and
    its CTC half-life multiplied by the factors (each scenario keeps its own blood: the
    classroom lessons' notes are written for it), the soil strength set (or, with
    ``keep_scenario``, the scenario as the file has it)."""
    base = load_scenario(scenario_dir() / f"{name}.toml")
    if keep_scenario:
        return base
    overrides = {
        "primary.shedding_rate_per_gram_per_day":
            base.primary.shedding_rate_per_gram_per_day * shedding_factor,
        "circulation.ctc_half_life_hours": base.circulation.ctc_half_life_hours * half_life_factor,
        "tropism.strength": soil_strength,
        **(extra or {}),
    }
    return load_scenario(scenario_dir() / f"{name}.toml", list(overrides.items()))


def many_patients(name: str, patients: int, seed: int, shedding_factor: float,
                  half_life_factor: float, soil_strength: float) -> dict[str, Any]:
    """``patients`` patients of scenario ``name`` under each main hypothesis, on the same
    random streams (the population engine unless the scenario needs the Mesa model): the
    share of patients with a metastasis in each organ at autopsy, and the autopsy series.
    Runs in a process of its own (the app's server stays responsive)."""
    t0 = time.perf_counter()
    sc = scenario_with(name, shedding_factor, half_life_factor, soil_strength)
    if not sc.population_engine_blockers():
        sc = scenario_with(name, shedding_factor, half_life_factor, soil_strength,
                           {"simulation.engine": "population"})
    runs = compare(sc, MAIN_HYPOTHESES, patients, seed, progress=False)
    freq = {h: {o: float(f["fraction"]) for o, f in site_frequency(r.patients).items()}
            for h, r in runs.items()}
    return {"scenario": name, "patients": patients, "seed": seed, "frequency": freq,
            "autopsy": autopsy_reference(sc), "seconds": time.perf_counter() - t0,
            "engine": next(iter(runs.values())).engine}
