"""The matplotlib body map (sim/viz/bodymap.py) and `metasim animate` (sim/apps/animate.py):
what the map shows of a model, and what the animation file holds. The agreement of the
matplotlib and SVG maps is in test_viz_body_layout.py."""

from __future__ import annotations

import re
import shutil
import subprocess
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from matplotlib.colors import to_rgb
from matplotlib.patches import Polygon
from PIL import Image

from sim.apps.animate import Slides, animate, record_course
from sim.apps.cli import main
from sim.apps.courses import titles
from sim.biology.anatomy import PRIMARY_SITES, TARGET_ORGANS
from sim.config.loading import load_scenario
from sim.engine.model import MetastasisModel
from sim.engine.results import body_state
from sim.viz.body_layout import LAYOUT, PRIMARY_POSITION, SKIN_FILL, shapes_for
from sim.viz.bodymap import body_map
from sim.viz.style import relative_luminance
from tests.unit.test_viz_readability import drawn_texts, small_texts, text_problems

#: The small test patient dies of its tumour burden on day 12 of a 30-day course (its primary
#: starts at 6.5e7 cells), so the course ends before the horizon.
DIES_EARLY = "simulation.lethal_burden_cells=8e7"
SKIN = np.round(255 * np.array(to_rgb(SKIN_FILL)))  # the body silhouette's fill


def _frames(path):
    with Image.open(path) as im:
        out = []
        for i in range(im.n_frames):
            im.seek(i)
            out.append(np.asarray(im.convert("RGB")))
    return out


def _body_box(frame: np.ndarray) -> tuple[int, int, int, int]:
    """Bounding box (x0, y0, x1, y1) of the silhouette: the rows and columns of the map's
    half of the frame with at least 10 pixels of its fill colour (stray anti-aliased pixels
    elsewhere do not count; nor does the colour bar's palest red, right of the map, which
    a GIF's per-frame palette can turn into the fill colour)."""
    frame = frame[:, : frame.shape[1] // 2]
    skin = np.abs(frame.astype(int) - SKIN).sum(axis=2) <= 9
    xs = np.flatnonzero(skin.sum(axis=0) >= 10)
    ys = np.flatnonzero(skin.sum(axis=1) >= 10)
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


def test_every_organ_and_primary_has_a_place_on_the_map():
    """Every organ a metastasis can grow in and every primary site has a place on the map
    (an organ missing from the layout would raise while drawing, or not be shown)."""
    assert set(LAYOUT) == set(TARGET_ORGANS)
    assert set(PRIMARY_POSITION) == set(PRIMARY_SITES)


def _organ_faces(fig, site: str) -> dict[str, tuple]:
    """Organ -> colour of its polygons on a drawn map (found by their gid, the organ key):
    the face colour, for the skin (the body's outline) the edge colour. Every polygon of an
    organ has the same colour."""
    shapes = shapes_for(site)
    out: dict[str, tuple] = {}
    for p in fig.axes[0].patches:
        organ = p.get_gid()
        if isinstance(p, Polygon) and (organ in shapes or organ == "skin"):
            color = tuple(p.get_edgecolor() if organ == "skin" else p.get_facecolor())
            assert out.setdefault(organ, color) == color, organ
    return out


def test_body_map_shades_organs_by_burden_on_one_scale():
    """The map's colour encodes the burden: organs holding more cells in metastases are
    darker (10^3 to 10^11 cells, one decade apart at least), organs without metastases are
    white or, around others, unfilled; every organ is drawn and named once."""
    burden = {"bone": 1e3, "liver": 1e5, "brain": 1e7, "lung": 1e9, "kidney": 1e11}
    state = {"site": "breast", "primary_cells": 1e9, "burden": burden, "dormant": {},
             "detectable": {}, "day": 10.0}
    fig = body_map(state)
    faces = _organ_faces(fig, "breast")
    assert set(faces) == set(TARGET_ORGANS)
    shades = [relative_luminance(faces[o]) for o in sorted(burden, key=burden.get)]
    assert all(a > b + 0.02 for a, b in pairwise(shades)), shades
    for organ in set(TARGET_ORGANS) - set(burden) - {"skin"}:
        assert faces[organ][3] == 0 or faces[organ][:3] == (1.0, 1.0, 1.0), organ
    names = [t.get_text() for t in fig.axes[0].texts]
    assert len(names) == len(set(names)) == len(TARGET_ORGANS)


def test_body_map_of_a_running_model_is_readable(small_scenario_path):
    """The state of a model that ran (body_state) holds its colonies and its day, and its map
    keeps every text apart, inside the figure and at least MIN_FONTSIZE points."""
    model = MetastasisModel(small_scenario_path, rng=1)
    model.run()
    state = body_state(model)
    assert state["burden"] and state["day"] == model.day
    fig = body_map(state)
    assert text_problems(fig) == []
    assert small_texts(fig) == []


def test_gif_holds_the_promised_frames_of_one_size_when_the_course_ends_early(
        small_scenario_path, tmp_path):
    """The GIF holds exactly the frames the CLI reports, all of one size, and the body map
    keeps its size from the first frame to the last. Before: frames were taken at days
    spread over the horizon, so a patient who died early left the later ones out (55 of 60
    for classroom/demo), and the colour bar took its space from the map on every frame, so
    the body shrank (308 -> 200 px)."""
    out = tmp_path / "course.gif"
    res = CliRunner().invoke(main, ["animate", str(small_scenario_path), "--out", str(out),
                                    "--frames", "8", "--seed", "3", "--set", DIES_EARLY])
    assert res.exit_code == 0, res.output
    promised = int(re.search(r"\((\d+) frames\)", res.output).group(1))
    frames = _frames(out)
    assert promised == 8 and len(frames) == promised
    assert len({f.shape for f in frames}) == 1
    first, last = _body_box(frames[0]), _body_box(frames[-1])
    assert np.allclose(first, last, atol=2), (first, last)


def test_every_frame_has_the_same_layout_and_readable_text(small_scenario_path):
    """Frames cover the whole course (the last shows the day it ended), every frame shows a
    different day (so Pillow, which merges identical consecutive GIF frames, drops none),
    the body map's axes keep their place and size, and no text overlaps other text or is
    cut off by the figure edge (title, organ names, funnel labels, time line)."""
    course = record_course(load_scenario(small_scenario_path, [DIES_EARLY]), 3)
    assert course.died and course.end_day < 30
    slides = Slides(course, 6)
    try:
        extents, titles = [], []
        for i in range(6):
            slides.draw(i)
            assert text_problems(slides.fig) == [], i
            assert small_texts(slides.fig) == [], i
            extents.append(slides.ax_map.get_window_extent().bounds)
            titles.append(slides.ax_map.get_title())
        assert all(np.allclose(e, extents[0]) for e in extents)
        assert len(set(titles)) == 6
        assert titles[-1].startswith(f"Day {course.end_day:.0f} (")
    finally:
        slides.close()


def test_animate_explains_missing_ffmpeg_and_bad_suffixes(small_scenario_path, tmp_path,
                                                          monkeypatch):
    """Without ffmpeg an .mp4 is refused with a hint to write a .gif, an unknown suffix
    names the two allowed ones; both exit with status 2 and write nothing."""
    monkeypatch.setattr(shutil, "which", lambda name: None)
    res = CliRunner().invoke(main, ["animate", str(small_scenario_path), "--out",
                                    str(tmp_path / "a.mp4")])
    assert res.exit_code == 2 and "ffmpeg" in res.output and ".gif" in res.output
    res = CliRunner().invoke(main, ["animate", str(small_scenario_path), "--out",
                                    str(tmp_path / "a.avi")])
    assert res.exit_code == 2 and ".gif or .mp4" in res.output
    assert not list(tmp_path.iterdir())


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
def test_animate_writes_an_mp4_where_ffmpeg_exists(small_scenario_path, tmp_path):
    """Where ffmpeg is installed, an .mp4 is an MP4 file (its 'ftyp' box) holding the
    frames asked for (counted by ffprobe where it is installed too)."""
    out = tmp_path / "course.mp4"
    res = CliRunner().invoke(main, ["animate", str(small_scenario_path), "--out", str(out),
                                    "--frames", "3"])
    assert res.exit_code == 0, res.output
    assert out.read_bytes()[4:8] == b"ftyp"
    if shutil.which("ffprobe"):
        probe = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams",
                                "v:0", "-show_entries", "stream=nb_read_frames", "-of",
                                "csv=p=0", str(out)], capture_output=True, text=True,
                               check=True)
        assert int(probe.stdout.strip()) == 3


def test_an_unwritable_out_fails_before_the_course_is_simulated(small_scenario_path, tmp_path,
                                                                monkeypatch):
    """`animate --out /proc/x.gif` simulated the course first and then failed with a
    message that did not name --out. Now it fails at once, naming --out."""
    calls = []
    monkeypatch.setattr("sim.apps.animate.record_course", lambda *a, **k: calls.append(1))
    target = "/proc/metasim-test/x.gif" if Path("/proc").is_dir() else str(tmp_path)
    res = CliRunner().invoke(main, ["animate", str(small_scenario_path), "--out", target],
                             catch_exceptions=False)
    assert res.exit_code == 2 and "--out" in res.output and calls == []


def test_the_scenarios_seed_zero_is_used(small_scenario_path, monkeypatch):
    """Review: `simulation.seed = 0` was turned into seed 1 (`seed or 1`)."""
    seen = {}

    def fake(scenario, out, seed=1, frames=60, fps=6, **options):
        seen["seed"] = seed
        return out

    monkeypatch.setattr("sim.apps.animate.animate", fake)
    res = CliRunner().invoke(main, ["animate", str(small_scenario_path), "--out", "x.gif",
                                    "--set", "simulation.seed=0"], catch_exceptions=False)
    assert res.exit_code == 0 and seen["seed"] == 0


def _texts(fig) -> list[str]:
    """Every text a drawn figure shows (figure texts, titles, labels, annotations)."""
    fig.canvas.draw()
    return [t.get_text() for t in drawn_texts(fig)]


def test_funnel_counts_are_written_in_words(small_scenario_path):
    """The funnel's counts read as words: 9,990,000 cells is "10 million" (before,
    "10.0 x 10^6", a mantissa of 10 from rounding), 99,960,000 is "100 million" (not
    plain_number's "1e+02 million") and 1,234,567,890 is "1.2 billion"; no count is written
    as a power of ten."""
    course = record_course(load_scenario(small_scenario_path, [DIES_EARLY]), 3)
    last = course.states[-1]
    last["reached"] = {**last["reached"], "detachment": 1_234_567_890, "invasion": 9_990_000,
                       "transit": 99_960_000}
    slides = Slides(course, 2)
    try:
        slides.draw(1)
        counts = [t.get_text() for t in slides.ax_f.texts]
        assert {"10 million", "1.2 billion", "100 million"} <= set(counts)
        assert not [t for t in counts if "times" in t or "$" in t or "10.0" in t or "e+" in t]
        ticks = [t.get_text() for t in slides.ax_f.get_xticklabels() if t.get_text()]
        assert ticks and not [t for t in ticks if "$" in t or "^" in t]
        assert text_problems(slides.fig) == [] and small_texts(slides.fig) == []
    finally:
        slides.close()


#: A treated course's events, every kind the clinic logs, spaced as in
#: clinical/breast_adjuvant (seed 2) on a 30-day course: surgery at diagnosis, whole-body
#: treatment from a few hours later, a relapse where the first metastasis is seen, its local
#: treatment, symptoms (twice) and death.
TREATED = [{"day": 5.0, "event": "diagnosis"}, {"day": 5.0, "event": "resection"},
           {"day": 5.3, "event": "systemic_start"}, {"day": 7.1, "event": "systemic_end"},
           {"day": 12.0, "event": "metastasis_detected", "organ": "liver"},
           {"day": 12.0, "event": "relapse", "organ": "liver"},
           {"day": 12.2, "event": "local_therapy", "organ": "liver"},
           {"day": 14.0, "event": "metastasis_detected", "organ": "lung"},
           {"day": 18.0, "event": "symptoms", "organ": "liver"},
           {"day": 22.0, "event": "symptoms", "organ": "lung"},
           {"day": 29.0, "event": "death"}]


def test_time_line_marks_every_clinical_event(small_scenario_path):
    """The time line names every kind of event of a treated course (diagnosis, surgery,
    the whole-body treatment with its length, the first metastasis seen, relapse, local
    treatment, the first symptoms, death), marks each at its day, and no text overlaps.
    Before, only diagnosis, resection and therapy starts were marked: relapse, the first
    detectable metastasis and death were missing."""
    course = record_course(load_scenario(small_scenario_path), 3)
    course.events = TREATED
    slides = Slides(course, 4)
    try:
        slides.draw(3)
        labels = " | ".join(t.get_text() for t in slides.ax_t.texts)
        for words in ("diagnosis", "surgery", "whole-body treatment (2 days)",
                      "first metastasis seen", "relapse", "local treatment",
                      "first symptoms", "death"):
            assert words in labels, (words, labels)
        ax = slides.ax_t  # the marks: vertical lines at a day (not the labels' leader lines)
        marked = sorted(round(float(line.get_xdata()[0]), 6) for line in ax.lines
                        if len(set(line.get_xdata())) == 1 and line.get_transform() != ax.transAxes)
        assert marked == [5.0, 5.0, 12.0, 12.0, 12.2, 18.0, 29.0]
        assert text_problems(slides.fig) == [] and small_texts(slides.fig) == []
    finally:
        slides.close()


def test_frames_are_titled_with_the_lesson_and_mark_the_models_events():
    """A bundled lesson is named as the classroom app names it, with its hypothesis in
    words; the time line marks each kind of event the model logged for the course (here
    the diagnosis, the first metastasis seen on a scan and death). Before, the title was
    "Primary: colon; combined hypothesis" and the time line showed the diagnosis only."""
    course = record_course(load_scenario("classroom/demo"), 1)
    kinds = {e["event"] for e in course.events}
    assert {"diagnosis", "metastasis_detected", "death"} <= kinds
    slides = Slides(course, 3)
    try:
        texts = _texts(slides.fig) if slides.draw(2) == [] else []
        assert titles()["classroom/demo"] in texts
        assert any("Combined (today's view)" in t for t in texts)
        labels = " ".join(t.get_text() for t in slides.ax_t.texts)
        words = {"diagnosis": "diagnosis", "metastasis_detected": "first metastasis seen",
                 "death": "death"}
        assert all(words[k] in labels for k in kinds & set(words))
        assert text_problems(slides.fig) == []
    finally:
        slides.close()


def test_a_scenario_of_ones_own_is_titled_by_its_description(small_scenario_path):
    """A scenario file that is not bundled is named by the first line of its description."""
    course = record_course(load_scenario(small_scenario_path), 3)
    assert course.title == ("test: tiny breast primary, every stage populated, "
                            "single-cell feasible")


def test_animate_shows_progress_on_stderr_when_asked(small_scenario_path, tmp_path, capsys):
    """With progress on, animate writes bars to stderr that count the frames drawn (3 of 3)
    and nothing to stdout; left to its default it writes no bar where stderr is not a
    terminal (as under pytest). Before, animate had no progress at all (2.5 minutes of
    silence for 60 frames)."""
    scenario = load_scenario(small_scenario_path, [DIES_EARLY])
    animate(scenario, tmp_path / "a.gif", seed=3, frames=3, progress=True)
    out, err = capsys.readouterr()
    assert out == ""
    assert "3/3" in err and "frame" in err
    animate(scenario, tmp_path / "b.gif", seed=3, frames=3)
    out, err = capsys.readouterr()
    assert out == "" and err == ""
