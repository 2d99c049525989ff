"""The presets' joint calibration as tables: out-of-sample scores and model probabilities.

``metasim calibrate-presets`` writes them (validation.json, validation.md, shared_soil.json);
the bundled copies (:data:`BUNDLED_VALIDATION`, :data:`~sim.experiments.inference.SHARED_SOIL_FILE`)
are what ``metasim validate`` prints and what ``metasim calibrate`` of one preset calibrates
against.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from .soil_model import SoilPosterior

#: The out-of-sample report of the bundled presets' calibration.
BUNDLED_VALIDATION = Path(__file__).with_name("presets_validation.json")


def shared_soil_file(joint: Mapping[str, SoilPosterior], report: Mapping[str, Any],
                     seed: int) -> dict[str, Any]:
    """shared_soil.json: per hypothesis the joint fit's shared soil, and without each
    primary (what one preset's calibration uses as its prior)."""
    return {"date": date.today().isoformat(), "seed": seed,
            "hypotheses": {h: {"primaries": len(post.primaries),
                               "all": post.shared_summary(),
                               "without": report["shared_soil_without"].get(h, {})}
                           for h, post in joint.items()}}


def _f(v: float, fmt: str = ".2f") -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


def validation_markdown(report: Mapping[str, Any],
                        joint: Mapping[str, SoilPosterior] | None = None) -> str:
    """The out-of-sample table (one row per preset) and the model probabilities."""
    kf, lo = report["kfold"], report["lopo"]
    primaries = list(report["model_probabilities"])
    lines = ["| primary | P(ewing) | P(paget) | P(combined) | ewing ρ / R² (prediction) | "
             "paget ρ / R², k-fold | combined ρ / R², k-fold | combined ρ / R², LOPO | "
             "90 % coverage ewing / paget / combined (k-fold) | log pred. density per organ "
             "ewing / paget / combined |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for p in primaries:
        mp = report["model_probabilities"][p]
        e, pg, c, cl = kf["ewing"][p], kf["paget"][p], kf["combined"][p], lo["combined"][p]
        lines.append(
            f"| {p} | {_f(mp['ewing'])} | {_f(mp['paget'])} | {_f(mp['combined'])} | "
            f"{_f(e['spearman'])} / {_f(e['r2'])} | {_f(pg['spearman'])} / {_f(pg['r2'])} | "
            f"{_f(c['spearman'])} / {_f(c['r2'])} | {_f(cl['spearman'])} / {_f(cl['r2'])} | "
            f"{_f(e['coverage_90'], '.0%')} / {_f(pg['coverage_90'], '.0%')} / "
            f"{_f(c['coverage_90'], '.0%')} | {_f(e['lpd'], '.1f')} / {_f(pg['lpd'], '.1f')} / "
            f"{_f(c['lpd'], '.1f')} |")

    def mean(h: str, table: Mapping, k: str) -> float:
        v = [table[h][p][k] for p in primaries if not math.isnan(table[h][p][k])]
        return float(np.mean(v)) if v else math.nan

    lines.append(
        f"| **mean** | {_f(np.mean([report['model_probabilities'][p]['ewing'] for p in primaries]))} | "
        f"{_f(np.mean([report['model_probabilities'][p]['paget'] for p in primaries]))} | "
        f"{_f(np.mean([report['model_probabilities'][p]['combined'] for p in primaries]))} | "
        f"{_f(mean('ewing', kf, 'spearman'))} / {_f(mean('ewing', kf, 'r2'))} | "
        f"{_f(mean('paget', kf, 'spearman'))} / {_f(mean('paget', kf, 'r2'))} | "
        f"{_f(mean('combined', kf, 'spearman'))} / {_f(mean('combined', kf, 'r2'))} | "
        f"{_f(mean('combined', lo, 'spearman'))} / {_f(mean('combined', lo, 'r2'))} | "
        f"{_f(mean('ewing', kf, 'coverage_90'), '.0%')} / {_f(mean('paget', kf, 'coverage_90'), '.0%')} / "
        f"{_f(mean('combined', kf, 'coverage_90'), '.0%')} | {_f(mean('ewing', kf, 'lpd'), '.1f')} / "
        f"{_f(mean('paget', kf, 'lpd'), '.1f')} / {_f(mean('combined', kf, 'lpd'), '.1f')} |")
    if joint:
        lines.append("")
        for h, post in joint.items():
            q = np.quantile(post.tau, [0.05, 0.5, 0.95])
            lines.append(f"How seed-specific the soil is ({h}): tau = {q[1]:.2f} "
                         f"(90 % interval {q[0]:.2f}-{q[2]:.2f}), the SD of a primary's log "
                         "affinity around the organ's shared soil.")
    return "\n".join(lines)


def load_bundled(path: Path = BUNDLED_VALIDATION) -> dict[str, Any] | None:
    """The bundled out-of-sample report, or None."""
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def validate_lines(report: Mapping[str, Any], primaries: list[str]) -> list[str]:
    """What ``metasim validate`` prints from the calibration: per preset the model
    probabilities and the out-of-sample scores."""
    kf = report["kfold"]
    out = [f"{'primary':<14}{'P(ewing)':>10}{'P(paget)':>10}{'P(comb.)':>10}"
           f"{'ewing rho':>11}{'paget rho':>11}{'comb. rho':>11}{'comb. R2':>10}"
           f"{'cover90':>9}{'lpd':>7}"]
    for p in primaries:
        if p not in report["model_probabilities"]:
            continue
        mp = report["model_probabilities"][p]
        c = kf["combined"][p]
        out.append(f"{p:<14}{mp['ewing']:>10.2f}{mp['paget']:>10.2f}{mp['combined']:>10.2f}"
                   f"{_f(kf['ewing'][p]['spearman']):>11}{_f(kf['paget'][p]['spearman']):>11}"
                   f"{_f(c['spearman']):>11}{_f(c['r2']):>10}{_f(c['coverage_90'], '.0%'):>9}"
                   f"{_f(c['lpd'], '.1f'):>7}")
    return out


__all__ = ["BUNDLED_VALIDATION", "load_bundled", "shared_soil_file", "validate_lines",
           "validation_markdown"]
