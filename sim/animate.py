"""``metasim animate``: the body map over one simulated course, for slides.

One patient of the scenario is simulated; the body map (:mod:`sim.bodymap`) is drawn at
``frames`` evenly spaced days beside the cascade funnel so far, and written as a GIF
(Pillow) or an MP4 (ffmpeg, where it is installed).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.animation import FFMpegWriter, FuncAnimation, PillowWriter

from .anatomy import PRIMARY_SITES
from .bodymap import body_map, state_of
from .model import FUNNEL_STAGES, MetastasisModel
from .plots import STAGE_LABELS
from .scenario import Scenario


class AnimationError(ValueError):
    """An animation that cannot be written (format, missing ffmpeg)."""


def record_course(scenario: Scenario, seed: int, frames: int) -> list[dict]:
    """Body-map states and funnel counts at ``frames`` evenly spaced days of one course."""
    model = MetastasisModel(scenario, rng=seed)
    horizon = scenario.simulation.horizon_days
    marks = list(np.linspace(0.0, horizon, frames))
    states = []
    while True:
        while marks and model.day >= marks[0] - 1e-9:
            marks.pop(0)
            s = state_of(model)
            s["reached"] = {k: int(v) for k, v in zip(FUNNEL_STAGES, model.reached.tolist(),
                                                       strict=True)}
            states.append(s)
        if not model.running or not marks:
            break
        model.step()
    if not states or states[-1]["day"] < model.day:
        s = state_of(model)
        s["reached"] = {k: int(v) for k, v in zip(FUNNEL_STAGES, model.reached.tolist(),
                                                   strict=True)}
        states.append(s)
    return states


def animate(scenario: Scenario, out: Path, seed: int = 1, frames: int = 60,
            fps: int = 6) -> Path:
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise AnimationError(f"--out {out}: the file must end in .gif or .mp4")
    if suffix == ".mp4" and shutil.which("ffmpeg") is None:
        raise AnimationError("MP4 needs ffmpeg, which is not installed here (Debian: apt-get "
                             "install ffmpeg); write a .gif instead, which needs nothing more")
    states = record_course(scenario, seed, frames)
    label = f"{PRIMARY_SITES[scenario.primary.site].label}, {scenario.hypothesis}"
    fig = plt.figure(figsize=(9.5, 7.5))
    ax_map = fig.add_axes((0.0, 0.0, 0.5, 0.95))
    ax_f = fig.add_axes((0.68, 0.35, 0.3, 0.5))

    def draw(i: int):
        for ax in list(fig.axes):
            if ax not in (ax_map, ax_f):
                fig.delaxes(ax)
        ax_map.clear()
        ax_f.clear()
        s = states[i]
        body_map(s, ax=ax_map, title=f"{label}: day {s['day']:.0f}")
        reached = np.array([s["reached"][k] for k in FUNNEL_STAGES], dtype=float)
        y = np.arange(len(FUNNEL_STAGES))[::-1]
        ax_f.barh(y, np.where(reached > 0, reached, np.nan), color="#555555", edgecolor="black")
        ax_f.set_xscale("log")
        ax_f.set_xlim(0.5, max(reached.max(), 10) * 20)
        ax_f.set_yticks(y, [STAGE_LABELS[k] for k in FUNNEL_STAGES], fontsize=7)
        ax_f.set_title("cells that reached each step (so far)", fontsize=9)
        for yi, v in zip(y, reached, strict=True):
            if v > 0:
                ax_f.text(v * 1.3, yi, f"{v:.2g}", va="center", fontsize=7)
        return []

    anim = FuncAnimation(fig, draw, frames=len(states), blit=False)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.partial{out.suffix}")
    writer = PillowWriter(fps=fps) if suffix == ".gif" else FFMpegWriter(fps=fps)
    anim.save(tmp, writer=writer, dpi=80)
    plt.close(fig)
    tmp.replace(out)
    return out
