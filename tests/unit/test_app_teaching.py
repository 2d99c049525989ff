"""The classroom app's words and teaching aids, without a browser: numbers and durations in
plain words, the automatic pause, "follow one cell", "continue from now" (``retune``), the
link that reopens the same settings, and the charts' encodings."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from sim.apps import classroom as app
from sim.apps.teaching import follow_one_cell, pause_reason, things_to_try
from sim.biology.stages import FUNNEL_STAGES
from sim.engine.model import MetastasisModel
from sim.viz.plain import event_sentence, plain_duration, plain_number
from sim.viz.svg import FONT, funnel_svg, site_frequency_svg, survival_shares, timecourse_svg


@pytest.mark.parametrize(("x", "words"), [
    (0, "0"), (7, "7"), (950, "950"), (1_000, "1 thousand"), (45_000, "45 thousand"),
    (160_400, "160 thousand"), (2.6e6, "2.6 million"), (8.3e9, "8.3 billion"),
    (2.6e12, "2.6 trillion"), (4.5e11, "450 billion"), (99_960_000, "100 million"),
    (99.6e9, "100 billion")])
def test_numbers_are_written_in_words(x, words):
    """A 16-year-old reads "2.6 trillion", not 2.6e12 (nor "1e+02 million" for 99.96
    million, which rounds up to the next hundred)."""
    assert plain_number(x) == words


@pytest.mark.parametrize(("days", "words"), [
    (0, "the start"), (3, "3 days"), (20, "3 weeks"), (61, "2 months"),
    (455, "1 year 3 months"), (730.5, "2 years"), (5475, "15 years")])
def test_durations_are_years_and_months(days, words):
    assert plain_duration(days) == words


def test_events_are_sentences_without_code_names():
    """No `metastasis_detected` or `regional_lymph_nodes` reaches the timeline."""
    for event, organ in [("metastasis_detected", "regional_lymph_nodes"), ("relapse", "liver"),
                         ("diagnosis", ""), ("chemotherapy_start", ""), ("made_up_event", "bone")]:
        text = event_sentence(event, organ)
        assert "_" not in text and text.endswith("."), text
    assert "nearby lymph nodes" in event_sentence("metastasis_detected", "regional_lymph_nodes")


def test_pause_reason_stops_at_diagnosis_first_detection_and_relapse_only():
    """The automatic pause fires for a diagnosis, the first detected metastasis and a
    relapse, once each; other events (a second detection, symptoms) do not pause."""
    ev = [{"event": "symptoms"}, {"event": "diagnosis"}, {"event": "metastasis_detected"},
          {"event": "metastasis_detected"}, {"event": "relapse"}]
    assert pause_reason(ev[:1], 0, False) is None
    assert "diagnosis" in pause_reason(ev[:2], 1, False)
    assert "first metastasis" in pause_reason(ev[:3], 2, False)
    assert pause_reason(ev[:4], 3, True) is None           # a second detection
    assert "relapse" in pause_reason(ev, 4, True)
    # a story that starts at diagnosis (diagnosed in its first weeks) does not stop at once
    assert pause_reason([{"event": "diagnosis", "day": 8.0}], 0, False, 31.0) is None
    assert pause_reason([{"event": "diagnosis", "day": 250.0}], 0, False, 31.0) is not None


def test_every_scenario_of_the_picker_has_things_to_try_and_a_title():
    titles = app.scenario_titles()
    assert len(set(titles)) == len(titles) == len(app.scenario_names())
    assert all("/" not in t for t in titles)  # plain titles, not file paths
    for name in app.scenario_names():
        assert things_to_try(name)


def _stepped(days: float, seed: int = 3) -> MetastasisModel:
    m = MetastasisModel("classroom/demo", rng=np.random.default_rng(seed), hypothesis="combined")
    while m.day < days:
        m.step()
    return m


def test_retune_without_a_change_continues_the_same_course():
    """'Continue from now' rebuilds the per-step probabilities only: with nothing changed,
    the course goes on exactly as without the call (same cells, colonies, ledger)."""
    a, b = _stepped(300), _stepped(300)
    b.retune({}, shedding_multiplier=1.0)
    for m in (a, b):
        while m.day < 900:
            m.step()
    assert a.ledger.reached.tolist() == b.ledger.reached.tolist()
    assert a.ledger.arrested_by_organ.tolist() == b.ledger.arrested_by_organ.tolist()
    assert a.primary.cells == b.primary.cells and len(a.colonies) == len(b.colonies)


def test_retune_changes_what_happens_from_now_and_keeps_the_past():
    """Shedding a hundred times less from day 300 on: the cells shed before stay counted, and
    the next 300 days shed far fewer than the unchanged course does. (The expected ratio is
    0.01; 0.2 leaves room for the Poisson noise of ~10^6 cells, so this cannot fail by
    chance.)"""
    a, b = _stepped(300), _stepped(300)
    before = int(b.ledger.shed_total)
    b.retune({"primary.shedding_rate_per_gram_per_day":
              b.scenario.primary.shedding_rate_per_gram_per_day / 100}, shedding_multiplier=0.01)
    for m in (a, b):
        while m.day < 600:
            m.step()
    assert int(b.ledger.shed_total) >= before
    assert (b.ledger.shed_total - before) < 0.2 * (a.ledger.shed_total - before)
    with pytest.raises(ValueError, match="hypothesis"):
        b.retune({"hypothesis": "ewing"})


def test_follow_one_cell_is_reproducible_and_follows_the_ledger():
    """The followed cell's fate is drawn from this patient's own ledger: with the same
    generator the same journey; over 2000 cells the share dying while breaking through the
    tissue matches the ledger's share (binomial SD <= 0.011; tolerance 4.5 SD, false-failure
    rate under 1e-5)."""
    m = _stepped(400)
    j1 = follow_one_cell(m, np.random.default_rng([5, 1]))
    j2 = follow_one_cell(m, np.random.default_rng([5, 1]))
    assert j1 == j2 and j1.places[0] == "primary"
    i = FUNNEL_STAGES.index("invasion")
    expected = m.ledger.lost[i] / m.ledger.reached[i]
    rng = np.random.default_rng(11)
    n = 2000
    died_there = sum(1 for _ in range(n)
                     if (j := follow_one_cell(m, rng)).died and len(j.steps) == i + 1)
    assert abs(died_there / n - expected) < 4.5 * math.sqrt(expected * (1 - expected) / n) + 1e-9
    assert follow_one_cell(MetastasisModel("classroom/demo", rng=1), rng) is None  # day 0


def test_funnel_shows_the_share_surviving_each_step_on_a_linear_bar():
    """On a log scale 4.5e11 dormant cells looked as long as 2.6e12 shed. The funnel
    now writes the counts in words and draws the share surviving each step on a linear bar:
    a step where 10 % survive has a bar a tenth as long as one where all survive."""
    reached = [2.6e12, 1.3e12, 1e9, 4e8, 3e8, 4.5e7, 10, 1]
    lost = [0, 1.3e12, 9e8, 4e7, 2e8, 1e7, 9, 0]
    shares = survival_shares(reached, lost)
    assert shares[1] == pytest.approx(0.0) and shares[2] == pytest.approx(0.1)
    svg = funnel_svg([("combined", reached, lost)])
    assert "2.6 trillion" in svg and "e+" not in svg and "1e" not in svg
    widths = [float(w) for w in re.findall(r'<rect x="440" y="[\d.]+" width="([\d.]+)"', svg)]
    assert widths[0] == pytest.approx(190) and widths[2] == pytest.approx(19)
    assert all(int(s) >= FONT for s in re.findall(r'font-size="(\d+)"', svg))


def test_timecourse_is_in_years_with_numbers_in_words():
    hist = [{"day": d, "primary": 1e9 * (1 + d / 100), "metastases": d * 1e3, "dormant": d}
            for d in range(0, 3650, 30)]
    svg = timecourse_svg([("ewing", hist), ("paget", hist)], [(400.0, "diagnosis"),
                                                              (410.0, "first seen on a scan")])
    assert "8 y" in svg and "1 billion" in svg and "day" not in svg
    assert svg.count('class="event-mark"') == 2
    assert all(int(s) >= FONT for s in re.findall(r'font-size="(\d+)"', svg))


def test_site_frequency_chart_shows_each_hypothesis_and_the_autopsies():
    freq = {"ewing": {"lung": 0.5, "liver": 0.25}, "paget": {"lung": 0.1, "liver": 0.75}}
    svg = site_frequency_svg(freq, {"liver": 0.6, "bone": 0.2}, 30)
    for text in ("Ewing", "Paget", "Autopsies", "75%", "60%", "not reported", "30 simulated"):
        assert text in svg, text


def test_picture_downloads_show_what_the_app_shows():
    """The SVG download is the app's own map(s), side by side on white, as one standalone
    file (valid XML, its own size, every map with its bars, the followed cell on the first
    map only); the PNG is a real image as wide as the maps shown, with the bars drawn."""
    import io
    import xml.dom.minidom

    from matplotlib.image import imread

    from sim.apps.courses import build_courses, map_svg, png_of, svg_of
    from sim.viz.body_svg import HEIGHT, WIDTH

    courses = build_courses("classroom/demo", "ewing", "paget", 2026, 1.0, 1.0, 1.0)
    for c in courses:
        c.advance(600)
    journey = follow_one_cell(courses[0].model, np.random.default_rng(3))
    assert journey is not None
    one = svg_of(courses[:1])
    two = svg_of(courses, journey)
    root = xml.dom.minidom.parseString(two).documentElement
    assert (root.getAttribute("width"), root.getAttribute("height")) == (str(2 * WIDTH),
                                                                       str(HEIGHT))
    maps = root.getElementsByTagName("svg")
    assert [m.getAttribute("x") for m in maps] == ["0", str(WIDTH)]
    assert two.count('class="journey"') == 1 and 'class="journey"' in maps[0].toxml()
    assert map_svg(courses[1]).split(">", 1)[1] in two  # the second map, unchanged
    assert one.count('class="bar"') > 0 and 'class="journey"' not in one
    single = imread(io.BytesIO(png_of(courses[:1])), format="png")
    double = imread(io.BytesIO(png_of(courses, journey)), format="png")
    assert double.shape[1] > 1.8 * single.shape[1]
    assert single.std() > 0.1  # not blank


def test_stop_kills_a_many_patients_run_and_frees_the_queue():
    """"Stop" frees the core at once: a run that finishes returns its result; a run
    cancelled while its process works has that process killed (no child process left); a
    run waiting for its turn behind another is told so and leaves the queue when stopped,
    and the slot is free again afterwards."""
    import asyncio
    import multiprocessing
    import time

    def new_children() -> set:  # children this test started (other tests may keep theirs)
        return {p.pid for p in multiprocessing.active_children()} - before

    async def scenario():
        assert await app.run_in_own_process(math.factorial, 10) == 3628800
        assert new_children() == set()
        job = asyncio.ensure_future(app.run_in_own_process(time.sleep, 600))
        for _ in range(300):  # the worker is up within seconds
            if new_children():
                break
            await asyncio.sleep(0.1)
        assert new_children(), "the run never started a process"
        job.cancel()
        with pytest.raises(asyncio.CancelledError):
            await job
        assert new_children() == set()
        waits = []
        assert app._many_slot.acquire(blocking=False)  # another class's run holds the slot
        try:
            queued = asyncio.ensure_future(
                app.run_in_own_process(math.factorial, 5, waiting=lambda: waits.append(1)))
            await asyncio.sleep(3 * app.POLL_S)
            queued.cancel()
            with pytest.raises(asyncio.CancelledError):
                await queued
        finally:
            app._many_slot.release()
        assert waits and new_children() == set()
        assert await app.run_in_own_process(math.factorial, 5) == 120  # the slot is free

    before = {p.pid for p in multiprocessing.active_children()}
    asyncio.run(scenario())


def test_the_journey_key_names_the_numbered_stops_of_the_map():
    """The numbers on the map are the places a followed cell passed, and the text beside the
    map says which: one number per place, in order, in plain words, and how it ended; the
    map's legend explains the dashed path only when one is drawn."""
    from sim.apps.teaching import Journey, journey_key
    from sim.viz.body_svg import body_map_svg

    j = Journey(["primary", "heart", "lung"], True, ["a", "b", "c", "d"])
    assert journey_key(j) == ("On the map, the places it passed: 1 the tumour, 2 the heart, "
                              "3 the lungs; the cross marks where it died.")
    assert journey_key(Journey(["primary"], False)).endswith("the dot marks where it is now.")
    state = {"site": "colon"}
    import html
    assert "one cell's path" in html.unescape(body_map_svg(state, journey=j.places))
    assert "one cell's path" not in html.unescape(body_map_svg(state))


def test_retune_refuses_to_switch_the_seeds_loss_of_competence_mid_course():
    """The lodged cells' rows (each subclone and its spent copy) are fixed for a course:
    switching the seeds' loss of competence on mid-course is refused with a message, not
    run on the wrong rows; changing nothing else still works."""
    m = _stepped(30)
    with pytest.raises(ValueError, match="seed_competence_exponent"):
        m.retune({"primary.seed_competence_exponent": 0.5})
    m.retune({})
