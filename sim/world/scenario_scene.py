"""From a scenario's ``scene:`` section to the physics world's scene description.

Kept apart from the session so that ``surgisim scenario validate`` can build (and so
check) a scene without running anything. Errors from the world's validation are re-raised
as :class:`~scenarios.errors.ScenarioError` at the YAML line of the object or arm at fault.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from scenarios.errors import ScenarioError
from scenarios.schema import Scenario


def load_world_scenario(scenario: str | Path | Scenario) -> Scenario:
    """A scenario, checked against the object types this physics world can build.

    ``scenarios`` imports nothing of ``sim``, so its loader cannot know the object types;
    every reader that goes on to build the scene passes
    :data:`sim.world.scene.OBJECT_TYPES` through here, the lowest room that owns them
    (the session, the sweep, the environment and the commands need no ``sim.env``).

    Args:
        scenario: a bundled scenario name, a YAML path, or a loaded scenario (returned
            as it is).

    Raises:
        ScenarioError: the scenario does not exist or does not validate.
    """
    if isinstance(scenario, Scenario):
        return scenario
    from scenarios.loader import load_scenario
    from sim.world.scene import OBJECT_TYPES

    return load_scenario(scenario, object_types=OBJECT_TYPES)


def parse_world_scenario(text: str | bytes, file: str) -> Scenario:
    """Scenario YAML ``text`` checked against the world's object types (see
    :func:`load_world_scenario`); ``file`` names it in errors (a recording's copy)."""
    from scenarios.loader import parse_scenario
    from sim.world.scene import OBJECT_TYPES

    return parse_scenario(text, file, object_types=OBJECT_TYPES)


def scene_dict(scenario: Scenario, seed: int) -> dict:
    """The dict for :func:`sim.world.scene.scene_from_dict` (world frame, SI units)."""
    scene = scenario.scene
    camera = scene.camera
    arms = []
    for arm in scene.arms:
        entry = {
            "name": arm.name,
            "model": arm.kind,
            "port_position_m": list(arm.port.position_m),
            "port_rpy_rad": list(arm.port.rpy_rad),
            "insertion_m": arm.insertion_m,
            "jaw_rate_rad_s": arm.jaw_rate_rad_s,
        }
        if arm.port.look_at_m is not None:
            entry["port_look_at_m"] = list(arm.port.look_at_m)
        if arm.start_joints is not None:
            entry["q"] = list(arm.start_joints)
        if arm.kind == "ecm" and camera.arm == arm.name:
            entry.update(fov_deg=camera.fov_deg, near_m=camera.near_m, far_m=camera.far_m)
        arms.append(entry)
    objects = [
        {
            "type": o.type,
            "name": o.id,
            "position_m": list(o.pose.position_m),
            "rpy_rad": list(o.pose.rpy_rad),
            **o.params,
        }
        for o in scene.objects
    ]
    out = {
        "physics": {
            "rate_hz": scene.physics_rate_hz,
            "gravity_m_s2": list(scene.gravity_m_s2),
            "seed": int(seed),
        },
        "arms": arms,
        "objects": objects,
    }
    if scene.workspace_m is not None:
        out["workspace_m"] = [list(c) for c in scene.workspace_m]
    return out


def build_scene_spec(scenario: Scenario, seed: int = 0):
    """Validate the scene with the world's own rules; errors point at the YAML line."""
    from sim.errors import SimError
    from sim.world.scene import scene_from_dict

    data = scene_dict(scenario, seed)
    try:
        return scene_from_dict(data)
    except SimError as exc:
        message = str(exc)
        loc: tuple = ("scene",)
        where = "scene"
        for key, entries in (("objects", data["objects"]), ("arms", data["arms"])):
            for i in range(len(entries)):
                if message.startswith(f"{key}[{i}]"):
                    loc = ("scene", key, i, *field_loc(key, message))
                    where = f"scene.{key}[{i}]"
                    message = message.removeprefix(f"{key}[{i}]: ")
                    if key == "arms":
                        message = _in_scenario_words(message)
                    else:
                        where, message = _as_params(where, entries[i], message)
        line, col = scenario.position_of(loc)
        raise ScenarioError(f"{where}: {message}", scenario.source_file, line, col) from None


_UNKNOWN = re.compile(r"^unknown field '([^']+)'; valid fields are \[(.*)\]\.")


def _as_params(where: str, entry: dict, message: str) -> tuple[str, str]:
    """An unknown field of an object as the scenario writes it: a misspelt ``params``
    key, listed against that type's parameters (it listed ``name``, ``position_m`` and
    ``rpy_rad``, which ``params`` refuses, and suggested ``position_m`` for ``sise_m``)."""
    from sim.world.scene import closest_names

    match = _UNKNOWN.match(message)
    if match is None:
        return where, message
    placed = {"name", "position_m", "rpy_rad", "type"}
    valid = [v.strip(" '") for v in match.group(2).split(",") if v.strip(" '") not in placed]
    key = match.group(1)
    return (
        f"{where}.params",
        f"unknown parameter {key!r} of a {entry.get('type')}; its parameters are {valid}."
        + closest_names(key, valid),
    )


#: An arm field of the world's description -> where the scenario writes it (under the arm).
_ARM_FIELDS = {
    "port_position_m": ("port", "position_m"),
    "port_rpy_rad": ("port", "rpy_rad"),
    "port_look_at_m": ("port", "look_at_m"),
    "q": ("start_joints",),
}

_FIELD = re.compile(r"field '([A-Za-z_0-9]+)'")
_ARM_FIELD_NAMES = re.compile(r"\b(" + "|".join(k for k in _ARM_FIELDS if "_" in k) + r")\b")


def _in_scenario_words(message: str) -> str:
    """An arm error as the scenario writes its fields (``port.look_at_m``, not the
    world's flat ``port_look_at_m``): the instructor searches the YAML for that name."""
    return _ARM_FIELD_NAMES.sub(lambda m: ".".join(_ARM_FIELDS[m.group(1)]), message)


def field_loc(key: str, message: str) -> tuple:
    """Where under an object (``key`` ``"objects"``) or arm (``"arms"``) the scenario
    writes the first field a world error names (``field 'mark_pairs'``), so the error
    points at the value, not at the object; () when it names none.

    A path into the YAML that names a missing key lands on the deepest node that exists
    (:meth:`scenarios.source.SourceMap.position`): a default left out points at the object.
    """
    match = _FIELD.search(message)
    if match is None:
        return ()
    name = match.group(1)
    if key == "arms":
        return _ARM_FIELDS.get(name, (name,))
    if name in ("position_m", "rpy_rad"):
        return ("pose", name)
    return ("params", name)


def perturbed(scenario: Scenario, shift_m=(1e-9, 0.0, 0.0)) -> Scenario:
    """A copy of ``scenario`` with every scene object moved by ``shift_m`` (m, world).

    For robustness checks: an outcome that a 1e-9 m shift of the start changes is decided
    by floating-point chaos (the last bits differ between CPUs), not by the plan or the
    operator. Arms and the camera stay where they are, so the shift is relative to them.
    """
    shift = [float(v) for v in shift_m]
    if len(shift) != 3 or not all(math.isfinite(v) for v in shift):
        raise ScenarioError(f"shift_m must be 3 finite numbers (m), got {shift_m!r}.")
    out = scenario.model_copy(deep=True)
    for obj in out.scene.objects:
        p = obj.pose.position_m
        obj.pose = obj.pose.model_copy(
            update={"position_m": (p[0] + shift[0], p[1] + shift[1], p[2] + shift[2])}
        )
    return out
