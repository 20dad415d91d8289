"""Recorded device streams: a simple file of the messages a device sent, with their timing.

Format (version 1): a file of concatenated msgpack values (https://msgpack.org/):

1. a header map: ``{"format": "surgisim-device-recording", "version": 1,
   "created_utc": "2026-...Z", "devices": ["MTMR", ...], "source": "...", "rate_hz": 1000.0}``
   (``rate_hz`` may be nil). ``surgisim device record`` fills ``devices`` (those heard,
   in order of their first message) and ``rate_hz`` (their ``measured_cp`` rate, from the
   stamps) when it closes the file; a recording cut short keeps the header it started
   with (the names asked for with ``--name``, no rate);
2. then one array per message, in the order sent: ``[t_s, topic, payload]`` — ``t_s`` the
   seconds since the recording started (the recorder's monotonic clock), ``topic`` the
   bus topic (``"MTMR/measured_cp"``), ``payload`` the message's map exactly as it went on
   the wire (``v``, ``stamp_s``, ``seq`` and the topic's fields, docs/bus.md).

Any language with a msgpack library reads it (Python: ``msgpack.Unpacker(file)``). Files
are written by ``surgisim device record --out FILE`` (a stand-in server that records
every device message it receives) or by any device with ``--record FILE``, and replayed
by ``surgisim device replay FILE`` at the recorded timing.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import msgpack

from haptics.bus.contract import TO_SERVER, topic_spec
from haptics.devices.errors import DeviceError

FORMAT = "surgisim-device-recording"
VERSION = 1
#: Recordings are owner-only (``0600``), like every file surgisim writes where asked.
PRIVATE_MODE = 0o600
_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Entry:
    """One recorded message: ``t_s`` since the start (s), its topic and its payload map."""

    t_s: float
    topic: str
    payload: dict


@dataclass
class Recording:
    """A whole recording: its header and its entries in order."""

    header: dict
    entries: list[Entry] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        """Time from the first to the last entry (s)."""
        return self.entries[-1].t_s - self.entries[0].t_s if self.entries else 0.0

    @property
    def topics(self) -> list[str]:
        """The topics recorded, in order of first appearance."""
        return list(dict.fromkeys(e.topic for e in self.entries))


def _cannot_write(path: Path, exc: OSError) -> DeviceError:
    """The refusal of a recording that cannot be created."""
    return DeviceError(
        f"cannot write the recording {str(path)!r}: {exc.strerror or exc}; give a writable"
        " path with --record/--out."
    )


class RecordingWriter:
    """Writes a recording as messages are sent (flushed every ``flush_every`` entries).

    Args:
        path: the file to write (replaced if it exists).
        devices: the device names recorded.
        source: what produced it (``"surgisim device touch"``), for the reader.
        rate_hz: the device's rate, when it has one.

    A write that fails once the recording has started (``OSError``: a full disk) stops
    the recording, not the device: one warning is logged, nothing more is written, and the
    file is cut back to the entries that were whole (readable by :func:`read_recording`);
    :attr:`error` says why.

    Raises:
        DeviceError: the file cannot be written (when it is created).
    """

    def __init__(
        self,
        path: Path | str,
        devices: Iterable[str] = (),
        source: str = "",
        rate_hz: float | None = None,
        flush_every: int = 1000,
    ) -> None:
        self.path = Path(path)
        try:  # owner-only, as every file surgisim writes where it is asked (README)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_MODE)
            with contextlib.suppress(OSError):  # an existing file keeps its mode otherwise
                os.fchmod(fd, PRIVATE_MODE)
            self._file = os.fdopen(fd, "wb")
        except OSError as e:
            raise _cannot_write(self.path, e) from None
        self._packer = msgpack.Packer(use_bin_type=True)
        self._flush_every = max(1, int(flush_every))
        self._pending = 0
        self.count = 0
        #: why the recording stopped being written (None: it has not)
        self.error: str | None = None
        self._whole_bytes = self._whole_count = 0  # the file's length (and entries) as
        # of its last successful flush: what a failed write cuts it back to
        #: devices written, in order of their first message: the header's ``devices`` at
        #: close (a synthetic device named only the name it first asked the server with)
        self._written_devices: dict[str, None] = {}
        self.header = {
            "format": FORMAT,
            "version": VERSION,
            "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "devices": list(devices),
            "source": source,
            "rate_hz": None if rate_hz is None else float(rate_hz),
        }
        self._written_header = self._packer.pack(self.header)
        try:  # the header on disk now: a recording cut back after a failure still has it
            self._file.write(self._written_header)
            self._flush()
        except OSError as e:
            self._file.close()
            raise _cannot_write(self.path, e) from None

    def update_header(self, devices: Iterable[str] | None = None, rate_hz=None) -> None:
        """Say in the header what the recording turned out to hold (the devices heard, the
        rate measured), written when the recording is closed: the header comes first in
        the file, before anyone knows. None leaves a field as it was."""
        if devices is not None:
            self.header["devices"] = list(devices)
        if rate_hz is not None:
            self.header["rate_hz"] = float(rate_hz)

    def write(self, t_s: float, topic: str, payload: dict) -> None:
        """Append one message sent ``t_s`` seconds after the start (nothing once the file
        has failed)."""
        if self.error is not None:
            return
        self._written_devices.setdefault(topic.partition("/")[0], None)
        try:
            self._file.write(self._packer.pack([float(t_s), topic, payload]))
            self.count += 1
            self._pending += 1
            if self._pending >= self._flush_every:
                self._flush()
        except OSError as exc:
            self._stop(exc)

    def _flush(self) -> None:
        self._file.flush()
        self._pending = 0
        self._whole_bytes = self._file.tell()
        self._whole_count = self.count

    def _stop(self, exc: OSError) -> None:
        """The file cannot be written (see the class docstring): close it, cut it back to
        its last whole flush (a failed write may have left half an entry) and say so once."""
        self.error = exc.strerror or str(exc)
        with contextlib.suppress(OSError, ValueError):
            self._file.close()  # its flush may fail again: the raw file closes anyway
        try:
            os.truncate(self.path, self._whole_bytes)
            kept = f"the {self._whole_count} messages before are kept in it"
        except OSError:
            kept = "the messages before are kept in it (the last may be cut short)"
        _log.warning(
            "warning: the recording %s cannot be written: %s. It stops here; %s. The "
            "device goes on.",
            self.path,
            self.error,
            kept,
        )

    def close(self) -> None:
        """Flush and close the file (idempotent); a header changed by
        :meth:`update_header`, or whose ``devices`` are not those written, is written in
        place of the first one (the file is rewritten beside itself, owner-only, and
        replaces it; should that fail, the recording keeps the header it started with)."""
        if self._file.closed:
            return
        try:
            self._flush()
        except OSError as exc:
            self._stop(exc)
            return
        self._file.close()
        if self._written_devices:  # what the file holds; with nothing written, as given
            self.header["devices"] = list(self._written_devices)
        header = self._packer.pack(self.header)
        if header != self._written_header:
            self._rewrite_header(header)

    def _rewrite_header(self, header: bytes) -> None:
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        except OSError:
            return
        try:
            with os.fdopen(fd, "wb") as out, open(self.path, "rb") as old:
                out.write(header)
                old.seek(len(self._written_header))
                shutil.copyfileobj(old, out, 1 << 20)
            os.replace(tmp, self.path)
            self._written_header = header
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_recording(path: Path | str) -> Recording:
    """Read and check a recording: header first, entries with non-decreasing ``t_s``,
    device topics of the contract, payloads that are maps.

    Raises:
        DeviceError: ``FILE: entry N: what is wrong``, or the file cannot be read.
    """
    path = Path(path)
    where = str(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DeviceError(f"cannot read the recording {where!r}: {e.strerror or e}.") from None
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=True)
    unpacker.feed(data)
    try:
        header = next(unpacker)
    except StopIteration:
        raise DeviceError(f"{where}: the file is empty; expected a device recording.") from None
    except Exception as e:
        raise DeviceError(
            f"{where}: not a msgpack file ({e}); expected a device recording."
        ) from None
    if not (isinstance(header, dict) and header.get("format") == FORMAT):
        raise DeviceError(
            f"{where}: not a surgisim device recording (the first value should be a map with"
            f" format {FORMAT!r}); record one with `surgisim device record --out FILE`."
        )
    if not isinstance(header.get("version"), int) or header["version"] > VERSION:
        raise DeviceError(
            f"{where}: recording version {header.get('version')!r}; this surgisim reads"
            f" version {VERSION} and older."
        )
    out = Recording(header)
    last_t = -math.inf
    index = 0
    try:
        for index, item in enumerate(unpacker, start=1):  # noqa: B007 - used in the error
            out.entries.append(_entry(item, last_t))
            last_t = out.entries[-1].t_s
    except DeviceError as e:
        raise DeviceError(f"{where}: entry {index}: {e}") from None
    except Exception as e:  # a corrupt tail
        raise DeviceError(f"{where}: entry {index + 1} cannot be read ({e}).") from None
    try:  # msgpack's iteration stops quietly at an incomplete last value
        leftover = unpacker.read_bytes(1)
    except ValueError:
        leftover = b"incomplete"
    if leftover:
        raise DeviceError(
            f"{where}: entry {len(out.entries) + 1} is cut short (the recording was"
            f" interrupted); the {len(out.entries)} entries before it are whole."
        )
    return out


def _entry(item, last_t: float) -> Entry:
    if not (isinstance(item, list) and len(item) == 3):
        raise DeviceError("expected an array [t_s, topic, payload]")
    t, topic, payload = item
    if type(t) not in (int, float) or not math.isfinite(t):
        raise DeviceError(f"t_s is {t!r}, expected a finite number of seconds")
    if t < last_t:
        raise DeviceError(f"t_s {t} goes back (previous {last_t}); entries must be in order")
    if not isinstance(topic, str) or topic_spec(topic, TO_SERVER) is None:
        raise DeviceError(f"topic {topic!r} is not a device topic of docs/bus.md")
    if not isinstance(payload, dict):
        raise DeviceError(f"payload of {topic!r} is not a map")
    return Entry(float(t), topic, payload)
