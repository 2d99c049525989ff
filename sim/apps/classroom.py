"""The classroom app (Solara): ``metasim app`` serves it on http://127.0.0.1:8765.

A teacher picks a cancer (a preset or a classroom scenario), a hypothesis (Ewing's anatomy,
Paget's soil, or both combined - or delivery and soil separately), and presses play: the body
map fills with dormant cells and metastases, the cascade funnel counts where cells were lost,
and the time course shows the primary and the metastases grow. "Compare side by side" runs a
second hypothesis on the same random streams. Each part of the cascade has a plain-language
explanation next to the funnel, and classroom scenarios show their "what to look for" note.

Everything runs in the server process; one model step and its redraw take well under half a
second on the classroom scenarios (see ``benchmarks`` and the closing notes).

Two rules keep a session safe when the app is served to a room:

* Every value a browser sends (picker, sliders, seed, speed) is untrusted: the handlers below
  accept only a bundled scenario name, a listed hypothesis and numbers within the sliders'
  ranges, and otherwise show a plain message and keep the last good value. No path from a
  client is ever opened, and no file content is ever shown.
* A session's course(s) sit behind one lock. Reset builds the new course(s) outside it and
  swaps them in; step advances them under it; the page draws them under it. Reactive state
  (which re-renders the page, and the page takes the lock) is only ever set with the lock
  released, so the play loop (a thread), the buttons and the page cannot block one another.
"""

from __future__ import annotations

import asyncio
import functools
import html
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import solara
from solara.toestand import Singleton

from ..biology.stages import FUNNEL_STAGES, STAGE_EXPLANATIONS, STAGE_LABELS
from ..config.bundled import list_scenarios, scenario_dir
from ..config.errors import ScenarioError
from ..config.loading import load_scenario
from ..config.schema import HYPOTHESES
from ..engine.model import MetastasisModel
from ..engine.results import body_state, detectable_metastases, dormant_cells, metastatic_burden_cells
from ..experiments.seeds import patient_generator
from ..viz.svg import body_map_svg, funnel_svg, timecourse_svg

HYPOTHESIS_TEXT = {
    "ewing": "Ewing (1928): only the plumbing matters. Cells land where the blood carries "
             "them, and every organ is equally good soil.",
    "paget": "Paget (1889): seed and soil. Cells reach every organ alike; some organs are "
             "better soil for this cancer.",
    "combined": "Today's view: blood flow decides where cells arrive, and the organ's soil "
                "decides whether they grow.",
    "null": "Neither: cells reach every organ alike and every organ is equally good soil.",
}
MAIN_HYPOTHESES = ("ewing", "paget", "combined")
# (lowest, highest) a client may set; the sliders offer exactly these ranges.
SHEDDING_RANGE = (0.01, 10.0)
HALF_LIFE_RANGE = (0.1, 8.0)
SOIL_RANGE = (0.0, 2.0)
SPEED_RANGE = (1, 60)
MAX_SEED = 1_000_000_000


@functools.cache
def _bundled() -> tuple[str, ...]:
    names = [n for n, _ in list_scenarios()]
    classroom = [n for n in names if n.startswith("classroom/")]
    clinical = [n for n in names if n.startswith("clinical/")]
    presets = [n for n in names if n.startswith("presets/")]
    return tuple(classroom + clinical + presets)


def scenario_names() -> list[str]:
    """The scenarios the picker offers (and the only ones the app will load)."""
    return list(_bundled())


def check_scenario(name: object) -> str:
    """``name`` if it is one of :func:`scenario_names`, else ScenarioError. The refusal
    never repeats the value: it may be a path, and whether that exists is nobody's business."""
    if not isinstance(name, str) or name not in _bundled():
        raise ScenarioError("That cancer / scenario is not in the list.")
    return name


def check_hypothesis(name: object, allowed: tuple[str, ...] = tuple(HYPOTHESES)) -> str:
    """``name`` if it is one of ``allowed``, else ScenarioError."""
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


@dataclass
class Course:
    """One running patient and the history drawn in the time course."""

    model: MetastasisModel
    hypothesis: str
    history: list[dict] = field(default_factory=list)

    def record(self) -> None:
        m = self.model
        self.history.append({"day": m.day, "primary": m.primary.cells,
                             "metastases": metastatic_burden_cells(m),
                             "colonies": len(m.colonies),
                             "dormant": dormant_cells(m)})

    def advance(self, days: float) -> None:
        target = self.model.day + days
        while self.model.running and self.model.day < target - 1e-9:
            self.model.step()
        self.record()


def build_courses(name: str, hypothesis: str, compare_with: str | None, seed: int,
                  shedding_factor: float, ctc_half_life_hours: float,
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
    ctc_half_life_hours = check_number("The CTC half-life", ctc_half_life_hours, HALF_LIFE_RANGE)
    soil_strength = check_number("Soil strength", soil_strength, SOIL_RANGE)
    base = load_scenario(scenario_dir() / f"{name}.toml")
    overrides = {
        "primary.shedding_rate_per_gram_per_day":
            base.primary.shedding_rate_per_gram_per_day * shedding_factor,
        "circulation.ctc_half_life_hours": ctc_half_life_hours,
        "tropism.strength": soil_strength,
    }
    courses = []
    for h in [hypothesis] + ([compare_with] if compare_with else []):
        model = MetastasisModel(base, rng=patient_generator(seed), hypothesis=h,
                                overrides=overrides)
        course = Course(model, h)
        course.record()
        courses.append(course)
    return courses


def map_svg(course: Course) -> str:
    return body_map_svg(body_state(course.model),
                        title=f"{course.hypothesis}: day {course.model.day:.0f}")


def funnel_of(courses: list[Course]) -> str:
    return funnel_svg([(c.hypothesis, c.model.ledger.reached.tolist()) for c in courses])


def timecourse_of(courses: list[Course]) -> str:
    return timecourse_svg([(c.hypothesis, c.history) for c in courses])


# ------------------------------------------------------------------------------ state
# Every reactive below only ever holds a checked value (the handlers check before they set).
scenario_name = solara.reactive("classroom/demo")
hypothesis = solara.reactive("combined")
compare = solara.reactive(False)
compare_with = solara.reactive("ewing")
shedding_factor = solara.reactive(1.0)
ctc_half_life = solara.reactive(1.7)
soil_strength = solara.reactive(1.0)
days_per_step = solara.reactive(10)
seed_text = solara.reactive("1")
seed = solara.reactive(1)
message = solara.reactive("")
playing = solara.reactive(False)
version = solara.reactive(0)


class Session:
    """The running course(s) of one browser session (Solara makes one per browser: every
    student has their own patient) and the lock that guards them.

    ``epoch`` counts resets: the play loop stops stepping when it changes. ``generation``
    numbers the latest change (unique in the process, so setting ``version`` to it always
    redraws; that is done with the lock released)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.courses: list[Course] = []
        self.epoch = 0
        self.generation = 0


session = Singleton(Session)  # created once per browser session, safely across threads
_generations = itertools.count(1)


def _publish(generation: int) -> None:
    # Never call with session.value.lock held: setting `version` redraws the page, and the
    # page takes that lock (in whichever thread happens to draw).
    version.set(generation)


def reset() -> None:
    """Start the course(s) again from day 0 with the current settings."""
    playing.set(False)
    try:
        courses = build_courses(scenario_name.value, hypothesis.value,
                                compare_with.value if compare.value else None, seed.value,
                                shedding_factor.value, ctc_half_life.value,
                                soil_strength.value)
    except ScenarioError as e:
        message.set(str(e))
        return
    state = session.value
    with state.lock:  # only the swap is under the lock: the new courses are private so far
        state.courses = courses
        state.epoch += 1
        generation = state.generation = next(_generations)
    message.set("")
    _publish(generation)


def step(epoch: int | None = None) -> bool:
    """Advance the course(s) by the chosen number of days; False (and nothing done) if
    ``epoch`` is given and a reset happened since, or if no course is still running."""
    days = int(check_number("Speed", days_per_step.value, SPEED_RANGE, whole=True))
    state = session.value
    with state.lock:
        if epoch is not None and epoch != state.epoch:
            return False
        for c in state.courses:
            c.advance(days)
        running = any(c.model.running for c in state.courses)
        generation = state.generation = next(_generations)
    if not running:
        playing.set(False)
    _publish(generation)
    return running


@solara.lab.task  # type: ignore[arg-type]  # solara's annotation expects a NoReturn coroutine
async def play_task() -> None:
    """Step about three times a second until paused, reset or the course ends (Solara runs
    this in a thread of its own; `step` takes the session's lock)."""
    epoch = session.value.epoch
    while playing.value:
        t0 = time.perf_counter()
        if not step(epoch):
            break
        await asyncio.sleep(max(0.05, 0.3 - (time.perf_counter() - t0)))


def toggle_play() -> None:
    """Play or pause."""
    playing.set(not playing.value)
    if playing.value:
        play_task()


def _refuse(e: ScenarioError, keeping: str) -> None:
    message.set(f"{e} Keeping {keeping}.")


def choose_scenario(value: object) -> None:
    """The picker's handler: only a bundled scenario name is accepted, never a path."""
    try:
        scenario_name.set(check_scenario(value))
    except ScenarioError as e:
        _refuse(e, scenario_name.value)
        return
    reset()


def choose_hypothesis(value: object) -> None:
    """The hypothesis buttons' handler: ewing, paget or combined."""
    try:
        hypothesis.set(check_hypothesis(value, MAIN_HYPOTHESES))
    except ScenarioError as e:
        _refuse(e, hypothesis.value)
        return
    reset()


def choose_compare(value: object) -> None:
    """The compare box's handler: ticked (True) or not (False)."""
    if not isinstance(value, bool):
        message.set("The compare box is either ticked or not.")
        return
    compare.set(value)
    reset()


def choose_compare_with(value: object) -> None:
    """The second hypothesis picker's handler: any of the four hypotheses."""
    try:
        compare_with.set(check_hypothesis(value))
    except ScenarioError as e:
        _refuse(e, compare_with.value)
        return
    reset()


def _slider_handler(var: solara.Reactive, what: str, limits: tuple[float, float],
                    whole: bool = False, then_reset: bool = True) -> Callable[[object], None]:
    """A slider's handler: a number within ``limits`` is kept in ``var`` (and restarts the
    course if ``then_reset``); anything else is refused with a message."""

    def on_value(value: object) -> None:
        try:
            x = check_number(what, value, limits, whole)
        except ScenarioError as e:
            _refuse(e, f"{var.value:g}")
            return
        var.set(int(x) if whole else x)
        if then_reset:
            reset()
        elif message.value.startswith(what):
            message.set("")
    return on_value


choose_shedding = _slider_handler(shedding_factor, "Shedding", SHEDDING_RANGE)
choose_half_life = _slider_handler(ctc_half_life, "The CTC half-life", HALF_LIFE_RANGE)
choose_soil = _slider_handler(soil_strength, "Soil strength", SOIL_RANGE)
choose_speed = _slider_handler(days_per_step, "Speed", SPEED_RANGE, whole=True, then_reset=False)


def choose_seed(text: object) -> None:
    """The seed box's handler: a whole number from 0 to MAX_SEED restarts the course."""
    try:
        value = parse_seed(text)
    except ScenarioError as e:
        _refuse(e, "the last course")
        return
    seed.set(value)
    seed_text.set(str(value))
    reset()


@solara.component
def Controls():
    # The widgets get plain values, not the reactives: a client's change reaches the state
    # only through the checking handlers above.
    with solara.Card("Settings"):
        solara.Select("Cancer / scenario", values=scenario_names(), value=scenario_name.value,
                      on_value=choose_scenario)
        solara.ToggleButtonsSingle(value=hypothesis.value, values=list(MAIN_HYPOTHESES),
                                   on_value=choose_hypothesis)
        solara.HTML(tag="p", unsafe_innerHTML=HYPOTHESIS_TEXT[hypothesis.value])
        solara.Checkbox(label="Compare side by side (same random streams)", value=compare.value,
                        on_value=choose_compare)
        if compare.value:
            solara.Select("Second hypothesis", values=list(HYPOTHESES), value=compare_with.value,
                          on_value=choose_compare_with)
        solara.SliderFloat("Shedding (x published rate)", value=shedding_factor.value,
                           min=SHEDDING_RANGE[0], max=SHEDDING_RANGE[1], step=0.01,
                           on_value=choose_shedding)
        solara.SliderFloat("Survival in the blood: CTC half-life (hours)",
                           value=ctc_half_life.value, min=HALF_LIFE_RANGE[0],
                           max=HALF_LIFE_RANGE[1], step=0.1, on_value=choose_half_life)
        solara.SliderFloat("Soil strength (0 = neutral soil)", value=soil_strength.value,
                           min=SOIL_RANGE[0], max=SOIL_RANGE[1], step=0.1, on_value=choose_soil)
        solara.SliderInt("Speed: days per step", value=days_per_step.value, min=SPEED_RANGE[0],
                         max=SPEED_RANGE[1], on_value=choose_speed)
        solara.InputText("Seed", value=seed_text.value, on_value=choose_seed,
                         continuous_update=False)
        with solara.Row():
            solara.Button("Play" if not playing.value else "Pause", color="primary",
                          on_click=toggle_play)
            solara.Button("Step", on_click=lambda: None if playing.value else step(),
                          disabled=playing.value)
            solara.Button("Reset", on_click=reset)
        if message.value:
            solara.Error(message.value)
        with solara.Details("Delivery x soil (for the curious)"):
            solara.HTML(tag="table", unsafe_innerHTML=(
                "<tr><th></th><th>neutral soil</th><th>tropism soil</th></tr>"
                "<tr><th>anatomical delivery</th><td>ewing</td><td>combined</td></tr>"
                "<tr><th>uniform delivery</th><td>null</td><td>paget</td></tr>"))


def _status(c: Course) -> str:
    m = c.model
    status = "died (lethal tumour burden)" if m.died else (
        "running" if m.running else "end of the course")
    return (f"{c.hypothesis}: day {m.day:.0f}, {len(m.colonies)} colonies, "
            f"{detectable_metastases(m)} detectable; {status}")


@solara.component
def Page():
    solara.Title("metasim: how cancer spreads")
    solara.use_effect(lambda: reset() if not session.value.courses else None, [])
    _ = version.value  # re-render after every step
    state = session.value
    with state.lock:  # draw a consistent picture: no step can run while we read the models
        courses = list(state.courses)
        if courses:
            sc = courses[0].model.scenario
            first = courses[0]
            maps = [(map_svg(c), _status(c)) for c in courses]
            funnel = funnel_of(courses)
            counts = " · ".join(f"{s}: {int(first.model.ledger.reached[i]):,}"
                                for i, s in enumerate(FUNNEL_STAGES))
            timecourse = timecourse_of(courses)
            events = list(first.model.clinic.events[-12:])
    with solara.Sidebar():
        Controls()
    if not courses:
        solara.Text("Loading ...")
        if message.value:
            solara.Error(message.value)
        return
    solara.HTML(tag="h2", unsafe_innerHTML=html.escape(
        sc.description.splitlines()[0] if sc.description else sc.primary.site))
    if sc.what_to_look_for:
        solara.Info(f"What to look for: {sc.what_to_look_for}")
    with solara.Columns([1, 1] if len(courses) == 1 else [1, 1, 1]):
        for svg, status in maps:
            with solara.Column():
                solara.HTML(tag="div", unsafe_innerHTML=svg)
                solara.Text(status, classes=["funnel-status"])
        with solara.Column():
            solara.HTML(tag="h3", unsafe_innerHTML="The cascade funnel")
            solara.HTML(tag="div", unsafe_innerHTML=funnel)
            solara.Text(counts, classes=["funnel-numbers"])
            solara.HTML(tag="h3", unsafe_innerHTML="Over time")
            solara.HTML(tag="div", unsafe_innerHTML=timecourse)
    if events:
        rows = "".join(f"<tr><td>day {e['day']:.0f}</td><td>{html.escape(e['event'])}</td>"
                       f"<td>{html.escape(e['organ'])}</td><td>{html.escape(e['detail'])}</td></tr>"
                       for e in events)
        solara.HTML(tag="h3", unsafe_innerHTML=f"Timeline ({first.hypothesis})")
        solara.HTML(tag="table", unsafe_innerHTML=rows, classes=["event-log"])
    with solara.Details("What happens at each step", expand=True):
        for s in FUNNEL_STAGES:
            solara.HTML(tag="p", unsafe_innerHTML=f"<b>{STAGE_LABELS[s].capitalize()}.</b> "
                                                  f"{STAGE_EXPLANATIONS[s]}")
