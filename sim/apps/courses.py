"""The classroom app's courses, without the page: which scenarios it offers and under what
titles, the checks every value from a browser passes, one running patient (:class:`Course`)
and the pictures, lines and files drawn from it.

Plain Python (no Solara): :mod:`sim.apps.classroom` holds the page's state, its handlers and
its components, and calls these. Every function that takes a value from a browser checks it
first and raises :class:`~sim.config.errors.ScenarioError` with a plain message.
"""

from __future__ import annotations

import csv
import functools
import io
from dataclasses import dataclass, field
from typing import Any

from ..config.bundled import list_scenarios
from ..config.errors import ScenarioError
from ..config.hypotheses import HYPOTHESES
from ..engine.model import MetastasisModel
from ..engine.results import body_state, detectable_metastases, dormant_cells, metastatic_burden_cells
from ..experiments.seeds import patient_generator
from ..viz.body_svg import HEIGHT as MAP_HEIGHT
from ..viz.body_svg import WIDTH as MAP_WIDTH
from ..viz.body_svg import body_map_svg
from ..viz.plain import (
    HYPOTHESIS_NAMES,
    death_words,
    organ_name,
    plain_duration,
    plain_number,
)
from ..viz.svg import funnel_svg, timecourse_svg
from .teaching import MAIN_HYPOTHESES, Journey, pause_reason, scenario_with

HYPOTHESIS_TEXT = {
    "ewing": "Ewing (1928): only the plumbing matters. Cells land where the blood carries "
             "them, and every organ is equally good soil.",
    "paget": "Paget (1889): seed and soil. Cells reach every organ alike; some organs are "
             "better soil for this cancer.",
    "combined": "Today's view: blood flow decides where cells arrive, and the organ's soil "
                "decides whether they grow.",
    "null": "Neither: cells reach every organ alike and every organ is equally good soil.",
}
# (lowest, highest) a client may set; the sliders offer exactly these ranges.
SHEDDING_RANGE = (0.01, 10.0)
HALF_LIFE_RANGE = (0.1, 8.0)  # x the scenario's own CTC half-life
SOIL_RANGE = (0.0, 2.0)
SPEED_RANGE = (1, 60)
PATIENTS_RANGE = (20, 50)
MAX_SEED = 1_000_000_000
#: What a slider change does: start the patient again, or go on from today.
ON_CHANGE = {"restart": "Restart the patient", "continue": "Continue from now"}
#: A course whose story starts at diagnosis (the lessons: diagnosed within days) does not
#: pause at it: the first press of Play would stop at once. ASSUMPTION (a teaching choice,
#: not biology): a month, longer than the lessons' first diagnoses (days) and far shorter
#: than any untreated preset's time to diagnosis (years), so only the former are skipped.
START_GRACE_DAYS = 31.0
#: The most timeline entries shown (a course logs a few dozen at most; a cap keeps a
#: pathological one from flooding the page).
MAX_EVENTS = 200


@functools.cache
def catalogue() -> tuple[tuple[str, ...], dict[str, str]]:
    """The scenarios the app offers and their descriptions, read once (so that checking a
    client's value never opens a file)."""
    described = dict(list_scenarios())
    names = list(described)
    classroom = [n for n in names if n.startswith("classroom/")]
    clinical = [n for n in names if n.startswith("clinical/")]
    presets = [n for n in names if n.startswith("presets/")]
    return tuple(classroom + clinical + presets), described


def bundled_names() -> tuple[str, ...]:
    return catalogue()[0]


STORY_TITLES = {
    "classroom/demo": "Lesson: seed and soil against blood flow (colon)",
    "classroom/colon_liver": "Lesson: colon cancer and the liver",
    "classroom/dormancy": "Lesson: sleeping cells (dormancy)",
    "classroom/inefficiency": "Lesson: why so few cells make it",
    "classroom/prostate_bone": "Lesson: prostate cancer and the bones",
    "clinical/breast_adjuvant": "Story: breast cancer, surgery, then therapy",
    "clinical/breast_resection_at_diagnosis": "Story: breast cancer removed at diagnosis",
    "clinical/colon_liver_resection": "Story: colon cancer, liver metastases treated",
    "clinical/late_relapse": "Story: a late relapse after clear scans",
}


@functools.cache
def titles() -> dict[str, str]:
    """The picker's plain title of each scenario: "Breast cancer", "Classroom: Dormancy"."""
    names, descriptions = catalogue()
    out = {}
    for name in names:
        first = (descriptions.get(name) or name).splitlines()[0]
        short = first.split(":")[0].split(", untreated")[0].replace("->", "→").strip()
        if name.startswith("presets/"):
            short = short if short.lower().endswith(("cancer", "sarcoma", "melanoma",
                                                     "melanoma (trunk skin)")) \
                else f"{short} cancer"
            # "Melanoma (trunk skin)" -> "Melanoma (trunk skin, untreated)": one bracket
            out[name] = (f"{short[:-1]}, untreated)" if short.endswith(")")
                         else f"{short} (untreated)")
        else:
            out[name] = STORY_TITLES.get(name, f"Story: {short}")
    if len(set(out.values())) != len(out):  # never two entries with one title
        out = {n: f"{t} ({n})" for n, t in out.items()}
    return out


def scenario_names() -> list[str]:
    """The scenarios the app will load, in the picker's order: the lessons, the stories,
    then the cancers alphabetically by the name the picker shows."""
    names = bundled_names()
    presets = sorted((n for n in names if n.startswith("presets/")), key=lambda n: titles()[n])
    return [n for n in names if not n.startswith("presets/")] + presets


def scenario_titles() -> list[str]:
    """What the picker shows, in the order of :func:`scenario_names`."""
    return [titles()[n] for n in scenario_names()]


def check_scenario(name: object) -> str:
    """The scenario named by ``name`` (a bundled name or its title in the picker), else
    ScenarioError. The refusal never repeats the value: it may be a path, and whether that
    exists is nobody's business."""
    if isinstance(name, str):
        if name in bundled_names():
            return name
        by_title = {t: n for n, t in titles().items()}
        if name in by_title:
            return by_title[name]
    raise ScenarioError("That cancer / scenario is not in the list.")


def check_hypothesis(name: object, allowed: tuple[str, ...] = tuple(HYPOTHESES)) -> str:
    """``name`` (a hypothesis or its plain name) if it is one of ``allowed``, else
    ScenarioError."""
    if isinstance(name, str):
        by_name = {HYPOTHESIS_NAMES[h]: h for h in allowed}
        name = by_name.get(name, name)
    if not isinstance(name, str) or name not in allowed:
        raise ScenarioError(f"The hypothesis must be one of {', '.join(allowed)}.")
    return name


def check_number(what: str, value: object, limits: tuple[float, float],
                 whole: bool = False) -> float:
    """``value`` as a float if it is a finite number within ``limits`` (a whole one if
    ``whole``), else ScenarioError naming ``what`` and the range."""
    low, high = limits
    # The range test also refuses NaN (every comparison with it is false) and infinities.
    if not isinstance(value, int | float) or isinstance(value, bool) \
            or not low <= value <= high or (whole and not float(value).is_integer()):
        raise ScenarioError(f"{what} must be a {'whole ' if whole else ''}number from "
                            f"{low:g} to {high:g}.")
    return float(value)


def parse_seed(text: object) -> int:
    """The seed typed in the box: digits only, 0 to MAX_SEED; else ScenarioError."""
    digits = text.strip() if isinstance(text, str) else ""
    if not (0 < len(digits) <= len(str(MAX_SEED)) and digits.isascii() and digits.isdigit()
            and int(digits) <= MAX_SEED):
        shown = f"Seed {text!r}" if isinstance(text, str) and len(text) <= 20 else "The seed"
        raise ScenarioError(f"{shown} is not a whole number from 0 to {MAX_SEED:,}.")
    return int(digits)


def scenario_seed(name: str) -> int:
    """The seed a bundled scenario names (``simulation.seed``), else 1: the classroom
    stories are written for their own seed."""
    return scenario_settings(name)["seed"]


@functools.cache
def scenario_settings(name: str) -> dict[str, Any]:
    """What the controls show when scenario ``name`` is picked: its own seed, hypothesis
    (if it is one of the buttons) and soil strength (within the slider's range); its own
    shedding and CTC half-life (both sliders at factor 1, and ``half_life_hours`` for the
    slider's label)."""
    sc = scenario_with(check_scenario(name), 1.0, 1.7, 1.0, keep_scenario=True)
    return {"seed": sc.simulation.seed if sc.simulation.seed is not None else 1,
            "hypothesis": sc.hypothesis if sc.hypothesis in MAIN_HYPOTHESES else "combined",
            "half_life_hours": sc.circulation.ctc_half_life_hours,
            "soil": min(max(sc.tropism.strength, SOIL_RANGE[0]), SOIL_RANGE[1])}


@dataclass
class Course:
    """One running patient, the history drawn in the time course, and what the automatic
    pause has already seen."""

    model: MetastasisModel
    hypothesis: str
    history: list[dict] = field(default_factory=list)
    events_seen: int = 0
    detected: bool = False

    def record(self) -> None:
        m = self.model
        self.history.append({"day": m.day, "primary": m.primary.cells,
                             "metastases": metastatic_burden_cells(m),
                             "colonies": len(m.colonies),
                             "dormant": dormant_cells(m)})

    def advance(self, days: float) -> None:
        """Go on by ``days`` rounded to whole model steps (at least one)."""
        steps = max(1, round(days / self.model.dt))
        for _ in range(steps):
            if not self.model.running:
                break
            self.model.step()
        self.record()

    def new_pause(self) -> str | None:
        """Why to pause after the last advance (diagnosis, first detection, relapse), if at
        all; each event pauses once."""
        events = self.model.clinic.events
        reason = pause_reason(events, self.events_seen, self.detected,
                              quiet_until_day=START_GRACE_DAYS)
        self.detected = self.detected or any(e["event"] == "metastasis_detected"
                                             for e in events)
        self.events_seen = len(events)
        return reason


def build_courses(name: str, hypothesis: str, compare_with: str | None, seed: int,
                  shedding_factor: float, half_life_factor: float,
                  soil_strength: float) -> list[Course]:
    """The course(s) for the current settings; raises ScenarioError on bad values.

    Every argument may come from a browser, so each is checked before use; ``name`` must be a
    bundled scenario name, and only the bundled file of that name is read."""
    name = check_scenario(name)
    hypothesis = check_hypothesis(hypothesis)
    if compare_with is not None:
        compare_with = check_hypothesis(compare_with)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ScenarioError(f"The seed must be a whole number from 0 to {MAX_SEED:,}.")
    shedding_factor = check_number("Shedding", shedding_factor, SHEDDING_RANGE)
    half_life_factor = check_number("Survival in the blood", half_life_factor, HALF_LIFE_RANGE)
    soil_strength = check_number("Soil strength", soil_strength, SOIL_RANGE)
    base = scenario_with(name, shedding_factor, half_life_factor, soil_strength)
    courses = []
    for h in [hypothesis] + ([compare_with] if compare_with else []):
        model = MetastasisModel(base, rng=patient_generator(seed), hypothesis=h)
        course = Course(model, h)
        course.record()
        courses.append(course)
    return courses


def map_svg(course: Course, journey: Journey | None = None) -> str:
    state = body_state(course.model)
    return body_map_svg(state, hypothesis=course.hypothesis,
                        title=f"{HYPOTHESIS_NAMES[course.hypothesis]}: "
                              f"{plain_duration(course.model.day)}",
                        journey=journey.places if journey else None,
                        journey_died=bool(journey and journey.died))


def funnel_of(courses: list[Course]) -> str:
    return funnel_svg([(c.hypothesis, c.model.ledger.reached.tolist(),
                        c.model.ledger.lost.tolist()) for c in courses])


MARKED_EVENTS = {"diagnosis": "diagnosis", "relapse": "relapse", "resection": "surgery",
                  "death": "death"}


def timecourse_of(courses: list[Course]) -> str:
    marks: list[tuple[float, str]] = []
    first = courses[0].model.clinic.events
    for e in first:
        if e["event"] in MARKED_EVENTS:
            marks.append((e["day"], MARKED_EVENTS[e["event"]]))
    detected = [e["day"] for e in first if e["event"] == "metastasis_detected"]
    if detected:
        marks.append((detected[0], "first seen on a scan"))
    return timecourse_svg([(c.hypothesis, c.history) for c in courses], marks)


def numbers_line(c: Course) -> str:
    """The patient's numbers in words, for one course."""
    m = c.model
    return (f"{HYPOTHESIS_NAMES[c.hypothesis]}: {plain_number(float(m.ledger.shed_total))} "
            f"cells have left the tumour; {plain_number(dormant_cells(m))} sleep in organs; "
            f"{plain_number(metastatic_burden_cells(m))} cells in {len(m.colonies)} "
            f"colonies (tiny or grown), {detectable_metastases(m)} big enough to see.")


def status_line(c: Course, is_playing: bool = False) -> str:
    m = c.model
    status = f"the patient died ({death_words(m.cause_of_death)})" if m.died else (
        ("playing" if is_playing else "paused") if m.running else "the end of the story")
    return (f"{HYPOTHESIS_NAMES[c.hypothesis]}: {plain_duration(m.day)} (day {m.day:.0f}), "
            f"{len(m.colonies)} colonies, {detectable_metastases(m)} visible; {status}")


def csv_of(courses: list[Course]) -> str:
    """The data behind the map: per hypothesis and organ (its key and the name the map shows)
    the cells that arrived, sleep and grew, and the detectable metastases, on the day shown
    (one table)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["hypothesis", "organ", "organ_name", "cells_arrived", "dormant_cells",
                "cells_in_metastases", "detectable_metastases", "day"])
    for c in courses:
        st = body_state(c.model)
        for organ in sorted(set(st["arrived"]) | set(st["burden"]) | set(st["dormant"])):
            w.writerow([c.hypothesis, organ, organ_name(organ), st["arrived"].get(organ, 0),
                        st["dormant"].get(organ, 0), f"{st['burden'].get(organ, 0.0):.6g}",
                        st["detectable"].get(organ, 0), f"{c.model.day:g}"])
    return buf.getvalue()


def timecourse_csv(courses: list[Course]) -> str:
    """The data behind the time course: per hypothesis and recorded day, the primary, the
    cells in metastases, the colonies and the dormant cells (one table)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["hypothesis", "day", "primary_cells", "cells_in_metastases", "colonies",
                "dormant_cells"])
    for c in courses:
        for h in c.history:
            w.writerow([c.hypothesis, f"{h['day']:g}", f"{h['primary']:.6g}",
                        f"{h['metastases']:.6g}", h["colonies"], h["dormant"]])
    return buf.getvalue()


def svg_of(courses: list[Course], journey: Journey | None = None) -> str:
    """The body map(s) exactly as the app shows them, side by side on white, as one SVG file
    (a vector picture for slides: every text, bar and colour is in the file)."""
    width, height = MAP_WIDTH, MAP_HEIGHT
    maps = "".join(
        map_svg(c, journey if i == 0 else None).replace(
            "<svg ", f'<svg x="{i * width}" y="0" width="{width}" height="{height}" ', 1)
        for i, c in enumerate(courses))
    total = width * len(courses)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="{height}" '
            f'viewBox="0 0 {total} {height}"><rect width="100%" height="100%" fill="white"/>'
            f"{maps}</svg>\n")


def png_of(courses: list[Course], journey: Journey | None = None) -> bytes:
    """The current body map(s) as a PNG: what the app shows (the body, the per-organ bars,
    the routes, the followed cell's path on the first map), drawn by matplotlib from the
    same geometry."""
    from ..viz.bodymap import body_map
    from ..viz.style import new_figure

    fig = new_figure(figsize=(8.5 * len(courses), 10), dpi=150)  # sharp on a slide
    for i, c in enumerate(courses):
        ax = fig.add_subplot(1, len(courses), i + 1)
        path = (journey.places, journey.died) if journey is not None and i == 0 else None
        body_map(body_state(c.model), ax=ax, hypothesis=c.hypothesis, bars=True, journey=path,
                 fontsize=11,
                 title=f"{HYPOTHESIS_NAMES[c.hypothesis]}: {plain_duration(c.model.day)}")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", pad_inches=0.2)  # the legend too
    return buf.getvalue()


def event_kind(event: dict, untreated: bool) -> str:
    """An event's kind for its sentence: a diagnosis says when the story leaves it untreated."""
    return "diagnosis_untreated" if event["event"] == "diagnosis" and untreated \
        else event["event"]


def float_or_nan(text: str) -> float:
    try:
        return float(text) if len(text) < 30 else float("nan")
    except ValueError:
        return float("nan")
