"""Every preset calibrated together: one shared organ soil, scored out of sample.

The workflow behind ``metasim calibrate-presets``: each preset's course as ``metasim
calibrate`` infers it (:func:`~sim.experiments.inference.calibrate_preset`, alone), then
the hierarchical soil of all of them jointly (:func:`~sim.experiments.inference.joint_soil`),
then k-fold cross-validation over organs, leave-one-primary-out and the posterior model
probabilities (:func:`~sim.experiments.crossval.cross_validate`). Nothing is written here
but each preset's ABC database: the command writes the results through :mod:`sim.io`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from ..config.schema import Scenario
from .course_parameters import Settings
from .crossval import cross_validate
from .executors import Executor
from .inference import MODELS, PresetCalibration, calibrate_preset, joint_soil, slice_posterior
from .soil_model import SoilPosterior


@dataclass
class PresetsCalibration:
    """The presets' calibrations (each with its slice of the joint soil), the joint soil
    posterior per hypothesis, and the out-of-sample report."""

    calibrations: dict[str, PresetCalibration]
    joint: dict[str, SoilPosterior]
    report: dict[str, Any]


def calibrate_presets(scenarios: Mapping[str, Scenario], out: Path, seed: int,
                      settings: Settings, executor: Executor, resume: bool = False,
                      say: Callable[[str], None] = lambda _: None) -> PresetsCalibration:
    """Calibrate ``scenarios`` (preset name -> scenario) with one shared soil.

    Each preset's ABC database goes into ``out/NAME/abc.db``; with ``resume`` a preset whose
    database is there continues from it. ``say`` receives one line per stage.
    """
    cals: dict[str, PresetCalibration] = {}
    for name, sc in scenarios.items():
        folder = Path(out) / name
        folder.mkdir(parents=True, exist_ok=True)
        say(f"{name}: calibrating (seed {seed})")
        cals[name] = calibrate_preset(sc, str(folder), seed=seed, settings=settings,
                                      executor=executor,
                                      resume=resume and (folder / "abc.db").is_file())
        say(f"{name}: {cals[name].wall_time_s:.0f} s")
    joint = joint_soil(list(cals.values()), seed)
    for i, cal in enumerate(cals.values()):
        cal.soil = {h: slice_posterior(post, i) for h, post in joint.items()}
        cal.notes.append("soil: the joint hierarchical fit of " + ", ".join(cals))
    say("scoring out of sample (k-fold over organs, leave one primary out)")
    data = {h: [c.inputs[h].data for c in cals.values()] for h in MODELS}
    targets = {c.scenario.primary.site: c.course.model_probabilities for c in cals.values()
               if c.course is not None}
    report = cross_validate(data, seed, targets)
    report["date"], report["seed"] = date.today().isoformat(), seed
    return PresetsCalibration(cals, joint, report)


__all__ = ["PresetsCalibration", "calibrate_presets"]
