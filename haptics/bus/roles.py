"""What each allowed client key may do on a CurveZMQ bus: its role, from ``roles.yaml``.

The allow directory decides *who* connects; without roles every allowed key could send
under any device name (and so drive any mapped arm) and send every request (``stop``
ends a trainee's session). A lab that lets observers watch from their laptops, or puts
each station's master on its own key, says what each key may do in ``roles.yaml``
beside the keys::

    # NAME (of NAME.key): role
    station2-MTMR: device:MTMR
    station2-console: device:MTMR,MTML
    observer-laptop: observer
    instructor: operator

- ``operator``: everything (the role of every key the file does not name, so an allow
  directory without the file works as before);
- ``device:NAME[,NAME...]``: device samples only under those device names; the
  requests ``hello``, ``state_command`` and ``stop`` (a trainee's console enables its
  arm, pauses, and ends its own session); the server lets its ``enable`` and
  ``disable`` name only the arms its devices drive (the bus does not know the map);
- ``observer``: ``hello`` only; no samples (it may still subscribe to everything the
  server publishes).

Every role may send the report topics (:data:`REPORT_TOPICS`: a viewer's
``frame_timing``) under any name but the server's mapped devices' (they move nothing);
under a mapped device's name a report is stored as that device's, in the trainee's
record, so only a key that may send that device's samples may send it.

The server checks every message against its sender's role (the ZAP handler names the
sender's key in each message), drops what the role does not allow as
``not_permitted``, and answers such a request ``ok: false``. A change to the file
applies within half a second, to connected clients too.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from haptics.bus.errors import BusSecurityError
from haptics.bus.file_modes import refuse_if_others_may_write

__all__ = ["OPERATOR", "REPORT_TOPICS", "ROLES_FILE", "Role", "load_roles", "parse_role"]

#: the roles file's name in the allow directory
ROLES_FILE = "roles.yaml"
_DEVICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-.]{0,63}\Z")
_EXAMPLE = "one line per key, e.g. 'station2-MTMR: device:MTMR' or 'observer-laptop: observer'"


@dataclass(frozen=True)
class Role:
    """What one key may send.

    Attributes:
        name: ``operator``, ``device`` or ``observer``.
        devices: the device names it may send samples under (None: any).
        requests: the requests it may send (None: any).
    """

    name: str
    devices: frozenset[str] | None = None
    requests: frozenset[str] | None = None

    def may_send_as(self, device: str, topic: str = "", mapped: Collection[str] = ()) -> bool:
        """Whether a message of ``topic`` (``measured_cp``, ...) under the device name
        ``device`` is allowed; a report topic (:data:`REPORT_TOPICS`) is, from any key,
        except under a name in ``mapped`` (the server's device map): a report there is
        stored as that device's, so it takes a key that may send as that device."""
        if self.devices is None or device in self.devices:
            return True
        return topic in REPORT_TOPICS and device not in mapped

    def may_request(self, request: str) -> bool:
        """Whether the request ``request`` (``hello``, ``stop``, ...) is allowed."""
        return self.requests is None or request in self.requests

    def __str__(self) -> str:
        if self.name == "device":
            return "device:" + ",".join(sorted(self.devices or ()))
        return self.name


#: Topics any key may send, under any name: they report and drive nothing. A viewer or
#: headset sends ``VIEW/frame_timing`` (any name it likes, docs/bus.md) from whatever
#: key it has; an observer's or a station's key had its reports dropped as not permitted.
REPORT_TOPICS = frozenset({"frame_timing"})

OPERATOR = Role("operator")
_OBSERVER = Role("observer", frozenset(), frozenset({"hello"}))
_DEVICE_REQUESTS = frozenset({"hello", "state_command", "stop"})


def parse_role(text: str) -> Role:
    """The role a ``roles.yaml`` value names.

    Raises:
        ValueError: not one of the roles, saying which there are.
    """
    text = text.strip()
    if text == "operator":
        return OPERATOR
    if text == "observer":
        return _OBSERVER
    kind, _, names = text.partition(":")
    if kind.strip() == "device":
        devices = [n.strip() for n in names.split(",") if n.strip()]
        bad = [n for n in devices if not _DEVICE_NAME.match(n)]
        if devices and not bad:
            return Role("device", frozenset(devices), _DEVICE_REQUESTS)
        if bad:
            raise ValueError(f"{bad[0]!r} is not a device name")
        raise ValueError("'device:' needs the device names it may send as, e.g. 'device:MTMR'")
    raise ValueError(
        f"unknown role {text!r}; the roles are 'operator', 'observer' and 'device:NAME[,NAME...]'"
    )


def load_roles(allow_dir: Path) -> dict[str, Role]:
    """The roles ``roles.yaml`` in ``allow_dir`` gives, by key name (``NAME`` of
    ``NAME.key``); empty when there is no such file (every key is an operator).

    A name with no key file is allowed (a key removed, its line kept): only keys in the
    directory connect at all.

    Raises:
        BusSecurityError: the file is writable by others, is not a YAML map of names to
            roles, names a key twice, or holds a value that is not a role; the message
            names the file, the line, and the fix.
    """
    # imported here: the headset client imports the bus in an OpenXR root that has no
    # PyYAML (sim/xr/monado.py), and it never reads a roles file
    import yaml

    path = allow_dir / ROLES_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as e:
        raise BusSecurityError(f"{path} cannot be read: {e}") from None
    refuse_if_others_may_write(
        path,
        lambda mode: (
            f"{path} has mode {mode:04o}: other users could give their key any role."
            f" Run `chmod go-w {path}`."
        ),
    )
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        raise BusSecurityError(f"{path}: not YAML: {e} ({_EXAMPLE})") from None
    if node is None:
        return {}
    if not isinstance(node, yaml.MappingNode):
        raise BusSecurityError(
            f"{path}, line {node.start_mark.line + 1}: expected key names mapped to roles"
            f" ({_EXAMPLE})"
        )
    roles: dict[str, Role] = {}
    for key, value in node.value:
        where = f"{path}, line {key.start_mark.line + 1}"
        name = str(key.value)
        if name in roles:
            raise BusSecurityError(f"{where}: {name!r} is given a role twice; keep one line")
        if not isinstance(value, yaml.ScalarNode):
            raise BusSecurityError(f"{where}: the role of {name!r} must be text ({_EXAMPLE})")
        try:
            roles[name] = parse_role(str(value.value))
        except ValueError as e:
            raise BusSecurityError(f"{where}: {name!r}: {e} ({_EXAMPLE})") from None
    return roles
