"""The one exception type of the scenarios package, with a position in the user's file,
and its mild sibling: a warning about a valid file, at a position too."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kinematics.errors import closest_names


def located(message: str, file: str | None, line: int | None, col: int | None) -> str:
    """``FILE:LINE:COL: message`` (as much of the position as is known), the form editors
    and CI logs jump to; errors and warnings share it."""
    if file and line:
        return f"{file}:{line}:{col or 1}: {message}"
    if file:
        return f"{file}: {message}"
    return message


class ScenarioError(ValueError):
    """A scenario (or rubric, or record) is invalid.

    ``str(error)`` is ``FILE:LINE:COL: message`` when the position is known, so editors
    and CI logs can jump to it. Lines and columns are 1-based.
    """

    def __init__(
        self, message: str, file: str | None = None, line: int | None = None, col: int | None = None
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.col = col
        super().__init__(self.__str__())

    def __str__(self) -> str:
        return located(self.message, self.file, self.line, self.col)


@dataclass(frozen=True)
class ScenarioWarning:
    """Something a valid scenario allows but its author probably did not mean (a
    prerequisite that names no bundled scenario, time that can no longer score).

    A value, never raised: the file still loads and runs. ``str(warning)`` is
    ``FILE:LINE:COL: warning: message``, like an error's position.
    """

    message: str
    file: str | None = None
    line: int | None = None
    col: int | None = None

    def __str__(self) -> str:
        return located(f"warning: {self.message}", self.file, self.line, self.col)


def suggest(name: str, valid: Iterable[str]) -> str:
    """`` Did you mean 'x'?`` for the closest valid name, or '' (case counts only when it
    decides: ``FLS`` finds ``fls``, ``psm1`` finds ``PSM1``)."""
    return closest_names(str(name), valid, n=1, fold_case=True)
