"""Asking a silent server why it is silent: gone, cutting this client off, or only its
stream lost.

Every client that watches the server's stream (a device process, the headset, the
desktop trainer) sees the same silence for three different causes, which call for three
different answers to the person using it:

- the server is gone (stopped, crashed, the network down): no reply to ``hello``;
- the server refuses this client: its key was removed from the server's allow directory
  since it connected (docs/bus.md, *Security*), and ``hello`` is answered ``ok: false``
  with the reason, which is worth showing word for word;
- the server answers, but its publications stopped reaching this client: the server
  re-binds its publishing socket to cut a removed key off, every subscriber handshakes
  again, and libzmq does not retry a handshake the server refused, so a client whose key
  was removed and put back hears nothing more until it reconnects its subscribing socket
  (:meth:`~haptics.bus.sockets.ClientBus.reconnect_subscriber`).

This module only asks and sorts the answer; what to do is the client's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from haptics.bus.errors import BusSecurityError, BusTimeoutError

#: How long to wait for ``session/score`` after ``session/ending`` when the notice gives no
#: usable ``score_within_s`` (s), and the most any notice can ask for.
RESULT_WAIT_S = 120.0
MAX_RESULT_WAIT_S = 600.0


def ending_words(notice: dict) -> str:
    """How a ``session/ending`` notice says the session ended, for a person: its reason,
    and a failed exercise's failure (``failed: time limit of 240 s reached``)."""
    reason = str(notice.get("reason") or "no reason given")
    failure = notice.get("failure")
    return f"{reason}: {failure}" if failure else reason


@dataclass(frozen=True)
class ServerAnswer:
    """What the server said to a ``hello`` probe.

    Attributes:
        answered: it replied at all (False: gone, or unreachable).
        refusal: its reason when it replied ``ok: false`` (this client is cut off), else
            None.
        hello: its ``hello`` reply when it let this client in, else None.
    """

    answered: bool
    refusal: str | None = None
    hello: dict | None = None

    @property
    def admits(self) -> bool:
        """The server answered and lets this client in."""
        return self.hello is not None


def ask_server(bus, timeout_s: float) -> ServerAnswer:
    """Send ``hello`` on ``bus`` (a :class:`~haptics.bus.sockets.ClientBus`) and sort the
    reply; waits up to ``timeout_s``. A key the server refused at the handshake (a
    reconnection after the key was removed) is a refusal too, with the bus's reason."""
    try:
        reply = bus.request("hello", timeout_s=timeout_s)
    except BusTimeoutError:
        return ServerAnswer(answered=False)
    except BusSecurityError as exc:
        return ServerAnswer(answered=True, refusal=str(exc))
    if reply.get("ok") is False:
        return ServerAnswer(answered=True, refusal=str(reply.get("error", "no reason given")))
    return ServerAnswer(answered=True, hello=reply)


@dataclass(frozen=True)
class Silence:
    """A silent stream's verdict (:meth:`SilenceCheck.check`).

    Attributes:
        kind: ``"resubscribed"`` (the server lets this client in: its subscribing socket
            was reconnected, and the stream is given time to come back), ``"refused"``
            (this client's key is cut off), ``"gone"`` (no reply), or ``"deaf"`` (the
            server answers but its stream stayed away after every reconnection).
        text: what to tell the person using the client, in a sentence without a full stop.
    """

    kind: str
    text: str

    @property
    def ends(self) -> bool:
        """Whether the client should give up on this server (all kinds but resubscribed)."""
        return self.kind != "resubscribed"


class SilenceCheck:
    """Sorts a client's silent stream by asking the server (see the module docstring).

    Args:
        bus: the client's :class:`~haptics.bus.sockets.ClientBus` (its own thread's).
        what: the client in words, for the texts (``"this headset"``).
        silence_s: how long the stream may be silent before the server is asked.
        probe_timeout_s: how long to wait for the reply (blocks the caller).
        max_resubscribes: reconnections tried in one silence before it is ``deaf``.
    """

    def __init__(
        self,
        bus,
        what: str,
        silence_s: float,
        probe_timeout_s: float = 1.0,
        max_resubscribes: int = 3,
    ) -> None:
        self.bus = bus
        self.what = what
        self.silence_s = float(silence_s)
        self.probe_timeout_s = float(probe_timeout_s)
        self.max_resubscribes = int(max_resubscribes)
        self.resubscribes = 0  # in all, for reports
        self._in_this_silence = 0
        self._asked_s = -float("inf")
        self._ending: tuple[float, float] | None = None  # (notice's time, wait) (s)

    def ending(self, now_s: float, notice: dict) -> str | None:
        """The server said the session ended (``session/ending``): it is silent while it
        scores and stores the session, so the stream's silence is no longer asked about;
        :meth:`check` ends the wait only once the notice's ``score_within_s`` has passed
        with no result (:data:`RESULT_WAIT_S` when that is not a usable number, at most
        :data:`MAX_RESULT_WAIT_S`). The first notice counts.

        Args:
            now_s: the monotonic time (s) the notice came.
            notice: the ``session/ending`` payload.

        Returns:
            What to tell the person using the client, the first time; None after.
        """
        if self._ending is not None:
            return None
        within_s = notice.get("score_within_s")
        if not isinstance(within_s, int | float) or not 0.0 < within_s < math.inf:
            within_s = RESULT_WAIT_S
        self._ending = (now_s, min(float(within_s), MAX_RESULT_WAIT_S))
        return (
            f"the session ended on the server ({ending_words(notice)}): waiting for its "
            "result while the server scores and stores it"
        )

    def heard(self) -> None:
        """The stream brought a message: a later silence starts afresh."""
        self._in_this_silence = 0

    def check(self, silent_s: float, now_s: float) -> Silence | None:
        """None while the stream has been silent for at most ``silence_s`` (counted from
        the last reconnection too), else the verdict after asking the server; after
        :meth:`ending`, None until the server's wait for the result has passed.

        Args:
            silent_s: seconds since the stream's last message.
            now_s: the monotonic time (s) of ``silent_s``.
        """
        if self._ending is not None:
            since, within_s = self._ending
            if now_s - since <= within_s:
                return None
            return Silence(
                "gone",
                f"the training server ended the session but sent no result within "
                f"{within_s:g} s (it crashed while storing it?)",
            )
        if min(silent_s, now_s - self._asked_s) <= self.silence_s:
            return None
        self._asked_s = now_s
        answer = ask_server(self.bus, self.probe_timeout_s)
        if answer.refusal is not None:
            return Silence("refused", f"the training server refuses {self.what}: {answer.refusal}")
        if not answer.answered:
            return Silence(
                "gone",
                f"the training server sent nothing for {silent_s:.1f} s (stopped, crashed or"
                " unreachable)",
            )
        if self._in_this_silence >= self.max_resubscribes:
            return Silence(
                "deaf",
                f"the training server answers, but its stream has not reached {self.what}"
                f" for {silent_s:.1f} s, after {self._in_this_silence} reconnections",
            )
        self.bus.reconnect_subscriber()
        self._in_this_silence += 1
        self.resubscribes += 1
        return Silence(
            "resubscribed",
            f"the training server's stream stopped reaching {self.what}, though the server"
            " answers (a key put back in its allow directory?): reconnected to it",
        )
