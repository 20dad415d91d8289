"""Contacts that involve an instrument, classified, with forces; tip force estimates.

Read after a physics step (pybullet keeps the last step's contact points, so reading is
cheap and changes nothing). pybullet also reports predicted contacts (surfaces up to a
few millimetres apart, no force); those are left out. Only contacts with an arm are
read: one query per arm, so the cost does not grow with the number of resting objects.
These records feed the collision and excessive-force metrics of the scoring layer;
:func:`touches_environment` asks the same of one held object (carrying a ring along a
wire without touching it is an exercise of its own).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

INSTRUMENT_OBJECT = "instrument-object"
INSTRUMENT_INSTRUMENT = "instrument-instrument"
INSTRUMENT_ENVIRONMENT = "instrument-environment"
CONTACT_KINDS = (INSTRUMENT_OBJECT, INSTRUMENT_INSTRUMENT, INSTRUMENT_ENVIRONMENT)


@dataclass(frozen=True, slots=True)
class Contact:
    """One contact point between an instrument and something else, after a step.

    Attributes:
        kind: one of :data:`CONTACT_KINDS`.
        instrument: the arm's name (for instrument-instrument, the arm with the lower
            body id; each such contact is reported once).
        link: the instrument link touching (``"jaw_left_link"``, ``"roll_link"``, ...).
        other: the other body's name (an arm name, an object or scenery name).
        other_link: the other arm's link name; ``""`` for single-body objects.
        position_m: the contact point on the other body, world frame (m).
        normal: unit normal in the world, pointing from the other body to the instrument.
        normal_force_n: normal force magnitude (N).
        friction_force_n: friction force vector on the instrument, world frame (N).
        distance_m: signed separation (negative when penetrating).
    """

    kind: str
    instrument: str
    link: str
    other: str
    other_link: str
    position_m: np.ndarray
    normal: np.ndarray
    normal_force_n: float
    friction_force_n: np.ndarray
    distance_m: float

    @property
    def force_on_instrument_n(self) -> np.ndarray:
        """Total contact force on the instrument at this point (N, world frame)."""
        return self.normal_force_n * self.normal + self.friction_force_n


def read_contacts(world) -> list[Contact]:
    """All current contacts of every arm in ``world``, classified."""
    pb, client = world.pb, world.client
    arms_by_body = {arm.body: arm for arm in world.arms.values()}
    out = []
    for body in sorted(arms_by_body):
        arm = arms_by_body[body]
        link_names = world.link_names(body)
        for p in pb.getContactPoints(bodyA=body, physicsClientId=client):
            if p[8] > 0.0 and p[9] == 0.0:
                continue  # a predicted contact: not touching, no force
            other_body = p[2]
            other_arm = arms_by_body.get(other_body)
            if other_arm is not None:
                if other_body < body:
                    continue  # reported while reading the other arm
                kind, other, other_link = (
                    INSTRUMENT_INSTRUMENT,
                    other_arm.name,
                    world.link_names(other_body).get(p[4], ""),
                )
            else:
                info = world.bodies.get(other_body)
                role = info.role if info is not None else "environment"
                kind = INSTRUMENT_OBJECT if role == "object" else INSTRUMENT_ENVIRONMENT
                other = info.name if info is not None else f"body{other_body}"
                other_link = ""
            friction = p[10] * np.asarray(p[11]) + p[12] * np.asarray(p[13])
            out.append(
                Contact(
                    kind,
                    arm.name,
                    link_names.get(p[3], ""),
                    other,
                    other_link,
                    np.asarray(p[6]),
                    np.asarray(p[7]),
                    float(p[9]),
                    friction,
                    float(p[8]),
                )
            )
    return out


def touches_environment(world, body: int) -> bool:
    """Whether object ``body`` touches static scenery now (a carried ring on its wire;
    predicted contacts without force do not count, as in :func:`read_contacts`)."""
    for p in world.pb.getContactPoints(bodyA=body, physicsClientId=world.client):
        if p[8] > 0.0 and p[9] == 0.0:
            continue
        info = world.bodies.get(p[2])
        if info is None or info.role == "environment":
            return True
    return False


def clear_of_environment(world, body: int, clearance_m: float) -> bool:
    """Whether object ``body`` is more than ``clearance_m`` from all static scenery.

    Asks for closest points (exact, one query per scenery body): the contact points
    pybullet keeps vanish a few hundredths of a millimetre after surfaces part.
    """
    pb, c = world.pb, world.client
    return not any(
        pb.getClosestPoints(body, other, clearance_m, physicsClientId=c)
        for other, info in world.bodies.items()
        if info.role == "environment"
    )


def tip_forces(
    world, contacts: list[Contact] | None = None, *, clashes: bool = True
) -> dict[str, np.ndarray]:
    """Estimated force on each instrument's tip (N, world frame), by arm name.

    The sum of contact forces on the arm's distal links (wrist and jaws; the scope for an
    ECM) and of the reaction of every grasp it holds (what the held object's weight and
    its own contacts pull on the jaws). Instrument-instrument contacts count for both
    arms, with opposite signs; ``clashes=False`` leaves them out, giving the force of
    tissue and objects on the tip (its magnitude is what the tip exerts on them: what an
    excessive-force metric is about; a clash between instruments is scored as a
    collision). The sign is that of the force on the instrument: a tip pressed down
    into a pad reads upward, as the force fed back to a master does.
    """
    contacts = read_contacts(world) if contacts is None else contacts
    if not clashes:
        contacts = [c for c in contacts if c.kind != INSTRUMENT_INSTRUMENT]
    forces = {name: np.zeros(3) for name in world.arms}
    distal = world.distal_links
    for c in contacts:
        f = c.force_on_instrument_n
        if c.link in distal[c.instrument]:
            forces[c.instrument] += f
        if c.kind == INSTRUMENT_INSTRUMENT and c.other_link in distal[c.other]:
            forces[c.other] -= f
    for name, force in world.grasps.reaction_forces().items():
        forces[name] += force
    return forces
