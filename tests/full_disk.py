"""A file that fills its disk: writes succeed until ``room_bytes`` are taken, then fail
as a full disk does (``OSError`` ENOSPC). Tests need no root and no small tmpfs."""

from __future__ import annotations

import errno


class FillsUp:
    """Wraps an open binary file; everything but ``write`` goes to it."""

    def __init__(self, file, room_bytes: int) -> None:
        self._file = file
        self._room_bytes = room_bytes
        self.written_bytes = 0

    def write(self, data) -> int:
        if self.written_bytes + len(data) > self._room_bytes:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.written_bytes += len(data)
        return self._file.write(data)

    def __getattr__(self, name: str):
        return getattr(self._file, name)
