"""A session run headless to a moment, and what a renderer needs of it then.

``surgisim render`` draws one frame of it; the render benchmark times frames of it. The
scenario runs with a synthetic operator following its demonstration plan (as ``surgisim
run`` does) until the simulated time asked for, or with no operator (the arms hold still).
Kept below the commands so that a benchmark and a command share it (``bench`` imports no
``sim.cli``: ``docs/architecture.md``).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from scenarios.visual import SceneDescription


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
