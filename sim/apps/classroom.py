"""The classroom app (Solara): ``metasim app`` serves it on http://127.0.0.1:8765.

A teacher picks a cancer, an idea of where cancers spread (Ewing's blood flow, Paget's seed
and soil, or both combined) and presses Play: the body map shows, per organ, the cells that
arrived and the cells in metastases; the funnel shows how few cells survive each step; the
time course and the timeline tell the patient's story in years and months. "Compare two
hypotheses" runs a second idea on the same random streams, with both maps on top. "Run many
patients" runs 20 to 50 patients per idea in a background process and compares where their
metastases were with the autopsy series. Teaching aids: things to notice and to try, an
automatic pause at diagnosis, first detection and relapse, "follow one cell", a picture (PNG)
and the data (CSV) to download, jump to the end, a link that reopens the same settings, and
a glossary. The layout fits a projector at 1024 x 768 and 1920 x 1080 with no text under 14
pixels (checked in a real browser by ``tests/integration/test_app_projector.py``).

This module holds the page: its state (Solara reactives, one session per browser), the
handlers of its controls and its components. The courses themselves, the checks of every
value and the pictures drawn from a course are in :mod:`sim.apps.courses`; the teaching aids
in :mod:`sim.apps.teaching`.

Two rules keep a session safe when the app is served to a room:

* Every value a browser sends (picker, buttons, sliders, seed, link parameters) is untrusted:
  the handlers below accept only a listed scenario, a listed hypothesis and numbers within
  the sliders' ranges, and otherwise show a plain message and keep the last good value. No
  path from a client is ever opened, and no file content is ever shown.
* A session's course(s) sit behind one lock. Reset builds the new course(s) outside it and
  swaps them in; step advances them under it; the page draws them under it. Reactive state
  (which re-renders the page, and the page takes the lock) is only ever set with the lock
  released, so the play loop (a thread), the buttons and the page cannot block one another.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import multiprocessing
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import numpy as np
import solara
from solara.toestand import Singleton

from ..biology.stages import FUNNEL_STAGES, STAGE_EXPLANATIONS
from ..config.errors import ScenarioError
from ..config.hypotheses import HYPOTHESES
from ..viz.plain import (
    GLOSSARY,
    HYPOTHESIS_NAMES,
    STEP_NAMES,
    event_sentence,
    plain_duration,
    plain_hours,
)
from ..viz.svg import site_frequency_svg
from .courses import (
    HALF_LIFE_RANGE,
    HYPOTHESIS_TEXT,
    MAX_EVENTS,
    MAX_SEED,
    ON_CHANGE,
    PATIENTS_RANGE,
    SHEDDING_RANGE,
    SOIL_RANGE,
    SPEED_RANGE,
    Course,
    build_courses,
    check_hypothesis,
    check_number,
    check_scenario,
    csv_of,
    event_kind,
    float_or_nan,
    funnel_of,
    map_svg,
    numbers_line,
    parse_seed,
    png_of,
    scenario_names,
    scenario_seed,
    scenario_settings,
    scenario_titles,
    status_line,
    svg_of,
    timecourse_csv,
    timecourse_of,
    titles,
)
from .teaching import (
    MAIN_HYPOTHESES,
    Journey,
    follow_one_cell,
    journey_key,
    many_patients,
    scenario_with,
    things_to_notice,
    things_to_try,
)

# The page, and what the tests reach through this module from sim.apps.courses.
__all__ = ["MAX_SEED", "Course", "Page", "build_courses", "check_hypothesis", "check_number",
           "check_scenario", "funnel_of", "map_svg", "parse_seed", "scenario_names",
           "scenario_seed", "timecourse_of"]


# ------------------------------------------------------------------------------ state
# Every reactive below only ever holds a checked value (the handlers check before they set).
FIRST_SCENARIO = "classroom/demo"
_first = scenario_settings(FIRST_SCENARIO)
scenario_name = solara.reactive(FIRST_SCENARIO)
hypothesis = solara.reactive(_first["hypothesis"])
compare = solara.reactive(False)
compare_with = solara.reactive("ewing")
shedding_factor = solara.reactive(1.0)
ctc_half_life = solara.reactive(1.0)  # x the scenario's own half-life
soil_strength = solara.reactive(_first["soil"])
days_per_step = solara.reactive(10)
seed_text = solara.reactive(str(_first["seed"]))
seed = solara.reactive(_first["seed"])
on_change = solara.reactive("restart")
auto_pause = solara.reactive(True)
message = solara.reactive("")
note = solara.reactive("")          # a pause's explanation (not an error)
playing = solara.reactive(False)
version = solara.reactive(0)
patients = solara.reactive(30)
many_result: solara.Reactive[dict[str, Any] | None] = solara.reactive(None)  # the last run
many_status = solara.reactive("")
url_checked = solara.reactive(False)


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
        self.journey: Journey | None = None
        self.follows = 0


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
        state.journey = None
        state.epoch += 1
        generation = state.generation = next(_generations)
    message.set("")
    note.set("")
    _publish(generation)


def step(epoch: int | None = None, days: float | None = None, pause: bool = True) -> bool:
    """Advance the course(s) by the chosen number of days (or ``days``); False (and nothing
    done) if ``epoch`` is given and a reset happened since, or if no course is still running.
    At a diagnosis, first detection or relapse the automatic pause (``pause``, if ticked)
    stops play (``playing`` False, which ends the play loop) and says why."""
    if days is None:
        days = int(check_number("Speed", days_per_step.value, SPEED_RANGE, whole=True))
    state = session.value
    reasons = []
    with state.lock:
        if epoch is not None and epoch != state.epoch:
            return False
        for c in state.courses:
            c.advance(days)
            reason = c.new_pause()
            if reason:
                reasons.append(reason)
        running = any(c.model.running for c in state.courses)
        generation = state.generation = next(_generations)
    if not running:
        playing.set(False)
    if reasons and pause and auto_pause.value:
        playing.set(False)
        note.set(reasons[0])
    _publish(generation)
    return running


#: The shortest pause (s) between two steps of the play or jump loop. A loop that steps
#: without one changes the page during every redraw that another thread (a button) runs, and
#: Solara's renderer gives up after 100 such passes ("Too many renders triggered"); a redraw of
#: this page takes a few ms, far less than this.
MIN_PAUSE_S = 0.05


@solara.lab.task  # type: ignore[arg-type]  # solara's annotation expects a NoReturn coroutine
async def play_task() -> None:
    """Step about three times a second until paused, reset or the course ends (Solara runs
    this in a thread of its own; `step` takes the session's lock)."""
    epoch = session.value.epoch
    while playing.value:
        t0 = time.perf_counter()
        if not step(epoch):
            break
        await asyncio.sleep(max(MIN_PAUSE_S, 0.3 - (time.perf_counter() - t0)))


def toggle_play() -> None:
    """Play or pause."""
    playing.set(not playing.value)
    if playing.value:
        note.set("")
        play_task()


#: Days per step of "jump to the end": big steps, no pause, so the end comes in seconds.
JUMP_DAYS = 365.0


@solara.lab.task  # type: ignore[arg-type]
async def jump_task() -> None:
    """Run the course(s) to their end (the horizon or death) without pausing at events."""
    epoch = session.value.epoch
    note.set("Jumping to the end ...")
    while step(epoch, days=JUMP_DAYS, pause=False):
        await asyncio.sleep(MIN_PAUSE_S)
    if session.value.epoch == epoch:
        note.set("The end of the story. The timeline below lists what happened.")


def jump_to_end() -> None:
    playing.set(False)
    jump_task()


def follow() -> None:
    """Follow one cell of the first course through the cascade (a new cell each press)."""
    state = session.value
    with state.lock:
        if not state.courses:
            return
        state.follows += 1
        rng = np.random.default_rng([seed.value, state.follows])
        journey = follow_one_cell(state.courses[0].model, rng)
        if journey is None:
            generation = None
        else:
            state.journey = journey
            generation = state.generation = next(_generations)
    if generation is None:
        note.set("No cell has left the tumour yet: press Play or Step first.")
        return
    note.set("")
    _publish(generation)


def _refuse(e: ScenarioError, keeping: str) -> None:
    message.set(f"{e} Keeping {keeping}.")


def _use_scenario(name: str) -> None:
    """Set the controls to scenario ``name`` and its own settings (no reset)."""
    d = scenario_settings(name)
    scenario_name.set(name)
    seed.set(d["seed"])
    seed_text.set(str(d["seed"]))
    hypothesis.set(d["hypothesis"])
    ctc_half_life.set(1.0)
    soil_strength.set(d["soil"])
    shedding_factor.set(1.0)


def choose_scenario(value: object) -> None:
    """The picker's handler: only a listed scenario is accepted, never a path. The
    scenario's own seed comes with it (its story is written for that seed)."""
    try:
        name = check_scenario(value)
    except ScenarioError as e:
        _refuse(e, scenario_name.value)
        return
    _use_scenario(name)
    many_result.set(None)
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


def choose_on_change(value: object) -> None:
    """What a slider change does: restart the patient, or continue from now."""
    by_label = {v: k for k, v in ON_CHANGE.items()}
    key = by_label.get(value, value) if isinstance(value, str) else None
    if key not in ON_CHANGE:
        message.set("A slider change either restarts the patient or continues from now.")
        return
    on_change.set(key)


def choose_auto_pause(value: object) -> None:
    if not isinstance(value, bool):
        message.set("The pause box is either ticked or not.")
        return
    auto_pause.set(value)


def _retune() -> None:
    """Apply the sliders to the running course(s) from today on ("continue from now")."""
    state = session.value
    target = scenario_with(scenario_name.value, shedding_factor.value, ctc_half_life.value,
                           soil_strength.value)
    overrides = {"circulation.ctc_half_life_hours": target.circulation.ctc_half_life_hours,
                 "tropism.strength": target.tropism.strength,
                 "primary.shedding_rate_per_gram_per_day":
                     target.primary.shedding_rate_per_gram_per_day}
    with state.lock:
        for c in state.courses:
            before = c.model.scenario.primary.shedding_rate_per_gram_per_day
            c.model.retune(overrides, shedding_multiplier=(
                target.primary.shedding_rate_per_gram_per_day / before))
        generation = state.generation = next(_generations)
    message.set("")
    note.set("The new value acts from today on; what is already in the body stays.")
    _publish(generation)


def _slider_handler(var: solara.Reactive, what: str, limits: tuple[float, float],
                    whole: bool = False, then_reset: bool = True) -> Callable[[object], None]:
    """A slider's handler: a number within ``limits`` is kept in ``var`` (and restarts the
    course, or retunes it if "continue from now" is chosen, when ``then_reset``); anything
    else is refused with a message."""

    def on_value(value: object) -> None:
        try:
            x = check_number(what, value, limits, whole)
        except ScenarioError as e:
            _refuse(e, f"{var.value:g}")
            return
        var.set(int(x) if whole else x)
        if then_reset:
            if on_change.value == "continue" and session.value.courses:
                _retune()
            else:
                reset()
        elif message.value.startswith(what):
            message.set("")
    return on_value


choose_shedding = _slider_handler(shedding_factor, "Shedding", SHEDDING_RANGE)
choose_half_life = _slider_handler(ctc_half_life, "Survival in the blood", HALF_LIFE_RANGE)
choose_soil = _slider_handler(soil_strength, "Soil strength", SOIL_RANGE)
choose_speed = _slider_handler(days_per_step, "Speed", SPEED_RANGE, whole=True, then_reset=False)
choose_patients = _slider_handler(patients, "Patients", PATIENTS_RANGE, whole=True,
                                  then_reset=False)


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


# ------------------------------------------------------------------ a link to the settings
def settings_query() -> str:
    """The current settings as a query string (the shareable link)."""
    q = {"scenario": scenario_name.value, "hypothesis": hypothesis.value,
         "seed": str(seed.value), "shedding": f"{shedding_factor.value:g}",
         "halflife": f"{ctc_half_life.value:g}", "soil": f"{soil_strength.value:g}",
         "speed": str(days_per_step.value)}
    if compare.value:
        q["compare"] = compare_with.value
    return urllib.parse.urlencode(q)


def apply_query(query: object) -> None:
    """Settings from a link (untrusted, like any value from a browser): each parameter is
    checked like its control's value; a bad one is named in the message and left at its
    default, the good ones are used."""
    if not isinstance(query, str) or not query or len(query) > 2000:
        return
    try:
        params = urllib.parse.parse_qs(query.lstrip("?"), max_num_fields=20)
    except ValueError:  # more fields than any link of ours has
        message.set("The link could not be used; the default settings are kept.")
        return
    bad = []

    def one(key: str) -> str | None:
        values = params.get(key)
        return values[0] if values else None

    try:
        if (v := one("scenario")) is not None:
            _use_scenario(check_scenario(v))
    except ScenarioError:
        bad.append("scenario")
    checks: list[tuple[str, Callable[[str], object]]] = [
        ("hypothesis", lambda v: hypothesis.set(check_hypothesis(v, MAIN_HYPOTHESES))),
        ("compare", lambda v: (compare_with.set(check_hypothesis(v)), compare.set(True))),
        ("seed", lambda v: (seed.set(parse_seed(v)), seed_text.set(str(parse_seed(v))))),
        ("shedding", lambda v: shedding_factor.set(
            check_number("Shedding", float_or_nan(v), SHEDDING_RANGE))),
        ("halflife", lambda v: ctc_half_life.set(
            check_number("Survival in the blood", float_or_nan(v), HALF_LIFE_RANGE))),
        ("soil", lambda v: soil_strength.set(check_number("Soil strength", float_or_nan(v),
                                                          SOIL_RANGE))),
        ("speed", lambda v: days_per_step.set(int(check_number("Speed", float_or_nan(v),
                                                               SPEED_RANGE, whole=True)))),
    ]
    for key, apply in checks:
        if (v := one(key)) is None:
            continue
        try:
            apply(v)
        except ScenarioError:
            bad.append(key)
    reset()
    if bad:
        message.set(f"The link's {', '.join(bad)} could not be used; the default is kept.")


# ------------------------------------------------------------------ many patients
#: One "many patients" run at a time across all sessions (the others wait their turn): each
#: takes a core for 5-45 s, and the server's own process must stay free to draw.
_many_slot = threading.Semaphore(1)
#: How often (s) a waiting or running job looks whether it was stopped or is done.
POLL_S = 0.2


async def run_in_own_process(fn: Any, *args: Any, waiting: Any = None) -> Any:
    """``fn(*args)`` in a spawned process of its own, once :data:`_many_slot` is free;
    ``waiting()`` is called while it waits for its turn. If the awaiting task is cancelled
    (Stop, or the browser closed), it leaves the queue or its process is killed at once."""
    while not _many_slot.acquire(blocking=False):
        if waiting is not None:
            waiting()
        await asyncio.sleep(POLL_S)
    try:
        pool = multiprocessing.get_context("spawn").Pool(1)
        try:
            result = pool.apply_async(fn, args)
            while not result.ready():
                await asyncio.sleep(POLL_S)
            return result.get()
        finally:
            pool.terminate()  # kills the worker if it still runs (a Stop), else only tidies
            pool.join()
    finally:
        _many_slot.release()


@solara.lab.task  # type: ignore[arg-type]
async def many_task() -> None:
    """Run many patients of the chosen cancer in a process of its own; Stop cancels it."""
    args = (scenario_name.value, int(patients.value), seed.value, shedding_factor.value,
            ctc_half_life.value, soil_strength.value)
    running = (f"Running {args[1]} patients for each of the three ideas ({3 * args[1]} in "
               f"all); this takes from a few seconds to a minute ...")
    many_status.set(running)
    t0 = time.perf_counter()
    try:
        result = await run_in_own_process(
            many_patients, *args,
            waiting=lambda: many_status.set("Waiting for another class's run to finish ..."))
    except asyncio.CancelledError:
        many_status.set("Stopped.")
        raise
    except Exception as e:
        many_status.set(f"The run failed: {type(e).__name__}: {str(e)[:200]}")
        return
    result["wall_seconds"] = time.perf_counter() - t0
    many_result.set(result)
    many_status.set("")


def run_many() -> None:
    if not many_task.pending:
        many_task()


def stop_many() -> None:
    """Stop a "many patients" run (waiting or running): its process is killed."""
    if many_task.pending:
        many_task.cancel()


# ------------------------------------------------------------------ the page
CSS = """
.ms-top { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; margin: 0; }
.ms-settings h2 { font-size: 21px; line-height: 1.25; margin: 0 0 6px 0; }
.ms-layout { display: flex; flex-wrap: nowrap !important; gap: 16px; align-items: flex-start; }
.ms-settings { flex: 0 0 290px; max-width: 290px; font-size: 16px; }
.ms-main { flex: 1 1 auto; min-width: 0; }
.ms-view { display: flex; flex-wrap: wrap !important; gap: 8px 16px; align-items: flex-start; }
.ms-view.double { flex-wrap: nowrap !important; }
.ms-view.double .ms-map { flex: 1 1 0; min-width: 0; }
.ms-view.single .ms-map { flex: 0 1 auto; width: calc((100vh - 110px) * 0.647);
                          max-width: 100%; }
.ms-side { flex: 1 1 520px; min-width: 0; max-width: 1000px; }
.ms-side .ms-chart { width: 100%; flex: 0 0 auto; }
.v-expansion-panel-header { font-size: 16px; }
.ms-map svg.body-map { display: block; width: 100%; height: auto;
                       max-height: calc(100vh - 110px); }
.ms-charts { display: flex; flex-wrap: wrap; gap: 12px; }
.ms-chart { flex: 1 1 560px; min-width: 0; max-width: 940px; }
.ms-chart svg.chart { display: block; width: 100%; height: auto; }
.ms-main p, .ms-main li, .ms-settings p, .ms-main td { font-size: 16px; }
.ms-main h3 { font-size: 19px; margin: 12px 0 4px 0; }
.ms-timeline { max-height: 260px; overflow-y: auto; }
.ms-timeline td { padding: 2px 10px 2px 0; vertical-align: top; }
.ms-muted { color: #777; }
.ms-note { font-size: 16px; background: #fff3cd; padding: 4px 10px; border-radius: 4px;
           margin: 4px 0; }
.ms-settings .v-btn-toggle { flex-wrap: wrap; }
.ms-settings .v-btn-toggle .v-btn { height: 40px !important; }
.ms-settings .v-input--selection-controls { margin-top: 4px; }
.ms-settings .v-input__slot { margin-bottom: 0; }
.ms-settings .v-input__slider .v-input__slot { flex-direction: column; align-items: stretch; }
.ms-settings .v-input__slider .v-label { max-width: none; height: auto; margin: 0 0 2px 0;
                                         white-space: normal; line-height: 1.3; }
.ms-settings .v-input__slider .v-slider { margin: 0 8px; }
.ms-settings .v-label--active { transform: translateY(-18px) scale(0.875) !important; }
.ms-settings .v-messages { display: none; }
.v-application .v-btn { font-size: 16px; text-transform: none; letter-spacing: normal; }
@media (max-width: 1299px) {
  .ms-layout.compare { flex-wrap: wrap !important; }
  .ms-layout.compare .ms-settings { order: 2; flex-basis: 100%; max-width: none; }
  .ms-layout.compare .ms-main { order: 1; flex-basis: 100%; }
}
"""


def _html(tag: str, content: str, classes: list[str] | None = None) -> None:
    solara.HTML(tag=tag, unsafe_innerHTML=content, classes=classes or [])


def _uses_soil(h: str) -> bool:
    return HYPOTHESES[h][1] == "tropism"


@solara.component
def Controls(dt_days: float):
    # The widgets get plain values, not the reactives: a client's change reaches the state
    # only through the checking handlers above.
    shown = [hypothesis.value] + ([compare_with.value] if compare.value else [])
    soil_matters = any(_uses_soil(h) for h in shown)
    solara.Select("Cancer", values=scenario_titles(), value=titles()[scenario_name.value],
                  on_value=choose_scenario)
    solara.ToggleButtonsSingle(value=HYPOTHESIS_NAMES[hypothesis.value],
                               values=[HYPOTHESIS_NAMES[h] for h in MAIN_HYPOTHESES],
                               on_value=choose_hypothesis, classes=["ms-hyp"],
                               style="flex-wrap: wrap; height: auto")
    _html("p", html.escape(HYPOTHESIS_TEXT[hypothesis.value]))
    solara.Checkbox(label="Compare two hypotheses (same luck)", value=compare.value,
                    on_value=choose_compare)
    if compare.value:
        solara.Select("Second hypothesis", values=[HYPOTHESIS_NAMES[h] for h in HYPOTHESES],
                      value=HYPOTHESIS_NAMES[compare_with.value], on_value=choose_compare_with)
    _html("p", "<b>When I move a slider:</b>")
    solara.ToggleButtonsSingle(value=ON_CHANGE[on_change.value], values=list(ON_CHANGE.values()),
                               on_value=choose_on_change, style="flex-wrap: wrap; height: auto")
    solara.SliderFloat(f"Shedding: {shedding_factor.value:g} × the published rate",
                       value=shedding_factor.value, min=SHEDDING_RANGE[0],
                       max=SHEDDING_RANGE[1], step=0.01, on_value=choose_shedding,
                       thumb_label=False)
    hours = scenario_settings(scenario_name.value)["half_life_hours"] * ctc_half_life.value
    solara.SliderFloat(f"Survival in the blood: half-life {plain_hours(hours)} "
                       f"({ctc_half_life.value:g} × this cancer's)",
                       value=ctc_half_life.value, min=HALF_LIFE_RANGE[0],
                       max=HALF_LIFE_RANGE[1], step=0.1, on_value=choose_half_life,
                       thumb_label=False)
    soil_label = (f"Soil strength: {soil_strength.value:g} (0 = every organ alike)"
                  if soil_matters else "Soil strength: no effect under Ewing")
    solara.SliderFloat(soil_label, value=soil_strength.value, min=SOIL_RANGE[0],
                       max=SOIL_RANGE[1], step=0.1, on_value=choose_soil,
                       disabled=not soil_matters, thumb_label=False)
    actual = max(1, round(days_per_step.value / dt_days)) * dt_days
    solara.SliderInt(f"Speed: {actual:g} days per step", value=days_per_step.value,
                     min=SPEED_RANGE[0], max=SPEED_RANGE[1], on_value=choose_speed,
                     thumb_label=False)
    solara.InputText("Seed (same seed = same patient)", value=seed_text.value,
                     on_value=choose_seed, continuous_update=False)
    solara.Checkbox(label="Pause at diagnosis, first metastasis seen and relapse",
                    value=auto_pause.value, on_value=choose_auto_pause)
    if message.value:
        solara.Error(message.value)
    with solara.Details("Delivery × soil: the four ideas"):
        _html("table", "<tr><th></th><th>organs equal</th><th>soil matters</th></tr>"
                       "<tr><th>blood flow decides</th><td>Ewing</td><td>Combined</td></tr>"
                       "<tr><th>cells go everywhere</th><td>Neither</td><td>Paget</td></tr>")


@solara.component
def Buttons():
    with solara.Row(classes=["ms-buttons"], style="flex-wrap: wrap; gap: 6px"):
        solara.Button("Play" if not playing.value else "Pause", color="primary",
                      on_click=toggle_play)
        solara.Button("Step", on_click=lambda: None if playing.value else step(),
                      disabled=playing.value)
        solara.Button("Jump to the end", on_click=jump_to_end,
                      disabled=playing.value or jump_task.pending)
        solara.Button("Restart", on_click=reset)
        solara.Button("Follow one cell", on_click=follow, disabled=playing.value)


@solara.component
def ManyPatients():
    _html("h3", "Many patients")
    _html("p", "One patient is one roll of the dice. Run many patients of this cancer under "
               "each idea and compare with where autopsies found metastases (diSibio and "
               "French 2008).")
    with solara.Row(style="flex-wrap: wrap; gap: 8px; align-items: center"):
        solara.SliderInt(f"Patients per idea: {patients.value}", value=patients.value,
                         min=PATIENTS_RANGE[0], max=PATIENTS_RANGE[1], on_value=choose_patients,
                         thumb_label=False)
        solara.Button("Run many patients", on_click=run_many, disabled=many_task.pending)
        if many_task.pending:
            solara.Button("Stop", on_click=stop_many)
    if many_status.value:
        solara.Info(many_status.value)
    r = many_result.value
    if r:
        same = r["scenario"] == scenario_name.value and r["seed"] == seed.value
        _html("div", site_frequency_svg(r["frequency"], r["autopsy"], r["patients"]),
              ["ms-chart"])
        _html("p", html.escape(
            f"{titles()[r['scenario']]}, seed {r['seed']}: {r['patients']} patients per idea "
            f"in {r['wall_seconds']:.0f} s."
            + ("" if same else " (These are for the earlier settings: run again.)")))


@solara.component
def Page():
    solara.Title("metasim: how cancer spreads")
    solara.Style(CSS)
    router = solara.use_router()

    def first_load() -> None:
        if not url_checked.value:
            url_checked.set(True)
            query = getattr(router, "search", None)
            if query:
                apply_query(query)
                return
        if not session.value.courses:
            reset()

    solara.use_effect(first_load, [])
    _ = version.value  # re-render after every step
    state = session.value
    with state.lock:  # draw a consistent picture: no step can run while we read the models
        courses = list(state.courses)
        if courses:
            maps = [(map_svg(c, state.journey if i == 0 else None),
                     status_line(c, playing.value)) for i, c in enumerate(courses)]
            funnel = funnel_of(courses)
            numbers = [numbers_line(c) for c in courses]
            timecourse = timecourse_of(courses)
            events = [(c.hypothesis, list(c.model.clinic.events[:MAX_EVENTS]))
                      for c in courses]
            untreated = not courses[0].model.scenario.intervention
            journey = state.journey
            dt = courses[0].model.dt
    if not courses:
        with solara.Column(classes=["ms-settings"]):
            Controls(1.0)
        solara.Text("Loading ...")
        return
    name = scenario_name.value
    layout_classes = ["ms-layout"] + (["compare"] if len(courses) > 1 else [])
    with solara.Row(classes=layout_classes):
        with solara.Column(classes=["ms-settings"]):
            _html("h2", html.escape(titles()[name]))
            Controls(dt)
            TeachingAids(courses)
        with solara.Column(classes=["ms-main"]):
            with solara.Row(classes=["ms-top"]):
                Buttons()
            if note.value:
                _html("div", html.escape(note.value), ["ms-note"])
            single = len(maps) == 1

            def charts() -> None:
                with solara.Column(classes=["ms-chart"]):
                    _html("h3", "The cascade: how many cells survive each step")
                    _html("div", funnel)
                    _html("p", "Made it: did not die at this step. Some that made it are "
                               "still waiting there (sleeping cells wait for years), so the "
                               "next row can be much smaller.", ["ms-muted"])
                with solara.Column(classes=["ms-chart"]):
                    _html("h3", "Over time")
                    _html("div", timecourse)

            with solara.Row(classes=["ms-view", "single" if single else "double"]):
                for svg, status in maps:
                    with solara.Column(classes=["ms-map"]):
                        _html("div", svg)
                        solara.Text(status, classes=["funnel-status"])
                if single:  # beside the map when the window is wide enough, else below it
                    with solara.Column(classes=["ms-side"]):
                        if journey is not None:
                            Journey_(journey)
                        for line in numbers:
                            _html("p", html.escape(line), ["funnel-numbers"])
                        charts()
            if journey is not None and not single:
                Journey_(journey)
            if not single:
                for line in numbers:
                    _html("p", html.escape(line), ["funnel-numbers"])
                with solara.Row(classes=["ms-charts"]):
                    charts()
            with solara.Row(classes=["ms-charts"]):
                for hyp, evs in events:
                    with solara.Column(classes=["ms-chart"]):
                        _html("h3", html.escape(f"What happened: {HYPOTHESIS_NAMES[hyp]}"))
                        rows = "".join(
                            f"<tr><td>{html.escape(plain_duration(e['day']))}</td>"
                            f"<td>{html.escape(event_sentence(event_kind(e, untreated), e['organ']))}"
                            f"</td></tr>"
                            for e in evs) or "<tr><td>Nothing yet.</td></tr>"
                        _html("div", f"<table>{rows}</table>", ["ms-timeline", "event-log"])
            ManyPatients()
            with solara.Details("What happens at each step"):
                for s in FUNNEL_STAGES:
                    _html("p", f"<b>{html.escape(STEP_NAMES[s])}.</b> "
                               f"{html.escape(STAGE_EXPLANATIONS[s])}")
            with solara.Details("Glossary"):
                for word, meaning in GLOSSARY.items():
                    _html("p", f"<b>{html.escape(word)}</b>: {html.escape(meaning)}")


@solara.component
def Journey_(journey: Journey):
    _html("h3", "The journey of one cell (the dashed line on the map)")
    _html("p", html.escape(journey_key(journey)))
    _html("ul", "".join(f"<li>{html.escape(s)}</li>" for s in journey.steps), ["ms-journey"])


@solara.component
def TeachingAids(courses: list[Course]):
    name = scenario_name.value
    sc = courses[0].model.scenario
    with solara.Details("Things to notice", expand=True):
        _html("p", html.escape(things_to_notice(name, sc)))
    with solara.Details("Things to try"):
        _html("ul", "".join(f"<li>{html.escape(t)}</li>" for t in things_to_try(name)))
    with solara.Details("Save and share"):
        _html("p", "Download (the picture is the map as shown, bars and all):")
        solara.FileDownload(lambda: png_of(courses, session.value.journey),
                            filename="metasim-map.png", label="The picture (PNG)",
                            mime_type="image/png")
        solara.FileDownload(lambda: svg_of(courses, session.value.journey),
                            filename="metasim-map.svg",
                            label="The picture for slides (SVG)",
                            mime_type="image/svg+xml")
        solara.FileDownload(lambda: csv_of(courses), filename="metasim-organs.csv",
                            label="The organs' numbers (CSV)", mime_type="text/csv")
        solara.FileDownload(lambda: timecourse_csv(courses), filename="metasim-time.csv",
                            label="The time course (CSV)", mime_type="text/csv")
        _html("p", f'<a href="?{html.escape(settings_query())}" class="ms-link">'
                   "Link to these settings</a> (copy it to start this patient again from day 0, "
                   "with the same settings)")
