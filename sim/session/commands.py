"""What a session step is told to do, per arm: the command sources a session mixes.

Each arm takes its motion from one source per step, chosen by what the caller sends:

- **master samples** (``ArmCommand(master=[...])``, or a bare :class:`MasterSample` or a
  list of them): every sample that arrived since the last step goes through the arm's
  teleoperation pipeline in order (clutch, camera alignment, scaling, tremor filter,
  limits, watchdog) — a person at a master device, or a synthetic operator;
- **a tool-tip pose** (``servo_cp``: 4x4, in the ``world`` or the arm's ``rcm`` frame) —
  a controller or a learning agent working in Cartesian space;
- **joint targets** (``servo_jp``: rad / m in the arm's joint order);
- and, with any of them or alone, a **jaw angle** (rad).

One session can drive PSM1 from a person's master and PSM2 from an algorithm. A step
without a command for an arm holds it where it was told to be last. Commands come from
outside (devices, networks, user code), so :func:`normalise` never raises: a command with
anything it cannot use is refused whole (a refusal event) and the arm holds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from haptics.master import MasterSample

FRAMES = ("world", "rcm")
#: Largest entry a pose may hold: a rotation's are within 1, and no instrument reaches a
#: kilometre (m).
MAX_POSE_ENTRY = 1e3


@dataclass(frozen=True, slots=True)
class ArmCommand:
    """One arm's command for one step (see the module docstring).

    Attributes:
        master: master samples since the last step, oldest first.
        servo_cp: tool-tip pose goal (4x4, m) in ``frame``. A goal the arm cannot take
            within 1 mm holds it with an ``unreachable`` event. A scope (ECM) has four
            joints: at each tip position its shaft through the port fixes the pose's
            orientation up to the roll about the shaft, so a goal must carry that
            orientation (a measured pose moved 1 cm with its orientation kept missed by
            7 mm). To move a scope's tip to a position, solve
            ``kinematics.solve_ik(chain, p_R, q0, rcm=np.zeros(3), restarts=2)`` for it
            and send ``servo_jp``, as the environment's scope actions do (a few restarts:
            the default 300 cost an unreachable goal milliseconds a step).
        frame: ``"world"`` or ``"rcm"`` (the arm's remote centre of motion).
        servo_jp: joint position goal (rad / m, the arm's joint order); a goal outside the
            joint limits is refused (``command_refused``) and the arm holds.
        jaw_rad: jaw angle goal (rad); None leaves the jaw to the other source. Unlike
            a joint goal it is clipped, not refused, to ``Session.arms[name].model.
            jaw_limits_rad`` (a dVRK PSM's: -0.70 ... 1.40): above, it opens fully; a
            goal below 0 closes the jaw and squeezes what it holds, harder the further
            below (as the dVRK does); the measured jaw reads 0 once closed.
    """

    master: tuple[MasterSample, ...] = ()
    servo_cp: np.ndarray | None = None
    frame: str = "world"
    servo_jp: np.ndarray | None = None
    jaw_rad: float | None = None

    @property
    def direct(self) -> bool:
        """True when the arm is driven by a pose or joint goal (not by a master)."""
        return self.servo_cp is not None or self.servo_jp is not None


@dataclass(frozen=True, slots=True)
class Refusal:
    """A command (or part of one) the session could not use, and why."""

    arm: str
    reason: str


def normalise(
    commands, arm_names: Sequence[str], *, bare_samples: bool = False
) -> tuple[dict[str, ArmCommand | MasterSample], list[Refusal]]:
    """Turn what a caller passed to ``Session.step`` into one :class:`ArmCommand` per arm.

    Accepts None, or a mapping from arm name to an :class:`ArmCommand`, a
    :class:`MasterSample`, a sequence of samples, or None. Anything else, an unknown arm,
    or malformed fields become :class:`Refusal` entries (the arm holds); nothing raises.

    ``bare_samples``: a lone :class:`MasterSample` is passed through as it is, standing
    for ``ArmCommand(master=(sample,))`` (the session's step loop, where building that
    command per arm and step cost more than using it).
    """
    out: dict[str, ArmCommand] = {}
    refused: list[Refusal] = []
    if commands is None:
        return out, refused
    if not isinstance(commands, Mapping):
        return out, [
            Refusal("", f"commands must be a mapping arm -> command, got {type(commands).__name__}")
        ]
    for name, command in commands.items():
        if name not in arm_names:
            refused.append(Refusal(str(name), f"no arm named {name!r}; arms are {list(arm_names)}"))
            continue
        if command is None:
            continue
        if isinstance(command, MasterSample):
            out[name] = command if bare_samples else ArmCommand(master=(command,))
        elif isinstance(command, ArmCommand):
            checked, problems = _checked(command)
            refused.extend(Refusal(name, p) for p in problems)
            if checked is not None:
                out[name] = checked
        elif isinstance(command, Sequence) and all(isinstance(c, MasterSample) for c in command):
            out[name] = ArmCommand(master=tuple(command))
        else:
            refused.append(
                Refusal(
                    name,
                    "a command must be an ArmCommand, a MasterSample or a list of them, "
                    f"got {type(command).__name__}",
                )
            )
    return out, refused


def _checked(command: ArmCommand) -> tuple[ArmCommand | None, list[str]]:
    """The usable part of a command, and what was wrong with the rest."""
    problems: list[str] = []
    master = command.master
    if not isinstance(master, tuple):
        try:
            master = tuple(master)
        except TypeError:
            master = ()
            problems.append("master must be a sequence of MasterSample")
    if any(not isinstance(s, MasterSample) for s in master):
        problems.append("master holds something that is not a MasterSample; dropped")
        master = tuple(s for s in master if isinstance(s, MasterSample))
    servo_cp = None
    if command.servo_cp is not None:
        servo_cp = _pose(command.servo_cp, problems)
        if command.frame not in FRAMES:
            problems.append(f"servo_cp frame {command.frame!r} is not one of {FRAMES}")
            servo_cp = None
    servo_jp = None
    if command.servo_jp is not None:
        servo_jp = _real_array(command.servo_jp)
        if servo_jp is None or servo_jp.ndim != 1:
            problems.append("servo_jp is not a vector of real numbers (rad / m)")
            servo_jp = None
        elif not np.isfinite(servo_jp).all():
            problems.append(f"servo_jp contains NaN or inf: {servo_jp.tolist()}")
            servo_jp = None
    if servo_cp is not None and servo_jp is not None:
        problems.append("servo_cp and servo_jp in one command: give one goal")
    if master and (command.servo_cp is not None or command.servo_jp is not None):
        # the samples were dropped without a word: one source per arm and step
        problems.append("master samples and a servo goal in one command: give one source")
    jaw = command.jaw_rad
    if jaw is not None:
        try:
            # "0.5" or True is a sender's mistake, not an angle
            jaw = math.nan if isinstance(jaw, (str, bytes, bool)) else float(jaw)
        except (TypeError, ValueError, OverflowError):
            jaw = math.nan
        if not math.isfinite(jaw):
            problems.append(f"jaw_rad must be a finite number (rad), got {command.jaw_rad!r}")
    if problems:
        # anything wrong and nothing of it moves the arm: a pose with a NaN angle, or a
        # good pose with a NaN jaw, is one command from a confused sender, not two
        return None, [f"{p}; the arm holds" for p in problems]
    if not master and servo_cp is None and servo_jp is None and jaw is None:
        return None, problems
    return ArmCommand(master, servo_cp, command.frame, servo_jp, jaw), problems


def _real_array(values) -> np.ndarray | None:
    """``values`` as float64, or None when they are not real numbers: a number too large
    for a float (a 400-digit JSON integer) raised OverflowError out of ``step()``, and a
    complex one lost its imaginary part with only a numpy warning."""
    try:
        raw = np.asarray(values)
        if raw.dtype.kind in "iuf":
            return np.array(raw, dtype=np.float64)
        if raw.dtype.kind == "O":  # Python ints beyond int64, None (NaN: refused later)
            return np.array(values, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        pass
    return None  # booleans, complex numbers, strings


def _pose(X, problems: list[str]) -> np.ndarray | None:
    """A finite rigid 4x4 pose, re-orthonormalised when it is off by rounding only."""
    X = _real_array(X)
    if X is None:
        problems.append("servo_cp is not a 4x4 array of real numbers")
        return None
    if X.shape != (4, 4):
        problems.append(f"servo_cp must be a 4x4 pose (m), got shape {X.shape}")
        return None
    if not np.isfinite(X).all():
        problems.append("servo_cp holds NaN or inf: a pose is finite")
        return None
    if np.abs(X).max() > MAX_POSE_ENTRY:
        problems.append(f"servo_cp holds entries beyond {MAX_POSE_ENTRY:g} (m): not a pose")
        return None
    R = X[:3, :3]
    error = float(np.abs(R.T @ R - np.eye(3)).max())
    if error > 1e-3 or np.linalg.det(R) <= 0 or np.abs(X[3] - (0, 0, 0, 1)).max() > 1e-9:
        problems.append(
            "servo_cp is not a rigid transform (rotation not orthonormal, or bottom row "
            "not 0 0 0 1)"
        )
        return None
    if error > 1e-12:
        U, _, Vt = np.linalg.svd(R)
        X[:3, :3] = U @ Vt
    X[3] = (0.0, 0.0, 0.0, 1.0)
    return X
