"""IK: reaches FK(q) within tolerance and limits, never crashes, deterministic per seed."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kinematics import KinematicsError, psm, solve_ik, solve_ik_batch
from kinematics.transforms import rotation_angle, translation

from .arms import ARMS


def _check(chain, X, result, pos_tol=1e-5, rot_tol=1e-4):
    assert result.success, (result.pos_error, result.rot_error)
    assert chain.within_limits(result.q)
    X_got = chain.fk(result.q)
    assert np.linalg.norm(X_got[:3, 3] - X[:3, 3]) <= pos_tol
    assert rotation_angle(X_got[:3, :3] @ X[:3, :3].T) <= rot_tol
    assert result.pos_error == pytest.approx(np.linalg.norm(X_got[:3, 3] - X[:3, 3]), abs=1e-12)


unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@pytest.mark.parametrize("name", sorted(ARMS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(u=st.lists(unit, min_size=7, max_size=7), warm=st.booleans(), seed=st.integers(0, 2**31))
def test_ik_of_fk_reaches_target_within_limits(name, u, warm, seed):
    chain = ARMS[name]()
    lo, hi = chain.lower, chain.upper
    q_true = lo + (hi - lo) * np.asarray(u[: chain.dof])
    X = chain.fk(q_true)
    q0 = None
    if warm:
        q0 = q_true + 0.05 * (np.asarray(u[: chain.dof]) - 0.5)
    _check(chain, X, solve_ik(chain, X, q0, seed=seed))


def test_tighter_tolerances_are_met(rng):
    arm = psm()
    for _ in range(50):
        X = arm.fk(arm.random_q(rng))
        _check(arm, X, solve_ik(arm, X, pos_tol=1e-9, rot_tol=1e-8), 1e-9, 1e-8)


def test_warm_start_at_solution_takes_no_iterations():
    arm = psm()
    q = np.array([0.1, 0.2, 0.1, 0.3, 0.2, 0.1])
    result = solve_ik(arm, arm.fk(q), q)
    assert result.success and result.iterations == 0
    np.testing.assert_array_equal(result.q, q)


def test_unreachable_target_returns_closest_within_limits():
    arm = psm()
    X = translation(0.5, 0.5, -0.5)  # far outside the 0.24 m insertion range
    result = solve_ik(arm, X, restarts=5)
    assert not result.success
    assert arm.within_limits(result.q)
    assert math.isfinite(result.pos_error) and result.pos_error > 0.3
    # the best found is (close to) the nearest reachable point: full insertion towards it
    assert result.q[2] == pytest.approx(0.24, abs=1e-3)


def test_unreachable_target_costs_bounded_iterations():
    arm = psm()
    result = solve_ik(arm, translation(2, 0, 0), max_iters=30, restarts=4)
    assert result.iterations <= 30 * 5


def test_same_seed_same_answer_bit_for_bit(rng):
    arm = ARMS["panda"]()
    X = arm.fk(arm.random_q(rng))
    a = solve_ik(arm, X, seed=7, max_iters=5, restarts=30)
    b = solve_ik(arm, X, seed=7, max_iters=5, restarts=30)
    np.testing.assert_array_equal(a.q, b.q)
    assert a.iterations == b.iterations


def test_batch_matches_single_and_is_deterministic(rng):
    arm = ARMS["iiwa"]()
    Q = arm.random_q(rng, 200)
    X = arm.fk_batch(Q)
    batch = solve_ik_batch(arm, X, seed=3)
    again = solve_ik_batch(arm, X, seed=3)
    np.testing.assert_array_equal(batch.q, again.q)
    assert batch.success.all()
    assert len(batch) == 200
    first = solve_ik(arm, X[0], seed=3)  # target 0 uses the same stream as a single solve
    np.testing.assert_array_equal(batch.q[0], first.q)
    for k in range(200):
        _check(arm, X[k], batch[k])


def test_batch_warm_start_forms(rng):
    arm = psm()
    Q = arm.random_q(rng, 20)
    X = arm.fk_batch(Q)
    per_target = solve_ik_batch(arm, X, Q + 0.01)
    shared = solve_ik_batch(arm, X, Q[0])
    assert per_target.success.all() and shared.success.all()
    assert (per_target.iterations <= 6).all()


# ---- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "X, match",
    [
        (np.full((4, 4), np.nan), "NaN or inf"),
        (np.diag([1.0, 1.0, 1.0, np.inf]), "NaN or inf"),
        (np.diag([2.0, 1.0, 1.0, 1.0]), "not orthonormal"),
        (np.diag([1.0, 1.0, -1.0, 1.0]), "reflection"),
        (np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0.5, 0, 0, 1.0]]), "bottom row"),
        (np.eye(3), "4x4"),
        (np.zeros(16), "4x4"),
    ],
)
def test_bad_target_raises_value_error_before_solving(X, match):
    with pytest.raises(ValueError, match=match):
        solve_ik(psm(), X)
    with pytest.raises(KinematicsError):
        solve_ik(psm(), X)


def test_bad_q0_and_settings():
    arm = psm()
    X = arm.fk(np.zeros(6))
    with pytest.raises(KinematicsError, match="q0 must have shape"):
        solve_ik(arm, X, np.zeros(5))
    with pytest.raises(KinematicsError, match="NaN or inf"):
        solve_ik(arm, X, np.full(6, np.nan))
    with pytest.raises(KinematicsError, match="pos_tol"):
        solve_ik(arm, X, pos_tol=0)
    with pytest.raises(KinematicsError, match="max_iters"):
        solve_ik(arm, X, max_iters=0)


def test_batch_bad_input_names_the_target(rng):
    arm = psm()
    X = arm.fk_batch(arm.random_q(rng, 5))
    X[3, 0, 0] = np.nan
    with pytest.raises(KinematicsError, match=r"X_targets\[3\]"):
        solve_ik_batch(arm, X)
    with pytest.raises(KinematicsError, match="shape"):
        solve_ik_batch(arm, X[:, :3])


def test_fk_rejects_bad_joint_vectors():
    arm = psm()
    with pytest.raises(KinematicsError, match=r"shape \(6,\)"):
        arm.fk(np.zeros(7))
    with pytest.raises(KinematicsError, match="NaN"):
        arm.fk([0, 0, np.nan, 0, 0, 0])
    with pytest.raises(KinematicsError, match=r"\(N, 6\)"):
        arm.fk_batch(np.zeros((3, 5)))


@pytest.mark.parametrize("distance_m", [1e3, 1e5, 1e6])
def test_far_finite_targets_give_finite_errors(distance_m):
    result = solve_ik(psm(), translation(distance_m, 0, 0), restarts=2)
    assert not result.success and math.isfinite(result.pos_error)
    assert result.pos_error == pytest.approx(distance_m, rel=1e-3)


@pytest.mark.parametrize("distance_m", [1.01e6, 1e160, 1e300])
def test_targets_beyond_any_workspace_are_refused(distance_m):
    with pytest.raises(KinematicsError, match="beyond any arm's workspace"):
        solve_ik(psm(), translation(0, distance_m, 0))
    with pytest.raises(KinematicsError, match=r"X_targets\[1\].*workspace"):
        solve_ik_batch(psm(), np.stack([np.eye(4), translation(0, 0, -distance_m)]))
    with pytest.raises(KinematicsError, match="port point"):
        solve_ik(psm(), np.zeros(3), rcm=[distance_m, 0, 0])


@pytest.mark.parametrize("seed", [2**63, -1, None, float("nan"), 1.5, True, "3", np.float64(2)])
def test_seeds_must_be_integers_in_range(seed):
    arm = psm()
    X = arm.fk([0.1, 0.1, 0.12, 0.0, 0.0, 0.0])
    with pytest.raises(KinematicsError, match=r"seed must be an integer in \[0, 2\*\*63\)"):
        solve_ik(arm, X, seed=seed)
    with pytest.raises(KinematicsError, match="seed must be"):
        solve_ik_batch(arm, X[None], seed=seed)


def test_large_and_numpy_seeds_are_fine():
    arm = psm()
    X = arm.fk([0.1, 0.1, 0.12, 0.0, 0.0, 0.0])
    a = solve_ik(arm, X, q0=np.zeros(6), seed=2**63 - 1)
    b = solve_ik(arm, X, q0=np.zeros(6), seed=np.int64(2**63 - 1))
    assert a.success and np.array_equal(a.q, b.q)


def test_complex_input_is_refused_not_cut_to_its_real_part():
    """numpy took the real part with only a ComplexWarning, and the solver answered."""
    arm = psm()
    X = arm.fk([0.0, 0.0, 0.1, 0.0, 0.0, 0.0])
    for call in (
        lambda: solve_ik(arm, X.astype(complex)),
        lambda: solve_ik(arm, X[:3, 3].astype(complex), rcm=np.zeros(3)),
        lambda: solve_ik_batch(arm, X[None].astype(complex)),
        lambda: arm.fk(np.zeros(6, dtype=complex)),
    ):
        with pytest.raises(KinematicsError, match="complex"):
            call()


def test_complex_q0_and_within_limits_input_are_refused_as_in_the_batch():
    """solve_ik took a complex q0's real part with a ComplexWarning (the batch refused
    it); within_limits took complex values, a wrong length failed in numpy's broadcasting
    and a negative tolerance quietly shrank the limits."""
    arm = psm()
    X = arm.fk(np.zeros(6))
    with pytest.raises(KinematicsError, match="q0 is complex"):
        solve_ik(arm, X, np.zeros(6, dtype=complex))
    with pytest.raises(KinematicsError, match="q is complex"):
        arm.within_limits(np.zeros(6, dtype=complex))
    with pytest.raises(KinematicsError, match=r"shape \(6,\)"):
        arm.within_limits([0.0] * 5)
    for tolerance in (-1.0, math.nan):
        with pytest.raises(KinematicsError, match="tolerance must be >= 0"):
            arm.within_limits(np.zeros(6), tolerance=tolerance)
    assert arm.within_limits(np.zeros(6)) and not arm.within_limits([0, 0, -0.01, 0, 0, 0])
    assert not arm.within_limits([0, 0, np.nan, 0, 0, 0])


@pytest.mark.parametrize(
    "settings",
    [
        {"max_iters": 59.5},
        {"max_iters": 60.0},
        {"max_iters": "60"},
        {"restarts": 300.5},
        {"restarts": 300.0},
        {"restarts": True},
        {"pos_tol": "1e-5"},
    ],
)
def test_settings_that_are_not_counts_or_numbers_are_refused_not_truncated(settings):
    """59.5 ran 59 iterations and "60" ran 60; 60.0 slipped past the check as the default."""
    arm = psm()
    X = arm.fk(np.zeros(6))
    with pytest.raises(KinematicsError, match="must be"):
        solve_ik(arm, X, **settings)
    with pytest.raises(KinematicsError, match="must be"):
        solve_ik_batch(arm, X[None], **settings)


def test_numpy_integer_settings_are_counts():
    arm = psm()
    X = arm.fk([0.1, 0.1, 0.12, 0.0, 0.0, 0.0])
    result = solve_ik(arm, X, max_iters=np.int64(60), restarts=np.int32(3))
    assert result.success
