"""The classroom app (Solara): ``metasim app`` serves it on http://127.0.0.1:8765.

A teacher picks a cancer (a preset or a classroom scenario), a hypothesis (Ewing's anatomy,
Paget's soil, or both combined - or delivery and soil separately), and presses play: the body
map fills with dormant cells and metastases, the cascade funnel counts where cells were lost,
and the time course shows the primary and the metastases grow. "Compare side by side" runs a
second hypothesis on the same random streams. Each part of the cascade has a plain-language
explanation next to the funnel, and classroom scenarios show their "what to look for" note.

Everything runs in the server process; one model step and its redraw take well under half a
second on the classroom scenarios (see ``benchmarks`` and the closing notes).
"""

from __future__ import annotations

import asyncio
import html
import threading
import time
from dataclasses import dataclass, field

import solara

from .agents import Stage
from .bodymap import state_of
from .model import FUNNEL_STAGES, MetastasisModel
from .plots import STAGE_LABELS
from .scenario import HYPOTHESES, ScenarioError, load_scenario
from .scenarios import list_scenarios
from .svg import body_map_svg, funnel_svg, timecourse_svg

EXPLANATIONS = {
    "detachment": "Cells let go of their neighbours and leave the tumour, alone or in small "
                  "clumps. A tumour of one gram sheds millions of cells a day.",
    "invasion": "To reach a vessel, a cell must cut through the wall around the tumour. "
                "Many die trying.",
    "transit": "In the blood or lymph, cells are battered by flow and attacked by immune "
               "cells. Most die within hours.",
    "arrest": "Survivors get stuck in the first narrow capillaries they meet: the lungs for "
              "most organs, the liver for the gut (its blood goes through the portal vein).",
    "extravasation": "A stuck cell squeezes out of the vessel into the organ. This step is "
                     "surprisingly easy: most cells manage it.",
    "dormancy": "Out in a foreign organ, most cells die. Some fall asleep (dormancy) and can "
                "wait there for years.",
    "micrometastasis": "A few cells start to divide. Most of these tiny colonies still die out.",
    "macrometastasis": "A colony that recruits its own blood vessels (the angiogenic switch) "
                       "can grow into a metastasis you can see on a scan.",
}
HYPOTHESIS_TEXT = {
    "ewing": "Ewing (1928): only the plumbing matters. Cells land where the blood carries "
             "them, and every organ is equally good soil.",
    "paget": "Paget (1889): seed and soil. Cells reach every organ alike; some organs are "
             "better soil for this cancer.",
    "combined": "Today's view: blood flow decides where cells arrive, and the organ's soil "
                "decides whether they grow.",
    "null": "Neither: cells reach every organ alike and every organ is equally good soil.",
}
DELIVERY_SOIL = {v: k for k, v in HYPOTHESES.items()}


def scenario_names() -> list[str]:
    names = [n for n, _ in list_scenarios()]
    classroom = [n for n in names if n.startswith("classroom/")]
    clinical = [n for n in names if n.startswith("clinical/")]
    presets = [n for n in names if n.startswith("presets/")]
    return classroom + clinical + presets


@dataclass
class Course:
    """One running patient and the history drawn in the time course."""

    model: MetastasisModel
    hypothesis: str
    history: list[dict] = field(default_factory=list)

    def record(self) -> None:
        m = self.model
        self.history.append({"day": m.day, "primary": m.primary.cells,
                             "metastases": sum(c.cells for c in m.colonies),
                             "colonies": len(m.colonies),
                             "dormant": sum(c.count for c in m.cohorts[Stage.DORMANT])})

    def advance(self, days: float) -> None:
        target = self.model.day + days
        while self.model.running and self.model.day < target - 1e-9:
            self.model.step()
        self.record()


def build_courses(name: str, hypothesis: str, compare_with: str | None, seed: int,
                  shedding_factor: float, ctc_half_life_hours: float,
                  soil_strength: float) -> list[Course]:
    """The course(s) for the current settings; raises ScenarioError on bad values."""
    base = load_scenario(name)
    overrides = {
        "primary.shedding_rate_per_gram_per_day":
            base.primary.shedding_rate_per_gram_per_day * shedding_factor,
        "circulation.ctc_half_life_hours": ctc_half_life_hours,
        "tropism.strength": soil_strength,
    }
    courses = []
    for h in [hypothesis] + ([compare_with] if compare_with else []):
        model = MetastasisModel(base, rng=seed, hypothesis=h, overrides=overrides)
        course = Course(model, h)
        course.record()
        courses.append(course)
    return courses


def map_svg(course: Course) -> str:
    return body_map_svg(state_of(course.model),
                        title=f"{course.hypothesis}: day {course.model.day:.0f}")


def funnel_of(courses: list[Course]) -> str:
    return funnel_svg([(c.hypothesis, c.model.reached.tolist()) for c in courses])


def timecourse_of(courses: list[Course]) -> str:
    return timecourse_svg([(c.hypothesis, c.history) for c in courses])


# ------------------------------------------------------------------------------ state
scenario_name = solara.reactive("classroom/demo")
hypothesis = solara.reactive("combined")
compare = solara.reactive(False)
compare_with = solara.reactive("ewing")
shedding_factor = solara.reactive(1.0)
ctc_half_life = solara.reactive(1.7)
soil_strength = solara.reactive(1.0)
days_per_step = solara.reactive(10)
seed_text = solara.reactive("1")
message = solara.reactive("")
playing = solara.reactive(False)
version = solara.reactive(0)
# The running course(s) of this browser session (Solara reactives are per session: every
# student's browser has its own patient). A dict so that a step mutates it in place.
session = solara.reactive({"courses": [], "lock": None})


def _session() -> tuple[list[Course], threading.Lock]:
    state = session.value
    if state["lock"] is None:
        state = {"courses": [], "lock": threading.Lock()}
        session.set(state)
    return state["courses"], state["lock"]


def reset() -> None:
    playing.set(False)
    try:
        seed = int(seed_text.value.strip())
        if seed < 0:
            raise ValueError
    except ValueError:
        message.set(f"Seed {seed_text.value!r} is not a whole number >= 0; keeping the last "
                    "course.")
        return
    try:
        courses = build_courses(scenario_name.value, hypothesis.value,
                                compare_with.value if compare.value else None, seed,
                                shedding_factor.value, ctc_half_life.value,
                                soil_strength.value)
    except ScenarioError as e:
        message.set(str(e))
        return
    _, lock = _session()
    with lock:
        session.set({"courses": courses, "lock": lock})
    message.set("")
    version.set(version.value + 1)


def step() -> None:
    courses, lock = _session()
    with lock:
        for c in courses:
            c.advance(days_per_step.value)
        running = any(c.model.running for c in courses)
    if not running:
        playing.set(False)
    version.set(version.value + 1)


@solara.lab.task
async def play_task() -> None:
    """Step about three times a second until paused or the course ends (an asyncio task in
    this session's event loop: reading and setting the session's state is safe here)."""
    while playing.value:
        t0 = time.perf_counter()
        step()
        await asyncio.sleep(max(0.05, 0.3 - (time.perf_counter() - t0)))


def toggle_play() -> None:
    playing.set(not playing.value)
    if playing.value:
        play_task()


@solara.component
def Controls():
    with solara.Card("Settings"):
        solara.Select("Cancer / scenario", values=scenario_names(), value=scenario_name,
                      on_value=lambda v: (scenario_name.set(v), reset()))
        solara.ToggleButtonsSingle(value=hypothesis, values=["ewing", "paget", "combined"],
                                   on_value=lambda v: (hypothesis.set(v), reset()))
        solara.HTML(tag="p", unsafe_innerHTML=HYPOTHESIS_TEXT[hypothesis.value])
        solara.Checkbox(label="Compare side by side (same random streams)", value=compare,
                        on_value=lambda v: (compare.set(v), reset()))
        if compare.value:
            solara.Select("Second hypothesis", values=list(HYPOTHESES), value=compare_with,
                          on_value=lambda v: (compare_with.set(v), reset()))
        solara.SliderFloat("Shedding (x published rate)", value=shedding_factor, min=0.01,
                           max=10.0, step=0.01, on_value=lambda v: reset())
        solara.SliderFloat("Survival in the blood: CTC half-life (hours)", value=ctc_half_life,
                           min=0.1, max=8.0, step=0.1, on_value=lambda v: reset())
        solara.SliderFloat("Soil strength (0 = neutral soil)", value=soil_strength, min=0.0,
                           max=2.0, step=0.1, on_value=lambda v: reset())
        solara.SliderInt("Speed: days per step", value=days_per_step, min=1, max=60)
        solara.InputText("Seed", value=seed_text, on_value=lambda v: reset(),
                         continuous_update=False)
        with solara.Row():
            solara.Button("Play" if not playing.value else "Pause", color="primary",
                          on_click=toggle_play)
            solara.Button("Step", on_click=step, disabled=playing.value)
            solara.Button("Reset", on_click=reset)
        if message.value:
            solara.Error(message.value)
        with solara.Details("Delivery x soil (for the curious)"):
            solara.HTML(tag="table", unsafe_innerHTML=(
                "<tr><th></th><th>neutral soil</th><th>tropism soil</th></tr>"
                "<tr><th>anatomical delivery</th><td>ewing</td><td>combined</td></tr>"
                "<tr><th>uniform delivery</th><td>null</td><td>paget</td></tr>"))


@solara.component
def Page():
    solara.Title("metasim: how cancer spreads")
    solara.use_effect(lambda: reset() if not _session()[0] else None, [])
    _ = version.value  # re-render after every step
    current, lock = _session()
    with lock:
        courses = list(current)
    with solara.Sidebar():
        Controls()
    if not courses:
        solara.Text("Loading ...")
        return
    sc = courses[0].model.scenario
    solara.HTML(tag="h2", unsafe_innerHTML=html.escape(
        sc.description.splitlines()[0] if sc.description else sc.primary.site))
    if sc.what_to_look_for:
        solara.Info(f"What to look for: {sc.what_to_look_for}")
    with solara.Columns([1, 1] if len(courses) == 1 else [1, 1, 1]):
        for c in courses:
            with solara.Column():
                solara.HTML(tag="div", unsafe_innerHTML=map_svg(c))
                m = c.model
                status = "died (lethal tumour burden)" if m.died else (
                    "running" if m.running else "end of the course")
                solara.Text(f"{c.hypothesis}: day {m.day:.0f}, {len(m.colonies)} colonies, "
                            f"{sum(1 for x in m.colonies if x.cells >= m.detectable_cells)} "
                            f"detectable; {status}", classes=["funnel-status"])
        with solara.Column():
            solara.HTML(tag="h3", unsafe_innerHTML="The cascade funnel")
            solara.HTML(tag="div", unsafe_innerHTML=funnel_of(courses))
            counts = " · ".join(f"{s}: {int(courses[0].model.reached[i]):,}"
                                for i, s in enumerate(FUNNEL_STAGES))
            solara.Text(counts, classes=["funnel-numbers"])
            solara.HTML(tag="h3", unsafe_innerHTML="Over time")
            solara.HTML(tag="div", unsafe_innerHTML=timecourse_of(courses))
    events = courses[0].model.clinic.events
    if events:
        rows = "".join(f"<tr><td>day {e['day']:.0f}</td><td>{html.escape(e['event'])}</td>"
                       f"<td>{html.escape(e['organ'])}</td><td>{html.escape(e['detail'])}</td></tr>"
                       for e in events[-12:])
        solara.HTML(tag="h3", unsafe_innerHTML=f"Timeline ({courses[0].hypothesis})")
        solara.HTML(tag="table", unsafe_innerHTML=rows, classes=["event-log"])
    with solara.Details("What happens at each step", expand=True):
        for s in FUNNEL_STAGES:
            solara.HTML(tag="p", unsafe_innerHTML=f"<b>{STAGE_LABELS[s].capitalize()}.</b> "
                                                  f"{EXPLANATIONS[s]}")
