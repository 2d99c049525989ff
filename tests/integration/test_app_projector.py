"""The classroom app as a teacher projects it: headless Chromium (Debian's package)
driven by Playwright at 1024 x 768 and at 1920 x 1080 presses every control - Play, Pause,
Step, Jump to the end, Restart, Follow one cell, the hypothesis buttons, the compare box and
its second hypothesis, the slider-change choice, every slider, the seed, the pause box, the
cancer picker, the downloads, the link, many patients and the fold-outs - and after each
view checks what a class would see:

* no two texts overlap (the bounding box of every visible text, HTML and SVG alike);
* no text is smaller than 14 screen pixels (an SVG text's size times its drawing's scale);
* the page never scrolls sideways, and the body map fits the window's height;
* in compare mode both maps stand side by side on top, above the funnel.

Screenshots of the main views go to ``METASIM_SCREENSHOTS`` (default
``test-artifacts/screenshots``): the test artefacts, and the README's picture.
Without a Chromium binary these tests are skipped with the reason (``.ci/run`` installs it).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from .app_server import ARGS, CHROMIUM, NEEDS_CHROMIUM

SIZES = {"1024x768": (1024, 768), "1920x1080": (1920, 1080)}
MIN_TEXT_PX = 14.0
MS = 30_000  # ms to wait for the server to answer a click (it answers in well under 1 s)
SHOTS = Path(os.environ.get("METASIM_SCREENSHOTS", "test-artifacts/screenshots"))

pytestmark = [pytest.mark.slow, NEEDS_CHROMIUM]

# Every visible text on the page: its box in page coordinates, its size on screen in pixels,
# and a short name for the message. HTML text nodes are measured with a Range (one box per
# line); an SVG <text> with its bounding box, its size being the font size times the
# drawing's scale on screen.
MEASURE_TEXTS = """
() => {
  const out = [];
  const visible = (el) => {
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
      const s = getComputedStyle(e);
      if (s.display === 'none' || s.visibility === 'hidden' || parseFloat(s.opacity) === 0)
        return false;
    }
    return true;
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  let id = 0;
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    id += 1;
    const el = n.parentElement;
    if (!el || !n.textContent.trim() || el.closest('svg') || el.closest('script,style,title'))
      continue;
    if (!visible(el)) continue;
    const range = document.createRange();
    range.selectNodeContents(n);
    const rects = Array.from(range.getClientRects()).filter(r => r.width > 0.5 && r.height > 0.5);
    if (!rects.length) continue;
    const box = el.getBoundingClientRect();
    const scale = el.offsetHeight ? box.height / el.offsetHeight : 1;
    const size = parseFloat(getComputedStyle(el).fontSize) * scale;
    // a text clipped away by a scrolling box (the timeline) is not seen: skip what is outside
    let clip = null;
    for (let e = el.parentElement; e; e = e.parentElement) {
      const s = getComputedStyle(e);
      if (s.overflowY === 'auto' || s.overflowY === 'scroll' || s.overflow === 'hidden') {
        clip = e.getBoundingClientRect(); break;
      }
    }
    for (const r of rects) {
      if (clip && (r.bottom <= clip.top + 1 || r.top >= clip.bottom - 1)) continue;
      out.push({text: n.textContent.trim().slice(0, 40), size, id,
                x: r.left + scrollX, y: r.top + scrollY, w: r.width, h: r.height, svg: false});
    }
  }
  for (const t of document.querySelectorAll('svg text')) {
    if (!t.textContent.trim() || !visible(t)) continue;
    const r = t.getBoundingClientRect();
    if (r.width < 0.5) continue;
    const ctm = t.getScreenCTM();
    const scale = ctm ? Math.hypot(ctm.a, ctm.b) : 1;
    const size = parseFloat(getComputedStyle(t).fontSize) * scale;
    id += 1;
    out.push({text: t.textContent.trim().slice(0, 40), size, id, x: r.left + scrollX,
              y: r.top + scrollY, w: r.width, h: r.height, svg: true});
  }
  return out;
}
"""


def _overlaps(texts: list[dict]) -> list[str]:
    """Pairs of different texts whose boxes overlap by more than a sliver (the pieces of one
    text, such as the lines of a paragraph, are not compared with each other). A text's box
    is trimmed to the middle 70 % of its height: line boxes of adjacent lines touch by
    design, glyphs do not."""
    boxes = []
    for t in texts:
        pad = t["h"] * 0.15
        boxes.append((t["x"] + 0.5, t["y"] + pad, t["x"] + t["w"] - 0.5, t["y"] + t["h"] - pad,
                      t["text"], t["id"]))
    boxes.sort()
    bad = []
    for i, (x0, y0, x1, y1, a, ida) in enumerate(boxes):
        for u0, v0, u1, v1, b, idb in boxes[i + 1:]:
            if u0 >= x1:
                break
            if ida != idb and min(x1, u1) - max(x0, u0) > 1 and min(y1, v1) - max(y0, v0) > 1:
                bad.append(f"{a!r} overlaps {b!r}")
    return bad


def check_view(page, name: str, size: str) -> dict:
    """The checks every view must pass; saves its screenshot. Returns measurements."""
    page.wait_for_timeout(300)  # let the last redraw land
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"app_{size}_{name}.png"))  # before the checks: evidence
    texts = page.evaluate(MEASURE_TEXTS)
    assert len(texts) > 30, f"{name}: only {len(texts)} texts found"
    small = sorted({f"{t['text']!r} {t['size']:.1f}px" for t in texts
                    if t["size"] < MIN_TEXT_PX - 0.05})
    assert not small, f"{name} at {size}: text under {MIN_TEXT_PX} px: {small[:10]}"
    bad = _overlaps(texts)
    assert not bad, f"{name} at {size}: overlapping texts: {bad[:10]}"
    scroll_w, inner_w = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
    assert scroll_w <= inner_w + 1, f"{name} at {size}: the page scrolls sideways ({scroll_w} px)"
    maps = page.evaluate("Array.from(document.querySelectorAll('svg.body-map')).map(m => {"
                         "const r = m.getBoundingClientRect();"
                         "return [r.left, r.top + scrollY, r.right, r.bottom + scrollY]})")
    inner_h = page.evaluate("innerHeight")
    for m in maps:
        assert m[3] <= inner_h + 1, f"{name} at {size}: the body map ends at {m[3]:.0f} px, " \
                                    f"below the window's {inner_h} px"
    return {"texts": len(texts), "smallest_px": min(t["size"] for t in texts), "maps": maps}


def _day(page) -> str:
    return page.locator(".funnel-status").first.inner_text()


def _click(page, name: str) -> None:
    page.get_by_role("button", name=name, exact=True).click()


def _slider_right(page, label_start: str, presses: int = 3) -> None:
    """Move the slider whose label starts with ``label_start`` by the keyboard."""
    slider = page.locator(".v-input").filter(has_text=re.compile("^" + re.escape(label_start)))
    slider.locator("[role=slider]").first.focus()
    for _ in range(presses):
        page.keyboard.press("ArrowRight")


@pytest.mark.parametrize("size", list(SIZES))
def test_every_control_at_projector_size(app_url, size):
    from playwright.sync_api import expect, sync_playwright

    width, height = SIZES[size]
    timings = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height},
                                    accept_downloads=True)
            t0 = time.perf_counter()
            page.goto(app_url, timeout=90_000)
            page.locator("svg.body-map").first.wait_for(timeout=90_000)
            timings["first_picture_s"] = time.perf_counter() - t0
            status = page.locator(".funnel-status").first
            expect(status).to_contain_text("the start")
            start = check_view(page, "start", size)
            # The legend is part of the map, beside the organs: nothing below the fold.
            assert start["maps"] and len(start["maps"]) == 1

            # Play and Pause (this lesson starts at diagnosis, so it does not pause there);
            # Step moves the day on; Restart brings it back.
            pause_box = page.get_by_text("Pause at diagnosis, first metastasis seen and relapse")
            _click(page, "Play")
            expect(page.get_by_role("button", name="Pause", exact=True)).to_be_visible(timeout=MS)
            expect(status).to_contain_text("playing", timeout=MS)
            _click(page, "Pause")
            expect(status).to_contain_text("paused", timeout=MS)
            expect(page.get_by_role("button", name="Play", exact=True)).to_be_visible(timeout=MS)
            before = _day(page)
            t1 = time.perf_counter()
            _click(page, "Step")
            expect(status).not_to_have_text(before, timeout=MS)
            timings["redraw_after_step_s"] = time.perf_counter() - t1
            _click(page, "Follow one cell")
            expect(page.get_by_text("The journey of one cell")).to_be_visible(timeout=MS)
            check_view(page, "follow_one_cell", size)
            _click(page, "Restart")
            expect(status).to_contain_text("the start", timeout=MS)

            # The hypotheses: Ewing greys the soil slider out (it does nothing there).
            _click(page, "Ewing (blood flow)")
            expect(status).to_contain_text("Ewing", timeout=MS)
            soil = page.locator(".v-input").filter(has_text="Soil strength")
            expect(soil).to_have_class(re.compile("v-input--is-disabled"), timeout=MS)
            _click(page, "Paget (seed and soil)")
            expect(status).to_contain_text("Paget", timeout=MS)
            expect(soil).not_to_have_class(re.compile("v-input--is-disabled"), timeout=MS)
            _click(page, "Combined (today's view)")
            expect(status).to_contain_text("Combined", timeout=MS)

            # A slider change that continues from now keeps the day; one that restarts does not.
            _click(page, "Step")
            expect(status).not_to_contain_text("the start", timeout=MS)
            _click(page, "Continue from now")
            _slider_right(page, "Shedding")
            expect(page.get_by_text("acts from today on")).to_be_visible(timeout=MS)
            expect(status).not_to_contain_text("the start")
            _click(page, "Restart the patient")
            _slider_right(page, "Survival in the blood")
            expect(status).to_contain_text("the start", timeout=MS)
            _slider_right(page, "Soil strength", 2)
            expect(page.get_by_text(re.compile(r"Soil strength: 1\.2"))).to_be_visible(timeout=MS)
            _slider_right(page, "Speed", 5)
            expect(page.get_by_text(re.compile(r"Speed: \d+ days per step"))).to_be_visible()
            pause_box.click()  # the automatic pause off ...
            pause_box.click()  # ... and on again

            # The seed restarts the same patient (a Step first, so that "the start" proves the
            # new seed was taken before the next is typed); a bad seed is refused in words.
            seed = page.get_by_label("Seed (same seed = same patient)")
            refused = page.get_by_text("is not a whole number")
            _click(page, "Step")
            expect(status).not_to_contain_text("the start", timeout=MS)
            seed.fill("7")
            seed.press("Enter")
            expect(status).to_contain_text("the start", timeout=MS)
            expect(seed).to_have_value("7")
            seed.fill("seven")
            seed.press("Enter")
            expect(refused).to_be_visible(timeout=MS)
            seed.fill("2026")
            seed.press("Enter")
            expect(refused).to_have_count(0, timeout=MS)

            # Jump to the end: the whole story, its timeline in years.
            _click(page, "Jump to the end")
            expect(status).to_contain_text(re.compile("died|the end of the story"),
                                           timeout=120_000)
            expect(page.locator(".event-log").first).to_contain_text("year")
            check_view(page, "end", size)

            # Compare: both maps on top, side by side, above the funnel.
            page.get_by_text("Compare two hypotheses (same luck)").click()
            expect(page.locator("svg.body-map")).to_have_count(2, timeout=MS)
            page.locator(".v-select").filter(has_text="Second hypothesis").click()
            page.get_by_role("option", name="Paget (seed and soil)").click()
            expect(page.locator(".funnel-status").nth(1)).to_contain_text("Paget", timeout=MS)
            _click(page, "Step")
            compare = check_view(page, "compare", size)
            (a, b) = compare["maps"]
            funnel_top = page.evaluate("document.querySelector('svg.funnel')"
                                       ".getBoundingClientRect().top + scrollY")
            assert abs(a[1] - b[1]) < 2 and a[2] <= b[0] + 1, (a, b)
            assert max(a[3], b[3]) <= funnel_top, "the funnel is not below the maps"
            page.get_by_text("Compare two hypotheses (same luck)").click()
            expect(page.locator("svg.body-map")).to_have_count(1, timeout=MS)

            # The fold-outs, the downloads and the link.
            page.get_by_text("Things to try").click()
            page.get_by_text("Save and share").click()
            with page.expect_download() as png:
                page.get_by_text("The picture (PNG)").click()
            assert png.value.suggested_filename == "metasim-map.png"
            assert open(png.value.path(), "rb").read(8) == b"\x89PNG\r\n\x1a\n"
            with page.expect_download() as svg:
                page.get_by_text("The picture for slides (SVG)").click()
            assert svg.value.suggested_filename == "metasim-map.svg"
            assert 'class="body-map"' in open(svg.value.path(), encoding="utf-8").read()
            with page.expect_download() as data:
                page.get_by_text("The organs' numbers (CSV)").click()
            assert data.value.suggested_filename == "metasim-organs.csv"
            with page.expect_download() as data:
                page.get_by_text("The time course (CSV)").click()
            assert data.value.suggested_filename == "metasim-time.csv"
            href = page.locator("a.ms-link").get_attribute("href")
            assert "scenario=classroom%2Fdemo" in href and "seed=2026" in href
            page.get_by_text("Glossary").click()
            page.get_by_text("What happens at each step").click()
            expect(page.get_by_text("Extravasation", exact=True)).to_be_visible()
            check_view(page, "fold_outs", size)

            # Many patients, in the background.
            _slider_right(page, "Patients per idea", 0)
            _click(page, "Run many patients")  # Stop ends a run at once, Run starts again
            _click(page, "Stop")
            expect(page.get_by_text("Stopped.")).to_be_visible(timeout=MS)
            expect(page.get_by_role("button", name="Stop")).to_have_count(0, timeout=MS)
            _click(page, "Run many patients")
            chart = page.locator("svg.site-frequency")
            chart.wait_for(timeout=240_000)
            expect(chart).to_contain_text("Autopsies")
            check_view(page, "many_patients", size)

            # A story from the picker, with its own seed: at full speed Play stops by itself
            # at the diagnosis, with a note saying why.
            page.locator(".v-select").filter(has_text="Cancer").first.click()
            page.get_by_role("option", name="Story: a late relapse after clear scans").click()
            expect(page.locator("h2")).to_contain_text("late relapse", timeout=MS)
            expect(status).to_contain_text("the start")
            _slider_right(page, "Speed", 60)
            _click(page, "Play")
            expect(page.get_by_text("Paused at diagnosis")).to_be_visible(timeout=60_000)
            expect(page.get_by_role("button", name="Play", exact=True)).to_be_visible(timeout=MS)
            check_view(page, "paused_at_diagnosis", size)

            # A preset (untreated) from the picker.
            page.locator(".v-select").filter(has_text="Cancer").first.click()
            page.get_by_role("option", name="Breast cancer (untreated)", exact=True).click()
            expect(page.locator("h2")).to_contain_text("Breast cancer", timeout=MS)
            expect(status).to_contain_text("the start")

            # The link reopens the same settings in a new session.
            link = page.locator("a.ms-link").get_attribute("href")
            other = browser.new_page(viewport={"width": width, "height": height})
            other.goto(app_url + link, timeout=90_000)
            expect(other.locator("h2")).to_contain_text("Breast cancer", timeout=90_000)
            other.close()
            assert page.get_by_text("disconnected").count() == 0
        finally:
            browser.close()
    print(f"\n{size}: {timings}")
