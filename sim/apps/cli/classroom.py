"""``metasim app`` and ``animate``: the classroom app's server, and animations for slides."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from .common import Fail, guard, load, progress_opt, scenario_arg, seed_opt, set_opt


@click.command(name="app")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind (default: this computer only).")
@click.option("--port", type=click.IntRange(1, 65535), default=8765, show_default=True,
              help="Port of the web server (the address is http://HOST:PORT/).")
def app_cmd(host: str, port: int) -> None:
    """The classroom app in the browser: pick a cancer, a hypothesis, press play.

    The server runs in a child process (solara); Ctrl-C, SIGTERM or SIGHUP to this command
    stop the child too, and on Linux the child also dies if this process is killed.
    """
    import signal
    import socket
    import subprocess

    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
            probe.bind((host, port))
    except OSError as e:
        raise Fail(f"--host {host} --port {port}: cannot serve there ({e.strerror or e}; is "
                    "another metasim app running?); choose another --port") from None
    click.echo(f"metasim app: open http://{host}:{port}/ in a browser (Ctrl-C to stop)")
    cmd = [sys.executable, "-m", "solara", "run", "sim.apps.classroom", "--host", host, "--port",
           str(port), "--production", "--no-open"]
    # No "This website runs on Solara" banner: on a projector it covers the page's corner.
    env = {**os.environ, "SOLARA_THEME_SHOW_BANNER": "false", "SOLARA_THEME_TITLE": "metasim"}
    try:
        child = subprocess.Popen(cmd, env=env, preexec_fn=_die_with_parent
                                 if sys.platform.startswith("linux") else None)
    except OSError as e:
        raise Fail(f"could not start the app's server ({e.strerror or e})") from None

    stop: list[int] = []

    def on_signal(signum, _frame) -> None:  # only note it: waiting here could deadlock
        stop.append(signum)
        if child.poll() is None:
            child.terminate()

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, on_signal)
    sys.exit(_wait_child(child, stop))


def _die_with_parent() -> None:
    """In a child before exec (Linux): be killed when the parent dies (PR_SET_PDEATHSIG)."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _wait_child(child, stop: list[int], grace_s: float = 5.0) -> int:
    """Wait for the server child; once a stop signal came, kill it if it has not ended
    within ``grace_s``. Returns the exit status for this command."""
    import subprocess
    import time

    deadline = None
    while True:
        try:
            rc = child.wait(timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            if stop and deadline is None:
                deadline = time.monotonic() + grace_s
            if deadline is not None and time.monotonic() > deadline:
                child.kill()
    if not stop:
        return rc
    return 0 if stop[0] == 2 else 128 + stop[0]  # Ctrl-C (SIGINT = 2) is a normal stop


@click.command(name="animate")
@scenario_arg
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="FILE.gif (Pillow) or FILE.mp4 (needs ffmpeg).")
@set_opt
@seed_opt
@click.option("--frames", type=click.IntRange(2, 2000), default=60, show_default=True,
              help="Pictures in the animation, evenly spaced over the course.")
@click.option("--fps", type=click.IntRange(1, 60), default=6, show_default=True,
              help="Frames per second when it plays.")
@progress_opt
@guard
def animate_cmd(scenario: str, out: Path, overrides: tuple[str, ...], seed: int | None,
                frames: int, fps: int, progress: bool | None) -> None:
    """The body map over one simulated course, as an animation for slides."""
    from ...experiments.seeds import resolve_seed
    from ..animate import AnimationError, animate

    sc = load(scenario, overrides, None, None)
    try:
        path = animate(sc, out, resolve_seed(sc, seed, unset=1)[0], frames, fps,
                       progress=progress)
    except AnimationError as e:
        raise Fail(str(e)) from None
    click.echo(f"Wrote {path} ({frames} frames)")
