"""``surgisim render``: a scenario's endoscope view at a moment of a headless run, as a PNG.

The scenario runs headless with a synthetic operator following its demonstration plan
(as ``surgisim run`` does) until the simulated time asked for; then the session's scene
description and node poses are drawn by :class:`sim.render.Renderer`.
:func:`session_at` and :func:`view_of` are the only places that touch the session.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import typer

from scenarios.visual import SceneDescription
from sim.cli.options import SCENARIO


@dataclass
class View:
    """What a renderer needs for one frame of a session, and when it was."""

    description: SceneDescription
    X_WN: np.ndarray
    X_WC: np.ndarray
    time_s: float


#: ``--operator none``: no synthetic operator and no plan; the arms hold still while the
#: world and the exercise's events run (a preview of a scenario that has no plan).
NO_OPERATOR = "none"


@contextmanager
def session_at(scenario, seed: int, at_s: float, operator: str = "expert"):
    """A session of ``scenario`` run headless with ``operator`` until ``at_s`` simulated
    seconds (or the end of the exercise, if sooner); closed on leaving the block. With
    ``operator`` ``"none"`` (:data:`NO_OPERATOR`) no plan is needed: the arms hold still."""
    from sim.session.demo import Demonstrator
    from sim.session.plans import plan_for
    from sim.session.session import Session

    session = Session(scenario, seed=seed)
    try:
        if at_s > 0 and operator == NO_OPERATOR:
            # no hands: the world runs on (events spawn and move objects), arms hold still
            while session.time_s < at_s - 1e-9 and not session.finished:
                steps = max(1, round((at_s - session.time_s) * session.world.rate_hz))
                session.advance(None, steps=min(steps, 100))
        elif at_s > 0:
            demo = Demonstrator(session, operator, seed=seed, time_limit_s=at_s)
            plan_for(scenario)(demo)  # returns once the time limit is reached
            while session.time_s < at_s - 1e-9 and not session.finished:
                before = session.time_s
                demo.wait(at_s - session.time_s)  # the plan ended early: hands hold still
                if session.time_s <= before:
                    break
        yield session
    finally:
        session.close()


def view_of(session) -> View:
    """The scene description, node poses and camera pose of a session now."""
    return View(
        session.scene_description(), session.node_poses(), session.camera_pose_W(), session.time_s
    )


def view_at(scenario, seed: int, at_s: float, operator: str = "expert") -> View:
    """The endoscope view's inputs at ``at_s`` of a headless run (see :func:`session_at`)."""
    with session_at(scenario, seed, at_s, operator) as session:
        return view_of(session)


def parse_size(text: str) -> tuple[int, int]:
    """``"640x480"`` to ``(640, 480)``; a BadParameter naming the format otherwise."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match or not all(0 < int(v) <= 8192 for v in match.groups()):
        raise typer.BadParameter(
            f"{text!r} is not WIDTHxHEIGHT in pixels (1..8192 each), e.g. 640x480",
            param_hint="--size",
        )
    return int(match[1]), int(match[2])


def render(
    scenario: str = SCENARIO,
    seed: int = typer.Option(0, help="Seed of the world and the operator."),
    at_s: float = typer.Option(2.0, "--at-s", min=0.0, help="Simulated time of the view (s)."),
    out: Path = typer.Option(Path("view.png"), "--out", "-o", help="PNG file to write."),
    size: str = typer.Option("640x480", help="Image size WIDTHxHEIGHT (pixels)."),
    stereo: bool = typer.Option(
        False, help="Write the stereo pair side by side (left eye left; 2 x WIDTH wide)."
    ),
    baseline_mm: float = typer.Option(5.0, help="Stereo baseline (mm) between the eyes."),
    operator: str = typer.Option(
        "expert",
        help="Synthetic operator: expert, intermediate, novice; or none: no operator and "
        "no plan needed, the arms hold still while the scenario's events run.",
    ),
) -> None:
    """Run a scenario headless until --at-s and write the endoscope's view as a PNG."""
    from scenarios.errors import ScenarioError
    from sim.cli.checks import checked_output
    from sim.errors import SimError
    from sim.render import Renderer, save_png
    from sim.render.snapshot import side_by_side
    from sim.world.scenario_scene import load_world_scenario

    width, height = parse_size(size)
    try:
        out = checked_output(out, "--out")  # before the run, not after it
        spec = load_world_scenario(scenario)
        view = view_at(spec, seed, at_s, operator)
        # a still image: anti-aliased and with a fine shadow map whatever the backend
        with Renderer(view.description, width, height, samples=4, shadow_size=2048) as renderer:
            if stereo:
                left, right = renderer.render_stereo(view.X_WN, view.X_WC, baseline_mm / 1000.0)
                image = side_by_side(left, right)
            else:
                image = renderer.render(view.X_WN, view.X_WC)
            backend = f"{renderer.backend}: {renderer.gl_renderer}"
    except (SimError, ScenarioError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    path = save_png(image, out)
    typer.echo(
        f"wrote {path} ({image.shape[1]}x{image.shape[0]}, {spec.name} seed {seed} at "
        f"{view.time_s:.2f} s simulated, {backend})"
    )
