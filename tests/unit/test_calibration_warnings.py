"""A calibration says when its ABC result should not be read as a posterior."""

from __future__ import annotations

import numpy as np

from sim.experiments.inference import CoursePosterior, course_warnings


def _course(samples: dict, probs: dict) -> CoursePosterior:
    return CoursePosterior("x.db", ["competence"], samples, probs, 3, 100, [3.0, 2.0], 1.0)


def test_a_healthy_arm_gives_no_warning():
    """Forty equally weighted distinct particles: nothing to warn about (a warning here
    would teach users to ignore them)."""
    rng = np.random.default_rng(0)
    c = _course({"ewing": ({"competence": rng.uniform(-6, -5, 40)}, np.ones(40))},
                {"ewing": 1.0})
    assert course_warnings(c) == []


def test_dead_thin_and_collapsed_arms_are_named():
    """An arm that died out, an arm on ~2 effective particles, and an interval that is one
    value are each named with the arm and the parameter."""
    rng = np.random.default_rng(0)
    healthy = ({"competence": rng.uniform(-6, -5, 40)}, np.ones(40))
    thin = ({"competence": rng.uniform(-6, -5, 40)}, np.r_[np.ones(2) * 100, np.ones(38) * 1e-3])
    point = ({"competence": np.full(30, -5.5)}, np.ones(30))
    c = _course({"ewing": healthy, "paget": thin, "combined": point},
                {"ewing": 0.7, "paget": 0.3, "combined": 0.0})
    text = "\n".join(course_warnings(c))
    assert "paget arm rests on 2.0 effective particles" in text
    assert "combined arm died out" in text
    assert "combined arm's 90 % interval of competence collapsed" in text
    assert "ewing" not in text
