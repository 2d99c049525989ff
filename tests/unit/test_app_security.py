"""The classroom app treats whatever a browser sends as untrusted.

A widget update over the websocket can set any control to any value. These tests call the
handlers the widgets call (``choose_scenario`` for the picker, the slider, seed and
hypothesis handlers, and ``build_courses`` behind them) with what a hostile client could send:
a FIFO, ``/dev/zero``, a TOML file holding a secret, ``/etc/passwd``, numbers out of range,
NaN, text where a number belongs. Each must be refused promptly with a plain message, without
opening the file, without showing its content or whether it exists, keeping the last good
value. ``tests/integration/test_app_browser.py`` sends the same kind of update through a real websocket.
"""

from __future__ import annotations

import builtins
import errno
import io
import os
import threading

import pytest

from sim.apps import classroom as app
from sim.config.bundled import scenario_dir
from sim.config.errors import ScenarioError

SECRET = "XYZ-do-not-show-me"
TIMEOUT = 20.0  # s: a handler that has not returned by then is stuck (a FIFO blocks forever)
DEFAULTS = {"scenario_name": "classroom/demo", "hypothesis": "combined", "compare": False,
            "compare_with": "ewing", "shedding_factor": 1.0, "ctc_half_life": 1.7,
            "soil_strength": 1.0, "days_per_step": 10, "seed_text": "1", "seed": 1,
            "message": "", "playing": False}


@pytest.fixture
def fresh_app():
    """The app's defaults and a fresh session with one course at day 0 (outside a browser
    session the app's state is one global copy, shared by the tests)."""
    for name, value in DEFAULTS.items():
        getattr(app, name).set(value)
    app.session.set(app.Session())
    app.reset()
    assert app.message.value == "" and len(app.session.value.courses) == 1
    yield app
    for name, value in DEFAULTS.items():
        getattr(app, name).set(value)
    app.session.set(app.Session())


@pytest.fixture
def opened(monkeypatch):
    """Every path opened while the test runs. ``/dev/zero`` is refused here rather than read
    (a regression would otherwise fill the memory of a shared machine before failing)."""
    seen: list[str] = []
    real_open = builtins.open

    def spy(file, *args, **kwargs):
        if isinstance(file, str | bytes | os.PathLike):
            seen.append(os.fsdecode(file))
            if os.fsdecode(file) == "/dev/zero":
                raise AssertionError("the app opened /dev/zero")
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy)
    monkeypatch.setattr(io, "open", spy)
    return seen


@pytest.fixture
def fifo(tmp_path):
    """A named pipe with a ``.toml`` name: opening it for reading blocks until a writer
    comes. Afterwards a writer is opened once, so that a reader a regression left stuck on it
    is released instead of pinning a thread."""
    path = tmp_path / "pipe.toml"
    os.mkfifo(path)
    yield path
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as e:  # ENXIO: nobody is reading it, which is the expected case
        assert e.errno == errno.ENXIO
    else:
        os.close(fd)


def run_briefly(fn, *args) -> None:
    """Call fn(*args) in a thread and fail (rather than hang) if it has not returned within
    TIMEOUT seconds; an exception in fn fails the test too."""
    errors: list[BaseException] = []

    def target():
        try:
            fn(*args)
        except BaseException as e:  # re-raised in the test's thread
            errors.append(e)

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(TIMEOUT)
    assert not t.is_alive(), f"{fn.__name__}{args!r} did not return within {TIMEOUT:.0f} s"
    if errors:
        raise errors[0]


def course_identity() -> tuple[int, int]:
    state = app.session.value
    return state.epoch, id(state.courses[0])


def test_picker_refuses_paths_without_opening_them(fresh_app, opened, fifo, tmp_path):
    """What the picker's handler does with a value that is not a bundled scenario name: it
    returns at once (a FIFO would block a reader forever), opens nothing (the spy records
    every open; /dev/zero would be read until memory runs out), shows neither the file's
    content nor the value, gives the same message whether the path exists or not, and keeps
    the previous scenario and its course."""
    secret = tmp_path / "secret.toml"
    secret.write_text(f'secret_api_key = "{SECRET}"\n', encoding="utf-8")
    bundled_file = scenario_dir() / "presets" / "breast.toml"
    assert bundled_file.is_file()
    opened.clear()  # writing the secret above was the test's own open
    hostile = [str(fifo), "/dev/zero", str(secret), "/etc/passwd", "/no/such/file.toml",
               str(bundled_file), "presets/breast.toml", "../scenarios/presets/breast",
               "classroom/../presets/breast", "classroom/demo\0", "", 42, None,
               ["classroom/demo"], {"v_model": "classroom/demo"}]
    before = course_identity()
    messages = set()
    for value in hostile:
        app.message.set("")
        run_briefly(app.choose_scenario, value)
        messages.add(app.message.value)
        assert app.scenario_name.value == "classroom/demo", value
    assert course_identity() == before
    assert opened == [], f"the app opened {opened}"
    # One message for all of them: nothing tells a file that exists from one that does not.
    assert messages == {"That cancer / scenario is not in the list. Keeping classroom/demo."}
    assert SECRET not in str(messages) and "secret_api_key" not in str(messages)
    # The same refusal from build_courses itself, the one place that reads a scenario file.
    for value in [str(fifo), "/dev/zero", str(secret), str(bundled_file)]:
        with pytest.raises(ScenarioError, match="not in the list") as e:
            run_briefly(app.build_courses, value, "combined", None, 1, 1.0, 1.7, 1.0)
        assert SECRET not in str(e.value) and value not in str(e.value)
    assert opened == []


def test_picker_still_loads_every_bundled_scenario(fresh_app):
    """The refusal must not refuse the real list: choosing a bundled scenario replaces the
    course and clears the message (so the test above fails if the picker accepted nothing)."""
    assert "presets/breast" in app.scenario_names()
    before = course_identity()
    app.message.set("old message")
    app.choose_scenario("presets/breast")
    assert app.scenario_name.value == "presets/breast"
    assert app.message.value == ""
    assert course_identity() != before
    assert app.session.value.courses[0].model.scenario.primary.site == "breast"


@pytest.mark.parametrize("text", ["-1", "1.5", "1e3", "0x10", "", "   ", "one", "\u0663",
                                  "1_000", "9" * 5000, str(app.MAX_SEED + 1), None, 7, 1.0,
                                  ["1"]])
def test_seed_box_refuses_anything_but_a_whole_number_in_range(fresh_app, text):
    """The seed box's handler: only ASCII digits from 0 to MAX_SEED start a new course;
    anything else (negative, fractional, other digits, huge, not text) gives a short plain
    message and keeps the course and the last good seed."""
    before = course_identity()
    run_briefly(app.choose_seed, text)
    assert "is not a whole number from 0 to 1,000,000,000" in app.message.value
    assert len(app.message.value) < 160
    assert app.seed.value == 1 and course_identity() == before


def test_seed_box_accepts_a_good_seed(fresh_app):
    """A good seed (with spaces around it) is used: the course restarts with it."""
    before = course_identity()
    app.choose_seed(" 42 ")
    assert app.message.value == "" and app.seed.value == 42 and app.seed_text.value == "42"
    assert course_identity() != before


SLIDERS = [("choose_shedding", "shedding_factor", app.SHEDDING_RANGE, 2.5),
           ("choose_half_life", "ctc_half_life", app.HALF_LIFE_RANGE, 3.0),
           ("choose_soil", "soil_strength", app.SOIL_RANGE, 0.0),
           ("choose_speed", "days_per_step", app.SPEED_RANGE, 30)]
BAD_NUMBERS = [float("nan"), float("inf"), -float("inf"), -1, 1e9, 10**400, "2", None, True,
               [1]]


@pytest.mark.parametrize(("handler", "var", "limits", "good"), SLIDERS,
                         ids=[s[1] for s in SLIDERS])
def test_sliders_refuse_values_outside_their_range(fresh_app, handler, var, limits, good):
    """Each slider's handler refuses NaN, infinities, numbers outside the slider's range and
    things that are not numbers, with a message naming the range, and keeps its value and the
    course; a good value is taken (so the test would fail if the handler refused everything)."""
    before = course_identity()
    default = getattr(app, var).value
    low, high = limits
    for value in [*BAD_NUMBERS, low - 0.001, high + 0.001]:
        app.message.set("")
        run_briefly(getattr(app, handler), value)
        assert f"from {low:g} to {high:g}" in app.message.value, value
        assert getattr(app, var).value == default, value
        assert course_identity() == before, value
    getattr(app, handler)(good)
    assert getattr(app, var).value == good
    assert app.message.value == ""


def test_speed_of_a_tampered_client_cannot_pin_the_server(fresh_app):
    """Speed 10^12 days per step would keep a server thread stepping for ages: it is refused,
    and a step then advances by the last good speed (10 days, rounded to whole model steps:
    two steps of 4 days here)."""
    run_briefly(app.choose_speed, 10**12)
    assert "Speed must be a whole number from 1 to 60" in app.message.value
    run_briefly(app.step)
    assert 5 <= app.session.value.courses[0].model.day <= 15
    run_briefly(app.choose_speed, 2.5)
    assert "Speed must be a whole number from 1 to 60" in app.message.value
    assert app.days_per_step.value == 10


def test_build_courses_checks_every_argument(fresh_app):
    """``build_courses`` (behind every reset) checks each value again: a bad hypothesis,
    seed or slider value raises ScenarioError with a plain message instead of reaching the
    model; the good call works."""
    good = ("classroom/demo", "combined", None, 1, 1.0, 1.7, 1.0)
    assert len(app.build_courses(*good)) == 1
    bad = {1: ["bogus", "__class__", None, 3], 2: ["bogus", 0], 3: [-1, 1.5, True, "1",
           app.MAX_SEED + 1], 4: [float("nan"), 0.0, 11.0, "1"], 5: [0.0, 9.0, None],
           6: [-0.1, 2.1, float("inf")]}
    for position, values in bad.items():
        for value in values:
            args = list(good)
            args[position] = value
            with pytest.raises(ScenarioError, match="must be"):
                app.build_courses(*args)


def test_hypothesis_and_compare_handlers_accept_only_listed_values(fresh_app):
    """The hypothesis buttons accept ewing, paget or combined; the second hypothesis any of
    the four; the compare box only true or false. Anything else is refused with a message."""
    before = course_identity()
    for value in ["null", "bogus", "", None, 1, ["ewing"]]:
        app.choose_hypothesis(value)
        assert app.hypothesis.value == "combined"
        assert app.message.value.startswith("The hypothesis must be one of ewing, paget, combined.")
    for value in ["bogus", "__class__", None, 1, ["ewing"]]:
        app.choose_compare_with(value)
        assert app.compare_with.value == "ewing"
        assert app.message.value.startswith("The hypothesis must be one of ewing, paget, "
                                            "combined, null.")
    for value in ["yes", 1, None]:
        app.choose_compare(value)
        assert app.compare.value is False
        assert "ticked or not" in app.message.value
    assert course_identity() == before
    app.choose_hypothesis("paget")
    app.choose_compare(True)
    app.choose_compare_with("null")
    assert [c.hypothesis for c in app.session.value.courses] == ["paget", "null"]
    assert app.message.value == ""


def test_no_handler_reads_a_path(fresh_app, opened, tmp_path, monkeypatch):
    """A relative name does not resolve against the server's working folder either: with a
    readable copy of a bundled scenario at ``presets/breast.toml`` there, the picker and the
    seed box refuse that name and its absolute path, and open nothing."""
    copy = tmp_path / "presets" / "breast.toml"
    copy.parent.mkdir()
    copy.write_text((scenario_dir() / "presets" / "breast.toml").read_text(encoding="utf-8"),
                    encoding="utf-8")
    opened.clear()
    monkeypatch.chdir(tmp_path)
    for value in ["presets/breast.toml", str(copy), "./presets/breast"]:
        app.choose_scenario(value)
        assert app.message.value.startswith("That cancer / scenario is not in the list.")
    app.choose_seed(str(copy))
    assert opened == []
    assert app.scenario_name.value == "classroom/demo"


def test_a_link_is_checked_like_the_controls(fresh_app, opened, fifo):
    """The link that reopens settings comes from a browser too: a path, a FIFO, NaN, a huge
    or negative number, an unknown hypothesis or far too many fields are refused with a
    message naming the parameter, nothing is opened, and the good parameters of the same
    link are still used (so the test fails if the link were ignored altogether)."""
    opened.clear()
    app.apply_query(f"scenario={fifo}&hypothesis=paget&seed=-3&shedding=nan&soil=1e9"
                    "&halflife=2&speed=5&compare=bogus")
    assert opened == []
    assert app.scenario_name.value == "classroom/demo" and app.hypothesis.value == "paget"
    assert app.ctc_half_life.value == 2.0 and app.days_per_step.value == 5
    assert app.seed.value == 1 and app.shedding_factor.value == 1.0 and not app.compare.value
    for key in ("scenario", "seed", "shedding", "soil", "compare"):
        assert key in app.message.value
    app.apply_query("&".join(f"x{i}=1" for i in range(50)))
    assert "could not be used" in app.message.value
    app.apply_query("scenario=presets/breast&compare=ewing")
    assert app.scenario_name.value == "presets/breast" and app.compare.value
    assert [c.hypothesis for c in app.session.value.courses][1] == "ewing"
