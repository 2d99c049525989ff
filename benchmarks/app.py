"""How fast the classroom app answers a teacher: ``python -m benchmarks.app``.

Measured, for the lesson ``classroom/demo`` and the presets breast and prostate:

* **redraw on the server**: the pictures the page draws after every step (the body map, the
  funnel, the time course), in ms, next to the model step they follow (one Step of 10 days),
  so the ratio says whether drawing or simulating bounds the app; both after 2 simulated years
  (a course with organs full of cells);
* **in a browser** (headless Chromium, when installed): the time from opening the page to the
  first body map, and from pressing Step to the new picture, at 1024 x 768 and 1920 x 1080,
  medians of ``--repeats`` presses; and the smallest text on the page in screen pixels.

Nothing here is asserted: machines differ. Results print as a table and go to
``benchmarks/app_results.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from sim.apps.classroom import build_courses, funnel_of, map_svg, timecourse_of

OUT = Path(__file__).with_name("app_results.json")
SCENARIOS = ("classroom/demo", "presets/breast", "presets/prostate")


def server_redraw(name: str, repeats: int) -> dict:
    """Median ms of one Step (10 days) and of drawing the page's three pictures."""
    course = build_courses(name, "combined", None, 1, 1.0, 1.7, 1.0)[0]
    course.advance(730)
    steps, draws = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        course.advance(10)
        t1 = time.perf_counter()
        map_svg(course)
        funnel_of([course])
        timecourse_of([course])
        t2 = time.perf_counter()
        steps.append((t1 - t0) * 1e3)
        draws.append((t2 - t1) * 1e3)
    return {"scenario": name, "step_ms": statistics.median(steps),
            "draw_ms": statistics.median(draws),
            "draw_over_step": statistics.median(draws) / max(statistics.median(steps), 1e-9)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def browser(repeats: int) -> list[dict]:
    """Time to the first picture and Step-to-picture in headless Chromium at both sizes."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return []
    from playwright.sync_api import sync_playwright

    args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync"]
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "sim.apps.cli", "app", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(180):
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except OSError:
                time.sleep(0.5)
        rows = []
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=chromium, args=args)
            for width, height in ((1024, 768), (1920, 1080)):
                page = b.new_page(viewport={"width": width, "height": height})
                t0 = time.perf_counter()
                page.goto(url, timeout=90_000)
                page.locator("svg.body-map").first.wait_for(timeout=90_000)
                first = time.perf_counter() - t0
                page.get_by_text("Pause at diagnosis, first metastasis seen and relapse").click()
                status = page.locator(".funnel-status").first
                presses = []
                for _ in range(repeats):
                    before = status.inner_text()
                    t1 = time.perf_counter()
                    page.get_by_role("button", name="Step", exact=True).click()
                    page.wait_for_function(
                        "b => document.querySelector('.funnel-status').innerText !== b", arg=before)
                    presses.append(time.perf_counter() - t1)
                smallest = page.evaluate(
                    "() => Math.min(...Array.from(document.querySelectorAll('svg text'))"
                    ".map(t => parseFloat(getComputedStyle(t).fontSize) * "
                    "t.getScreenCTM().a))")
                rows.append({"window": f"{width}x{height}", "first_picture_s": first,
                             "step_to_picture_ms": statistics.median(presses) * 1e3,
                             "smallest_svg_text_px": smallest})
                page.close()
            b.close()
        return rows
    finally:
        server.terminate()
        server.wait(timeout=10)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20)
    a = ap.parse_args(argv)
    report = {"server": [server_redraw(n, a.repeats) for n in SCENARIOS],
              "browser": browser(max(5, a.repeats // 2))}
    for r in report["server"]:
        print(f"{r['scenario']:<18} step {r['step_ms']:7.1f} ms   draw {r['draw_ms']:6.1f} ms   "
              f"draw/step {r['draw_over_step']:.2f}")
    for r in report["browser"]:
        print(f"browser {r['window']:<10} first picture {r['first_picture_s']:.2f} s   "
              f"Step to picture {r['step_to_picture_ms']:.0f} ms   smallest SVG text "
              f"{r['smallest_svg_text_px']:.1f} px")
    OUT.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


if __name__ == "__main__":
    main()
