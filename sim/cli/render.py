"""``surgisim render``: a scenario's endoscope view at a moment of a headless run, as a PNG.

The scenario runs headless with a synthetic operator following its demonstration plan
(as ``surgisim run`` does) until the simulated time asked for; then the session's scene
description and node poses are drawn by :class:`sim.render.Renderer`.
:func:`sim.session.preview.view_at` is the only place that touches the session.
"""

from __future__ import annotations

import re
from pathlib import Path

import typer

from sim.cli.options import SCENARIO


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
    from sim.session.preview import view_at
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
