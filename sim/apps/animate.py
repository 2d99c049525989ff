"""``metasim animate``: the body map over one simulated course, for slides.

One patient of the scenario is simulated to the end of the course (the horizon, or earlier
at the lethal burden); the body map (:mod:`sim.viz.bodymap`) is then drawn at ``frames`` evenly
spaced days of that course beside the cascade funnel so far and a time line, and written as
a GIF (Pillow) or an MP4 (ffmpeg, where it is installed).

The file holds exactly ``frames`` frames of one size (1280 x 720, 16:9): every axes has a
fixed place (the colour bar is drawn into its own axes, not taken from the map's), and every
frame shows a different day, so Pillow, which merges identical consecutive GIF frames, has
nothing to merge. Each frame is headed by the lesson's title (the classroom app's name of the
scenario) and its hypothesis; the time line marks every clinical event of the course.

Drawing takes about half a second a frame, so a progress bar on stderr follows the
simulation and the frames (on a terminal only, unless ``progress`` says otherwise, as the
other commands' ``--progress/--no-progress``).
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.animation import FFMpegWriter, FuncAnimation, PillowWriter
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from ..biology.anatomy import PRIMARY_SITES
from ..biology.stages import FUNNEL_STAGES, STAGE_LABELS
from ..config.schema import Scenario
from ..engine.model import MetastasisModel
from ..engine.results import body_state
from ..experiments.seeds import patient_generator
from ..viz.bodymap import body_map
from ..viz.plain import HYPOTHESIS_NAMES, death_words, plain_duration, plain_number
from ..viz.style import SINGLE_SERIES_COLOR, new_figure

#: Figure size (inches) and resolution: 1280 x 720 pixels, a 16:9 slide.
FIGSIZE, DPI = (12.8, 7.2), 100


class AnimationError(ValueError):
    """An animation that cannot be written (format, missing ffmpeg)."""


#: A course's events marked on the time line, in words; the first of each kind is marked
#: (a kind that happens again says how often).
POINT_EVENTS = {"diagnosis": "diagnosis", "metastasis_detected": "first metastasis seen",
                "resection": "surgery", "local_therapy": "local treatment",
                "symptoms": "first symptoms", "relapse": "relapse", "death": "death"}
#: Kinds whose label names the first only (metastases seen later, symptoms in other organs):
#: the others say how often they happened.
FIRST_ONLY = frozenset({"metastasis_detected", "symptoms"})
#: Treatments that last (``<kind>_start`` to ``<kind>_end``), drawn as a hatched span.
SPAN_EVENTS = {"systemic": "whole-body treatment",
               "growth_inhibition": "growth-blocking treatment"}
#: Colours of an event's mark: one that has happened by the frame's day, one still to come
#: (grey, 4.5 : 1 on white).
PAST_COLOR, FUTURE_COLOR = "#4b1c7a", "#737373"
#: Rows of event labels above the time line; labels that fit in none are joined.
LABEL_ROWS = 3
#: The most places tried for the labels of one course (a search over rows and places that
#: finds no arrangement could otherwise try them all; then two labels are joined).
SEARCH_BUDGET = 20_000
#: Events closer than this (a share of the course) share one label.
JOIN_LABELS = 0.025
#: The farthest a label is moved sideways to clear the labels before it (a share of the
#: time line's width).
MAX_LABEL_SHIFT = 0.3


@dataclass
class Course:
    """One simulated course: body-map states after every step, and how it ended. ``title``
    names the lesson (:func:`lesson_title`), ``label`` the hypothesis and the patient."""

    states: list[dict[str, Any]]
    end_day: float
    died: bool
    horizon_days: float
    #: Why the patient died (a result's ``cause_of_death``; None: alive at the end).
    cause_of_death: str | None = None
    events: list[dict] = field(default_factory=list)
    label: str = ""
    title: str = ""
    hypothesis: str = "combined"


@dataclass
class Mark:
    """One labelled place on the time line: an event (``end`` None) or a treatment span."""

    day: float
    text: str
    end: float | None = None
    row: int = 0
    #: Where the label's centre stands (a share of the time line's width): above its mark,
    #: or moved sideways to stay on the line's width and clear of the labels before it.
    x: float | None = None


def _snapshot(model: MetastasisModel) -> dict[str, Any]:
    s = body_state(model)
    s["reached"] = {k: int(v) for k, v in zip(FUNNEL_STAGES, model.ledger.reached.tolist(),
                                              strict=True)}
    return s


def lesson_title(scenario: Scenario) -> str:
    """The lesson's name as the classroom app's picker shows it ("Lesson: sleeping cells
    (dormancy)", "Breast cancer (untreated)") when the scenario is a bundled one (found by
    its description); else the first line of its description; else its primary site."""
    from .courses import catalogue, titles

    first = next(iter(scenario.description.strip().splitlines()), "").strip()
    names, descriptions = catalogue()
    same = [n for n in names if descriptions.get(n, "").strip() == first]
    if first and len(same) == 1:
        return titles()[same[0]]
    if first:
        return first if len(first) <= 100 else first[:99].rstrip() + "…"
    return f"{PRIMARY_SITES[scenario.primary.site].label.capitalize()} cancer"


def _bar(progress: bool | None, total: float, unit: str, desc: str) -> Any:
    """A bar on stderr by the one rule of :mod:`sim.experiments.progress` (None: only when
    stderr is a terminal)."""
    from ..experiments.progress import progress_bar

    return progress_bar(progress, total=total, unit=unit, desc=desc, leave=False,
                        file=sys.stderr)


def record_course(scenario: Scenario, seed: int, progress: bool | None = False) -> Course:
    """Simulate one patient to the end of the course, keeping the state after every step
    (``progress``: a bar over the days; None: on a terminal only)."""
    model = MetastasisModel(scenario, rng=patient_generator(seed))
    states = [_snapshot(model)]
    with _bar(progress, round(model.horizon_days), "day", "simulating the patient") as bar:
        while model.running:
            model.step()
            states.append(_snapshot(model))
            bar.update(max(0, round(model.day) - bar.n))
    site = PRIMARY_SITES[scenario.primary.site].label
    hypothesis = HYPOTHESIS_NAMES.get(scenario.hypothesis, scenario.hypothesis)
    return Course(states=states, end_day=float(model.day), died=bool(model.died),
                  cause_of_death=model.cause_of_death,
                  horizon_days=float(scenario.simulation.horizon_days),
                  events=list(model.clinic.events),
                  label=f"Hypothesis: {hypothesis}. One simulated patient, primary tumour "
                        f"in the {site}.",
                  title=lesson_title(scenario), hypothesis=scenario.hypothesis)


def frame_days(course: Course, frames: int) -> np.ndarray:
    """``frames`` evenly spaced days from 0 to the end of the course."""
    return np.linspace(0.0, course.end_day, frames)


def day_format(days: np.ndarray) -> str:
    """Enough decimals that consecutive frame days print differently."""
    step = float(np.min(np.diff(days))) if len(days) > 1 else 1.0
    if step >= 2.0 or step <= 0.0:
        return ".0f"
    return f".{min(6, math.ceil(-math.log10(step / 2.0)))}f"


def state_at(course: Course, day: float) -> dict[str, Any]:
    """The last recorded state on or before ``day``."""
    days = [s["day"] for s in course.states]
    i = int(np.searchsorted(days, day + 1e-9, side="right")) - 1
    return course.states[max(i, 0)]


class Slides:
    """The animation figure: the lesson's title, the body map, its colour bar, the funnel so
    far and a time line of the course's clinical events, each in an axes of fixed place and
    size; :meth:`draw` redraws frame ``i``."""

    def __init__(self, course: Course, frames: int):
        self.course = course
        self.days = frame_days(course, frames)
        self.fmt = day_format(self.days)
        final = np.array([course.states[-1]["reached"][k] for k in FUNNEL_STAGES], float)
        self.funnel_max = max(float(final.max()), 10.0)
        self.years = course.end_day >= 730.0
        self.fig: Figure = new_figure(figsize=FIGSIZE, dpi=DPI)
        self.fig.text(0.012, 0.975, course.title, ha="left", va="top", fontsize=16,
                      fontweight="bold")
        self.fig.text(0.012, 0.925, course.label, ha="left", va="top", fontsize=11)
        self.ax_map = self.fig.add_axes((0.0, 0.10, 0.50, 0.76))
        self.cax = self.fig.add_axes((0.505, 0.33, 0.012, 0.40))
        self.ax_f = self.fig.add_axes((0.78, 0.42, 0.195, 0.43))
        self.ax_t = self.fig.add_axes((0.585, 0.16, 0.40, 0.05))
        self.marks = _event_marks(course.events, course.end_day)
        self.labels = _layout_labels(self.ax_t, self.marks, course.end_day)

    def draw(self, i: int) -> list:
        day = float(self.days[i])
        s = state_at(self.course, day)
        body_map(s, ax=self.ax_map, cax=self.cax, hypothesis=self.course.hypothesis,
                 title=f"Day {day:{self.fmt}} ({plain_duration(day)})", fontsize=9.5)
        self._funnel(s)
        self._timeline(day)
        return []

    def _funnel(self, s: dict[str, Any]) -> None:
        ax = self.ax_f
        ax.clear()
        reached = np.array([s["reached"][k] for k in FUNNEL_STAGES], dtype=float)
        y = np.arange(len(FUNNEL_STAGES))[::-1]
        ax.barh(y, np.where(reached > 0, reached, np.nan), color=SINGLE_SERIES_COLOR,
                edgecolor="black")
        ax.set_xscale("log")
        top = self.funnel_max * 3e4  # room for the longest count in words
        ax.set_xlim(0.5, top)
        ax.set_ylim(-0.6, len(FUNNEL_STAGES) - 0.4)
        ax.set_yticks(y, [STAGE_LABELS[k] for k in FUNNEL_STAGES], fontsize=10)
        ax.tick_params(axis="x", labelsize=9)
        ax.xaxis.set_major_locator(FixedLocator(_word_ticks(top)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: plain_number(v)))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("cells (log scale)", fontsize=10)
        ax.set_title("cells that reached each step so far", fontsize=11)
        for yi, v in zip(y, reached, strict=True):
            if v > 0:
                ax.text(v * 1.5, yi, plain_number(v), va="center", fontsize=9)

    def _timeline(self, day: float) -> None:
        ax = self.ax_t
        ax.clear()
        end = max(self.course.end_day, 1e-9)
        ax.barh(0, end, height=1.0, color="#e6e6e6", edgecolor="#999999")
        ax.barh(0, day, height=1.0, color=SINGLE_SERIES_COLOR)
        ax.set_xlim(0, end)
        ax.set_ylim(-0.5, 0.5)
        ax.set_yticks([])
        ax.tick_params(axis="x", labelsize=9)
        for m in self.marks:
            color = PAST_COLOR if m.day <= day + 1e-9 else FUTURE_COLOR
            if m.end is not None:
                ax.barh(0, m.end - m.day, left=m.day, height=1.0, color="none",
                        edgecolor=color, hatch="///", lw=1.5)
            else:
                ax.axvline(m.day, color=color, lw=2.5)
        for label in self.labels:
            _mark_label(ax, label, PAST_COLOR if label.day <= day + 1e-9 else FUTURE_COLOR)
        scale = 365.25 if self.years else 1.0
        ticks = _whole_ticks(end / scale)
        ax.xaxis.set_major_locator(FixedLocator([t * scale for t in ticks]))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v / scale:.0f}"))
        why = death_words(self.course.cause_of_death, short=True) if self.course.died \
            else "end of the simulated period"
        unit = "years" if self.years else "days"
        ax.set_xlabel(f"{unit} since the start; ended after "
                      f"{plain_duration(self.course.end_day)} ({why})", fontsize=10)

    def close(self) -> None:
        self.fig.clear()


def _word_ticks(top: float) -> list[float]:
    """Ticks for a log axis of cells up to ``top`` written in words: 1, then every third
    decade (1 thousand, 1 million ...), or every sixth when that would be more than three;
    none in the last decade and a half, where its words would run past the axis' end."""
    decades = math.floor(math.log10(top / 30.0))
    step = 3 if decades // 3 < 3 else 6
    return [10.0 ** k for k in range(0, decades + 1, step)]


def _whole_ticks(end: float) -> list[float]:
    """About six ticks at whole numbers (1, 2, 5 x a power of ten apart) from 0 to ``end``."""
    raw = max(end / 6.0, 1.0)
    base = 10.0 ** math.floor(math.log10(raw))
    step = next(m * base for m in (1, 2, 5, 10) if m * base >= raw)
    return [float(t) for t in np.arange(0.0, end + 1e-9, step)]


def _event_marks(events: list[dict], end: float) -> list[Mark]:
    """The marks of a course's clinical events (:data:`POINT_EVENTS`, :data:`SPAN_EVENTS`)
    in order of day: the first of each kind of event, saying how often a kind happened when
    more than once, and each treatment span (to the end of the course if it did not end)."""
    marks: list[Mark] = []
    counts: dict[str, int] = {}
    for e in events:
        counts[e.get("event", "")] = counts.get(e.get("event", ""), 0) + 1
    seen: set[str] = set()
    open_spans: dict[str, Mark] = {}
    for e in events:
        kind, day = e.get("event", ""), float(e["day"])
        if kind in POINT_EVENTS and kind not in seen:
            seen.add(kind)
            text = POINT_EVENTS[kind]
            if counts[kind] > 1 and kind not in FIRST_ONLY:
                text += f" ({counts[kind]} times)"
            marks.append(Mark(day, text))
        elif kind.endswith("_start") and kind.removesuffix("_start") in SPAN_EVENTS:
            name = kind.removesuffix("_start")
            open_spans[name] = Mark(day, SPAN_EVENTS[name], end=end)
            marks.append(open_spans[name])
        elif kind.endswith("_end") and kind.removesuffix("_end") in open_spans:
            span = open_spans.pop(kind.removesuffix("_end"))
            span.end = day
            span.text += f" ({plain_duration(day - span.day)})"
    return sorted(marks, key=lambda m: m.day)


def _row_height(ax: Any, row: int) -> float:
    """The foot of a row of labels, in the time line's axes fraction (1 is the bar's top):
    8 points above the bar, then 15 points a row."""
    return 1.0 + (8 + 15 * row) * ax.figure.dpi / 72.0 / ax.get_window_extent().height


def _mark_label(ax: Any, m: Mark, color: str) -> Any:
    """The label of a mark in its row, centred at ``m.x`` (above the mark if unset), with a
    thin line from the mark on the bar's top to the label's foot; the text."""
    mark = m.day / ax.get_xlim()[1]
    x = mark if m.x is None else m.x
    y = _row_height(ax, m.row)
    ax.plot([mark, x], [1.0, y], transform=ax.transAxes, color=color, lw=0.8,
            clip_on=False)
    return ax.text(x, y, m.text, transform=ax.transAxes, ha="center", va="bottom",
                   fontsize=9.5, color=color, clip_on=False)


@dataclass
class _Placed:
    """A label placed while laying out (pixels): its mark, its row's foot, its text's box."""

    mark: float
    row: int
    centre: float
    foot: float
    x0: float
    x1: float
    top: float


def _crosses(mark: float, bar_top: float, centre: float, foot: float, other: _Placed) -> bool:
    """Whether the straight line from ``(mark, bar_top)`` to ``(centre, foot)`` passes
    through the text of ``other`` (2 pixels of margin)."""
    if other.foot >= foot:
        return False
    ys = (other.foot, min(other.top, foot))
    xs = [mark + (y - bar_top) / max(foot - bar_top, 1e-9) * (centre - mark) for y in ys]
    return min(xs) <= other.x1 + 2 and max(xs) >= other.x0 - 2


def _arrange(labels: list[Mark], marks_x: list[float], widths: list[float], height: float,
             feet: list[float], left: float, right: float, bar_top: float,
             ) -> list[_Placed] | None:
    """Rows and places of labels (pixels), searched in day order: each in a row, centred
    above its mark where it can be, else moved sideways (at most :data:`MAX_LABEL_SHIFT` of
    the line's width) to just beside another mark's line or right of the label before it in
    the row; no two labels of a row overlap, no label leaves the line's width and no line
    passes through a label. None: there is no such arrangement, or none was found within
    :data:`SEARCH_BUDGET` tries."""
    gap, span = 8.0, right - left
    placed: list[_Placed] = []

    def options(i: int) -> list[tuple[int, float]]:
        w = widths[i]
        base = min(max(marks_x[i], left + w / 2), right - w / 2)
        beside = [x + side * (4 + w / 2) for x in marks_x for side in (-1, 1)]
        out = []
        for row in range(len(feet)):
            last = max((p.x1 for p in placed if p.row == row), default=-math.inf)
            centres = sorted({max(c, last + gap + w / 2) for c in [base, *beside]},
                             key=lambda c: abs(c - base))
            out += [(row, c) for c in centres if left - 1 <= c - w / 2 and c + w / 2 <= right + 1
                    and abs(c - base) <= MAX_LABEL_SHIFT * span]
        return out

    def fits(i: int, row: int, centre: float) -> bool:
        mine = _Placed(marks_x[i], row, centre, feet[row], centre - widths[i] / 2,
                       centre + widths[i] / 2, feet[row] + height)
        if any(_crosses(marks_x[i], bar_top, centre, feet[row], p) for p in placed):
            return False
        return not any(_crosses(p.mark, bar_top, p.centre, p.foot, mine) for p in placed)

    budget = [SEARCH_BUDGET]

    def search(i: int) -> bool:
        if i == len(labels):
            return True
        for row, centre in options(i):
            budget[0] -= 1
            if budget[0] < 0:
                return False
            if fits(i, row, centre):
                w = widths[i]
                placed.append(_Placed(marks_x[i], row, centre, feet[row], centre - w / 2,
                                      centre + w / 2, feet[row] + height))
                if search(i + 1):
                    return True
                placed.pop()
        return False

    return placed if search(0) else None


def _layout_labels(ax: Any, marks: list[Mark], end: float) -> list[Mark]:
    """The labels of ``marks`` (sorted by day) in :data:`LABEL_ROWS` rows above the time
    line, measured as drawn (:func:`_arrange`). Marks closer than :data:`JOIN_LABELS` share
    a label ("diagnosis, surgery": events on the same day); while no arrangement exists,
    the two labels whose marks are closest are joined."""
    ax.set_xlim(0, max(end, 1e-9))
    ax.set_ylim(-0.5, 0.5)
    renderer = ax.figure.canvas.get_renderer()
    area = ax.get_window_extent(renderer)
    labels: list[Mark] = []
    for m in marks:
        if labels and m.day - labels[-1].day < JOIN_LABELS * end:
            labels[-1].text += f", {m.text}"
        else:
            labels.append(Mark(m.day, m.text))
    feet = [area.y0 + _row_height(ax, row) * area.height for row in range(LABEL_ROWS)]
    while labels:
        boxes = []
        for label in labels:
            text = ax.text(0.5, 1.0, label.text, transform=ax.transAxes, ha="center",
                           va="bottom", fontsize=9.5)
            boxes.append(text.get_window_extent(renderer))
            text.remove()
        marks_x = [area.x0 + label.day / max(end, 1e-9) * area.width for label in labels]
        placed = _arrange(labels, marks_x, [b.width for b in boxes],
                          max(b.height for b in boxes), feet, area.x0, area.x1, area.y1)
        if placed is not None:
            for label, p in zip(labels, placed, strict=True):
                label.row, label.x = p.row, (p.centre - area.x0) / area.width
            return labels
        if len(labels) == 1:  # wider than the line: left over its mark
            labels[0].row, labels[0].x = 0, labels[0].day / max(end, 1e-9)
            return labels
        i = int(np.argmin(np.diff([label.day for label in labels])))
        labels[i:i + 2] = [Mark(labels[i].day, f"{labels[i].text}, {labels[i + 1].text}")]
    return labels


def animate(scenario: Scenario, out: Path, seed: int = 1, frames: int = 60,
            fps: int = 6, progress: bool | None = None) -> Path:
    """Write the animation of one course with exactly ``frames`` frames to ``out``.

    ``progress``: bars on stderr over the simulated days and the frames drawn (None: only
    when stderr is a terminal; the frames take most of the time, about half a second each).
    """
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise AnimationError(f"--out {out}: the file must end in .gif or .mp4")
    if suffix == ".mp4" and shutil.which("ffmpeg") is None:
        raise AnimationError("MP4 needs ffmpeg, which is not installed here (Debian: apt-get "
                             "install ffmpeg); write a .gif instead, which needs nothing more")
    tmp = _reserve(out)  # before the simulation: an unwritable --out fails at once
    try:
        slides = Slides(record_course(scenario, seed, progress), frames)
        anim = FuncAnimation(slides.fig, slides.draw, frames=frames, blit=False)
        writer = PillowWriter(fps=fps) if suffix == ".gif" else FFMpegWriter(fps=fps)
        try:
            with _frames_bar(progress, frames, suffix) as tick:
                anim.save(tmp, writer=writer, dpi=DPI, progress_callback=tick)
        finally:
            slides.close()
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp made it private; a normal file's mode
        tmp.replace(out)
    except OSError as e:
        raise AnimationError(f"--out {out}: could not be written ({e.strerror or e})") from None
    except subprocess.CalledProcessError as e:
        raise AnimationError(f"--out {out}: ffmpeg failed (exit status {e.returncode}); try a "
                             ".gif, which needs no ffmpeg") from None
    finally:
        tmp.unlink(missing_ok=True)
    return out


@contextmanager
def _frames_bar(progress: bool | None, frames: int, suffix: str) -> Iterator[Any]:
    """A bar over the frames drawn, as a callback for ``Animation.save``; after the last
    frame it says the file is being written (a GIF's frames are encoded at the end)."""
    with _bar(progress, frames, "frame", "drawing the frames") as bar:
        def tick(i: int, n: int) -> None:
            bar.update(1)
            if i + 1 == n:
                bar.set_description(f"writing the {suffix.lstrip('.').upper()} file")

        yield tick


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _reserve(out: Path) -> Path:
    """Check ``out`` can be written and reserve a hidden temporary file beside it (unique, so
    two runs never share one); the animation is written there and renamed onto ``out``."""
    if out.is_dir():
        raise AnimationError(f"--out {out}: is a folder; give a file name ending in .gif or "
                             ".mp4")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{out.stem}.partial-", suffix=out.suffix,
                                    dir=out.parent)
        os.close(fd)
    except OSError as e:
        raise AnimationError(f"--out {out}: cannot write there ({e.strerror or e})") from None
    return Path(name)
