"""Where a session step's time goes: the parts of the session's own work, per physics step.

``surgisim bench session`` bars the session's cost as wall time over the time inside
pybullet's ``stepSimulation``; this says which parts make up the rest, so the next
optimisation starts from a measurement. One run of a scenario with the synthetic
operator, with the session's parts wrapped in wall-clock timers (~0.3 µs each, a few
per step: small next to the parts, but the total runs a little slower than unwrapped):

- teleoperation (tremor filter, state machine, limits) and IK, per teleoperated arm;
- the world's motor setpoints (``Arm.control``), joint reading (``Arm.sense``), grasp
  tracking (``GraspTracker.update``) and ``stepSimulation`` itself;
- observation at the trace rate (contacts, forces, what is in view, the trace row, the
  exercise engine, live metrics).

Parts nest (IK is inside teleoperation); "the rest" is the step's time outside every
part listed: the operator's sample making, command normalising, loop bookkeeping.

Across the parts, the time inside pybullet's own calls other than ``stepSimulation``
(reading joints, motor targets, contact queries, a held object's pose) is timed too: the
least any session driven from Python spends per step, whatever its own logic costs.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

#: (label, class path, method); IK is timed inside teleoperation.
PARTS = (
    ("teleoperation (incl. IK)", "sim.session.session:Session", "_teleoperate"),
    ("  of which IK", "sim.session.session:Session", "_servo_cp"),
    ("observation (trace rate)", "sim.session.session:Session", "_observe"),
    ("arm motor setpoints", "sim.world.arm:Arm", "control"),
    ("arm joint reading", "sim.world.arm:Arm", "sense"),
    ("grasp tracking", "sim.world.grasp:GraspTracker", "update"),
)
STEP = ("session step (total)", "sim.session.session:Session", "_advance")
#: pybullet's calls other than stepSimulation made inside the step (they nest in the parts)
PYBULLET_CALLS = "  pybullet calls besides stepSimulation (in the parts)"


def _resolve(path: str):
    import importlib

    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


@contextmanager
def timed_parts(totals: Counter) -> Iterator[Counter]:
    """Wrap the session's parts (and the step) in timers adding to ``totals`` (s), and
    pybullet's functions other than ``stepSimulation`` in timers that count only inside
    the step (:data:`PYBULLET_CALLS`)."""
    import pybullet

    clock = time.perf_counter
    saved = []
    in_step = [0]
    for label, path, method in (*PARTS, STEP):
        cls = _resolve(path)
        original = getattr(cls, method)

        def wrapper(*args, _f=original, _label=label, _step=label == STEP[0], **kwargs):
            start = clock()
            in_step[0] += _step
            try:
                return _f(*args, **kwargs)
            finally:
                in_step[0] -= _step
                totals[_label] += clock() - start

        saved.append((cls, method, original))
        setattr(cls, method, wrapper)
    for name in dir(pybullet):
        original = getattr(pybullet, name)
        if name == "stepSimulation" or type(original).__name__ != "builtin_function_or_method":
            continue

        def call(*args, _f=original, **kwargs):
            if not in_step[0]:
                return _f(*args, **kwargs)
            start = clock()
            try:
                return _f(*args, **kwargs)
            finally:
                totals[PYBULLET_CALLS] += clock() - start

        saved.append((pybullet, name, original))
        setattr(pybullet, name, call)
    try:
        yield totals
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


def session_breakdown(scenario_name: str, seed: int = 0, operator: str = "expert") -> dict:
    """Run one session with timers; per physics step (µs) for each part, stepSimulation
    and the rest, and each as a share of stepSimulation's time."""
    from scenarios.loader import load_scenario
    from sim.session.headless import run_headless

    scenario = load_scenario(scenario_name)
    totals: Counter = Counter()
    with timed_parts(totals):
        outcome = run_headless(scenario, operator=operator, seed=seed)
    steps = max(1, round(outcome.sim_time_s * scenario.scene.physics_rate_hz))
    physics_s = outcome.physics_wall_s
    step_s = totals[STEP[0]]
    top = [label for label, _, _ in PARTS if not label.startswith(" ")]
    rest_s = step_s - physics_s - sum(totals[label] for label in top)
    rows = {label: totals[label] for label, _, _ in PARTS}
    rows["pybullet stepSimulation"] = physics_s
    rows["the rest"] = rest_s
    rows[PYBULLET_CALLS] = totals[PYBULLET_CALLS]
    return {
        "scenario": scenario_name,
        "seed": seed,
        "operator": operator,
        "physics_steps": steps,
        "wall_s": outcome.wall_time_s,
        "step_s": step_s,
        "parts": {
            label: {"us_per_step": 1e6 * s / steps, "of_physics": s / max(physics_s, 1e-9)}
            for label, s in rows.items()
        },
    }
