"""Counting the other hand's moves from its ``measured_cp`` stream (one hand per process)."""

from __future__ import annotations

import numpy as np

from haptics.bus.contract import Message, pose_payload
from sim.devices.partner import MOVED_M, MoveCounter


def _feed(counter: MoveCounter, positions, t0: float = 100.0, rate_hz: float = 60.0) -> float:
    """``PSM2/measured_cp`` at these tool-tip positions (m), one per 1/rate_hz s (60 Hz:
    the server's arm state rate)."""
    t = t0
    for p in positions:
        X = np.eye(4)
        X[:3, 3] = p
        counter(Message("PSM2/measured_cp", pose_payload(X), received_s=t))
        counter(Message("PSM1/measured_cp", pose_payload(np.eye(4)), received_s=t))  # ignored
        t += 1.0 / rate_hz
    return t


def _reach(start, end, n: int):
    """A minimum-jerk-like reach of n samples, then the hand at rest."""
    s = np.linspace(0.0, 1.0, n)
    s = 10 * s**3 - 15 * s**4 + 6 * s**5
    return [np.asarray(start) + k * (np.asarray(end) - np.asarray(start)) for k in s]


def test_a_move_ended_by_a_rest_counts_once():
    rng = np.random.default_rng(21)
    counter = MoveCounter("PSM2")
    a, b, c = np.zeros(3), np.array([0.03, 0.0, 0.01]), np.array([0.03, -0.02, 0.0])
    rest = [a] * 20
    _feed(counter, rest + _reach(a, b, 60) + [b] * 20 + _reach(b, c, 50) + [c] * 20)
    assert counter.moves == 2 and counter.resting
    # tremor well under a millimetre, and a rest that drifts slowly, are not moves
    still = [c + rng.normal(0.0, 3e-5, 3) for _ in range(300)]
    drift = [c + np.array([k * 1e-5, 0.0, 0.0]) for k in range(300)]  # 3 mm in 3 s
    _feed(counter, still + drift, t0=200.0)
    assert counter.moves == 2


def test_a_move_shorter_than_the_threshold_or_never_resting_does_not_count():
    counter = MoveCounter("PSM2")
    a = np.zeros(3)
    short = a + np.array([0.5 * MOVED_M, 0.0, 0.0])
    _feed(counter, [a] * 10 + _reach(a, short, 30) + [short] * 10)
    assert counter.moves == 0
    far = np.array([0.05, 0.0, 0.0])
    _feed(counter, _reach(short, far, 200)[:150], t0=300.0)  # still on its way
    assert counter.moves == 0 and not counter.resting


def _state(counter: MoveCounter, state: str, t: float) -> None:
    counter(
        Message(
            "PSM2/operating_state",
            {"state": state, "following": state == "FOLLOWING"},
            received_s=t,
        )
    )


def test_a_reach_made_in_strokes_with_clutches_between_counts_once():
    """A long reach: a stroke to the edge of the hand's workspace, the clutch pressed
    (the instrument rests ~0.5 s while the hand goes back), another stroke. Each stroke
    ends as slowly as a move does, and the clutch shows on the bus only as the stroke
    ends: the rests in a reach end no move. (Counted, they put the count ahead of the
    partner's plan, and a later wait ended before the partner's move began.)"""
    counter = MoveCounter("PSM2")
    a = np.zeros(3)
    b, c, d = (
        a + np.array([0.02, 0.0, 0.0]),
        a + np.array([0.04, 0.0, 0.0]),
        a + np.array([0.06, 0.01, 0.0]),
    )
    t = _feed(counter, [a] * 20)
    for start, end in ((a, b), (b, c)):
        # the stroke, its tail at rest for ~50 ms (3 messages), then the clutch
        t = _feed(counter, _reach(start, end, 30) + [end] * 3, t0=t)
        _state(counter, "CLUTCHED", t)
        t = _feed(counter, [end] * 30, t0=t)  # 0.5 s clutched: the tool stays
        _state(counter, "FOLLOWING", t)
        assert counter.moves == 0
    t = _feed(counter, _reach(c, d, 30) + [d] * 20, t0=t)  # the last stroke, then a rest
    assert counter.moves == 1
    # the next move, broken by the operator's re-aligning after a clutch (ALIGNING)
    e = d + np.array([0.0, 0.03, 0.0])
    t = _feed(counter, _reach(d, e, 20)[:10], t0=t)
    _state(counter, "ALIGNING", t)
    t = _feed(counter, [_reach(d, e, 20)[10]] * 20, t0=t)
    _state(counter, "FOLLOWING", t)
    _feed(counter, _reach(d, e, 20)[10:] + [e] * 20, t0=t)
    assert counter.moves == 2


def test_a_rest_seen_where_the_plan_sent_the_partner_is_counted_at_once():
    """A watcher that sees the partner at rest at its target confirms the move's end
    then (:meth:`MoveCounter.confirm`): the same rest is not counted again later."""
    counter = MoveCounter("PSM2")
    a, b = np.zeros(3), np.array([0.0, 0.03, 0.0])
    t = _feed(counter, [a] * 10)
    for p in _reach(a, b, 40) + [b] * 10:  # until the rest at b is first seen
        t = _feed(counter, [p], t0=t)
        if counter.pending:
            break
    assert counter.resting and counter.pending and counter.moves == 0
    counter.confirm()
    assert counter.moves == 1 and not counter.pending
    _feed(counter, [b] * 20, t0=t)
    assert counter.moves == 1


class _OneHandSession:
    """What a :class:`~sim.devices.remote.RemoteSession` of one hand shows a plan, with a
    scripted partner: ``PSM1`` is this process's (its hand's samples only count the
    ticks), ``PSM2`` the other process's, following ``moves`` ((start s, end s, goal),
    a minimum-jerk reach each, in simulated time) and publishing ``PSM2/measured_cp`` at
    60 Hz to the observers. One tick is 1 ms on both clocks."""

    rate_hz = 1000.0

    def __init__(self, moves, jaw_at=None, own_jaw_at=None) -> None:
        from types import SimpleNamespace

        from haptics.teleop import TeleopConfig

        self.driven, self.own, self.partner = ["PSM1", "PSM2"], ["PSM1"], ["PSM2"]
        self.teleops = {"PSM1": SimpleNamespace(config=TeleopConfig())}
        self.observers: list = []
        self.on_disengaged = None
        self.finished = False
        self.ticks = 0
        self.moves = moves
        self.world = SimpleNamespace(rate_hz=self.rate_hz, object_names=lambda: [])
        self.watch = SimpleNamespace(arm=lambda arm: SimpleNamespace(state="FOLLOWING"))
        self.arms = {
            "PSM2": SimpleNamespace(
                measured_cp=self._partner_cp,
                measured_jaw=lambda: 0.7 if jaw_at is None else jaw_at(self.time_s),
            ),
            "PSM1": SimpleNamespace(
                measured_jaw=lambda: 0.7 if own_jaw_at is None else own_jaw_at(self.time_s)
            ),
        }

    @property
    def time_s(self) -> float:
        return self.ticks / self.rate_hz

    def now_s(self) -> float:
        return self.time_s

    def holders(self, obj) -> set:
        return set()

    def tip_target_W(self, arm: str) -> np.ndarray:  # a partner's: its measured pose
        return self.arms[arm].measured_cp()

    def partner_at(self, t: float) -> np.ndarray:
        p = np.zeros(3)
        for t0, t1, goal in self.moves:
            if t >= t1:
                p = np.asarray(goal, float)
            elif t > t0:
                s = (t - t0) / (t1 - t0)
                return p + (10 * s**3 - 15 * s**4 + 6 * s**5) * (np.asarray(goal, float) - p)
        return p

    def _partner_cp(self, frame: str = "world") -> np.ndarray:
        X = np.eye(4)
        X[:3, 3] = self.partner_at(self.time_s)
        return X

    def advance(self, commands=None) -> None:
        assert set(commands or {}) <= {"PSM1"}, commands  # the partner's hand is not ours
        self.ticks += 1
        if self.ticks % round(self.rate_hz / 60) == 0:
            jaw = {"position_rad": [self.arms["PSM2"].measured_jaw()]}
            for m in (
                Message("PSM2/measured_cp", pose_payload(self._partner_cp()), self.time_s),
                Message("PSM2/jaw/measured_js", jaw, self.time_s),
            ):
                for observe in self.observers:
                    observe(m)

    def hold(self, seconds: float) -> None:
        for _ in range(round(seconds * self.rate_hz)):
            self.advance()


def test_the_partners_parallel_branch_is_watched_move_by_move():
    """The partner reaches A inside a parallel() block (after a pause of its branch),
    then B after it. This process's hand works on through the block (a 1 s wait here);
    the partner's branch is run in watch mode: its reach to A is waited for and counted
    there, so the wait for B after the block lasts until the partner is at B. (A skipped
    partner branch left the reach to A counted but never waited for: the wait for B then
    ended at once, 1 s in, the partner still at A.)"""
    from sim.devices.partner import PartnerDemonstrator

    A, B = np.array([0.03, 0.0, 0.01]), np.array([0.03, -0.03, 0.0])
    s = _OneHandSession([(0.2, 0.6, A), (1.5, 2.0, B)])
    demo = PartnerDemonstrator(s, "expert", seed=1, time_limit_s=60.0)
    assert "PSM2" not in demo.operators
    seen: dict[str, float] = {}

    def partner_branch():
        demo.wait(0.1)  # the partner's own pause, watched as time
        seen["paused"] = s.time_s
        demo.move_tip("PSM2", A, 0.003)
        seen["at A"] = s.time_s

    demo.parallel({"PSM1": lambda: demo.wait(1.0), "PSM2": partner_branch})
    assert 1.0 <= s.time_s < 1.02  # this hand's branch, not slowed by the watching
    demo.move_tip("PSM2", B, 0.003)
    assert s.time_s >= 2.0 and np.linalg.norm(s.partner_at(s.time_s) - B) < 1e-4
    # the partner's pause and reach were waited for while this hand went on with its own
    assert 0.1 <= seen["paused"] < 0.2
    assert 0.5 <= seen["at A"] < 0.8
    assert demo.missed == []


def test_after_the_partners_grip_its_next_move_is_waited_for_in_full():
    """The partner aims over a ring's wall (A), goes 3 mm in (B), closes its jaw, lifts
    (C). Resting at A it is already within the 4 mm tolerance of B, so the wait for B
    may end there, before the move; the move to B is then counted once made. The grip
    is where the two plans meet again: that count must not end the wait for the lift,
    which lasts until the partner is at C. (It ended at once: the taker set off for the
    handover while the giver still lifted the ring.)"""
    from sim.devices.partner import PartnerDemonstrator

    A = np.array([0.03, 0.0, 0.01])
    B, C = A + np.array([0.0, 0.0, -0.003]), A + np.array([0.0, 0.0, 0.03])
    s = _OneHandSession(
        [(0.2, 0.6, A), (1.5, 1.7, B), (2.5, 3.0, C)],
        jaw_at=lambda t: 0.7 if t < 2.0 else max(-0.3, 0.7 - 5.0 * (t - 2.0)),
    )
    demo = PartnerDemonstrator(s, "expert", seed=1, time_limit_s=60.0)
    demo.move_tip("PSM2", A, 0.003)
    assert 0.6 <= s.time_s < 0.8
    demo.move_tip("PSM2", B, 0.001)
    demo.grip("PSM2", -0.3)
    assert 2.1 <= s.time_s < 2.4
    demo.move_tip("PSM2", C, 0.003)
    assert 3.0 <= s.time_s < 3.2 and demo.missed == []


def test_moves_the_partner_skipped_hold_nothing_up():
    """The two plans decide apart whether the taker's jaws already wait over the wall
    (each from its own view, a moment apart): here the partner went straight in to B and
    closed, while this plan expects it to go to a waiting point, aim at A (3 mm over B),
    then go in. Its one move ends the first wait; resting at B it is within the aim's
    tolerance, then at the grip; the grip ends the waits as it closes."""
    from sim.devices.partner import PartnerDemonstrator

    B = np.array([0.03, 0.0, 0.01])
    A, waiting = B + np.array([0.0, 0.0, 0.003]), B + np.array([0.01, 0.0, 0.006])
    s = _OneHandSession([(0.2, 0.6, B)], jaw_at=lambda t: 0.7 if t < 1.0 else -0.3)
    demo = PartnerDemonstrator(s, "expert", seed=1, time_limit_s=60.0)
    for target, width in ((waiting, 0.006), (A, 0.0006), (B, 0.0006)):
        demo.move_tip("PSM2", target, width)
    assert s.time_s < 0.8
    demo.grip("PSM2", -0.3)
    assert 1.0 <= s.time_s < 1.1 and demo.missed == []


def test_the_plan_sees_the_partner_as_its_latest_rest_began():
    """The partner's process decides its next step as soon as its move to W has come to
    rest; this one, busy, sees that move end later, when the partner is already on its
    way to B (its jaw closing as it sets off). Deciding the same step, this plan must see
    the partner at W with its jaw as it was there: judged from the partner's pose now,
    the two plans decided apart (the taker's jaws no longer "waiting over the wall", 6 mm
    down towards it)."""
    from sim.devices.partner import PartnerDemonstrator

    W, B = np.array([0.03, 0.0, 0.01]), np.array([0.03, 0.0, 0.0])
    s = _OneHandSession(
        [(0.2, 0.6, W), (0.8, 1.2, B)],
        jaw_at=lambda t: 0.7 if t < 0.8 else max(0.3, 0.7 - 2.0 * (t - 0.8)),
    )
    demo = PartnerDemonstrator(s, "expert", seed=1, time_limit_s=60.0)
    before = demo.tip_W("PSM2")  # nothing seen end yet: the pose now
    assert np.allclose(before[:3, 3], 0.0)
    s.hold(0.95)  # busy elsewhere: the partner rested at W and set off for B meanwhile
    demo.move_tip("PSM2", W, 0.003)  # its move to W is counted: the wait ends at once
    assert s.time_s < 0.97 and np.linalg.norm(s.partner_at(s.time_s) - W) > 1e-3
    assert np.linalg.norm(demo.tip_W("PSM2")[:3, 3] - W) < 1e-4
    assert np.array_equal(demo.measured_tip_W("PSM2"), demo.tip_W("PSM2"))
    assert demo.jaw_rad("PSM2") == 0.7 and s.arms["PSM2"].measured_jaw() < 0.7
    demo.move_tip("PSM2", B, 0.003)  # then B, seen at rest there
    assert np.linalg.norm(demo.tip_W("PSM2")[:3, 3] - B) < 1e-4
    assert abs(demo.jaw_rad("PSM2") - 0.3) < 1e-9 and demo.missed == []


def test_a_pause_in_the_partners_move_is_not_taken_for_its_end():
    """The partner's move to W pauses 25 mm short of it (long enough to count as a move's
    end), then goes on. This process, busy meanwhile, waits for W as the partner sets off
    again: the count it finds is the pause's, and ending the wait on it would let this
    plan decide from the pause's pose while the partner's process decides from W's. The
    wait goes on until the partner rests at W."""
    from sim.devices.partner import PartnerDemonstrator

    M, W = np.array([0.0, 0.025, 0.01]), np.array([0.0, 0.05, 0.01])
    s = _OneHandSession([(0.2, 0.5, M), (0.8, 1.1, W)])
    demo = PartnerDemonstrator(s, "expert", seed=1, time_limit_s=60.0)
    s.hold(0.9)  # busy elsewhere: the pause was counted, the partner is on its way to W
    assert demo._moves["PSM2"].moves == 1
    demo.move_tip("PSM2", W, 0.001)
    assert 1.1 <= s.time_s < 1.2 and demo.missed == []
    assert np.linalg.norm(demo.tip_W("PSM2")[:3, 3] - W) < 1e-4
    # a move that ends far from the target with the partner still (a move this plan
    # expects but the partner's skipped) still ends the wait on its count, at once
    X = np.array([0.03, 0.05, 0.01])
    s.moves.append((1.3, 1.6, X))
    s.hold(0.8)  # that move was counted meanwhile
    t0 = s.time_s
    demo.move_tip("PSM2", W + np.array([0.0, 0.0, 0.02]), 0.001)
    assert s.time_s < t0 + 0.05


def test_a_partners_longer_branch_holds_this_hand_until_it_is_done():
    """This hand's branch ends first: it holds still (its samples go on) while the
    partner's branch is still watched; the block ends once the partner is at A."""
    from sim.devices.partner import PartnerDemonstrator

    A = np.array([0.0, 0.02, 0.0])
    s = _OneHandSession([(0.3, 0.9, A)])
    demo = PartnerDemonstrator(s, "expert", seed=1, time_limit_s=60.0)
    demo.parallel({"PSM1": lambda: demo.wait(0.2), "PSM2": lambda: demo.move_tip("PSM2", A)})
    assert 0.8 <= s.time_s < 1.1 and demo.missed == []
    assert np.linalg.norm(s.partner_at(s.time_s) - A) < 1e-3


def test_the_outcome_of_the_partners_work_is_waited_for_a_while():
    """A ring the partner placed may show on its peg here a moment later than there:
    the check waits for it (bounded); this hand's own work is judged at once."""
    from sim.devices.partner import OUTCOME_WAIT_S, PartnerDemonstrator

    s = _OneHandSession([])
    demo = PartnerDemonstrator(s, "expert", seed=1, time_limit_s=60.0)
    shows_at = s.time_s + 0.4
    assert demo.outcome("PSM2", lambda: s.time_s >= shows_at)
    assert shows_at <= s.time_s < shows_at + 0.05
    t0 = s.time_s
    assert not demo.outcome("PSM1", lambda: s.time_s >= t0 + 0.1)  # ours: at once
    assert s.time_s == t0
    assert not demo.outcome("PSM2", lambda: False)  # never: given up after the bound
    assert OUTCOME_WAIT_S <= s.time_s - t0 < OUTCOME_WAIT_S + 0.05


def test_a_closing_grip_ends_when_the_jaw_is_seen_done_in_both_processes():
    """Whether a grasp took is judged for 1 s after the grip ends (``until``), by both
    processes, which must agree. The jaw lags the hand's gripper (here it starts closing
    as the hand's 0.25 s squeeze ends and stops on a ring's wall 0.2 s later, no grasp):
    the process driving the hand ends its grip where the watching process can see it end,
    at the jaw's rest, not at the hand's. (Timed from the hand's end, a grasp 1.0-1.3 s
    after it was a miss in one process and a hold in the other.) Opening ends at once."""
    from haptics.operators import Grip
    from sim.devices.partner import REST_WINDOW_S, PartnerDemonstrator

    t0, squeeze = 0.5, Grip(0.0).duration_s
    closes_at, rests_at = t0 + squeeze, t0 + squeeze + 0.2

    def jaw(t: float) -> float:  # open 0.7, stopped on the wall at 0.4
        return 0.7 - 0.3 * min(max((t - closes_at) / 0.2, 0.0), 1.0)

    ends = {}
    for role, session in (
        ("driving", _OneHandSession([], own_jaw_at=jaw)),
        ("watching", _OneHandSession([], jaw_at=jaw)),
    ):
        demo = PartnerDemonstrator(session, "expert", seed=1, time_limit_s=60.0)
        session.hold(t0)
        demo.grip("PSM1" if role == "driving" else "PSM2", -0.3)
        ends[role] = session.time_s
        assert demo.missed == []
    assert rests_at + 0.8 * REST_WINDOW_S <= ends["driving"] < rests_at + 0.1
    assert abs(ends["driving"] - ends["watching"]) <= 0.02  # two looks

    # opening (a release) is not waited for: nothing is judged after it
    session = _OneHandSession([], own_jaw_at=lambda t: 0.4)
    demo = PartnerDemonstrator(session, "expert", seed=1, time_limit_s=60.0)
    demo.grip("PSM1", 1.0)
    assert session.time_s < squeeze + 0.02


def _jaw_window(values, start_s: float = 10.0):
    from sim.devices.pacing import RecentWindow

    w = RecentWindow(0.03)
    for k, jaw in enumerate(values):  # a look every 10 ms, on both clocks
        w.add(start_s + 0.01 * k, start_s + 0.01 * k, jaw)
    return w


def test_a_grasp_seen_is_a_grip_done_even_while_the_hand_carries_the_ring_away():
    """The partner closed on a ring and carries it off at once: its jaw, pushed by the
    ring, wanders by a few hundredths of a radian and never rests within 0.01 rad."""
    from sim.devices.partner import PartnerDemonstrator, _Grip

    close = _Grip("PSM1", -0.3)
    carrying = _jaw_window([0.49, 0.52, 0.50, 0.53, 0.49])
    assert PartnerDemonstrator._gripped(close, 1.2, carrying, True, holds=True)
    # the same jaw with nothing held is not a grip: closing on air, or stopped on a ring
    # with no grasp (a miss), still under way
    assert not PartnerDemonstrator._gripped(close, 1.2, carrying, True, holds=False)
    # asked to open: a hand still holding has not let go, however its jaw wanders
    assert not PartnerDemonstrator._gripped(_Grip("PSM1", 1.2), 0.5, carrying, True, True)
    # open at rest with nothing held: done
    opened = _jaw_window([1.05, 1.05, 1.05, 1.05])
    assert PartnerDemonstrator._gripped(_Grip("PSM1", 1.2), 0.5, opened, True, holds=False)


def test_the_watched_hand_is_planned_with_its_operators_profile():
    """Both processes run the whole plan and must decide alike: the hand this process
    only watches (no operator here) has the same scatter and stroke as in its own
    process (a plan asks them to choose a move; they once raised KeyError here)."""
    from scenarios.loader import load_scenario
    from sim.devices.partner import PartnerDemonstrator
    from sim.session.demo import Demonstrator
    from sim.session.session import Session

    with Session(load_scenario("peg-transfer"), seed=0) as session:
        session.partner, session.observers = ["PSM2"], []  # what a RemoteSession has
        joint = Demonstrator(session, "expert", seed=2)
        split = PartnerDemonstrator(session, "expert", seed=2)
        assert "PSM2" not in split.operators
        for arm in ("PSM1", "PSM2"):
            assert split.scatter_m(arm, 0.01) == joint.scatter_m(arm, 0.01) > 0
            assert split.stroke_m(arm) == joint.stroke_m(arm) > 0
