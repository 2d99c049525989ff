"""``metasim animate``: the body map over one simulated course, for slides.

One patient of the scenario is simulated to the end of the course (the horizon, or earlier
at the lethal burden); the body map (:mod:`sim.viz.bodymap`) is then drawn at ``frames`` evenly
spaced days of that course beside the cascade funnel so far and a time line, and written as
a GIF (Pillow) or an MP4 (ffmpeg, where it is installed).

The file holds exactly ``frames`` frames of one size (1280 x 720, 16:9): every axes has a
fixed place (the colour bar is drawn into its own axes, not taken from the map's), and every
frame shows a different day, so Pillow, which merges identical consecutive GIF frames, has
nothing to merge.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.animation import FFMpegWriter, FuncAnimation, PillowWriter
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator, NullFormatter

from ..biology.anatomy import PRIMARY_SITES
from ..biology.stages import FUNNEL_STAGES, STAGE_LABELS
from ..config.schema import Scenario
from ..engine.model import MetastasisModel
from ..engine.results import body_state
from ..experiments.seeds import patient_generator
from ..viz.bodymap import body_map
from ..viz.style import SINGLE_SERIES_COLOR, new_figure

#: Figure size (inches) and resolution: 1280 x 720 pixels, a 16:9 slide.
FIGSIZE, DPI = (12.8, 7.2), 100


class AnimationError(ValueError):
    """An animation that cannot be written (format, missing ffmpeg)."""


@dataclass
class Course:
    """One simulated course: body-map states after every step, and how it ended."""

    states: list[dict[str, Any]]
    end_day: float
    died: bool
    horizon_days: float
    events: list[dict] = field(default_factory=list)
    label: str = ""


def _snapshot(model: MetastasisModel) -> dict[str, Any]:
    s = body_state(model)
    s["reached"] = {k: int(v) for k, v in zip(FUNNEL_STAGES, model.ledger.reached.tolist(),
                                              strict=True)}
    return s


def record_course(scenario: Scenario, seed: int) -> Course:
    """Simulate one patient to the end of the course, keeping the state after every step."""
    model = MetastasisModel(scenario, rng=patient_generator(seed))
    states = [_snapshot(model)]
    while model.running:
        model.step()
        states.append(_snapshot(model))
    site = PRIMARY_SITES[scenario.primary.site].label
    return Course(states=states, end_day=float(model.day), died=bool(model.died),
                  horizon_days=float(scenario.simulation.horizon_days),
                  events=list(model.clinic.events),
                  label=f"Primary: {site}; {scenario.hypothesis} hypothesis")


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
    """The animation figure: the body map, its colour bar, the funnel so far and a time line,
    each in an axes of fixed place and size; :meth:`draw` redraws frame ``i``."""

    def __init__(self, course: Course, frames: int):
        self.course = course
        self.days = frame_days(course, frames)
        self.fmt = day_format(self.days)
        final = np.array([course.states[-1]["reached"][k] for k in FUNNEL_STAGES], float)
        self.funnel_max = max(float(final.max()), 10.0)
        self.fig: Figure = new_figure(figsize=FIGSIZE, dpi=DPI)
        self.ax_map = self.fig.add_axes((0.0, 0.155, 0.50, 0.78))
        self.cax = self.fig.add_axes((0.505, 0.36, 0.012, 0.40))
        self.ax_f = self.fig.add_axes((0.785, 0.36, 0.20, 0.52))
        self.ax_t = self.fig.add_axes((0.585, 0.13, 0.40, 0.045))

    def draw(self, i: int) -> list:
        day = float(self.days[i])
        s = state_at(self.course, day)
        body_map(s, ax=self.ax_map, cax=self.cax,
                 title=f"{self.course.label}: day {day:{self.fmt}}", fontsize=9.5)
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
        ax.set_xlim(0.5, self.funnel_max * 3e4)
        ax.set_ylim(-0.6, len(FUNNEL_STAGES) - 0.4)
        ax.set_yticks(y, [STAGE_LABELS[k] for k in FUNNEL_STAGES], fontsize=10)
        ax.tick_params(axis="x", labelsize=9)
        ax.xaxis.set_major_locator(LogLocator(numticks=5))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("cells (log scale)", fontsize=10)
        ax.set_title("cells that reached each step so far", fontsize=11)
        for yi, v in zip(y, reached, strict=True):
            if v > 0:
                ax.text(v * 1.5, yi, _count(v), va="center", fontsize=9)

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
        for d, text in _event_marks(self.course.events, end):
            ax.axvline(d, color="#7b2cbf", lw=2)
            ha = "left" if d < 0.15 * end else "right" if d > 0.85 * end else "center"
            ax.text(d, 1.15, text, ha=ha, va="bottom", fontsize=9.5, color="#4b1c7a",
                    transform=ax.get_xaxis_transform())
        why = "lethal tumour burden" if self.course.died else "end of the simulated period"
        ax.set_xlabel(f"day of the course (ended on day {self.course.end_day:.0f}: {why})",
                      fontsize=10)

    def close(self) -> None:
        self.fig.clear()


def _count(v: float) -> str:
    """A cell count in plain digits up to a million, else as a power of ten."""
    if v < 1e6:
        return f"{v:,.0f}"
    e = math.floor(math.log10(v))
    return f"${v / 10 ** e:.1f} \\times 10^{{{e}}}$"


def _event_marks(events: list[dict], end: float) -> list[tuple[float, str]]:
    """Clinical events to mark on the time line (diagnosis, resection, therapy), those
    within 12 % of the course of each other joined into one label."""
    names = {"diagnosis": "diagnosis", "resection": "resection",
             "systemic_start": "systemic therapy", "local_therapy": "local therapy"}
    marks: list[tuple[float, str]] = []
    for e in events:
        name = names.get(e.get("event", ""))
        if name is None:
            continue
        if marks and e["day"] - marks[-1][0] < 0.12 * end:
            if name not in marks[-1][1]:
                marks[-1] = (marks[-1][0], f"{marks[-1][1]}, {name}")
            continue
        marks.append((float(e["day"]), name))
    return marks


def animate(scenario: Scenario, out: Path, seed: int = 1, frames: int = 60,
            fps: int = 6) -> Path:
    """Write the animation of one course with exactly ``frames`` frames to ``out``."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise AnimationError(f"--out {out}: the file must end in .gif or .mp4")
    if suffix == ".mp4" and shutil.which("ffmpeg") is None:
        raise AnimationError("MP4 needs ffmpeg, which is not installed here (Debian: apt-get "
                             "install ffmpeg); write a .gif instead, which needs nothing more")
    tmp = _reserve(out)  # before the simulation: an unwritable --out fails at once
    try:
        slides = Slides(record_course(scenario, seed), frames)
        anim = FuncAnimation(slides.fig, slides.draw, frames=frames, blit=False)
        writer = PillowWriter(fps=fps) if suffix == ".gif" else FFMpegWriter(fps=fps)
        try:
            anim.save(tmp, writer=writer, dpi=DPI)
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
