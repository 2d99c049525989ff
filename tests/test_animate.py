"""The body map and `metasim animate`."""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner
from PIL import Image

from sim.anatomy import PRIMARY_SITES, TARGET_ORGANS
from sim.bodymap import LAYOUT, PRIMARY_POSITION, body_map, state_of
from sim.cli import main
from sim.model import MetastasisModel


def test_every_organ_and_primary_has_a_place_on_the_map():
    assert set(LAYOUT) == set(TARGET_ORGANS)
    assert set(PRIMARY_POSITION) == set(PRIMARY_SITES)


def test_body_map_draws_a_running_model(small_scenario_path, tmp_path):
    model = MetastasisModel(small_scenario_path, rng=1)
    model.run()
    state = state_of(model)
    assert state["burden"] and state["day"] == model.day
    fig = body_map(state)
    fig.savefig(tmp_path / "map.png")
    assert (tmp_path / "map.png").stat().st_size > 10_000


def test_animate_writes_a_gif(small_scenario_path, tmp_path):
    out = tmp_path / "course.gif"
    res = CliRunner().invoke(main, ["animate", str(small_scenario_path), "--out", str(out),
                                    "--frames", "4", "--seed", "3"])
    assert res.exit_code == 0, res.output
    with Image.open(out) as im:
        assert im.n_frames >= 3


def test_animate_explains_missing_ffmpeg_and_bad_suffixes(small_scenario_path, tmp_path,
                                                          monkeypatch):
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
    out = tmp_path / "course.mp4"
    res = CliRunner().invoke(main, ["animate", str(small_scenario_path), "--out", str(out),
                                    "--frames", "3"])
    assert res.exit_code == 0, res.output
    assert out.stat().st_size > 1000
