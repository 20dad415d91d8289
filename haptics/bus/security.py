"""CurveZMQ for a bus that leaves the machine: keypairs, loading them, and the allow list.

A server bound to anything but loopback must encrypt and authenticate
(:class:`~haptics.bus.sockets.ServerBus` refuses otherwise). Keys are pyzmq's
certificate files: ``NAME.key`` (public, to hand out) and ``NAME.key_secret`` (secret,
mode 0600, in a directory of mode 0700). The server accepts exactly the clients whose
public key files lie in its allow directory; a ZAP handler (pyzmq's
``ThreadAuthenticator``) checks each handshake, and :class:`AllowList` counts and logs
every refusal. A key removed from the allow directory also cuts off the clients already
connected with it: the server drops what they send (:meth:`AllowList.admits`, read from
each message's ZAP ``User-Id``) and makes them handshake again for what it publishes.
"""

from __future__ import annotations

import logging
import math
import os
import re
import stat
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils import z85

from haptics.bus.errors import BusSecurityError
from haptics.bus.file_modes import refuse_if_others_may_write
from haptics.bus.roles import OPERATOR, ROLES_FILE, Role, load_roles

__all__ = [
    "AllowList",
    "ClientCurve",
    "CurveKeys",
    "KeyFiles",
    "ServerCurve",
    "check_allow_dir",
    "load_keys",
    "load_public_key",
    "new_keypair",
    "start_authenticator",
]

log = logging.getLogger("haptics.bus.security")

_KEY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-.]{0,63}\Z")
#: Where ``surgisim keys new`` writes by default.
DEFAULT_KEY_DIR = Path("~/.surgisim/keys")


@dataclass(frozen=True)
class KeyFiles:
    """The two files of a keypair."""

    public: Path
    secret: Path


@dataclass(frozen=True)
class CurveKeys:
    """A Curve25519 keypair as z85 bytes (``secret`` is None for a public key alone)."""

    public: bytes
    secret: bytes | None = None


def new_keypair(name: str, directory: Path | str = DEFAULT_KEY_DIR, overwrite: bool = False):
    """Write ``NAME.key`` and ``NAME.key_secret`` (mode 0600) into ``directory``.

    The files are made by ``zmq.auth.create_certificates`` in a private (0700) temporary
    directory beside the target and moved into place, so the secret is never readable by
    others, even for a moment. A new ``directory`` is created with mode 0700.

    A ``directory`` that the group or others may write is refused (as the allow
    directory is): whoever can write it can replace a public key that peers trust.

    Returns:
        :class:`KeyFiles` with both paths.

    Raises:
        BusSecurityError: a bad name, a directory others may write, or the keys exist and
            ``overwrite`` is False.
    """
    if not _KEY_NAME.match(name):
        raise BusSecurityError(
            f"key name {name!r} is not usable as a file name; use letters, digits, '_', '-', '.'"
            " (e.g. 'server', 'MTMR-lab2')"
        )
    directory = Path(directory).expanduser()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    refuse_if_others_may_write(
        directory,
        lambda mode: (
            f"key directory {directory} has mode {mode:04o}: other users can replace the"
            " keys in it (a public key that a peer trusts, so that they sit in the middle)."
            f" Run `chmod go-w {directory}` (`chmod 700` keeps the keys to you), and make"
            " the keys again if others may have used it so far."
        ),
    )
    target = KeyFiles(directory / f"{name}.key", directory / f"{name}.key_secret")
    if not overwrite and (target.public.exists() or target.secret.exists()):
        raise BusSecurityError(
            f"keys {target.public} / {target.secret} exist already; pick another name or pass"
            " --force to replace them (every peer holding the old public key must get the new)"
        )
    with tempfile.TemporaryDirectory(dir=directory, prefix=".keys-") as tmp:  # mode 0700
        public, secret = zmq.auth.create_certificates(tmp, name)
        os.chmod(secret, 0o600)
        os.chmod(public, 0o644)
        os.replace(secret, target.secret)
        os.replace(public, target.public)
    return target


#: Characters of a Curve25519 key in a certificate file: 32 bytes as Z85 text.
Z85_KEY_CHARS = 40


def _key_problem(key: bytes | None, which: str) -> str | None:
    """What is wrong with ``key`` (z85 text from a certificate's ``which`` line), or None
    when it is a key: 40 Z85 characters that decode to 32 bytes. libzmq refuses anything
    else only when the key is set on a socket, with a bare "Invalid argument" that names
    no file (and ``surgisim serve`` hung in its cleanup after it), so a garbled key file
    is named when it is read."""
    if key is None:
        return None
    try:
        usable = len(key) == Z85_KEY_CHARS and len(z85.decode(key)) == 32
    except (ValueError, KeyError):  # a length not a multiple of 5; a non-Z85 character
        usable = False
    if usable:
        return None
    found = (
        f"it has {len(key)} characters"
        if len(key) != Z85_KEY_CHARS
        else "some of its characters are not Z85"
    )
    return (
        f"its {which} is not a CurveZMQ key ({Z85_KEY_CHARS} Z85 characters; {found}), so"
        " the file is damaged or was edited"
    )


def _read_certificate(path: Path, is_not: str, fix: str) -> tuple[bytes, bytes | None]:
    """The (public, secret) z85 keys of a certificate file, each checked
    (:func:`_key_problem`).

    Args:
        is_not: what the error says after the file's name ("is not a key file").
        fix: what to do about a bad one, for the error.

    Raises:
        BusSecurityError: the file cannot be read or holds no usable key, naming it.
    """
    try:
        public, secret = zmq.auth.load_certificate(path)
    except (ValueError, OSError) as e:
        problem = str(e)
    else:
        problem = _key_problem(public, "public-key") or _key_problem(secret, "secret-key")
        if problem is None:
            return public, secret
    raise BusSecurityError(f"{path} {is_not}: {problem}. {fix}.")


#: What to do about a damaged key file of one's own.
_MAKE_AGAIN = (
    "Make the keypair again with `surgisim keys new NAME` (and hand out its new NAME.key),"
    " or copy the file again from where it was made"
)


def _check_private(path: Path) -> None:
    if os.name != "posix":  # pragma: no cover - mode bits mean nothing elsewhere
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise BusSecurityError(
            f"secret key {path} has mode {mode:04o}: others can read it. Run `chmod 600 {path}`"
            " (and consider the key leaked if this machine is shared: make a new one)."
        )


def load_keys(secret_file: Path | str) -> CurveKeys:
    """Load a keypair from its ``NAME.key_secret`` file (refused unless mode 0600 or tighter).

    Raises:
        BusSecurityError: missing file, no secret in it, or readable by others.
    """
    path = Path(secret_file).expanduser()
    if not path.is_file():
        raise BusSecurityError(
            f"no secret key file {path}; make one with `surgisim keys new NAME`"
            " (it writes NAME.key_secret)"
        )
    public, secret = _read_certificate(path, "is not a key file", _MAKE_AGAIN)
    if secret is None:
        raise BusSecurityError(
            f"{path} holds no secret key; pass the NAME.key_secret file, not NAME.key"
        )
    _check_private(path)
    if zmq.curve_public(secret) != public:
        # each line looks like a key, but they are not a pair: the handshake then failed,
        # and the server blamed the client's copy of server.key
        raise BusSecurityError(
            f"{path} is not a key file: its public-key is not the one its secret-key makes,"
            f" so the file was edited or pieced together. {_MAKE_AGAIN}."
        )
    return CurveKeys(public, secret)


def _public_only(path: Path, public: bytes, secret: bytes | None, where: str) -> bytes:
    """``public``, from a file that must hold a public key only: a ``NAME.key_secret``
    copied or renamed into ``where`` was used silently, even readable by everyone, and
    whoever reads it can pose as its owner."""
    if secret is not None:
        raise BusSecurityError(
            f"{path} holds a secret key (a secret-key line), where {where} must hold only a"
            " public key: copy NAME.key, never NAME.key_secret, and take this secret as"
            " exposed: make a new keypair with `surgisim keys new NAME` and hand out its"
            " NAME.key"
        )
    return public


def load_public_key(public_file: Path | str) -> bytes:
    """The z85 public key in a ``NAME.key`` file.

    Raises:
        BusSecurityError: the file is missing, holds no key, or holds a secret key too.
    """
    path = Path(public_file).expanduser()
    if not path.is_file():
        raise BusSecurityError(f"no public key file {path}; copy the peer's NAME.key here")
    public, secret = _read_certificate(path, "is not a key file", _MAKE_AGAIN)
    return _public_only(path, public, secret, "a peer's public key file")


@dataclass(frozen=True)
class ServerCurve:
    """What a server needs for CurveZMQ: its own keypair and the allowed clients' directory."""

    keys: CurveKeys
    allow_dir: Path

    @classmethod
    def from_files(cls, secret_file: Path | str, allow_dir: Path | str) -> ServerCurve:
        """Load the server's ``NAME.key_secret`` and check the allow directory
        (:func:`check_allow_dir`)."""
        allow = Path(allow_dir).expanduser()
        check_allow_dir(allow)
        load_roles(allow)
        return cls(load_keys(secret_file), allow)

    @property
    def allowed_keys(self) -> int:
        """How many client keys the allow directory holds (for the startup banner)."""
        return len(check_allow_dir(self.allow_dir))

    @property
    def keys_with_roles(self) -> int:
        """How many of the allowed keys ``roles.yaml`` gives a role other than operator."""
        names = {path.stem for path in check_allow_dir(self.allow_dir)}
        return sum(
            1
            for name, role in load_roles(self.allow_dir).items()
            if name in names and role != OPERATOR
        )


def check_allow_dir(allow: Path, *, may_be_empty: bool = False) -> dict[Path, bytes]:
    """The public key of each ``*.key`` file in the allow directory, checked.

    Whoever can write into the allow directory decides who drives the instruments, so a
    directory that the group or others may write to is refused (as a readable secret key
    is); a ``.key`` file that holds no public key is named (pyzmq would skip it, or fail
    with no file name); and a directory with no key at all is refused: no client could
    connect, which is never what was meant.

    Raises:
        BusSecurityError: saying what is wrong and how to fix it.
    """
    if not allow.is_dir():
        raise BusSecurityError(
            f"allow directory {allow} does not exist; create it and copy each client's"
            " NAME.key into it"
        )
    refuse_if_others_may_write(
        allow,
        lambda mode: (
            f"allow directory {allow} has mode {mode:04o}: other users can add a key"
            f" to it and so let any client in. Run `chmod go-w {allow}` (0755 or 0700), and check"
            " the keys in it are the ones you put there."
        ),
    )
    keys: dict[Path, bytes] = {}
    for path in sorted(allow.glob("*.key")):
        public, secret = _read_certificate(
            path,
            "in the allow directory is not a public key file",
            "Replace it with the client's NAME.key (made by `surgisim keys new NAME`) or remove it",
        )
        keys[path] = _public_only(path, public, secret, "the allow directory")
    if not keys and not may_be_empty:
        raise BusSecurityError(
            f"allow directory {allow} holds no client key (NAME.key), so no device or viewer"
            " could connect; copy each client's NAME.key into it (make them with"
            " `surgisim keys new NAME` on each client)"
        )
    return keys


@dataclass(frozen=True)
class ClientCurve:
    """What a client needs for CurveZMQ: its own keypair and the server's public key."""

    keys: CurveKeys
    server_public: bytes

    @classmethod
    def from_files(cls, secret_file: Path | str, server_public_file: Path | str) -> ClientCurve:
        """Load the client's ``NAME.key_secret`` and the server's ``NAME.key``."""
        return cls(load_keys(secret_file), load_public_key(server_public_file))


#: (s) how often a handshake may make the allow list look at its directory for changes.
ALLOW_DIR_CHECK_S = 0.5


class AllowList:
    """ZAP credentials provider: the public keys in ``allow_dir``; refusals counted and logged.

    pyzmq calls :meth:`callback` from its authenticator thread for every Curve handshake
    (a refused client retries, so each retry counts). The directory is looked at again
    (at most every :data:`ALLOW_DIR_CHECK_S`) at each handshake, and by the server at each
    tick (:meth:`look_again`): a lab adds a station's key, or removes a lost laptop's,
    without stopping a session. A change is logged.

    A removed key also ends what its connected clients may do: CurveZMQ checks a client
    at its handshake only, so the server asks :meth:`admits` for every message it takes
    (the ZAP handler names the key in each message's ``User-Id``). A directory that no
    longer passes :func:`check_allow_dir` (made writable by others, a file that holds no
    key) refuses every new client until it is fixed (fail closed), but does not cut off
    the connected ones: a key copied in with ``cp`` is an empty file for a moment, and
    that must not stop every hand in a session; a key must be *removed* to cut its
    clients off (the last one too: a directory emptied allows nobody).
    """

    def __init__(self, allow_dir: Path | str) -> None:
        self.allow_dir = Path(allow_dir)
        self._lock = threading.Lock()
        self._looking = threading.Lock()
        self._refused = 0
        self.refused_keys: set[bytes] = set()
        #: the address of the peer whose handshake is being checked (set from the ZAP
        #: request by :class:`_Authenticator`, on the one authenticator thread)
        self.peer = ""
        self._looked_at = -math.inf
        self._state = self._dir_state()
        #: the ZAP ``User-Id`` (z85 text) of every key whose connected clients may go on:
        #: replaced whole, never changed in place, so :meth:`admits` reads it unlocked
        self._connected_ok: frozenset[str] = frozenset()
        #: keys removed since the last :meth:`take_removed` (the server re-binds what it
        #: publishes on, so that their clients must handshake again)
        self._removed: set[str] = set()
        #: key (z85 text) -> the name of its file in the allow directory, kept for keys
        #: since removed, for the log
        self._names: dict[str, str] = {}
        #: key (z85 text) -> its role (:mod:`haptics.bus.roles`), replaced whole
        self._roles: dict[str, Role] = {}
        #: why the directory is refused, while it is (see the class)
        self._broken: str | None = None
        self.reload()

    def reload(self, *, may_be_empty: bool = False) -> int:
        """Re-read the directory (after adding a client's key); the number of keys allowed.
        ``may_be_empty``: a directory whose last key was removed is read as allowing
        nobody (so its connected clients are cut off), not refused."""
        files = check_allow_dir(self.allow_dir, may_be_empty=may_be_empty)
        by_name = load_roles(self.allow_dir)
        keys = set(files.values())
        ids = frozenset(k.decode("ascii") for k in keys)
        self._names.update((k.decode("ascii"), path.stem) for path, k in files.items())
        self._roles = {
            k.decode("ascii"): by_name.get(path.stem, OPERATOR) for path, k in files.items()
        }
        with self._lock:
            self._allowed = keys
            self._removed |= self._connected_ok - ids
            self._connected_ok = ids
        return len(self._allowed)

    def admits(self, user_id: str | None) -> bool:
        """Whether a message from a client connected under ``user_id`` (its key in z85, as
        the ZAP handler names it) may be taken: its key is still allowed."""
        return user_id in self._connected_ok

    def role_of(self, user_id: str | None) -> Role:
        """The role of a connected client's key (:mod:`haptics.bus.roles`)."""
        return self._roles.get(user_id or "", OPERATOR)

    def name_of(self, user_id: str | None) -> str:
        """The allow directory's name for a key (``NAME`` of ``NAME.key``), or the key."""
        return self._names.get(user_id or "", str(user_id))

    def take_removed(self) -> set[str]:
        """The keys removed since the last call (z85 text), once."""
        with self._lock:
            removed, self._removed = self._removed, set()
        return removed

    def _dir_state(self) -> tuple:
        """What a change of the allow directory changes: its mode and listing, each key
        file's size and modification time."""
        try:
            folder = self.allow_dir.stat()
            files = []
            for path in [*sorted(self.allow_dir.glob("*.key")), self.allow_dir / ROLES_FILE]:
                if path.exists():
                    st = path.stat()
                    files.append((path.name, st.st_mode, st.st_size, st.st_mtime_ns))
        except OSError as exc:
            return (type(exc).__name__,)
        return (folder.st_mode, folder.st_mtime_ns, tuple(files))

    def look_again(self) -> None:
        """Re-read the directory if it changed since it was last read (see the class); at
        most every :data:`ALLOW_DIR_CHECK_S`, so calling it at every tick costs a clock
        read. Called from the authenticator's thread and the server's."""
        now = time.monotonic()
        if now - self._looked_at < ALLOW_DIR_CHECK_S or not self._looking.acquire(False):
            return
        try:
            self._looked_at = now
            state = self._dir_state()
            if state != self._state:
                self._state = state
                self._reread()
        finally:
            self._looking.release()

    def _reread(self) -> None:
        # compared with the last directory that passed (a refused one allows nobody new,
        # but its fix adds no key)
        before = self._connected_ok
        try:
            count = self.reload(may_be_empty=True)
        except (BusSecurityError, OSError) as exc:
            with self._lock:
                self._allowed = set()
                self._broken = str(exc)
            log.warning(
                "the allow directory changed and is refused: %s; every new client "
                "is refused until it is fixed (connected clients stay connected)",
                exc,
            )
            return
        self._broken = None
        after = self._connected_ok
        if not count:
            log.warning(
                "the allow directory '%s' holds no client key any more: every client is"
                " refused, and the connected ones are cut off",
                self.allow_dir,
            )
            return
        cut = len(before - after)
        log.warning(
            "the allow directory '%s' changed: %d client keys allowed (%d added, %d removed; %s)",
            self.allow_dir,
            count,
            len(after - before),
            cut,
            f"the clients connected with {cut} removed key(s) are cut off"
            if cut
            else "connected clients stay connected",
        )

    @property
    def refused(self) -> int:
        """Handshakes refused so far."""
        return self._refused

    def callback(self, domain: str, key: bytes) -> bool:
        """True when the client's z85 public ``key`` is allowed (called by pyzmq)."""
        self.look_again()
        with self._lock:
            if key in self._allowed:
                return True
            self._refused += 1
            first = key not in self.refused_keys
            self.refused_keys.add(key)
            broken = self._broken
        if first and broken is not None:  # the key may well be there: the directory is not
            log.warning(
                "refused a client from %s (key %s): the allow directory is refused until it"
                " is fixed: %s",
                self.peer or "an unknown address",
                key.decode("ascii", "replace"),
                broken,
            )
        elif first:
            log.warning(
                "refused a client from %s with unknown public key %s (add its NAME.key to %s"
                " to allow it)",
                self.peer or "an unknown address",
                key.decode("ascii", "replace"),
                self.allow_dir,
            )
        return False


class _Authenticator(ThreadAuthenticator):
    """pyzmq's ZAP handler, telling the :class:`AllowList` the address of each peer
    (a ZAP request carries it; pyzmq's credentials callback gets only the key)."""

    allow: AllowList | None = None

    async def handle_zap_message(self, msg: list[bytes]) -> None:
        if self.allow is not None and len(msg) > 3:
            self.allow.peer = msg[3].decode("utf-8", "replace")
        await super().handle_zap_message(msg)


def start_authenticator(
    context: zmq.Context, allow_dir: Path
) -> tuple[ThreadAuthenticator, AllowList]:
    """Start a ZAP handler on ``context`` that admits the keys in ``allow_dir`` only."""
    allow = AllowList(allow_dir)
    auth = _Authenticator(context, log=log)
    auth.allow = allow
    auth.start()
    auth.configure_curve_callback(domain="*", credentials_provider=allow)
    return auth, allow


def make_curve_server(socket: zmq.Socket, keys: CurveKeys) -> None:
    """Make ``socket`` a Curve server with ``keys`` (before bind)."""
    socket.curve_secretkey = keys.secret
    socket.curve_publickey = keys.public
    socket.curve_server = True


def make_curve_client(socket: zmq.Socket, curve: ClientCurve) -> None:
    """Make ``socket`` a Curve client of the server whose public key ``curve`` holds."""
    socket.curve_secretkey = curve.keys.secret
    socket.curve_publickey = curve.keys.public
    socket.curve_serverkey = curve.server_public
