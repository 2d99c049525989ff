"""The classroom app's session safety in a real browser: headless Chromium
(Debian's package) driven by Playwright. Reset (paused and during play) keeps the page
responsive, and widget updates forged on the websocket (a path in the scenario picker,
out-of-range sliders) are refused. Every control at projector sizes, text sizes and overlaps
are checked in ``test_app_projector.py``. `.ci/run` installs Chromium, so these run
in CI; without a Chromium binary the browser tests are skipped with the reason.

The first tests run the app's page in this process (no browser): they check the session's
locking directly, with every call in a thread that must finish within a time limit, so a
deadlock fails the test instead of hanging it."""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
import uuid

import pytest

from sim.apps import classroom as app
from sim.apps.classroom import build_courses, funnel_of, map_svg, scenario_names, timecourse_of
from sim.config.bundled import scenario_dir

from .app_server import ARGS, CHROMIUM, NEEDS_CHROMIUM


def test_advancing_a_course_changes_the_map_the_funnel_and_the_timecourse():
    """What the app draws follows the course: after 400 days the body map, the funnel
    numbers and the time course all differ from day 0 (a view drawn from stale or constant
    data fails), and the map is an SVG with one element per organ. (How fast this is belongs
    in benchmarks/, not in a test.)"""
    courses = build_courses("classroom/demo", "combined", "ewing", 1, 1.0, 1.7, 1.0)
    before = (map_svg(courses[0]), funnel_of(courses), timecourse_of(courses))
    for c in courses:
        c.advance(400)
    after = (map_svg(courses[0]), funnel_of(courses), timecourse_of(courses))
    assert all(a != b for a, b in zip(before, after, strict=True))
    assert "<svg" in after[0] and "data-organ=\"liver\"" in after[0]


def test_the_picker_lists_the_bundled_scenarios():
    """The cancer picker offers the classroom and preset scenarios."""
    assert {"classroom/demo", "presets/breast", "presets/prostate"} <= set(scenario_names())


TIMEOUT = 20.0  # s; a frozen session shows "App is disconnected" after ~40 s


def _in_thread(fn, *args):
    """fn(*args) in a thread; fails the test if it is still running after TIMEOUT (a
    deadlock) and re-raises its exception; returns its result."""
    out: dict = {}

    def target():
        try:
            out["result"] = fn(*args)
        except BaseException as e:  # re-raised in the test's thread
            out["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(TIMEOUT)
    assert not t.is_alive(), f"{fn.__name__}() still blocked after {TIMEOUT:.0f} s (deadlock)"
    if "error" in out:
        raise out["error"]
    return out.get("result")


@pytest.fixture
def rendered_page():
    """The app's Page rendered in this process on fresh default settings (one course at day
    0), and a function returning the status line(s) it shows."""
    import ipyvuetify as v
    import solara

    for var, value in [(app.scenario_name, "classroom/demo"), (app.hypothesis, "combined"),
                       (app.compare, False), (app.days_per_step, 10), (app.seed, 1),
                       (app.message, ""), (app.playing, False)]:
        var.set(value)
    app.session.set(app.Session())
    _box, rc = solara.render(app.Page(), handle_error=False)

    def status() -> list[str]:
        return [w.children[0] for w in rc.find(v.Html, class_="funnel-status").widgets]

    assert status() == ["Combined (today's view): the start (day 0), 0 colonies, 0 visible; "
                        "paused"]
    yield status
    # close() waits for any render in progress: after a deadlock that would never return
    closer = threading.Thread(target=rc.close, daemon=True)
    closer.start()
    closer.join(TIMEOUT)
    app.session.set(app.Session())


def _day(status_line: str) -> int:
    return int(re.search(r"\(day (\d+)\)", status_line).group(1))


def test_reset_and_step_while_the_page_is_shown_do_not_freeze(rendered_page):
    """`reset()` held the session lock while setting reactive state, and redrawing
    the page takes that lock, so the first Reset froze the session. Here the page is live (a
    change redraws it in the calling thread) and Step and Reset are called from other threads,
    as the server does: each must return within the time limit, Reset must show day 0 again
    and Step must advance the day shown."""
    status = rendered_page
    for _ in range(3):
        assert _in_thread(app.step) is True
        assert _day(status()[0]) > 0
        _in_thread(app.reset)
        assert _day(status()[0]) == 0
    app.choose_compare(True)  # a reset through a control's handler, with two courses shown
    assert [_day(s) for s in status()] == [0, 0]
    _in_thread(app.step)
    assert all(_day(s) > 0 for s in status())


def test_play_loop_and_buttons_cannot_corrupt_each_other(rendered_page):
    """The play loop runs in a thread of its own while the buttons run in the server's. A
    play loop started before a Reset must not advance the new course (``step(epoch)`` refuses
    once the epoch changed), and a play loop stepping as fast as the app ever steps (the
    shortest pause, ``MIN_PAUSE_S``, between steps) while Reset and Step are pressed
    from another thread and the page redraws raises nothing, deadlocks nowhere, and leaves a
    consistent course: after the last Reset the page shows day 0 and stays there."""
    status = rendered_page
    epoch = app.session.value.epoch
    assert _in_thread(app.step, epoch) is True
    _in_thread(app.reset)
    assert _in_thread(app.step, epoch) is False
    assert _day(status()[0]) == 0 and app.session.value.courses[0].model.day == 0

    stop = threading.Event()
    errors: list[BaseException] = []

    def play_loop():  # what play_task and jump_task do, with their shortest pause
        try:
            while not stop.wait(app.MIN_PAUSE_S):
                if not app.step(app.session.value.epoch):
                    _ = app.session.value.epoch  # a reset came in between: pick up the new one
        except BaseException as e:
            errors.append(e)

    player = threading.Thread(target=play_loop, daemon=True)
    player.start()
    try:
        for _ in range(15):
            _in_thread(app.reset)
            _in_thread(app.step)
            time.sleep(0.02)
    finally:
        stop.set()
        player.join(TIMEOUT)
    assert not player.is_alive(), "the play loop is stuck"
    assert errors == []
    epoch = app.session.value.epoch
    _in_thread(app.reset)
    assert _in_thread(app.step, epoch) is False
    assert _day(status()[0]) == 0


# ------------------------------------------------------------------ more browser tests
KERNEL_SOCKET = re.compile(r".*/jupyter/api/kernels/.*")


@contextlib.contextmanager
def _app_page(url: str, on_websocket=None):
    """A Chromium page showing the app, ready (funnel drawn)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            if on_websocket is not None:
                page.route_web_socket(KERNEL_SOCKET, on_websocket)
            page.goto(url, timeout=90_000)
            page.locator("svg.funnel").wait_for(timeout=90_000)
            yield page
        finally:
            browser.close()


@pytest.mark.slow
@NEEDS_CHROMIUM
def test_reset_keeps_the_page_responsive_in_a_real_browser(app_url):
    """Each Reset used to freeze the session ("App is disconnected" ~40 s later). In the
    browser: Step, then Reset, three times; then Reset during play, once, once more, and three
    times in a row. Every Reset must bring the page back to day 0 and stop play within 20 s,
    the old play loop must not move the new course on, and Step must still advance the day."""
    from playwright.sync_api import expect

    ms = int(TIMEOUT * 1000)
    with _app_page(app_url) as page:
        status = page.locator(".funnel-status").first
        step = page.get_by_role("button", name="Step", exact=True)
        reset = page.get_by_role("button", name="Restart", exact=True)
        # This lesson's patient is diagnosed within weeks: without the automatic pause, play
        # goes on until Reset stops it.
        page.get_by_text("Pause at diagnosis, first metastasis seen and relapse").click()
        play = page.get_by_role("button", name="Play", exact=True)
        pause = page.get_by_role("button", name="Pause", exact=True)
        expect(status).to_contain_text("(day 0)", timeout=ms)
        for _ in range(3):
            step.click()
            expect(status).not_to_contain_text("(day 0)", timeout=ms)
            reset.click()
            expect(status).to_contain_text("(day 0)", timeout=ms)
        for presses in (1, 1, 3):
            play.click()
            expect(pause).to_be_visible(timeout=ms)
            expect(status).not_to_contain_text("(day 0)", timeout=ms)
            for _ in range(presses):
                reset.click()
            expect(play).to_be_visible(timeout=ms)
            expect(status).to_contain_text("(day 0)", timeout=ms)
            page.wait_for_timeout(1000)  # a play loop still running would step within 0.3 s
            expect(status).to_contain_text("(day 0)")
        step.click()
        expect(status).not_to_contain_text("(day 0)", timeout=ms)
        assert page.get_by_text("disconnected").count() == 0


def _widget_update(comm_id: str, state: dict) -> str:
    """The message a browser sends when a widget's value changes (Jupyter comm_msg)."""
    return json.dumps({
        "buffers": [], "channel": "shell", "metadata": {}, "parent_header": {},
        "header": {"date": "2026-01-01T00:00:00.000Z", "msg_id": str(uuid.uuid4()),
                   "msg_type": "comm_msg", "session": "tampered", "username": "",
                   "version": "5.2"},
        "content": {"comm_id": comm_id,
                    "data": {"method": "update", "state": state, "buffer_paths": []}}})


@pytest.mark.slow
@NEEDS_CHROMIUM
def test_forged_websocket_updates_are_refused_in_a_real_browser(app_url, tmp_path):
    """A client can send any value for any widget over the websocket. Playwright
    sits on the page's websocket and sends what a hostile page would: the scenario picker set
    to a TOML file holding a secret, a FIFO (reading it would pin a server thread forever),
    /etc/passwd and a bundled file's full path; the shedding slider set to 10^9 and NaN; the
    speed to 10^9 days per step. Each must be refused with a plain message on the page, the
    secret must never appear, the scenario shown must stay, and the server must go on
    answering: after every forged update a Step still advances the day (updates are handled
    in order, so the Step's effect proves the forged one was handled and returned)."""
    from playwright.sync_api import expect

    secret = tmp_path / "secret.toml"
    secret.write_text('secret_api_key = "XYZ-do-not-show-me"\n', encoding="utf-8")
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    routes, from_server = [], []

    def on_websocket(ws):
        server = ws.connect_to_server()
        routes.append(server)

        def relay(message):
            from_server.append(message)
            if isinstance(message, str) and '"tampered"' in message and '"echo_update"' in message:
                return  # a hostile client keeps its forged value: this page would clamp it
            ws.send(message)

        server.on_message(relay)

    def comm_ids() -> dict[str, str]:
        ids = {}
        for m in from_server:
            if isinstance(m, str) and '"comm_open"' in m:
                msg = json.loads(m)
                state = msg["content"].get("data", {}).get("state", {})
                if state.get("label"):
                    ids[state["label"]] = msg["content"]["comm_id"]
        return ids

    ms = int(TIMEOUT * 1000)
    try:
        with _app_page(app_url, on_websocket) as page:
            ids = comm_ids()
            status = page.locator(".funnel-status").first
            step = page.get_by_role("button", name="Step", exact=True)
            heading = page.locator("h2").inner_text()

            def forge(label: str, value) -> None:
                """Send the forged update, then prove the server handled it and still answers."""
                before = status.inner_text()
                routes[-1].send(_widget_update(ids[label], {"v_model": value}))
                step.click()
                expect(status).not_to_have_text(before, timeout=ms)

            for path in [secret, fifo, "/etc/passwd", scenario_dir() / "presets/breast.toml"]:
                forge("Cancer", str(path))
                expect(page.get_by_text("That cancer / scenario is not in the list. Keeping "
                                        "classroom/demo.")).to_be_visible(timeout=ms)
                assert page.locator("h2").inner_text() == heading
                assert "XYZ" not in page.content() and "secret_api_key" not in page.content()
            shedding = page.get_by_text("Shedding must be a number from 0.01 to 10. Keeping 1.")
            speed = page.get_by_text("Speed must be a whole number from 1 to 60. Keeping 10.")
            forge("Shedding: 1 × the published rate", 1e9)
            expect(shedding).to_be_visible(timeout=ms)
            forge("Speed: 8 days per step", 10**9)
            expect(speed).to_be_visible(timeout=ms)
            forge("Shedding: 1 × the published rate", float("nan"))  # json.dumps writes NaN
            expect(shedding).to_be_visible(timeout=ms)
            day = _day(status.inner_text())
            step.click()
            expect(status).not_to_contain_text(f"(day {day})", timeout=ms)
            assert _day(status.inner_text()) - day <= 20  # 10 days a step, not 10^9
            assert "XYZ" not in page.content()
    finally:  # release a server thread that a regression left reading the FIFO
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass
