"""The classroom app in a real browser: headless Chromium (Debian's package) driven by
Playwright loads `metasim app`, picks a preset, presses play and checks that the funnel
numbers and the body map change; a bad seed gives a message, not a crash. Saves a
screenshot (METASIM_SCREENSHOTS=DIR to keep it). `.ci/run` installs Chromium, so this runs in
CI; without a Chromium binary it is skipped with the reason."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from sim.app import build_courses, funnel_of, map_svg, scenario_names, timecourse_of

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def test_step_and_redraw_are_fast_enough_to_play_live():
    """Not a timed assertion: a smoke test that the pieces the app draws exist and change."""
    courses = build_courses("classroom/demo", "combined", "ewing", 1, 1.0, 1.7, 1.0)
    before = (map_svg(courses[0]), funnel_of(courses), timecourse_of(courses))
    for c in courses:
        c.advance(400)
    after = (map_svg(courses[0]), funnel_of(courses), timecourse_of(courses))
    assert all(a != b for a, b in zip(before, after, strict=True))
    assert "<svg" in after[0] and "data-organ=\"liver\"" in after[0]
    assert {"classroom/demo", "presets/breast", "presets/prostate"} <= set(scenario_names())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def app_url():
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "sim.cli", "app", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("metasim app did not start within 90 s")
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium binary (.ci/run installs Debian's "
                                              "chromium package)")
def test_app_in_a_real_browser(app_url, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    shots = Path(os.environ.get("METASIM_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(app_url, timeout=90_000)
        page.get_by_text("The cascade funnel").wait_for(timeout=90_000)
        # Pick a preset in the cancer picker.
        page.locator(".v-select__selections").first.click()
        page.get_by_text("classroom/prostate_bone", exact=True).click()
        expect(page.locator("h2")).to_contain_text("Prostate", timeout=30_000)
        expect(page.get_by_text("What to look for")).to_be_visible(timeout=30_000)
        numbers0 = page.locator(".funnel-numbers").inner_text()
        map0 = page.locator(".body-map").inner_html()
        # Play for a few seconds, then pause.
        page.get_by_role("button", name="Play", exact=True).click()
        expect(page.locator(".funnel-numbers")).not_to_have_text(numbers0, timeout=30_000)
        time.sleep(3)
        page.get_by_role("button", name="Pause", exact=True).click()
        numbers1 = page.locator(".funnel-numbers").inner_text()
        map1 = page.locator(".body-map").inner_html()
        assert numbers1 != numbers0 and map1 != map0
        status = page.locator(".funnel-status").first.inner_text()
        assert "day 0," not in status, status
        page.screenshot(path=str(shots / "app_after_play.png"))
        # A bad seed gives a message and the app keeps working.
        seed = page.get_by_label("Seed")
        seed.fill("not a number")
        seed.press("Enter")
        expect(page.get_by_text("is not a whole number")).to_be_visible(timeout=30_000)
        page.get_by_role("button", name="Step", exact=True).click()
        page.screenshot(path=str(shots / "app_bad_seed.png"))
        browser.close()
    assert (shots / "app_after_play.png").stat().st_size > 20_000
