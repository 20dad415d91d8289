"""The world: determinism, reset, several worlds, rate, limits, and commands that must not move."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sim.errors import SimError
from sim.world.scene import PhysicsSpec, RingWireSpec, SceneSpec, SuturePadSpec
from sim.world.scripted import move_tool, peg_transfer_scene, pick
from sim.world.world import World


def _session(world) -> np.ndarray:
    """A scripted session: pick a ring, carry it, drop it; return every state on the way."""
    states = []
    pick(world, "PSM2", "board/ring0", wall=1)
    states.append(world.state())
    move_tool(world, "PSM2", (0.0, 0.02, 0.08), 0.5)
    world.arms["PSM2"].servo_jaw(1.0)
    world.step(700)
    states.append(world.state())
    return np.concatenate(states)


def test_same_seed_same_state_bit_for_bit():
    spec = peg_transfer_scene(seed=3, **{})
    spec = SceneSpec(
        physics=spec.physics,
        arms=spec.arms,
        objects=(type(spec.objects[0])(name="board", ring_jitter_m=0.001),),
        workspace_m=spec.workspace_m,
    )
    with World(spec) as a, World(spec) as b:  # two worlds side by side in one process
        sa, sb = _session(a), _session(b)
        assert [e.kind for e in a.events] == ["grasp", "release", "drop"]
        np.testing.assert_array_equal(sa, sb)
        assert a.events == b.events
        a.reset()
        np.testing.assert_array_equal(_session(a), sa)  # reset = a fresh build
        a.reset(seed=4)  # another seed moves the rings (ring_jitter_m)
        b.reset()
        ring = a.landmark("board/ring2", "center")
        assert 1e-5 < np.linalg.norm(ring - b.landmark("board/ring2", "center")) < 0.0015


def _session_digest() -> str:
    import hashlib

    with World(peg_transfer_scene(seed=3)) as world:
        return hashlib.sha256(_session(world).tobytes()).hexdigest()


def test_same_inputs_same_state_in_another_process():
    code = "from tests.sim.world.test_world import _session_digest; print(_session_digest())"
    root = Path(__file__).resolve().parents[3]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == _session_digest()


def test_nan_cartesian_command_raises_and_never_moves_the_robot():
    with World(peg_transfer_scene()) as moved, World(peg_transfer_scene()) as still:
        arm = moved.arms["PSM2"]
        goal = arm.goal_js()
        bad = arm.measured_cp()
        bad[1, 3] = np.nan
        with pytest.raises(SimError, match=r"NaN|finite") as info:
            arm.servo_cp(bad)
        assert "Nothing was commanded" in str(info.value)
        with pytest.raises(SimError, match="NaN"):
            arm.servo_jp([0.0, np.nan, 0.1, 0.0, 0.0, 0.0])
        with pytest.raises(SimError, match="jaw"):
            arm.servo_jaw(float("nan"))
        with pytest.raises(SimError, match="rigid"):
            arm.servo_cp(np.diag([2.0, 1.0, 1.0, 1.0]))
        np.testing.assert_array_equal(arm.goal_js(), goal)
        moved.step(200)
        still.step(200)
        np.testing.assert_array_equal(moved.state(), still.state())


def test_joint_velocity_and_jaw_rate_limits_hold():
    with World(peg_transfer_scene()) as world:
        arm = world.arms["PSM2"]
        q0 = arm.measured_js()[0]
        arm.servo_jp(q0 + np.array([0.5, 0.3, -0.05, 1.0, 0.5, 0.5]))  # up, clear of the board
        arm.servo_jaw(1.2)
        world.step(round(0.1 * world.rate_hz))  # 0.1 s
        moved = np.abs(arm.measured_js()[0] - q0)
        assert np.all(moved <= arm.velocity_limits * 0.1 * 1.05 + 1e-4), moved
        assert np.all(moved >= arm.velocity_limits * 0.1 * 0.5), "the arm barely moved"
        # the jaw opens at its rate limit (the dVRK's 2π rad/s by default): not snapped open
        assert 0.5 * arm.jaw_rate_rad_s * 0.1 < arm.measured_jaw()
        assert arm.measured_jaw() <= arm.jaw_rate_rad_s * 0.1 * 1.05 + 1e-3
        world.step(1500)
        np.testing.assert_allclose(arm.measured_js()[0], arm.goal_js(), atol=2e-4)
        assert abs(arm.measured_jaw() - 1.2) < 0.01
        clipped = arm.goal_js()
        arm.servo_jp([10.0, 0.0, 0.1, 0.0, 0.0, 0.0])  # beyond the yaw limit: clipped
        assert arm.goal_js()[0] == arm.chain.upper[0] and clipped[0] != arm.goal_js()[0]


def test_cartesian_command_reaches_the_pose_at_500_hz():
    with World(peg_transfer_scene(rate_hz=500)) as world:
        assert world.dt == 0.002
        arm = world.arms["PSM1"]
        X = arm.measured_cp()
        X[:3, 3] += (0.01, -0.01, 0.02)  # clear of the pegs
        result = arm.servo_cp(X)
        assert result.success
        world.step(500)
        assert world.time_s == pytest.approx(1.0)
        np.testing.assert_allclose(arm.measured_cp(), X, atol=2e-4)


@pytest.mark.parametrize("spec", [RingWireSpec(name="course"), SuturePadSpec(name="pad")])
def test_task_boards_build_and_settle(spec):
    scene = SceneSpec(physics=PhysicsSpec(rate_hz=500), objects=(spec,))
    with World(scene) as world:
        start = {n: world.body_pose(n)[:3, 3] for n in world.object_names()}
        world.step(1000)
        for name, p0 in start.items():
            p = world.body_pose(name)[:3, 3]
            assert np.linalg.norm(p - p0) < 0.01, f"{name} moved {p - p0} while settling"
        assert world.events == []
        landmarks = world.bodies[world.body_id(spec.name)].landmarks
        assert landmarks, "boards carry landmarks (targets, marks)"


def test_suture_pad_marks_and_needle_landmarks():
    with World(SceneSpec(objects=(SuturePadSpec(name="pad", mark_pairs=2),))) as world:
        entry, exit_ = world.landmark("pad", "entry1"), world.landmark("pad", "exit1")
        assert entry[2] == pytest.approx(0.012) and np.linalg.norm(exit_ - entry) == pytest.approx(
            0.012
        )
        tip, tail = world.landmark("pad/needle", "tip"), world.landmark("pad/needle", "tail")
        assert np.linalg.norm(tip - tail) == pytest.approx(2 * 0.0085, abs=1e-4)
        with pytest.raises(SimError, match="Did you mean 'entry1'"):
            world.landmark("pad", "entri1")
        needle = world.landmarks("pad/needle")  # all of a body's, for a controller to find
        assert {"tip", "middle", "tail"} <= needle.keys()
        assert np.array_equal(needle["tip"], tip) and world.landmarks("pad").keys() == {
            "entry0",
            "entry1",
            "exit0",
            "exit1",
        }


def test_a_wire_longer_than_one_compound_shape_collides_along_its_whole_length():
    # pybullet keeps only 16 children of a compound shape: the builder puts the rest on
    # fixed links (a 16-segment wire has 19 primitives with its base and posts)
    from sim.world.boards import wire_points

    spec = RingWireSpec(name="course", segments=24)
    with World(SceneSpec(objects=(spec,))) as world:
        world.step()
        pb, c = world.pb, world.client
        sphere = pb.createCollisionShape(pb.GEOM_SPHERE, radius=0.0005, physicsClientId=c)
        for s in np.linspace(0.0, 1.0, 25):
            top = wire_points(spec, s)[0] + np.array([0.0, 0.0, spec.wire_radius_m + 0.001])
            probe = pb.createMultiBody(1e-3, sphere, -1, top.tolist(), physicsClientId=c)
            near = pb.getClosestPoints(probe, world.body_id("course"), 0.002, physicsClientId=c)
            pb.removeBody(probe, physicsClientId=c)
            assert near, f"no wire under s={s:.2f}"


def test_resets_hand_pybullet_the_same_mesh_lists_and_memory_stays_flat():
    """pybullet keeps every vertex and index list given to createVisualShape (and to a
    mesh collision shape) for good; a reset that built fresh lists leaked ~150 KB, 16 MB
    per 100 resets of the needle-handover scene (a researcher's long training runs). The
    world now hands pybullet the same list objects on every reset."""
    import gc

    import pybullet as pb

    from scenarios.loader import load_scenario
    from sim.session import Session

    seen: list[list[int]] = []
    real = pb.createVisualShape

    def recording(*args, **kwargs):
        seen[-1].append(id(kwargs["vertices"]))
        return real(*args, **kwargs)

    def rss_mb() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    with Session(load_scenario("needle-handover"), seed=604) as session:
        pb.createVisualShape = recording
        try:
            for seed in (605, 606):
                seen.append([])
                session.reset(seed)
        finally:
            pb.createVisualShape = real
        assert seen[0] and seen[0] == seen[1]
        for seed in range(607, 627):  # warm up: allocator pools settle
            session.reset(seed)
        gc.collect()
        before = rss_mb()
        for seed in range(627, 727):
            session.reset(seed)
        gc.collect()
        assert rss_mb() - before < 8.0  # was ~16 MB per 100 resets; now ~1-2
