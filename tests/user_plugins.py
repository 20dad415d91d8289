"""Plug-ins as a researcher would write them, in plain numpy, named by the tests as
``"tests.user_plugins:NAME"`` (an importable module, as a sweep worker needs).

``CALLS`` counts calls per plug-in so that a test can tell its plug-in was used, not the
built-in (module state: reset it in the test that reads it).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from kinematics import IKResult

CALLS: Counter = Counter()


def dls(chain, X_target, q0=None, *, pos_tol, rot_tol, max_iters, restarts, seed, rcm=None):
    """Damped least squares on the full pose (or the tip position with ``rcm=``)."""
    CALLS["dls"] += 1
    q = np.array((chain.lower + chain.upper) / 2 if q0 is None else q0, dtype=float)
    target = np.asarray(X_target, dtype=float)
    p_goal = target if rcm is not None else target[:3, 3]
    for iteration in range(1, 20 * max_iters + 1):
        X = chain.fk(q)
        dp = p_goal - X[:3, 3]
        if rcm is not None:
            error, J = dp, chain.jacobian(q)[:3]
            rot_error = 0.0
        else:
            dR = target[:3, :3] @ X[:3, :3].T
            w = 0.5 * np.array([dR[2, 1] - dR[1, 2], dR[0, 2] - dR[2, 0], dR[1, 0] - dR[0, 1]])
            error, J = np.concatenate([dp, w]), chain.jacobian(q)
            rot_error = float(np.linalg.norm(w))
        pos_error = float(np.linalg.norm(dp))
        if pos_error <= pos_tol and rot_error <= rot_tol:
            return IKResult(q, True, pos_error, rot_error, iteration)
        step = J.T @ np.linalg.solve(J @ J.T + 1e-6 * np.eye(len(error)), error)
        q = np.clip(q + step, chain.lower, chain.upper)
    return IKResult(q, False, pos_error, rot_error, iteration)


def raising(chain, X_target, q0=None, **settings):
    CALLS["raising"] += 1
    raise RuntimeError("my solver is broken")


def nan_q(chain, X_target, q0=None, **settings):
    CALLS["nan_q"] += 1
    return IKResult(np.full(chain.dof, np.nan), True, 0.0, 0.0, 1)


def wrong_shape(chain, X_target, q0=None, **settings):
    return IKResult(np.zeros(chain.dof + 2), True, 0.0, 0.0, 1)


def not_a_result(chain, X_target, q0=None, **settings):
    return "solved!"


def returns_none(chain, X_target, q0=None, **settings):
    return None


def gives_up(chain, X_target, q0=None, **settings):
    return IKResult(np.asarray(q0, dtype=float), False, 1.0, 1.0, 1)


def lies(chain, X_target, q0=None, **settings):
    """Zeros at once, said to be a success: fast and wrong."""
    return IKResult(np.zeros(chain.dof), True, 0.0, 0.0, 1)


NOT_CALLABLE = 42


class MovingAverage:
    """Mean of the last ``window`` samples: a tremor filter in plain numpy."""

    def __init__(self, rate_hz: float, window: int = 50) -> None:
        self.rate_hz, self.window = rate_hz, int(window)
        self.reset()

    def step(self, sample):
        CALLS["moving_average.step"] += 1
        self._recent.append(np.asarray(sample, dtype=float))
        del self._recent[: -self.window]
        return np.mean(self._recent, axis=0)

    def reset(self) -> None:
        self._recent = []


def moving_average(rate_hz: float, window: int = 50) -> MovingAverage:
    CALLS["moving_average"] += 1
    return MovingAverage(rate_hz, window)


def windowed(rate_hz: float, window_s: float = 0.02) -> MovingAverage:
    """A window in seconds: a value that is no number raises TypeError inside the call."""
    return MovingAverage(rate_hz, max(1, round(window_s * rate_hz)))


class GoesNaN(MovingAverage):
    """Good for ``good_samples`` samples, then NaN once; counts its resets."""

    def __init__(self, rate_hz: float, good_samples: int = 100) -> None:
        self.good_samples, self.seen, self.resets = good_samples, 0, -1
        super().__init__(rate_hz, 1)

    def step(self, sample):
        self.seen += 1
        if self.seen == self.good_samples:
            return np.full(3, np.nan)
        return super().step(sample)

    def reset(self) -> None:
        self.resets += 1
        super().reset()


def goes_nan(rate_hz: float, good_samples: int = 100) -> GoesNaN:
    return GoesNaN(rate_hz, good_samples)


class RunsAway(GoesNaN):
    """Good for ``good_samples`` samples, then a finite output a kilometre off, once."""

    def step(self, sample):
        out = super().step(sample)
        return np.array([1e3, 0.0, 0.0]) if not np.isfinite(out).all() else out


def runs_away(rate_hz: float, good_samples: int = 100) -> RunsAway:
    return RunsAway(rate_hz, good_samples)


class AlwaysNaN(MovingAverage):
    """A filter that never gives a usable output (NaN from the first sample)."""

    def step(self, sample):
        return np.full(3, np.nan)


def always_nan(rate_hz: float) -> AlwaysNaN:
    return AlwaysNaN(rate_hz, 1)
