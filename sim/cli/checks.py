"""Input checks that several ``surgisim`` commands share: a command checks what it was
given (seed, operator, every output path) before any work, so that a mistake fails at
once with a clear message, not after minutes of simulation or after half its outputs.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from scenarios.paths import private_dir


def checked_seed(seed: int) -> int:
    """A seed is a non-negative integer below 2**63 (:func:`kinematics.seeds.is_seed`; a
    clear error naming ``--seed`` otherwise)."""
    from kinematics.seeds import is_seed
    from sim.errors import SimError

    if not is_seed(seed):
        raise SimError(f"--seed must be an integer from 0 to 2**63 - 1, got {seed}.")
    return seed


def checked_operator(operator: str) -> str:
    """A synthetic operator's skill name (the error lists them and the closest)."""
    from haptics.operators import PRESETS
    from sim.errors import SimError, closest_names

    if operator not in PRESETS:
        raise SimError(
            f"unknown operator {operator!r}; operators are {sorted(PRESETS)}."
            + closest_names(operator, PRESETS)
        )
    return operator


#: Files a user authors or keeps, which surgisim reads and no output option writes (the
#: recording's ``.mcap`` aside, see ``own_suffix``), by suffix -> what they are. An output
#: path naming an existing one is refused: ``report 6 --out class-variant.yaml`` replaced an
#: instructor's scenario with an HTML report.
INPUT_FILES = {
    ".yaml": "scenario or YAML",
    ".yml": "scenario or YAML",
    ".mcap": "recording",
    ".sqlite": "records database",
    ".db": "database",
    ".py": "Python",
    ".key": "CurveZMQ public key",
    ".key_secret": "CurveZMQ secret key",
    ".toml": "TOML",
}


def checked_output(path: Path | None, what: str, own_suffix: str | None = None) -> Path | None:
    """Make sure an output file can be written before any work is done (its folder is
    created): a command fails at once, not after minutes of simulation or after part of
    its outputs. Every output option of the run and records commands goes through here.

    Permission bits are not enough (root passes them; ``/proc``, an immutable or
    read-only-mounted folder refuse anyway): a private file is created in the folder
    and removed, as writing the output will (a temporary file renamed into place).

    An existing file that is one of a user's inputs (:data:`INPUT_FILES`: a scenario, a
    recording, a database, a key, code) is never replaced by an output; ``own_suffix`` is
    the one of those suffixes that this option itself writes (``--record``: ``.mcap``, with
    its own ``--overwrite`` rule).

    Raises:
        SimError: the path is a folder or an existing input file, its folder cannot be
            made (a file is in the way), or it cannot be written there; saying which and
            to choose another.
    """
    from sim.errors import SimError

    if path is None:
        return None
    path = Path(path)
    if path.is_dir():
        raise SimError(f"{what} {str(path)!r} is a directory; give a file name.")
    kind = INPUT_FILES.get(path.suffix.lower())
    if kind is not None and path.suffix.lower() != own_suffix and path.exists():
        raise SimError(
            f"{what} {str(path)!r} is an existing {kind} file, which this output would "
            "replace; choose another path (or move that file first)."
        )
    try:
        # owner-only, as the records' own folders: an output holds a trainee's data
        # (--record out/new/x.mcap made out/new readable by everyone)
        private_dir(path.parent)
    except OSError as exc:
        raise SimError(
            f"cannot create the folder of {what} {str(path)!r} ({failure_text(exc)}); "
            "choose another path."
        ) from None
    why = None
    if path.exists() and not os.access(path, os.W_OK):
        why = "the file is read-only"
    else:
        try:
            fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=path.parent)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            why = failure_text(exc)
    if why is not None:
        raise SimError(f"{what} {str(path)!r} cannot be written ({why}); choose another path.")
    return path


def checked_new_recording(path: Path | None, what: str, overwrite: bool) -> Path | None:
    """:func:`checked_output` for a recording a device command writes (``device record
    --out``, ``device synthetic --record``): an existing file is replaced only with
    ``--overwrite`` (a probe's 1.2 MB recording became 129 bytes of "0 messages" when a
    device command was pointed at it by mistake), as ``run --record`` does."""
    from sim.errors import SimError

    path = checked_output(path, what, own_suffix=".mcap")
    if path is not None and path.exists() and not overwrite:
        raise SimError(
            f"{what} {str(path)!r} exists; give --overwrite to replace it, or choose another path."
        )
    return path


def distinct_outputs(**outputs: Path | None) -> None:
    """Refuse two output options naming one file (``--record same.mcap --json
    same.mcap``): the second written would replace the first, a recording with JSON.
    Keyword names are the options with ``_`` for ``-`` (``json=..., record=...``).

    Raises:
        SimError: naming both options and the file.
    """
    from sim.errors import SimError

    seen: dict[Path, str] = {}
    for option, path in outputs.items():
        if path is None:
            continue
        flag = "--" + option.replace("_", "-")
        where = Path(path).resolve()
        if where in seen:
            raise SimError(
                f"{seen[where]} and {flag} both name {str(path)!r}: the second written "
                "would replace the first; give each output a file of its own."
            )
        seen[where] = flag


def failure_text(exc: BaseException) -> str:
    """An error in words: a package error's own message, an OSError's reason and path."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return str(exc)
