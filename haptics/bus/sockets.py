"""The bus's two ends: :class:`ServerBus` (binds) and :class:`ClientBus` (connects).

Ports (docs/bus.md): the server's PUB at P (server -> clients), SUB at P + 1 (devices ->
server, subscribed to everything) and ROUTER at P + 2 (requests). Every inbound message is
checked by :func:`haptics.bus.contract.decode`; what fails is counted by reason and
dropped, never raised: a device can send anything without moving an instrument or
stopping the server. Sends never block (PUB drops at its high-water mark).

Slow joiners: ZeroMQ's PUB drops what it sends before a subscriber's subscription has
arrived. :meth:`ClientBus.wait_ready` removes the guesswork: it asks ``hello`` (the server
is up), waits until the server's SUB has subscribed to the client's outbound socket (an
XPUB, which sees subscriptions; on the wire it is a PUB), and optionally until the first
server message has arrived on the client's SUB.

Sockets are not thread-safe: use each bus from one thread.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import select
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import msgpack
import zmq

from haptics.bus.contract import (
    CONTRACT_VERSION,
    DEFAULT_PORT,
    INT64_MAX,
    TO_CLIENT,
    TO_SERVER,
    Message,
    decode,
    decode_reply,
    decode_request,
    encode,
    encode_reply,
    encode_request,
)
from haptics.bus.errors import (
    DROP_REASONS,
    BusError,
    BusMessageError,
    BusSecurityError,
    BusTimeoutError,
)
from haptics.bus.names import NameLimit
from haptics.bus.ports import ephemeral_range
from haptics.bus.roles import OPERATOR, REPORT_TOPICS, Role
from haptics.bus.security import (
    AllowList,
    ClientCurve,
    ServerCurve,
    make_curve_client,
    make_curve_server,
    start_authenticator,
)

__all__ = [
    "BusCounters",
    "ClientBus",
    "InboundCounters",
    "RequestOrigin",
    "ServerBus",
    "bus_endpoints",
    "is_loopback",
    "non_loopback_needs_curve",
    "raise_open_file_limit",
]

log = logging.getLogger("haptics.bus")

#: Most (reason, part wrong) drops logged one by one (:meth:`InboundCounters.drop`);
#: beyond them, only the periodic summary says more (a sender trying every field).
MAX_SAID = 64
#: Senders named per reason in a drop summary; the rest are counted as ``others``.
MAX_WINDOW_SENDERS = 8
#: (s) How often at most the server sums up its new drops (:meth:`ServerBus.drop_summary`).
DROP_SUMMARY_S = 10.0
#: Frames larger than this make libzmq disconnect the sender outright (memory guard);
#: messages between MAX_MESSAGE_BYTES and this are received, counted ``too_large`` and dropped.
MAX_FRAME_BYTES = 1024 * 1024
#: High-water marks (messages per peer): ~10 s of 1 kHz device samples inbound; outbound
#: PUB drops beyond 1000 queued per subscriber (a stalled viewer never slows the server).
SERVER_SNDHWM, SERVER_RCVHWM, CLIENT_SNDHWM, CLIENT_RCVHWM = 1000, 10_000, 10_000, 10_000
#: Replies queued for one requester at most (the request socket's send high-water mark):
#: a client waits for each reply, so it has one request outstanding, or a few after
#: timeouts; past this the ROUTER drops the reply (counted as ``replies_unsent``). At
#: 1000, a client that sent ``hello`` with the scene (a ~75 kB reply) over and over and
#: never read made the server hold ~70 MB per connection.
REPLY_SNDHWM = 8
#: (ms) How long a connection to one of the server's sockets may take to complete its
#: ZeroMQ handshake (``ZMQ_HANDSHAKE_IVL``; libzmq's default is 30 000): one that has not
#: by then (a TCP connection that never sends a byte) is closed, so idle connections hold
#: the server's file descriptors for seconds, not half a minute. A CurveZMQ handshake
#: takes milliseconds, even through a loaded machine's ZAP handler.
HANDSHAKE_MS = 5000


def is_loopback(host: str) -> bool:
    """True when ``host`` names this machine only (``127.0.0.0/8``, ``::1``, ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def non_loopback_needs_curve(bind_host: str) -> str:
    """What to say when ``bind_host`` is not loopback and no CurveZMQ keys were given: the
    ``surgisim serve`` options that fix it (and the Python call, for API users)."""
    return (
        f"refusing to bind {bind_host!r} without CurveZMQ: anyone who can reach this"
        " machine could move the instruments. Either bind 127.0.0.1, or make keys with"
        " `surgisim keys new server` and `surgisim keys new <device>` (on each device),"
        " copy every device's NAME.key into an allow directory, and start the server"
        " with `--server-key server.key_secret --allow-keys DIR` (in Python:"
        " ServerCurve.from_files)."
    )


def bus_endpoints(
    host: str = "127.0.0.1", port: int = DEFAULT_PORT, ipc_dir: Path | str | None = None
) -> tuple[str, str, str]:
    """The three endpoints (server PUB, server SUB, ROUTER) of a bus at base port ``port``.

    With ``ipc_dir`` the bus uses Unix sockets ``ipc://DIR/bus-P``, ``bus-P+1``, ``bus-P+2``
    instead of TCP (one machine only; a little faster).
    """
    if ipc_dir is not None:
        return tuple(f"ipc://{Path(ipc_dir)}/bus-{port + i}" for i in range(3))  # type: ignore[return-value]
    h = f"[{host.strip('[]')}]" if ":" in host else host
    return tuple(f"tcp://{h}:{port + i}" for i in range(3))  # type: ignore[return-value]


@dataclass
class InboundCounters:
    """Messages accepted and dropped (by reason) on one inbound socket.

    Attributes:
        accepted: messages that passed every check.
        dropped: reason (:data:`~haptics.bus.errors.DROP_REASONS`) -> count.
        last_error: reason -> the latest drop's error (``str()`` it for the message).
        dropped_by_key: for the drops that name a client key (``revoked_key``,
            ``not_permitted``): reason -> key name -> count.
        disconnects: connections to this socket that ended after their handshake: a
            sender that closed, or one the server cut off for a frame over
            :data:`MAX_FRAME_BYTES` (libzmq does that itself and says no more, so the two
            cannot be told apart; :class:`_ConnectionWatch`).
    """

    accepted: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DROP_REASONS, 0))
    last_error: dict[str, BusMessageError] = field(default_factory=dict)
    disconnects: int = 0
    dropped_by_key: dict[str, dict[str, int]] = field(default_factory=dict)
    #: (reason, what) of the drops logged so far (at most :data:`MAX_SAID`)
    said: set[tuple[str, str]] = field(default_factory=set)
    #: the drops since the last :meth:`take_window`: reason -> sender -> count
    window: dict[str, dict[str, int]] = field(default_factory=dict)
    #: how many of those were not logged one by one
    window_unsaid: int = 0

    def last_problem(self, reason: str) -> str:
        """What was wrong with the latest message dropped for ``reason`` ('' if none)."""
        error = self.last_error.get(reason)
        return "" if error is None else str(error)

    @property
    def total_dropped(self) -> int:
        """All drops, every reason."""
        return sum(self.dropped.values())

    @property
    def total(self) -> int:
        """Every message taken off the socket: accepted + dropped."""
        return self.accepted + self.total_dropped

    def drop(self, error: BusMessageError, key: str | None = None, sender: str = "") -> None:
        """Count one dropped message; log the first of each reason and part wrong
        (``error.what``: a non-unit quaternion after a bad ``seq`` is said too; at most
        :data:`MAX_SAID` of them), and, for a drop that names the sender's ``key``, the
        first of each reason from each key. ``sender``: the name it came under, when
        known, for :meth:`take_window`."""
        reason = error.reason
        if key is not None:
            counts = self.dropped_by_key.setdefault(reason, {})
            first = key not in counts
            counts[key] = counts.get(key, 0) + 1
        else:
            said = (reason, error.what)
            first = said not in self.said and len(self.said) < MAX_SAID
            if first:
                self.said.add(said)
        if first:
            log.warning("dropped a message (%s): %s", reason, error)
        else:
            self.window_unsaid += 1
        self.dropped[reason] += 1
        self.last_error[reason] = error
        senders = self.window.setdefault(reason, {})
        who = _printable_name(key or sender or "?")
        if who not in senders and len(senders) >= MAX_WINDOW_SENDERS:
            who = "others"
        senders[who] = senders.get(who, 0) + 1

    def take_window(self) -> tuple[dict[str, dict[str, int]], int]:
        """The drops since the previous call, by reason and sender (the name a message
        came under, the key's name for a drop by key, ``others`` past
        :data:`MAX_WINDOW_SENDERS` of them, ``?`` when unreadable), and how many of them
        were not logged one by one; starts a new window."""
        out, unsaid = self.window, self.window_unsaid
        self.window, self.window_unsaid = {}, 0
        return out, unsaid

    def refuse(self, error: BusMessageError, sender: str = "") -> None:
        """Count as dropped a message that passed the bus's checks but that its receiver
        refuses on one that needs the sender's history (a ``frame_timing`` whose count
        grew faster than any display: :class:`~haptics.bus.frame_timing.FrameTimingLog`),
        so that ``accepted`` + the drops is still every message taken."""
        self.accepted -= 1
        self.drop(error, sender=sender)

    def as_dict(self) -> dict:
        """Plain data for JSON and status lines."""
        return {
            "accepted": self.accepted,
            "dropped": dict(self.dropped),
            "dropped_by_key": {r: dict(k) for r, k in self.dropped_by_key.items()},
            "disconnects": self.disconnects,
        }


@dataclass
class BusCounters:
    """Everything a bus end counts.

    Attributes:
        messages: topic messages received (device samples on a server, server messages
            on a client).
        requests: requests received (server) or replies received (client).
        sent: messages and requests sent.
        replies_unsent: replies that could not be queued (the requester's queue was full).
        refused_clients: Curve handshakes refused by the allow list (server with Curve).
        names_forgotten: client names whose state the server dropped: silent names beyond
            the ones it keeps for the record (:mod:`haptics.bus.names`).
        failed_handshakes: other handshakes that failed on the server's three sockets, by
            kind (:data:`HANDSHAKE_FAILURES`: a client without keys, one with the wrong
            server key, anything else).
    """

    messages: InboundCounters = field(default_factory=InboundCounters)
    requests: InboundCounters = field(default_factory=InboundCounters)
    sent: int = 0
    replies_unsent: int = 0
    refused_clients: int = 0
    names_forgotten: int = 0
    failed_handshakes: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(HANDSHAKE_FAILURES, 0)
    )

    def as_dict(self) -> dict:
        """Plain data for JSON and status lines."""
        return {
            "messages": self.messages.as_dict(),
            "requests": self.requests.as_dict(),
            "sent": self.sent,
            "replies_unsent": self.replies_unsent,
            "refused_clients": self.refused_clients,
            "names_forgotten": self.names_forgotten,
            "failed_handshakes": dict(self.failed_handshakes),
        }


@dataclass(frozen=True, slots=True)
class RequestOrigin:
    """Who asked: the ROUTER envelope and the request's ``seq`` (opaque to callers), and
    the role of the asker's key (:mod:`haptics.bus.roles`; an operator without Curve),
    for the server to check what a request names (the arm a device may enable)."""

    envelope: tuple[bytes, ...]
    seq: int
    role: Role = OPERATOR


#: Kinds of failed handshake counted in ``BusCounters.failed_handshakes``, from the
#: libzmq 4.3 monitor (checked against libzmq 4.3.5): a client without CurveZMQ keys at
#: a Curve server (or with keys at a plain one) fails with a mechanism mismatch; a client
#: with the wrong server public key with a cryptographic error (and retries every
#: ~0.1 s); anything else in the handshake is ``other``. A client key not on the allow
#: list is refused by the ZAP handler and counted as ``refused_clients`` instead.
HANDSHAKE_FAILURES = ("no_curve", "wrong_server_key", "other")


def _handshake_failure(value: int) -> str:
    if value == zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
        return "no_curve"
    if value == zmq.PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC:
        return "wrong_server_key"
    return "other"


#: what each kind of failed handshake means, for the log line
_HANDSHAKE_MEANING = {
    "no_curve": "the client does not use CurveZMQ as this server does (no keys, or keys at"
    " a server without them)",
    "wrong_server_key": "the client has the wrong server public key (give it this server's"
    " server.key)",
    "other": "the handshake broke off",
}


class _ConnectionWatch:
    """Counts, from one socket's libzmq monitor, the connections that end and the
    handshakes that fail.

    A frame over :data:`MAX_FRAME_BYTES` never reaches the server's code: libzmq refuses
    it by closing the sender's connection (a memory guard), and its monitor reports only
    ``DISCONNECTED``, the same event as a sender that closed its socket. So every
    connection that ends after its handshake is counted (when ``counters`` is given), and
    the first is logged with both causes; a sender that keeps being cut off shows as a
    count that grows while it reconnects (every ~0.1 s). A handshake that fails (no keys,
    the wrong server key: :data:`HANDSHAKE_FAILURES`) is counted by kind in
    ``failed`` and the first of each kind logged; the monitor names this socket's
    endpoint, not the peer's address (libzmq 4.3 does not report it), so the log cannot
    say who it was.
    Read on the loop's thread (``poll`` never blocks).
    """

    #: a handshake the ZAP handler refused (a client key not allowed) is counted as
    #: ``refused_clients`` (:class:`~haptics.bus.security.AllowList`), not here
    _PROTOCOL = zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    _FAILED = zmq.EVENT_HANDSHAKE_FAILED_AUTH | _PROTOCOL
    _EVENTS = zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED | _FAILED

    def __init__(
        self,
        sock: zmq.Socket,
        what: str,
        counters: InboundCounters | None,
        failed: dict[str, int],
    ) -> None:
        self._monitor = sock.get_monitor_socket(self._EVENTS)
        self._sock, self._what, self._counters, self._failed = sock, what, counters, failed
        self._open: set[int] = set()  # descriptors of the accepted connections

    def poll(self) -> None:
        """Take every monitor event waiting; count the connections that ended and the
        handshakes that failed. (libzmq names a connection by its descriptor in ACCEPTED
        and DISCONNECTED only; a failed handshake is reported just before its own
        DISCONNECTED, on the one I/O thread.)"""
        from zmq.utils.monitor import parse_monitor_message

        while True:
            try:
                event = parse_monitor_message(self._monitor.recv_multipart(zmq.NOBLOCK))
            except zmq.Again:
                return
            kind, value = event["event"], int(event["value"])
            if kind == zmq.EVENT_ACCEPTED:
                self._open.add(value)
            elif kind & self._FAILED:  # its value is an error code, not the descriptor
                self._failed_pending = True
                if kind & self._PROTOCOL:
                    self._handshake_failed(_handshake_failure(value))
            elif kind == zmq.EVENT_DISCONNECTED and value in self._open:
                self._open.discard(value)
                if self._failed_pending:
                    self._failed_pending = False
                elif self._counters is not None:
                    self._disconnected()

    _failed_pending = False

    def _handshake_failed(self, why: str) -> None:
        # the first of each kind: a client without keys and one with the wrong server key
        # are different mistakes, each worth its line (later tries are only counted)
        if not self._failed[why]:
            log.warning(
                "refused a connection to the %s socket: %s. libzmq does not say the peer's"
                " address; counted as 'failed_handshakes' (a client that retries is"
                " counted at each try)",
                self._what,
                _HANDSHAKE_MEANING[why],
            )
        self._failed[why] += 1

    def _disconnected(self) -> None:
        if not self._counters.disconnects:
            # a device or viewer that quits ends its connection too (every desktop
            # practice session starts with one), so it is said once, as information
            log.info(
                "a %s connection ended: the sender closed it, or sent a frame over %d bytes,"
                " which libzmq refuses by disconnecting the sender (it does not say which;"
                " counted as 'disconnects')",
                self._what,
                MAX_FRAME_BYTES,
            )
        self._counters.disconnects += 1

    def close(self) -> None:
        """Stop monitoring and close the monitor socket."""
        self._sock.disable_monitor()
        self._monitor.close(linger=0)


def raise_open_file_limit() -> tuple[int, int] | None:
    """Raise this process's soft limit of open files (``RLIMIT_NOFILE``) to its hard limit,
    as servers commonly do; returns (before, after), or None where there is no such limit.

    Every connection to the bus holds a file descriptor until it ends: under the soft
    limit a desktop session starts with (often 1024), a few hundred TCP connections that
    never send a byte used up the server's descriptors, so real devices got no reply and
    the session's checkpoint could not be written. The hard limit is usually far higher
    (it is what an administrator allows; ``ulimit -Hn``). Idle connections are also closed
    after :data:`HANDSHAKE_MS`; docs/bus.md says what else to do.
    """
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft in (hard, resource.RLIM_INFINITY):
        return soft, soft
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):  # e.g. macOS caps it below an "unlimited" hard limit
        return soft, soft
    log.debug("raised the limit of open files from %d to %d", soft, target)
    return soft, target


def _socket(ctx: zmq.Context, kind: int, sndhwm: int, rcvhwm: int) -> zmq.Socket:
    s = ctx.socket(kind)
    s.linger = 0
    s.sndhwm = sndhwm
    s.rcvhwm = rcvhwm
    return s


def wait_readable(sock: zmq.Socket, timeout_s: float) -> bool:
    """Block up to ``timeout_s`` until ``sock`` has a message to read; True if it has.

    ZeroMQ's own poll counts whole milliseconds: a server that waits 0.4 ms for its next
    physics tick could only poll 0 ms (spin) or 1 ms (oversleep the tick). The socket's
    notification descriptor (``ZMQ_FD``) waited on with ``select`` keeps the timeout to
    the microsecond. That descriptor is edge-triggered and signals any change of state,
    so readiness is always read from ``ZMQ_EVENTS`` (which also re-arms it) before and
    after each wait: a message that arrived before the call is seen at once, and a wake
    that brought no message waits again for what is left of the timeout.
    """
    if sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
        return True
    if not timeout_s > 0:
        return False
    fd = sock.getsockopt(zmq.FD)
    deadline = time.monotonic() + timeout_s
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        _wait_fd(fd, remaining)
        if sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
            return True


#: ``select`` takes descriptors below this only (glibc's FD_SETSIZE)
_SELECT_FD_LIMIT = 1024


def _wait_fd(fd: int, timeout_s: float) -> None:
    """Wait up to ``timeout_s`` for ``fd`` to become readable: ``select`` (microseconds)
    where it can, ``poll`` (whole milliseconds, rounded up) for a descriptor numbered at
    or past FD_SETSIZE, which ``select`` refuses. A server raises its open-file limit
    (:func:`raise_open_file_limit`), so a bus made after a thousand files were opened
    can get such a descriptor."""
    if fd < _SELECT_FD_LIMIT:
        select.select((fd,), (), (), timeout_s)
        return
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    poller.poll(math.ceil(timeout_s * 1000))


def _drain(
    sock: zmq.Socket,
    direction: str,
    counters: InboundCounters,
    limit: int,
    names: NameLimit | None = None,
    max_seconds: float | None = None,
    allow: AllowList | None = None,
) -> tuple[list[Message], bool]:
    """The valid messages waiting on ``sock`` (up to ``limit``, for at most ``max_seconds``),
    and whether the queue ran dry (False: the read stopped at a bound with messages left).
    With ``allow`` (a Curve server), a message whose sender's key was removed from the
    allow list since it connected is dropped as ``revoked_key``, and one under a device
    name its key's role does not give as ``not_permitted``."""
    out: list[Message] = []
    stop_at = math.inf if max_seconds is None else time.monotonic() + max_seconds
    for _ in range(limit):
        try:
            frames, user_id, admitted = _receive(sock, counters, allow, "a device message")
        except zmq.Again:
            return out, True
        if not admitted:
            continue
        received_s = time.monotonic()
        try:
            message = decode(frames, direction, received_s)
        except BusMessageError as e:
            counters.drop(e, sender=_sender(frames))
        else:
            role = None if allow is None else allow.role_of(user_id)
            mapped = () if names is None else names.reserved
            if role is not None and not role.may_send_as(message.component, message.name, mapped):
                error = _not_permitted(allow, user_id, _what_was_sent(message))
                counters.drop(error, allow.name_of(user_id))
            elif names is None or names.admit(message.component, received_s):
                out.append(message)
                counters.accepted += 1
            else:
                error = _too_many_names(message.component, names.limit, names.idle_s)
                counters.drop(error, sender=message.component)
        if received_s > stop_at:
            break  # the rest wait for the next drain (see ServerBus.drain)
    return out, not sock.get(zmq.EVENTS) & zmq.POLLIN


def _printable_name(name: str) -> str:
    """``name`` as it may go to a console or a log: as it is when every character of it
    prints, else escaped as Python's ``ascii()`` writes it (in quotes, ``'\\x1b[2J'``).
    Sender names come off the wire: raw, an ESC or CR in one cleared the operator's
    terminal or wrote over the line in the drop summary (the ``bus_drop`` event carries
    the same names)."""
    return name if name.isprintable() else ascii(name)


def _sender(frames: list[bytes]) -> str:
    """The name a message that failed its checks came under (its topic's first part), as
    far as it can be read ('?' when not)."""
    name = frames[0][:64].partition(b"/")[0] if frames else b""
    return name.decode("utf-8", "replace")[:32] or "?"


def _receive(
    sock: zmq.Socket, counters: InboundCounters, allow: AllowList | None, what: str
) -> tuple[list[bytes], str | None, bool]:
    """One message's frames (bytes), its sender's key (z85; None without Curve), and
    whether that key is still allowed: False when it was removed from ``allow`` since
    the client connected (counted as ``revoked_key``, naming ``what`` was dropped; see
    :meth:`AllowList.admits`). The caller drops the message, or answers it.

    Raises:
        zmq.Again: nothing waits.
    """
    if allow is None:
        return sock.recv_multipart(zmq.NOBLOCK), None, True
    frames = sock.recv_multipart(zmq.NOBLOCK, copy=False)
    user_id = _user_id(frames[-1])  # the peer's frame (a ROUTER's first is its own)
    admitted = allow.admits(user_id)
    if not admitted:
        name = allow.name_of(user_id)
        counters.drop(_revoked(name, what), name)
    return [f.bytes for f in frames], user_id, admitted


def _reply_envelope(frames: list[bytes]) -> tuple[bytes, ...]:
    """The envelope that routes a reply to a request's frames, whatever they hold: the
    ROUTER's identity frame, and the empty delimiter when the asker sent one (a REQ
    socket needs it back; a DEALER reads the last frame)."""
    delimited = len(frames) >= 3 and not frames[1]
    return (frames[0], b"") if delimited else (frames[0],)


def _user_id(frame: zmq.Frame) -> str | None:
    """The ZAP handler's ``User-Id`` of the connection a frame came by (the client's key)."""
    try:
        return frame.get("User-Id")
    except zmq.ZMQError:  # no ZAP user on this connection
        return None


def _revoked(key_name: str, what: str) -> BusMessageError:
    return BusMessageError(
        "revoked_key",
        f"{what} from a client connected with the key {key_name!r} was dropped: that key"
        " was removed from the server's allow directory since the client connected, which"
        " cuts the client off (put its NAME.key back to let it in again)",
    )


def _not_permitted(allow: AllowList, user_id: str | None, what: str) -> BusMessageError:
    name, role = allow.name_of(user_id), allow.role_of(user_id)
    return BusMessageError(
        "not_permitted",
        f"{what} from the key {name!r} was dropped: its role {str(role)!r} does not allow it"
        f" (roles.yaml in the server's allow directory)",
    )


def _what_was_sent(message: Message) -> str:
    """What a message refused for its sender's role was, for the drop's reason."""
    if message.name in REPORT_TOPICS:  # refused only under a mapped device's name
        return (
            f"a {message.name} report under the mapped device name {message.component!r}"
            " (it would be stored as that device's)"
        )
    return f"samples as {message.component!r}"


def _too_many_names(name: str, limit: int, idle_s: float) -> BusMessageError:
    return BusMessageError(
        "too_many_names",
        lambda: (
            f"a message under the name {name!r} was dropped: the server keeps state for"
            f" at most {limit} client names at a time (its device map's always among them),"
            f" and that many have sent within the last {idle_s:g} s; a new name is dropped"
            " and counted as 'too_many_names' until one of them has been silent that long"
        ),
    )


def _readable_seq(body: bytes) -> int:
    """The ``seq`` of a request that failed its checks, when it can be read; else -1."""
    try:
        seq = msgpack.unpackb(body, raw=False).get("seq")
    except Exception:  # anything at all: this only decides which reply_to to send
        return -1
    usable = isinstance(seq, int) and not isinstance(seq, bool) and 0 <= seq <= INT64_MAX
    return seq if usable else -1  # a reply_to outside int64 could not be sent


class _Sequencer:
    """Per-topic ``seq`` counters and the envelope every sent message carries."""

    def __init__(self) -> None:
        self._seq: defaultdict[str, int] = defaultdict(int)

    def envelope(self, topic: str, payload: Mapping, stamp_s: float | None) -> dict:
        seq = self._seq[topic]
        out = dict(payload)
        out["v"] = CONTRACT_VERSION
        out["stamp_s"] = time.monotonic() if stamp_s is None else float(stamp_s)
        out["seq"] = seq
        return out

    def advance(self, topic: str) -> int:
        seq = self._seq[topic]
        self._seq[topic] = seq + 1
        return seq


class ServerBus:
    """The simulation server's end of the bus: binds PUB at P, SUB at P + 1, ROUTER at P + 2.

    Args:
        port: base port P; 0 picks a free block of three ports (see :attr:`port`).
        bind_host: address to bind; anything but loopback requires ``curve``.
        curve: the server's keys and allow directory (:class:`ServerCurve`).
        ipc_dir: use ``ipc://`` endpoints in this directory instead of TCP.

    Raises:
        BusSecurityError: a non-loopback ``bind_host`` without ``curve``.
        BusError: the ports are taken (another server runs there).
    """

    def __init__(
        self,
        port: int = DEFAULT_PORT,
        bind_host: str = "127.0.0.1",
        curve: ServerCurve | None = None,
        *,
        ipc_dir: Path | str | None = None,
    ) -> None:
        if ipc_dir is None and curve is None and not is_loopback(bind_host):
            raise BusSecurityError(non_loopback_needs_curve(bind_host))
        self.bind_host, self.ipc_dir, self.curve = bind_host, ipc_dir, curve
        raise_open_file_limit()
        self._ctx = zmq.Context()
        self._auth = self._allow = None
        self._closed = False
        self._watch_lock = threading.Lock()
        self._watches: tuple[_ConnectionWatch, ...] = ()
        try:
            if curve is not None:
                self._auth, self._allow = start_authenticator(self._ctx, curve.allow_dir)
            self._pub = self._publishing_socket()
            self._sub = _socket(self._ctx, zmq.SUB, SERVER_SNDHWM, SERVER_RCVHWM)
            self._router = _socket(self._ctx, zmq.ROUTER, REPLY_SNDHWM, SERVER_SNDHWM)
            for s in (self._sub, self._router):
                s.ipv6 = ":" in bind_host
                s.handshake_ivl = HANDSHAKE_MS
                if curve is not None:
                    make_curve_server(s, curve.keys)
                s.maxmsgsize = MAX_FRAME_BYTES
            self._router.router_mandatory = True  # a reply that cannot be queued is counted
            self._sub.subscribe(b"")
            self.port = self._bind(port)
        except BaseException:
            self.close()
            raise
        self.endpoints = bus_endpoints(bind_host, self.port, ipc_dir)
        self._counters = BusCounters()
        failed = self._counters.failed_handshakes
        self._watches = (
            _ConnectionWatch(self._sub, "device (P + 1)", self._counters.messages, failed),
            _ConnectionWatch(self._router, "request (P + 2)", self._counters.requests, failed),
            self._watch_publishing(),
        )
        #: the client names whose messages are kept (:mod:`haptics.bus.names`); a server
        #: reserves its device map's names here
        self.names = NameLimit()
        self._summarized_s = time.monotonic()  # the last drop_summary (s)
        #: whether the last :meth:`drain`'s messages waited in a backlog (it, or the drain
        #: before it, stopped at a bound with messages left): their ``received_s`` is when
        #: they were read, later than when they arrived, so it times nothing about their
        #: sender (:meth:`haptics.bus.devices.DeviceState.ingest`'s ``read_late``)
        self.read_late = False
        self._backlog = False
        self._topics = _Sequencer()
        self._reply_seq = 0
        self._poller = zmq.Poller()
        self._poller.register(self._sub, zmq.POLLIN)
        self._poller.register(self._router, zmq.POLLIN)

    def _publishing_socket(self) -> zmq.Socket:
        """A new PUB socket, closed again if setting it up fails: one left open (not yet
        stored where :meth:`close` finds it) made ``close`` wait forever in
        ``Context.term`` (a key libzmq refused hung ``surgisim serve`` silently)."""
        s = _socket(self._ctx, zmq.PUB, SERVER_SNDHWM, SERVER_RCVHWM)
        try:
            s.ipv6 = ":" in self.bind_host
            s.handshake_ivl = HANDSHAKE_MS
            if self.curve is not None:
                make_curve_server(s, self.curve.keys)
        except BaseException:
            s.close(linger=0)
            raise
        return s

    def _watch_publishing(self) -> _ConnectionWatch:
        return _ConnectionWatch(self._pub, "publishing (P)", None, self._counters.failed_handshakes)

    def _bind(self, port: int) -> int:
        socks = (self._pub, self._sub, self._router)
        if port != 0 or self.ipc_dir is not None:
            for s, ep in zip(socks, bus_endpoints(self.bind_host, port, self.ipc_dir), strict=True):
                try:
                    s.bind(ep)
                except zmq.ZMQError as e:
                    raise BusError(
                        f"cannot bind {ep}: {e.strerror}. Is another `surgisim serve` running"
                        f" there?{_waiting_client_hint(e, port)} Stop it or pick another base"
                        f" port (--port; this bus needs {port}, {port + 1} and {port + 2})."
                    ) from None
            return port
        for _ in range(200):  # port 0: let the OS pick P, then try P+1 and P+2
            ep_pub = self._pub.bind_to_random_port(f"tcp://{self.bind_host}")
            p = int(ep_pub)
            bound = []
            try:
                for s, ep in zip(socks[1:], bus_endpoints(self.bind_host, p)[1:], strict=True):
                    s.bind(ep)
                    bound.append((s, ep))
                return p
            except zmq.ZMQError:
                for s, ep in bound:
                    s.unbind(ep)
                self._pub.unbind(bus_endpoints(self.bind_host, p)[0])
        raise BusError("found no free block of three TCP ports after 200 tries")

    @property
    def counters(self) -> BusCounters:
        """Live counters (received, dropped by reason, disconnects, sent, refused clients)."""
        self._poll_watches()
        if self._allow is not None:
            self._counters.refused_clients = self._allow.refused
        return self._counters

    def publish(
        self, topic: str, payload: Mapping, *, used_seq: int = -1, stamp_s: float | None = None
    ) -> int:
        """Send one server -> client message; adds ``v``, ``stamp_s``, ``seq``, ``used_seq``.

        Args:
            topic: e.g. ``"PSM1/measured_cp"`` (must be a server -> client topic).
            payload: the topic's own fields (numpy arrays are fine).
            used_seq: the ``seq`` of the latest device sample behind this message (-1: none).
            stamp_s: the server's clock (s); default ``time.monotonic()`` now.

        Returns:
            The ``seq`` this message got.

        Raises:
            BusMessageError: the payload breaks the contract (a bug in the caller).
        """
        body = self._topics.envelope(topic, payload, stamp_s)
        body["used_seq"] = used_seq
        frames = encode(topic, body, TO_CLIENT)
        if self._allow is not None and self._allow.take_removed():
            self._rebind_publishing()
        self._pub.send_multipart(frames, zmq.NOBLOCK, copy=True)
        self._counters.sent += 1
        return self._topics.advance(topic)

    def _rebind_publishing(self) -> None:
        """Close the publishing socket and bind a new one at the same address, so every
        subscriber must handshake again and a client whose key was removed gets nothing
        more (a PUB socket cannot tell its subscribers apart, nor drop one). The others
        reconnect by themselves, within ~0.1-0.2 s (libzmq's reconnect interval), and
        miss what was published meanwhile (a gap in their ``seq``). Done on the thread
        that publishes: ZeroMQ sockets are not thread-safe."""
        with self._watch_lock:  # the watches may be polled on the receiving thread
            *others, watch = self._watches
            watch.close()
            self._watches = tuple(others)
        self._pub.close(linger=0)
        self._pub = self._publishing_socket()
        endpoint = self.endpoints[0]
        for attempt in range(100):  # the old listener closes on libzmq's I/O thread
            try:
                self._pub.bind(endpoint)
                break
            except zmq.ZMQError:
                if attempt == 99:
                    raise
                time.sleep(0.002)
        with self._watch_lock:
            self._watches = (*self._watches, self._watch_publishing())
        log.warning(
            "re-bound the publishing socket %s: a client key was removed, and its clients"
            " must not go on receiving; the others reconnect within a fraction of a second",
            endpoint,
        )

    def wait(self, timeout_s: float, *, devices: bool = True, requests: bool = True) -> bool:
        """Block up to ``timeout_s`` until a device message or request waits; True if one does.

        Args:
            devices: watch the SUB socket (device messages).
            requests: watch the ROUTER socket (requests); with ``devices=False`` another
                thread may drain the SUB meanwhile.

        Watching one socket keeps ``timeout_s`` to the microsecond (:func:`wait_readable`);
        watching both rounds it down to whole milliseconds (ZeroMQ's poll).
        """
        if devices and requests:
            return bool(self._poller.poll(max(0, int(timeout_s * 1000))))
        return wait_readable(self._sub if devices else self._router, timeout_s)

    def drain(self, max_messages: int = 10_000, max_seconds: float | None = None) -> list[Message]:
        """Every valid device message waiting (up to ``max_messages``, and for at most
        ``max_seconds``), in arrival order.

        Non-blocking. Invalid messages are counted in ``counters.messages`` and dropped, as
        are messages under a client name beyond :attr:`names`' limit (``too_many_names``;
        the names it forgets, :meth:`~haptics.bus.names.NameLimit.pop_forgotten`, are for
        the caller to drop its state of).
        ``max_seconds`` bounds what one client flooding the socket can cost a real-time
        loop per call: what is left waits in ZeroMQ's queue, one queue per sender, read in
        turn (fair queueing), so a flooder fills and overflows its own queue (10 000
        messages, then ZeroMQ drops its newest) while the other senders' samples still
        come through at every drain. :attr:`read_late` says whether what it returns
        waited in such a backlog.
        """
        if self._allow is not None:
            self._allow.look_again()
        messages, ran_dry = _drain(
            self._sub,
            TO_SERVER,
            self._counters.messages,
            max_messages,
            self.names,
            max_seconds,
            self._allow,
        )
        self.read_late = self._backlog or not ran_dry
        self._backlog = not ran_dry
        self._counters.names_forgotten = self.names.forgotten
        return messages

    def drop_summary(self, now_s: float | None = None) -> dict | None:
        """The messages and requests dropped since the previous summary, at most every
        :data:`DROP_SUMMARY_S` (None when none is due, or nothing was dropped): only the
        first of each reason and part wrong is logged as it happens, so a later flood,
        or a sender that goes on with the same fault, would go unseen. Logged as one
        WARNING line (``surgisim serve`` shows it) when some of them were not logged one
        by one, and returned as plain data for the
        session's ``bus_drop`` event (docs/bus.md): ``dropped``: reason -> sender ->
        count (requests under the sender ``request``), ``last_problem``: reason -> what
        was wrong with its latest drop, ``period_s``: the time it covers.

        Args:
            now_s: ``time.monotonic()`` now (s); read when not given.
        """
        now_s = time.monotonic() if now_s is None else now_s
        if now_s - self._summarized_s < DROP_SUMMARY_S:
            return None
        messages, requests = self._counters.messages, self._counters.requests
        dropped, unsaid = messages.take_window()
        asked, unsaid_asked = requests.take_window()
        for reason, senders in asked.items():
            dropped.setdefault(reason, {})["request"] = sum(senders.values())
        if not dropped:
            return None  # the next drop is summed up at once: still one line per period
        period_s, self._summarized_s = now_s - self._summarized_s, now_s
        last = {
            r: (messages.last_problem(r) if r in messages.last_error else requests.last_problem(r))
            for r in dropped
        }
        parts = [
            f"{sum(senders.values())} {reason} ("
            + ", ".join(f"{name} {n}" for name, n in senders.items())
            + ")"
            for reason, senders in dropped.items()
        ]
        if not unsaid + unsaid_asked:  # each was logged as it came
            return {"period_s": period_s, "dropped": dropped, "last_problem": last}
        log.warning(
            "dropped in the last %.0f s: %s; the latest: %s",
            period_s,
            "; ".join(parts),
            "; ".join(f"({r}) {text}" for r, text in last.items()),
        )
        return {"period_s": period_s, "dropped": dropped, "last_problem": last}

    def requests(self, max_requests: int = 100) -> list[tuple[RequestOrigin, dict]]:
        """Every valid request waiting, as ``(origin, request)`` pairs; non-blocking.

        A request that breaks the contract is counted and answered at once with
        ``ok: false`` and the reason (so the asker is not left waiting), also one whose
        frames are not ``[empty, body]`` or ``[body]`` (:meth:`_refuse_envelope`).
        """
        self._poll_watches()  # once a tick: the server loop asks for requests every tick
        out: list[tuple[RequestOrigin, dict]] = []
        counters = self._counters.requests
        if self._allow is not None:
            self._allow.look_again()
        for _ in range(max_requests):
            try:
                frames, user_id, admitted = _receive(
                    self._router, counters, self._allow, "a request"
                )
            except zmq.Again:
                break
            if not admitted:
                self._refuse_revoked(frames, user_id)
                continue
            if len(frames) == 3 and not frames[1]:
                envelope, body = (frames[0], b""), frames[2]
            elif len(frames) == 2:
                envelope, body = (frames[0],), frames[1]
            else:
                self._refuse_envelope(frames)
                continue
            try:
                request = decode_request(body)
            except BusMessageError as e:
                counters.drop(e)
                origin = RequestOrigin(envelope, _readable_seq(body))
                self.reply(origin, {"ok": False, "error": str(e)})
                continue
            role = OPERATOR if self._allow is None else self._allow.role_of(user_id)
            origin = RequestOrigin(envelope, request["seq"], role)
            name = request["request"]
            if not role.may_request(name):
                error = _not_permitted(self._allow, user_id, f"the request {name!r}")
                counters.drop(error, self._allow.name_of(user_id))
                self.reply(origin, {"ok": False, "error": str(error)})
                continue
            counters.accepted += 1
            out.append((origin, request))
        return out

    def _refuse_revoked(self, frames: list[bytes], user_id: str | None) -> None:
        """Answer ``ok: false`` to a request whose sender's key was removed from the
        allow list since it connected (:func:`_receive` counted it), so that the asker
        learns it was cut off instead of waiting for an answer."""
        origin = RequestOrigin(_reply_envelope(frames), _readable_seq(frames[-1]))
        error = _revoked(self._allow.name_of(user_id), "a request")
        self.reply(origin, {"ok": False, "error": str(error)})

    def _poll_watches(self) -> None:
        with self._watch_lock:
            for watch in self._watches:
                watch.poll()

    def _refuse_envelope(self, frames: list) -> None:
        """Count a request whose frames are neither ``[empty, body]`` nor ``[body]`` and
        answer it with ``ok: false``: the ROUTER's first frame names the asker, so a
        reply can always be routed (docs/bus.md: a request that breaks the contract is
        answered at once). The reply keeps the asker's delimiter when it sent one (a REQ
        socket needs it; a DEALER reads the last frame), and answers the first ``seq``
        that one of the frames has, -1 when none has."""
        parts = len(frames) - 1
        error = BusMessageError(
            "wrong_frame_count",
            f"request has {parts} frames, expected [empty, body] or [body]",
        )
        self._counters.requests.drop(error)
        seqs = (_readable_seq(f) for f in frames[1:] if f)
        seq = next((q for q in seqs if q >= 0), -1)
        self.reply(RequestOrigin(_reply_envelope(frames), seq), {"ok": False, "error": str(error)})

    def reply(self, origin: RequestOrigin, payload: Mapping) -> bool:
        """Answer a request: ``payload`` needs ``ok`` (and ``error`` when false).

        Adds ``v``, ``stamp_s``, ``seq`` and ``reply_to`` (the request's seq). Never blocks.

        Returns:
            False when the reply could not be queued (the asker is gone or flooding).

        Raises:
            BusMessageError: the reply breaks the contract (a bug in the caller).
        """
        body = dict(payload)
        body.update(
            v=CONTRACT_VERSION, stamp_s=time.monotonic(), seq=self._reply_seq, reply_to=origin.seq
        )
        data = encode_reply(body)
        self._reply_seq += 1
        try:
            self._router.send_multipart([*origin.envelope, data], zmq.NOBLOCK)
        except zmq.ZMQError:  # Again (queue full) or EHOSTUNREACH
            self._counters.replies_unsent += 1
            return False
        return True

    def close(self) -> None:
        """Close the sockets (LINGER 0: nothing queued is sent) and stop the authenticator."""
        if self._closed:
            return
        self._closed = True
        for watch in getattr(self, "_watches", ()):
            watch.close()
        for name in ("_pub", "_sub", "_router"):
            s = getattr(self, name, None)
            if s is not None:
                s.close(linger=0)
        if self._auth is not None:
            self._auth.stop()
        self._ctx.term()

    def __enter__(self) -> ServerBus:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _waiting_client_hint(error: zmq.ZMQError, port: int) -> str:
    """What else can hold a port the server cannot bind: a device or viewer that waits for
    a server on a base port in the ephemeral range may have connected to itself there
    (see :meth:`ClientBus._leave_self_connection`)."""
    if error.errno != zmq.EADDRINUSE:
        return ""
    low, high = ephemeral_range()
    hint = " Or a device or viewer waiting for a server on this port"
    if low <= port + 2 and port <= high:
        hint += (
            f" (it lies in {low}-{high}, the ports the system gives outgoing connections: a"
            f" waiting client can connect to itself there; base ports below {low} avoid it)"
        )
    return hint + "?"


class ClientBus:
    """A device's or viewer's end of the bus: SUB to P, PUB (an XPUB) to P + 1, DEALER to P + 2.

    Args:
        host: the server's address.
        port: the server's base port P.
        curve: this client's keys and the server's public key (:class:`ClientCurve`).
        subscribe: topic prefixes to receive (``""``: everything; ``()``: nothing).
        ipc_dir: connect to ``ipc://`` endpoints in this directory instead of TCP.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        curve: ClientCurve | None = None,
        subscribe: Iterable[str] = ("",),
        *,
        ipc_dir: Path | str | None = None,
    ) -> None:
        self.endpoints = bus_endpoints(host, port, ipc_dir)
        self._ctx = zmq.Context()
        self._closed = False
        self._sub = _socket(self._ctx, zmq.SUB, CLIENT_SNDHWM, CLIENT_RCVHWM)
        self._pub = _socket(self._ctx, zmq.XPUB, CLIENT_SNDHWM, CLIENT_RCVHWM)
        self._dealer = _socket(self._ctx, zmq.DEALER, 100, 100)
        self._monitor = None
        try:
            for s in (self._sub, self._pub, self._dealer):
                s.ipv6 = ":" in host
                if curve is not None:
                    make_curve_client(s, curve)
        except BaseException:  # a key libzmq refuses: no socket left to block term()
            self.close()
            raise
        self._sub.maxmsgsize = MAX_FRAME_BYTES
        if curve is not None:
            self._monitor = self._dealer.get_monitor_socket(
                zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
            )
        for prefix in subscribe:
            self._sub.subscribe(prefix.encode("utf-8"))
        for s, ep in zip((self._sub, self._pub), self.endpoints[:2], strict=True):
            s.connect(ep)
        self._dealer_endpoint = self.endpoints[2]
        self._dealer.connect(self._dealer_endpoint)
        self.counters = BusCounters()
        self._topics = _Sequencer()
        self._request_seq = 0
        self._subscribers = 0
        #: the last requests sent, as sent: one of them coming back is a self-connection
        self._sent_requests: deque[bytes] = deque(maxlen=8)
        #: how often the request socket found itself connected to itself (and reconnected)
        self.self_connections = 0

    def subscribe(self, prefix: str) -> None:
        """Also receive the topics starting with ``prefix`` (from now on: what the server
        sent before the subscription reached it is not delivered)."""
        self._sub.subscribe(prefix.encode("utf-8"))

    def publish(self, topic: str, payload: Mapping, *, stamp_s: float | None = None) -> int:
        """Send one device -> server message; adds ``v``, ``stamp_s`` (monotonic), ``seq``.

        Returns:
            The ``seq`` this message got.

        Raises:
            BusMessageError: the payload breaks the contract.
        """
        frames = encode(topic, self._topics.envelope(topic, payload, stamp_s), TO_SERVER)
        self._pub.send_multipart(frames, zmq.NOBLOCK, copy=True)
        self.counters.sent += 1
        return self._topics.advance(topic)

    def poll(self, timeout_s: float = 0.0, max_messages: int = 10_000) -> list[Message]:
        """Server messages: waits up to ``timeout_s`` for the first, then takes all waiting.

        Invalid ones are counted in ``counters.messages`` and dropped.
        """
        if timeout_s > 0 and not self._sub.poll(int(timeout_s * 1000), zmq.POLLIN):
            return []
        return _drain(self._sub, TO_CLIENT, self.counters.messages, max_messages)[0]

    def request(self, payload: Mapping | str, timeout_s: float = 2.0) -> dict:
        """Ask the server and wait for its reply (a dict with ``ok``; ``error`` when false).

        Args:
            payload: the request (``{"request": "hello", "scene": True}``) or just its name.
            timeout_s: how long to wait (s).

        Raises:
            BusTimeoutError: no reply in time (no server there).
            BusSecurityError: the server refused this client's Curve key.
        """
        if isinstance(payload, str):
            payload = {"request": payload}
        seq = self._request_seq
        self._request_seq += 1
        body = dict(payload)
        body.update(v=CONTRACT_VERSION, stamp_s=time.monotonic(), seq=seq)
        deadline = time.monotonic() + timeout_s
        frame = encode_request(body)
        try:
            self._dealer.send_multipart([b"", frame], zmq.NOBLOCK)
        except zmq.Again:
            # no server to queue for: none there yet, or a CurveZMQ handshake that never
            # completes (a client without keys, or with the wrong ones): as no reply
            self._dealer.poll(int(timeout_s * 1000), zmq.POLLIN)  # wait as a request would
            self._raise_if_refused()
            raise BusTimeoutError(
                f"no reply to {body['request']!r} from {self.endpoints[2]} within"
                f" {timeout_s:g} s (nothing connected) — is `surgisim serve` running (with"
                " this base port, and, if it uses CurveZMQ, this client's keys)?"
            ) from None
        self.counters.sent += 1
        self._sent_requests.append(frame)
        while True:
            # whole milliseconds, rounded up: a request waits its timeout at least
            left_ms = math.ceil(max(0.0, deadline - time.monotonic()) * 1000)
            if not self._dealer.poll(left_ms, zmq.POLLIN):
                self._raise_if_refused()
                raise BusTimeoutError(
                    f"no reply to {body['request']!r} from {self.endpoints[2]} within"
                    f" {timeout_s:g} s — is `surgisim serve` running (with this base port)?"
                )
            frames = self._dealer.recv_multipart()
            if frames[-1] in self._sent_requests:
                self._leave_self_connection()
                raise BusTimeoutError(
                    f"no server at {self.endpoints[2]}: this client's {body['request']!r}"
                    " came back to itself (a TCP self-connection, reconnected) — is"
                    " `surgisim serve` running (with this base port)?"
                )
            try:
                reply = decode_reply(frames[-1])
            except BusMessageError as e:
                self.counters.requests.drop(e)
                continue
            if reply["reply_to"] in (seq, -1):  # -1: the server could not read our seq
                self.counters.requests.accepted += 1
                return reply
            # a late reply to an earlier request that timed out: skip it

    def _leave_self_connection(self) -> None:
        """Drop the request socket's connection to itself and connect afresh.

        With no server listening on P + 2, ZeroMQ retries the connection every 100 ms,
        and each try takes a source port from Linux's ephemeral range (32768-60999 by
        default). When P + 2 lies in that range, a try sooner or later gets P + 2 itself:
        TCP's simultaneous open connects the socket to itself, this DEALER reads its own
        requests as replies, and it holds P + 2, so a server started next cannot bind
        ("Address already in use"). A fresh connection takes another source port.
        """
        self.self_connections += 1
        self._sent_requests.clear()
        log.warning(
            "the request socket connected to itself on %s (no server there, and a port"
            " in the range the system gives outgoing connections; a base port below %d"
            " avoids it): reconnecting",
            self.endpoints[2],
            ephemeral_range()[0],
        )
        self._dealer.disconnect(self._dealer_endpoint)
        self._dealer_endpoint = self.endpoints[2]
        self._dealer.connect(self._dealer_endpoint)

    def _raise_if_refused(self) -> None:
        if self._monitor is None:
            return
        from zmq.utils.monitor import recv_monitor_message

        while self._monitor.poll(0):
            event = recv_monitor_message(self._monitor)
            if event["event"] in (
                zmq.EVENT_HANDSHAKE_FAILED_AUTH,
                zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
            ):
                raise BusSecurityError(
                    f"the server at {self.endpoints[2]} refused this client's CurveZMQ key"
                    " (or this client has the wrong server key): copy this client's NAME.key"
                    " into the server's allow directory, and check the server's public key"
                )

    def reconnect_subscriber(self) -> None:
        """Connect the subscribing socket afresh, with a new handshake: after a CurveZMQ
        server refused it (this client's key was removed, then put back), libzmq does not
        try again by itself, and nothing the server publishes would arrive."""
        self._sub.disconnect(self.endpoints[0])
        self._sub.connect(self.endpoints[0])

    @property
    def server_subscribed(self) -> bool:
        """True once the server's SUB has subscribed to this client's outbound socket."""
        while self._pub.poll(0, zmq.POLLIN):
            if self._pub.recv()[:1] == b"\x01":
                self._subscribers += 1
        return self._subscribers > 0

    def wait_ready(self, timeout_s: float = 5.0, first_message: bool = False) -> dict:
        """Wait until the bus works both ways; returns the server's ``hello`` reply.

        1. ``hello`` is answered (the server is up); 2. the server's SUB has subscribed to
        this client, so what :meth:`publish` sends from now on arrives; 3. with
        ``first_message``, a server message is waiting on this client's SUB (it is left
        there for :meth:`poll`), so the server -> client direction is live too.

        Raises:
            BusTimeoutError: a step did not happen within ``timeout_s``.
        """
        deadline = time.monotonic() + timeout_s
        hello = self.request("hello", timeout_s)
        while not self.server_subscribed:
            if time.monotonic() > deadline:
                raise BusTimeoutError(
                    f"the server answered hello but did not subscribe to {self.endpoints[1]}"
                    f" within {timeout_s:g} s"
                )
            self._pub.poll(10, zmq.POLLIN)
        if first_message:
            # whole milliseconds, rounded up: a request waits its timeout at least
            left_ms = math.ceil(max(0.0, deadline - time.monotonic()) * 1000)
            if not self._sub.poll(left_ms, zmq.POLLIN):
                raise BusTimeoutError(
                    f"no message from {self.endpoints[0]} within {timeout_s:g} s; is the"
                    " server publishing (and does the subscription match)?"
                )
        return hello

    def close(self) -> None:
        """Close the sockets (LINGER 0: nothing queued is sent)."""
        if self._closed:
            return
        self._closed = True
        if self._monitor is not None:
            self._dealer.disable_monitor()
            self._monitor.close(linger=0)
        for s in (self._sub, self._pub, self._dealer):
            s.close(linger=0)
        self._ctx.term()

    def __enter__(self) -> ClientBus:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
