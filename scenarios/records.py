"""Trainee records: every scored session, kept for progress over weeks.

SQLAlchemy over SQLite by default (one file under the user's data directory), or any
database URL (PostgreSQL for an institution) through the same code. Trainees are stored
by pseudonym only: the framework never asks for or keeps a name (a new trainee's
pseudonym must have the form :func:`new_pseudonym` issues or be a code that keeps full
names out, see :func:`pseudonym_problem`, unless the caller vouches for it); :func:`new_pseudonym`
issues random ones, and an institution that needs to link pseudonyms to students keeps
that key elsewhere (or derives pseudonyms with :func:`pseudonym_from` and a secret it
holds). :meth:`Records.forget` removes everything kept about a trainee, files included.

Two stores: the trainee records, and apart from them the synthetic demonstrations
(:meth:`Records.demo`, ``demo.sqlite``), so that scripted operators never appear among
trainees. SQLite files are created owner-only (``0600``, in a ``0700`` directory).

A session row keeps what re-scoring needs without re-running: the measured metrics and
the scenario text it was scored under. Each score (the original and every re-score under
an edited rubric) is its own row. SQLite runs in WAL mode and each session is written in
one transaction, so a killed process leaves the database consistent; a trainee is
created with an insert that ignores a conflict, so two processes storing the first
session of the same new pseudonym at once both succeed, with one trainee row.

Every database failure (a damaged or read-only file, a directory, a missing driver)
comes out as :class:`~scenarios.errors.ScenarioError` saying what is wrong and the fix.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import hmac
import json
import math
import os
import re
import secrets
import sqlite3
import stat
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from scenarios.errors import ScenarioError, suggest
from scenarios.glossary import STOPPED_WORDS, info
from scenarios.paths import (
    STORES,
    Store,
    data_dir,
    database_file,
    private_file,
    store_dir,
    unfinished_copies,
)
from scenarios.store_paths import StoredPath, bind_files_root, relative_to_root
from scenarios.times import utc_label

PSEUDONYM_PATTERN = re.compile(r"^[A-Za-z0-9_-]{2,40}$")

#: How a session ended, as stored in ``sessions.ended``, with the words shown beside a
#: verdict (``FAIL (stopped by the user)``): a killed or stopped attempt must not look
#: like an ordinary fail, and its partial time and path are not a result.
ENDINGS: dict[str, str] = {
    "completed": "completed",  # the exercise was done
    "time_limit": "out of time",  # the scenario's time limit ended it
    "failed": "ended by the scenario",  # a fail rule of the scenario ended it
    "gave_up": "gave up",  # the operator (a controller, a plan) ended it before the end
    "stopped": STOPPED_WORDS,  # Ctrl-C, or the trainee stopped the server
    "crashed": "recovered after a crash",  # stored from the checkpoint of a killed run
}
#: ``ended`` of rows stored before it was recorded and not completed (which of the
#: three above is not known).
NOT_COMPLETED = "not completed"
#: Endings that are not attempts for proficiency: neither an attempt nor a break of a
#: run of qualifying attempts. As in FLS, an attempt is a trial taken to its end (done,
#: out of time, failed by a rule of the scenario, or given up by whoever operated it); a
#: trial the trainee stopped (Ctrl-C) or a crash cut short is not scored as one. They
#: stay in the records and the tables, marked.
NOT_ATTEMPTS = frozenset({"stopped", "crashed"})


def ending_label(ended: str) -> str:
    """The words for a session's ending (``stopped by the user``)."""
    return ENDINGS.get(ended, ended)


def result_label(passed: bool, ended: str) -> str:
    """``pass``, ``FAIL``, or a FAIL with how the session ended when it did not end
    normally: ``FAIL (stopped by the user)``, ``FAIL (recovered after a crash)``,
    ``FAIL (out of time)``, ``FAIL (not completed)``."""
    if passed:
        return "pass"
    return "FAIL" if ended == "completed" else f"FAIL ({ending_label(ended)})"


def attempts_label(
    attempts: int, not_counted: int = 0, other_rubric: int = 0, *, noun: bool = False
) -> str:
    """Attempts as every table and page writes them: ``5``, ``5 (+1 not counted)``,
    ``1 (+4 under another rubric)`` (see :class:`Proficiency`); with ``noun``, in a
    sentence: ``1 attempt (+4 under another rubric)``."""
    said = str(attempts)
    if noun:
        said += " attempt" if attempts == 1 else " attempts"
    extra = [f"+{not_counted} not counted"] if not_counted else []
    if other_rubric:
        extra.append(f"+{other_rubric} under another rubric")
    return f"{said} ({', '.join(extra)})" if extra else said


#: Said under a table or page whose attempts column has "+k under another rubric".
OTHER_RUBRIC_NOTE = (
    "under another rubric: attempts scored under a rubric other than the current one (the "
    "latest session's: the scenario's scoring changed since, edited or by a new surgisim "
    "release) are not judged by it: they neither count nor break a run. `surgisim rescore "
    "ID --scenario FILE` gives one a verdict under the current rubric, and then it "
    "counts; `surgisim rescore --all --scenario NAME` re-scores all of a scenario's."
)

#: Said under a table or page whose attempts column has "+k not counted".
NOT_COUNTED_NOTE = (
    "not counted: sessions stopped by the user or recovered after a crash are not "
    "attempts for proficiency (they neither count nor break a run)."
)


def _one_edit_apart(a: str, b: str) -> bool:
    """Whether ``b`` is ``a`` with one character changed, added or dropped, or two
    neighbours swapped (and not ``a`` itself).

    Not :func:`kinematics.errors.closest_names`: this decides a refusal (a new pseudonym
    one typo from an issued one), so it must mean exactly one edit whatever the length,
    which difflib's similarity ratio (it grows with the length) cannot say."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        i, j = diff[0], diff[-1]
        return len(diff) == 2 and j == i + 1 and a[i] == b[j] and a[j] == b[i]
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def default_database_url(store: Store = "records") -> str:
    """``sqlite:///$XDG_DATA_HOME/surgisim/records.sqlite`` (else ``~/.local/share/...``);
    ``demo.sqlite`` beside it for ``store="demo"``."""
    return f"sqlite:///{database_file(store)}"


# ---- pseudonyms ----------------------------------------------------------------------------
#: The pseudonym of the demo store's synthetic operator (``surgisim run`` without --trainee).
DEMO_PSEUDONYM = "demo"
_ISSUED = re.compile(r"^([a-z]+)-([a-z]+)-([0-9]{4})$")
# pseudonym_from: "T" + hex of an HMAC, with a hex letter (T + digits alone is a code)
_DERIVED = re.compile(r"^T(?=[0-9]*[a-f])[0-9a-f]{8,39}$")
_LETTER_RUN = re.compile(r"[A-Za-z]{4,}")
_DIGIT_RUN = re.compile(r"[0-9]+")
_THREE_NUMBERS = re.compile(r"[0-9]+[-_][0-9]+[-_][0-9]+")
_LETTER_GROUP = re.compile(r"[A-Za-z]+")
#: A code with this many groups of letters or more reads as a name cut into pieces of
#: three letters or fewer (``mar-ia-lop-ez-123``, ``T-ANA-LEE-001``); an issued pseudonym
#: has two (and is accepted before this is counted).
_NAME_PIECES = 3
#: Four-digit numbers read as a year of birth (a trainee born 1900-2010).
_BIRTH_YEARS = range(1900, 2011)


def pseudonym_problem(pseudonym: str) -> str | None:
    """Why ``pseudonym`` is not accepted for a new trainee, or None when it is.

    The rule is positive, not a list of what names look like: ``johnsmith``, ``jsmith``,
    ``Anna`` or ``mustafa_al-hassan`` cannot be told from a code word by any heuristic,
    so only forms that keep full names out are accepted (a name of three letters or
    fewer with a number, ``kim-007``, still fits a code: the docs ask for codes, not
    initials):

    - the form :func:`new_pseudonym` issues (``surgisim trainee new``):
      ``adjective-animal-NNNN`` from its word lists (``keen-otter-0417``), or from the
      words it issued before and dropped as names too, one of them at most
      (``swift-otter-1234``; not ``amber-crane-0417``);
    - one derived by :func:`pseudonym_from` (``T`` and 8 or more hex digits, a-f among
      them: ``T`` and digits alone are read as a code);
    - a code: at least one letter and at least three digits, never more than three
      letters in a row (a name needs more; initials and prefixes fit: ``T017``,
      ``res-04-2026``, ``OR-12-007``), at most two groups of letters (a name cut into
      short pieces has more: ``mar-ia-lop-ez-123``, ``T-ANA-LEE-001``, ``a1b2c3``), and
      no date or year of birth: no three numbers in a
      row (``02-03-85``), no four-digit number from 1900 to 2010 (``mg-1985``,
      ``1985-03-02``) nor an eight-digit one that starts or ends with one
      (``19850302``);
    - ``demo``, the demo store's synthetic operator.

    What the code rule lets through is at most initials and numbers (``js-042``), which
    is what an institution's code list looks like anyway; a name or a birth date is not.
    Still through: a name of two short parts (``ana_lee_007``, ``kim-007``): the issued
    form has two groups of letters too, so no count of groups tells them apart.
    """
    if not isinstance(pseudonym, str) or not PSEUDONYM_PATTERN.match(pseudonym):
        return "not 2-40 letters, digits, '-' or '_'"
    if pseudonym == DEMO_PSEUDONYM or _DERIVED.match(pseudonym):
        return None
    if _issued_form(pseudonym):
        return None
    if _NAME_PAIR.match(pseudonym):
        return "its two words read as a first name and a surname"
    if _LETTER_RUN.search(pseudonym):
        return "it has a word of four or more letters (a name?)"
    if len(_LETTER_GROUP.findall(pseudonym)) >= _NAME_PIECES:
        return f"it has {_NAME_PIECES} or more groups of letters (a name in pieces?)"
    digits = sum(len(run) for run in _DIGIT_RUN.findall(pseudonym))
    if digits < 3 or not re.search(r"[A-Za-z]", pseudonym):
        return "a code needs at least one letter and at least three digits"
    if _THREE_NUMBERS.search(pseudonym):
        return "it has three numbers in a row (a date?)"
    for run in _DIGIT_RUN.findall(pseudonym):
        years = {run} if len(run) == 4 else {run[:4], run[4:]} if len(run) == 8 else set()
        if any(int(y) in _BIRTH_YEARS for y in years):
            return "it has a year from 1900 to 2010 (a date of birth?)"
    return None


def check_pseudonym(pseudonym: str, *, allow_name: bool = False, known: bool = False) -> str:
    """Return ``pseudonym`` or raise: 2-40 letters, digits, '-' or '_', no spaces, and,
    for a new trainee, one of the accepted forms (see :func:`pseudonym_problem`).

    ``known``: the trainee is already in the records (made under an older, looser rule):
    only the characters are checked, so their records still open and grow.
    ``allow_name``: accept any pseudonym of valid characters (an institution's existing
    scheme that the rule does not cover; whoever passes it vouches it is not a name).

    Raises:
        ScenarioError: saying why, what is accepted, and how to get one
            (``surgisim trainee new``).
    """
    if not isinstance(pseudonym, str) or not PSEUDONYM_PATTERN.match(pseudonym):
        raise ScenarioError(
            f"trainee pseudonym {pseudonym!r} is not valid: use 2-40 letters, digits, '-' "
            "or '_' (a pseudonym, never a name), e.g. 'T017', or let 'surgisim trainee "
            "new' issue one."
        )
    problem = None if allow_name or known else pseudonym_problem(pseudonym)
    if problem is not None:
        raise ScenarioError(
            f"trainee pseudonym {pseudonym!r} is not accepted for a new trainee ({problem}); "
            "records keep pseudonyms, never names. Accepted: one issued by 'surgisim "
            f"trainee new' (e.g. {new_pseudonym()!r}), or a code of letters and digits with "
            "at least 3 digits, at most 3 letters in a row, at most 2 groups of letters and no "
            "date or year of birth "
            "(e.g. 'T017', 'res-04-2026'). If it is an existing scheme and not a name, pass "
            "--allow-name (allow_name=True from Python)."
        )
    return pseudonym


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


#: The issuing lists hold no word that is also a common first name or surname (``amber``,
#: ``young``, ``robin``, ``crane``: "Amber Crane" must not pass as an issued pseudonym).
_ADJECTIVES = _words(
    "azure brave brisk calm clever crisp daring deft eager even fleet gentle glad keen "
    "kind lively lucid mild nimble patient plucky polite proud quick quiet rapid ready "
    "shy silent sly smart snappy solid spry steady sturdy tidy tranquil true vivid wary "
    "warm witty zesty"
)
_ANIMALS = _words(
    "badger beaver bison dingo dolphin eagle egret falcon ferret gecko gibbon ibex ibis "
    "jackal jaguar kestrel koala lemur lynx magpie marmot mink moose newt ocelot orca "
    "osprey otter owl panda pelican puffin quail shrew stoat tapir tern toucan turtle vole "
    "walrus weasel wombat yak zebra"
)
#: Words issued before that are names too: still read as the issued form beside a word of
#: the lists above (``swift-otter-1234`` stays valid in every database), but not two of
#: them together (``amber-crane-0417`` reads as a first name and a surname: refused for a
#: new trainee, valid for one already in the records, whose pseudonym is never checked).
_NAME_ADJECTIVES = _words(
    "amber bold coral fair golden grand merry noble sharp silver stout sunny swift wise young"
)
_NAME_ANIMALS = _words("crane finch heron marten raven robin salmon seal sparrow swan trout wren")


_NAME_PAIR = re.compile(rf"^({'|'.join(_NAME_ADJECTIVES)})-({'|'.join(_NAME_ANIMALS)})-[0-9]{{4}}$")


def _issued_form(pseudonym: str) -> bool:
    """Whether ``pseudonym`` has the form :func:`new_pseudonym` issues or issued before:
    ``adjective-animal-NNNN`` from the lists, at most one of the two a name word."""
    issued = _ISSUED.match(pseudonym)
    if issued is None:
        return False
    adjective, animal = issued[1], issued[2]
    if adjective in _NAME_ADJECTIVES and animal in _NAME_ANIMALS:
        return False
    return adjective in _ADJECTIVES + _NAME_ADJECTIVES and animal in _ANIMALS + _NAME_ANIMALS


def new_pseudonym() -> str:
    """A random, readable pseudonym: ``adjective-animal-NNNN`` (e.g. ``keen-otter-0417``),
    from :mod:`secrets` (about 20 million of them: collisions are checked on use)."""
    return (
        f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_ANIMALS)}-{secrets.randbelow(10_000):04d}"
    )


def pseudonym_from(secret: bytes, institution_id: str, length: int = 10) -> str:
    """A stable pseudonym for an institution's own student id, via HMAC-SHA256.

    The institution keeps ``secret``; without it the pseudonym cannot be linked back.
    """
    digest = hmac.new(secret, institution_id.encode(), hashlib.sha256).hexdigest()
    return "T" + digest[:length]


class Base(DeclarativeBase):
    """Declarative base of the records schema."""


class Trainee(Base):
    """A trainee, known by pseudonym only."""

    __tablename__ = "trainees"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pseudonym: Mapped[str] = mapped_column(String(40), unique=True, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    sessions: Mapped[list[SessionRow]] = relationship(back_populates="trainee")


class SessionRow(Base):
    """One attempt at a scenario."""

    __tablename__ = "sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trainee_id: Mapped[int] = mapped_column(ForeignKey("trainees.id"), index=True)
    scenario: Mapped[str] = mapped_column(String(80), index=True)
    scenario_version: Mapped[str] = mapped_column(String(40))
    scenario_sha256: Mapped[str] = mapped_column(String(64))
    scenario_yaml: Mapped[str] = mapped_column(Text)
    operator: Mapped[str] = mapped_column(String(80))
    seed: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime)
    sim_time_s: Mapped[float] = mapped_column(Float)
    wall_time_s: Mapped[float] = mapped_column(Float)
    completed: Mapped[bool] = mapped_column(Boolean)
    metrics_json: Mapped[str] = mapped_column(Text)
    trace_path: Mapped[str | None] = mapped_column(StoredPath, nullable=True)
    #: how the session ran, when it matters to the comparison of attempts: an injected
    #: telesurgery latency (ms per channel, the protocol), the real-time loop's figures
    conditions_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: how the session ended, one of :data:`ENDINGS` (None: stored by a surgisim that did
    #: not record it; :attr:`ending` then derives what it can)
    ended: Mapped[str | None] = mapped_column(String(20), nullable=True)
    #: the id the run gave the session when it started (its checkpoint and kept trace
    #: carry it too): the same session is never stored twice (None: stored before ids)
    session_uid: Mapped[str | None] = mapped_column(
        String(64), nullable=True, unique=True, index=True
    )
    trainee: Mapped[Trainee] = relationship(back_populates="sessions")
    scores: Mapped[list[ScoreRow]] = relationship(back_populates="session", order_by="ScoreRow.id")

    @property
    def metrics(self) -> dict[str, float]:
        """The measured metrics."""
        return json.loads(self.metrics_json)

    @property
    def conditions(self) -> dict:
        """How the session ran (empty for a plain headless run)."""
        return json.loads(self.conditions_json) if self.conditions_json else {}

    @property
    def ending(self) -> str:
        """How the session ended (:data:`ENDINGS`); for a row stored before this was
        recorded and whose trace did not tell it on the upgrade
        (:meth:`Records._derive_old_endings`): ``completed`` or ``not completed``
        (stopped, crashed, out of time or failed: unknown which)."""
        if self.ended:
            return self.ended
        return "completed" if self.completed else NOT_COMPLETED

    @property
    def counts_as_attempt(self) -> bool:
        """Whether the session counts as an attempt for proficiency (see
        :data:`NOT_ATTEMPTS`)."""
        return self.ending not in NOT_ATTEMPTS

    @property
    def original_score(self) -> ScoreRow:
        """The score given when the session ran."""
        return self.scores[0]


class ScoreRow(Base):
    """A verdict on a session under one rubric (the original, or a re-score)."""

    __tablename__ = "scores"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    rubric_sha256: Mapped[str] = mapped_column(String(64))
    rubric_json: Mapped[str] = mapped_column(Text)
    rule: Mapped[str] = mapped_column(String(20))
    score: Mapped[float] = mapped_column(Float)
    passed: Mapped[bool] = mapped_column(Boolean)
    result_json: Mapped[str] = mapped_column(Text)
    session: Mapped[SessionRow] = relationship(back_populates="scores")


class MetaRow(Base):
    """Numbers the records keep about themselves: ``session_id_floor``, the highest
    session id ever given (a forgotten trainee's sessions included), so that SQLite never
    gives a forgotten session's number to a new one (a gradebook or an old CSV that cites
    "session 20" must never come to mean another trainee's attempt)."""

    __tablename__ = "surgisim_meta"
    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(Integer)
    #: a value that is not a number (:data:`FORGET_SALT`'s); None for the others
    text: Mapped[str | None] = mapped_column(String(128), nullable=True)


class ForgottenMark(Base):
    """A trainee forgotten, known only by a salted hash of their pseudonym
    (:meth:`Records._forgotten_digest`), with the forget's place in the records' order
    of forgets (:data:`FORGET_COUNT`): a run that began before it (that read a lower
    count when it started) and stores its session afterwards is refused
    (:class:`TraineeForgottenError`), even when it saw no trainee at its start or the
    pseudonym was new to it: storing would bring back someone just forgotten. The order
    is the database's, not a clock's: the forget and the run may be two machines (shared
    PostgreSQL records) or one clock stepped back between them, and a forget on a clock
    behind the run's let the run bring the trainee back. ``trainee new --pseudonym`` (a
    deliberate re-creation) removes the mark; see :meth:`Records._prune_marks` for how
    long marks are kept."""

    __tablename__ = "forgotten"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: when the trainee was forgotten (UNIX time, s, the forgetting process's clock):
    #: compared with a run's start only where the records' order cannot tell
    #: (:meth:`RunStart.began_before`), and used for pruning (:meth:`Records._prune_marks`)
    forgotten_at: Mapped[float] = mapped_column(Float)
    #: the forget's number (:data:`FORGET_COUNT` once raised by it); None for a mark an
    #: older surgisim wrote (its time is compared instead)
    forget_number: Mapped[int | None] = mapped_column(Integer, nullable=True)


#: :class:`MetaRow` key of the random salt of :class:`ForgottenMark` digests, made at the
#: first forget (a digest of a bare pseudonym such as T017 is undone by trying T000-T999)
FORGET_SALT = "forget_salt"
#: :class:`MetaRow` key of the store's files folder, relative to the database file's own
#: folder (``.`` for the default stores' data directory, ``NAME.sqlite-files`` for
#: another SQLite file): recorded when the store is first opened, so that the relative
#: paths of format 2 (:mod:`scenarios.store_paths`) are read against the same folder
#: whoever opens the file, whatever their data directory (a server that stored into its
#: default ``records.sqlite`` and a test or script that opens that file by its path,
#: with another ``XDG_DATA_HOME``, took the folder for two different ones)
FILES_DIR_KEY = "files_dir"

#: :class:`MetaRow` key of how many forgets these records have had: raised by every
#: forget and written into its :class:`ForgottenMark`, never lowered (marks are pruned,
#: the count is not, so a number is never given twice), read by a run when it starts
#: (:meth:`Records.forget_count`)
FORGET_COUNT = "forget_count"

#: (s) age, by a forget's clock, past which a :class:`ForgottenMark` may be pruned
#: (:meth:`Records._prune_marks`): longer than any run lasts
FORGOTTEN_MARK_KEEP_S = 30 * 24 * 3600.0
#: how many of the newest :class:`ForgottenMark` are kept whatever the forget's clock
#: says (a forget on a clock 30 days fast pruned every other mark): pruning by age can
#: then only reach a mark that 100 later forgets have followed
FORGOTTEN_MARKS_KEPT_ANYWAY = 100


#: ``FileRow.kind`` prefix of a file registered before it was written (a run's outputs,
#: registered with its session): forgetting removes it if it exists, and says nothing if
#: it never came to be (the run was killed before writing it)
EXPECTED = "~"

#: :class:`MetaRow` key of the highest session id ever given
SESSION_ID_FLOOR = "session_id_floor"

#: :class:`MetaRow` key of the format of the records (:data:`STORE_VERSION`)
STORE_VERSION_KEY = "store_version"
#: The format of the records this surgisim reads and writes, marked in every store it
#: opens for writing. No mark: a store of a surgisim from before the mark (read as 0 and
#: marked). Raise it with any change an older surgisim would misread (a column whose
#: meaning it does not know, a row it would count wrongly): a surgisim that finds a
#: higher mark refuses the store (:func:`check_store_version`) instead of writing to it
#: what the newer one will then misread (a forgotten session's number given again).
#: Format 2: paths inside the store's files folder kept relative to it
#: (:mod:`scenarios.store_paths`; format 1 read them as paths in the current directory).
#: The count of forgets (:data:`FORGET_COUNT`, :attr:`ForgottenMark.forget_number`) did
#: not raise it: a format-2 surgisim never reads them, and what it writes is still read
#: right (its forget leaves a mark with no number, judged by its time as it would judge
#: it; its runs compare times as before).
STORE_VERSION = 2


def _format_mark(value) -> int:
    """The records format a stored mark says (0: none). SQLite keeps whatever was written
    into an INTEGER column: a mark that is no whole number (``abc``, ``0x2``: edited by
    hand, or a format this surgisim cannot read) gave an internal TypeError; it reads as
    a format above this surgisim's, so that the store is refused, not overwritten."""
    if value is None or value == "":
        return 0
    if isinstance(value, int):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return STORE_VERSION + 1
    return int(number) if number.is_integer() else STORE_VERSION + 1


def check_store_version(found: int, where: str) -> None:
    """Refuse records marked by a newer surgisim than this one (see :data:`STORE_VERSION`).

    Raises:
        ScenarioError: ``found`` is above :data:`STORE_VERSION`, saying what to do.
    """
    if found > STORE_VERSION:
        raise ScenarioError(
            f"records database {where!r} was written by a newer surgisim (records format "
            f"{found}; this surgisim knows formats up to {STORE_VERSION}): upgrade surgisim "
            "to use it. Downgrading is not supported: an older surgisim would misread or "
            "damage newer records."
        )


class FileRow(Base):
    """A file written about a trainee (a report, a CSV export, a run's ``--json`` result,
    ``--record`` recording or ``--video``), so that forgetting the trainee removes it
    too. Trace files are kept on their session row."""

    __tablename__ = "files"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trainee_id: Mapped[int] = mapped_column(ForeignKey("trainees.id"), index=True)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("sessions.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(20))
    path: Mapped[str] = mapped_column(StoredPath)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    #: the file as registered written ("SIZE:MTIME_NS", :func:`file_stamp`); None for
    #: one registered before it was written and not since: forgetting deletes the file
    #: only while it is still this one (a later run's ``--overwrite`` is not theirs)
    stamp: Mapped[str | None] = mapped_column(String(60), nullable=True)


def file_stamp(path: str | Path) -> str | None:
    """What tells one file at ``path`` from a later one written there: its size and its
    modification time in nanoseconds (None: no file)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return f"{st.st_size}:{st.st_mtime_ns}"


#: (s) how long after its session's end a file registered before it was written may
#: still have been written by that session's run (its outputs come after storing)
OUTPUT_SLACK_S = 120.0


@dataclass(frozen=True)
class RunStart:
    """When a run began, as storing its session judges a forget of its trainee against
    it (:class:`ForgottenMark`).

    Attributes:
        began_at: when the run's command began (UNIX s, the run's clock).
        forget_count: the records' count of forgets it read when it opened them
            (:meth:`Records.forget_count`), before it looked the trainee up; None in
            run information written before it was kept.
        counted_at: when it read that count (UNIX s, the run's clock).
    """

    began_at: float | None
    forget_count: int | None = None
    counted_at: float | None = None

    def began_before(self, forget_number: int | None, forgotten_at: float) -> bool:
        """Whether the forget of a mark (``forget_number``: None for an older surgisim's
        mark; ``forgotten_at``: UNIX s, the forget's clock) came after this run began.

        The records' order decides where both numbers are known: a forget numbered
        above the count the run read came after, whatever the clocks (the forget may
        be another machine's, or its clock stepped back: compared, a forget on a clock
        behind let the run store and bring the trainee back). One numbered at or below
        it came before the run opened the records; it came after the run began only if
        it fell in the run's start-up, which the clocks alone can say: its time between
        the command's start and the count. Without a count or a number (older run
        information or mark), the times are compared, as before the count was kept."""
        if self.forget_count is not None and forget_number is not None:
            if forget_number > self.forget_count:
                return True
            return self._in_start_up(forgotten_at)
        return self.began_at is not None and forgotten_at > self.began_at

    def _in_start_up(self, at: float) -> bool:
        """Whether ``at`` (UNIX s) lies between the command's start and the count."""
        if self.began_at is None or self.counted_at is None:
            return False
        return self.began_at < at <= self.counted_at


@dataclass(frozen=True)
class Forgotten:
    """What :meth:`Records.forget` removed.

    Attributes:
        pseudonym: the trainee.
        sessions, scores: rows deleted.
        files: files deleted (traces, reports, exports).
        missing: files that were recorded but no longer existed.
        failed: files that could not be deleted, with the reason (delete them by hand).
        changed: files left, with why: written again since (not the trainee's any more).
        waiting: sessions that waited outside the records (a killed run's checkpoint, a
            session kept when storing it failed), removed with their files (counted in
            ``files`` too): ``store --orphans`` would have brought the trainee back.
        vacuum_error: why the database file could not be rewritten afterwards (another
            program holds it open): the deleted text may remain in its free pages until
            it is vacuumed (``surgisim trainee vacuum``); None when it was.
    """

    pseudonym: str
    sessions: int
    scores: int
    files: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    #: files left because they changed since they were registered (another run wrote
    #: them since), each with why
    changed: list[str] = field(default_factory=list)
    #: the sessions whose run outputs were never registered (:func:`unregistered_outputs`):
    #: their ``--record``, ``--json`` and ``--video`` files, if any, are left
    unregistered: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    vacuum_error: str | None = None


def unregistered_outputs(sessions: Sequence[SessionRow]) -> list[str]:
    """The sessions among ``sessions`` stored by a surgisim older than the registration
    of a run's outputs (``--record``, ``--json``, ``--video``), as ``session 3
    (camera-targeting, 2026-12-04 23:20 UTC)``: forgetting cannot know those files, so it
    must say that they may be left. Such rows have no :attr:`SessionRow.session_uid`
    (both came in the same release; every session stored since has one)."""
    return [
        f"session {r.id} ({r.scenario}, {utc_label(r.started_at)})"
        for r in sessions
        if r.session_uid is None
    ]


@dataclass(frozen=True)
class Proficiency:
    """Where a trainee stands on one scenario.

    Attributes:
        attempts: attempts made (sessions taken to their end: done, out of time or
            failed by a rule of the scenario).
        passes: attempts that qualify under the scenario's proficiency rule (see
            :func:`qualifies`).
        best_run: the longest run of qualifying attempts in a row.
        current_run: qualifying attempts in a row up to the latest one (0 after a fail).
        required_consecutive, required_total: the rule's requirement.
        reached_at: the attempt (1 = the first) at which the trainee first had
            ``required_consecutive`` in a row and ``required_total`` in all; None if not.
        reached_on: when that attempt started.
        not_counted: sessions that are not attempts (stopped by the user, recovered
            after a crash: see :data:`NOT_ATTEMPTS`), left out of all of the above.
        other_rubric: attempts with no verdict under the current rubric (see
            :func:`judge_sessions`), left out of all of the above.
    """

    attempts: int
    passes: int
    best_run: int
    current_run: int
    required_consecutive: int
    required_total: int
    reached_at: int | None = None
    reached_on: dt.datetime | None = None
    not_counted: int = 0
    other_rubric: int = 0

    @property
    def proficient(self) -> bool:
        """Proficiency once reached stays reached: in a proficiency-based curriculum (FLS:
        the criterion on 2 consecutive and 10 more attempts) a later fail is practice,
        not a loss of the qualification."""
        return self.reached_at is not None


def _runs_and_reached(
    qualified: Sequence[bool], required_consecutive: int, required_total: int
) -> tuple[int, int, int | None]:
    """(longest run, current run, the attempt at which the requirement was first met or
    None) of a trainee's attempts in order."""
    run = best = count = 0
    reached = None
    for attempt, q in enumerate(qualified, 1):
        run = run + 1 if q else 0
        best, count = max(best, run), count + bool(q)
        if reached is None and best >= required_consecutive and count >= required_total:
            reached = attempt
    return best, run, reached


class AlreadyStoredError(ScenarioError):
    """A session with this run id is stored already (a copy of its checkpoint or kept
    trace was given to store again).

    Attributes:
        session_id: the stored session's id.
    """

    def __init__(self, message: str, session_id: int) -> None:
        super().__init__(message)
        self.session_id = session_id


class LiveRunError(ScenarioError):
    """A run of the trainee to forget is going on (its checkpoint names them and its
    process is alive): when it ends it would store its session."""


class TraineeForgottenError(ScenarioError):
    """A run's session is for a trainee who is no longer in the records (forgotten while
    it ran): storing it would bring them back, so it is refused. Also raised, saying so,
    when they were in the records at the run's start and are missing without a forget mark
    (the database deleted or replaced while it ran): they are recorded again on purpose."""


class SessionForgottenError(ScenarioError):
    """A run's session was stored, then its trainee was forgotten (``trainee forget
    --force``) before the run wrote its outputs: the session is gone with them, and the
    run must write nothing more of it (no ``--json`` the records no longer know)."""


#: (s) how long a vacuum waits for another connection to let the database go
VACUUM_WAIT_S = 5.0


#: What the live runs of a trainee forgotten with ``force`` do when they end: they began
#: before the forget, so storing refuses (:class:`TraineeForgottenError`, by the
#: :class:`ForgottenMark` even for a pseudonym new to the run) and keeps the session
AFTER_FORCED = (
    "the run then does not store its session but keeps it in unstored/, and forgetting "
    "them again removes it"
)


def _waiting_files(waiting) -> tuple[list[str], dict]:
    """The files of a session that waits outside the records (a
    :class:`scenarios.checkpoint.Waiting`): its trace first, its run information, its
    kept snapshots and the outputs its run named (``--json``, ``--record`` and its
    ``.partial``, ``--video``); with, for each output, a check that says why the file
    there is not its run's (None: it is): written before the run started or later than
    the run's last word and :data:`OUTPUT_SLACK_S` (another run's file)."""
    from scenarios.archive import snapshots_path

    trace = waiting.trace
    info = waiting.info
    paths = [str(trace), str(trace.with_suffix(".json")), str(snapshots_path(trace))]
    first = info.started_at - 1.0
    last = info.started_at + info.wall_time_s + OUTPUT_SLACK_S

    def check(path: str) -> str | None:
        try:
            mtime = os.stat(path).st_mtime
        except OSError:
            return None
        return None if first <= mtime <= last else "not written by that run: another's"

    outputs = [str(p) for p in info.outputs.values()]
    return paths + outputs, {p: functools.partial(check, p) for p in outputs}


class NoTraineeError(ScenarioError):
    """A file was to be registered with a trainee who is not (or no longer) in the
    records: forgotten by another process meanwhile, typically.

    Attributes:
        pseudonym: the trainee missing.
    """

    def __init__(self, pseudonym: str, url: str) -> None:
        super().__init__(f"no trainee {pseudonym!r} in {url}.")
        self.pseudonym = pseudonym


def _either(first, second):
    """A check that passes when either of two registrations of one path passes."""

    def check():
        why = first()
        return None if why is None else second()

    return check


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Records:
    """The records database.

    Args:
        url: SQLAlchemy URL; default: the store's SQLite file under the data directory.
            A SQLite file (and its directory) is created owner-only.
        store: ``"records"`` (trainees) or ``"demo"`` (synthetic demonstrations); with
            no ``url`` it picks the file, and where checkpoints of runs go.

    Attributes:
        files_dir: where this database's traces (``traces/``) and reports (``reports/``)
            go, one folder per database (see :func:`files_dir_of`), so that the files of
            two databases never share a name: session 1 of one is not session 1 of the
            other, and forgetting a trainee in one must not touch the other's files.

    Raises:
        ScenarioError: the database cannot be opened (damaged, not a database, a
            directory, read-only where it must be written, a missing driver).
    """

    def __init__(self, url: str | None = None, *, store: Store = "records") -> None:
        if store not in STORES:
            raise ScenarioError(f"unknown records store {store!r}; stores are {list(STORES)}.")
        self.store: Store = store
        self.url = url or default_database_url(store)
        self._path = _sqlite_path(self.url)
        self.files_dir: Path = files_dir_of(self.url, self._path)
        self.traces_dir: Path = self.files_dir / "traces"
        self.reports_dir: Path = self.files_dir / "reports"
        #: where a run's checkpoints and unstored traces wait (``surgisim store`` looks
        #: there): the store's directory, whatever the database
        self.work_dir: Path = store_dir(store)
        try:
            if self._path is not None:
                if self._path.is_dir():
                    raise ScenarioError(
                        f"records database {str(self._path)!r} is a directory, not a SQLite "
                        "file; give the path of a file with --db sqlite:///PATH."
                    )
                _check_path_length(self._path)
                _check_sqlite_file(self._path)
                if not _read_only(self.url):
                    private_file(self._path)
                _warn_if_readable(self._path)
            kwargs = {"connect_args": {"timeout": 30.0}} if self._path is not None else {}
            self.engine = create_engine(self.url, future=True, **kwargs)
            bind_files_root(self.engine, self.files_dir)
        except ScenarioError:
            raise
        except (ImportError, SQLAlchemyError, ValueError, OSError) as exc:
            raise self._error(exc, "open") from None
        self._writer = self.engine
        if self.engine.dialect.name == "sqlite":
            # transactions that write start with BEGIN IMMEDIATE: the write lock is taken
            # (waiting for it, up to the timeout) before anything is read, so a writer
            # never reads a snapshot that another writer then makes stale
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", _sqlite_begin)
            self._writer = self.engine.execution_options(surgisim_write=True)
        self._create_tables()
        self._settle_files_dir()
        #: the SQLite file this object's connections opened (see :meth:`_check_same_file`)
        self._opened = _file_identity(self._path)

    def _settle_files_dir(self) -> None:
        """The files folder the store recorded (:data:`FILES_DIR_KEY`), or the one
        :func:`files_dir_of` gives now, then recorded (a writable SQLite store whose
        folder lies beside or below its file)."""
        if self._path is None:
            return
        home = self._path.expanduser().resolve().parent
        try:
            with self.engine.connect() as conn:
                recorded = conn.execute(
                    select(MetaRow.text).where(MetaRow.key == FILES_DIR_KEY)
                ).scalar()
        except SQLAlchemyError:
            recorded = None
        if recorded:
            self._use_files_dir(home / recorded)
            return
        try:
            relative = self.files_dir.expanduser().resolve().relative_to(home)
        except ValueError:
            return
        if _read_only(self.url):
            return
        try:
            with self._writer.begin() as conn:
                conn.execute(delete(MetaRow).where(MetaRow.key == FILES_DIR_KEY))
                conn.execute(insert(MetaRow).values(key=FILES_DIR_KEY, value=0, text=str(relative)))
        except SQLAlchemyError as exc:
            if "readonly" not in str(exc).lower().replace("-", ""):
                raise self._error(exc, "write to") from None

    def _use_files_dir(self, folder: Path) -> None:
        self.files_dir = folder
        self.traces_dir = folder / "traces"
        self.reports_dir = folder / "reports"
        bind_files_root(self.engine, folder)

    @property
    def shown_url(self) -> str:
        """The database URL to print or put on a page: its password hidden."""
        return _safe_url(self.url)

    @classmethod
    def demo(cls) -> Records:
        """The store of synthetic demonstrations (``demo.sqlite`` beside the trainee
        records): what ``surgisim run`` with a scripted operator writes to."""
        return cls(store="demo")

    def _create_tables(self) -> None:
        """Create missing tables and indexes with ``IF NOT EXISTS``: two processes opening
        a new database at once must not trip over each other's tables (``create_all``
        checks, then creates: a race). Then the rows and mark of records an older
        surgisim wrote are brought up to date, and records a newer one marked refused."""
        from sqlalchemy import inspect

        try:
            with self.engine.connect() as conn:  # a read: a read-only database can be listed
                existing = set(inspect(conn).get_table_names())
                missing = self._missing_columns(conn, existing)
                version = self._store_version(conn, existing)
            check_store_version(version, self._where())
            if not (existing >= set(Base.metadata.tables) and not missing):
                self._add_tables_and_columns(existing)
            if version < STORE_VERSION:
                self._bring_rows_up_to_date(version)
        except (SQLAlchemyError, ImportError) as exc:
            raise self._error(exc, "open") from None

    def _add_tables_and_columns(self, existing: set[str]) -> None:
        """What a database made by an older surgisim (or a new one) lacks: its tables,
        its columns, their indexes."""
        from sqlalchemy.schema import CreateIndex, CreateTable

        with self._writer.begin() as conn:
            # a database made by an older surgisim: its columns first, so that the
            # indexes on them (sessions.session_uid, unique) can be made below
            for table, column in self._missing_columns(conn, existing):
                kind = column.type.compile(self.engine.dialect)
                conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column.name} {kind}")
            if self.engine.dialect.name in ("sqlite", "postgresql"):
                for table in Base.metadata.sorted_tables:
                    conn.execute(CreateTable(table, if_not_exists=True))
                    for index in table.indexes:
                        conn.execute(CreateIndex(index, if_not_exists=True))
            else:  # pragma: no cover - other dialects
                Base.metadata.create_all(conn)

    @staticmethod
    def _store_version(conn, existing: set[str]) -> int:
        """The records format marked in the database (0: none, an older surgisim's)."""
        if MetaRow.__tablename__ not in existing:
            return 0
        found = conn.execute(select(MetaRow.value).where(MetaRow.key == STORE_VERSION_KEY))
        return _format_mark(found.scalar())

    @staticmethod
    def _write_store_version(conn) -> None:
        """Mark the records with :data:`STORE_VERSION` (in the open write transaction,
        after a newer mark has been refused)."""
        if Records._store_version(conn, {MetaRow.__tablename__}) == STORE_VERSION:
            return
        conn.execute(delete(MetaRow).where(MetaRow.key == STORE_VERSION_KEY))
        conn.execute(insert(MetaRow).values(key=STORE_VERSION_KEY, value=STORE_VERSION))

    def _bring_rows_up_to_date(self, version: int) -> None:
        """Rows an older surgisim stored, brought to what this one stores (from records
        format ``version``: 0, unmarked: the endings of incomplete sessions,
        :meth:`_derive_old_endings`), then the mark; a read-only store is read as it
        is, unmarked."""
        if _read_only(self.url):
            return
        try:
            if version < 1:
                self._derive_old_endings()
            if version < 2:
                self._relativise_paths()
            with self._writer.begin() as conn:
                check_store_version(
                    self._store_version(conn, {MetaRow.__tablename__}), self._where()
                )
                self._write_store_version(conn)
        except SQLAlchemyError as exc:
            if "readonly" not in str(exc).lower().replace("-", ""):
                raise

    def _relativise_paths(self) -> None:
        """Paths an older surgisim stored absolute, inside this store's files folder,
        rewritten relative to it (format 2, :mod:`scenarios.store_paths`): so that a copy
        of the store made from now on names its own files. A store copied by an older
        surgisim still names the original's files (they lie outside the copy's folder)."""
        root = str(self.files_dir.expanduser().resolve())
        with self._writer.begin() as conn:
            for table, column in ((FileRow, FileRow.path), (SessionRow, SessionRow.trace_path)):
                rows = conn.execute(select(table.id, column).where(column.is_not(None))).all()
                for row_id, path in rows:
                    if relative_to_root(path, root) is not None:  # written back relative
                        conn.execute(
                            update(table).where(table.id == row_id).values({column.key: path})
                        )

    def _derive_old_endings(self) -> None:
        """How the incomplete sessions an older surgisim stored without an ending ended,
        read from their traces' events as a run now decides it
        (:func:`scenarios.archive.ending_of`): a Ctrl-C'd run's ``interrupted`` event
        makes it ``stopped`` (not an attempt, as one stopped now), a ``failed`` event
        ``time_limit`` or ``failed``. A session whose trace is gone, damaged or says
        none of these keeps no ending (``not completed``: unknown which)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(SessionRow.id, SessionRow.trace_path).where(
                    SessionRow.ended.is_(None),
                    SessionRow.completed.is_(False),
                    SessionRow.trace_path.is_not(None),
                )
            ).all()
        endings = {sid: _ending_from_trace(path) for sid, path in rows}  # no lock held
        endings = {sid: ended for sid, ended in endings.items() if ended is not None}
        if not endings:
            return
        with self._writer.begin() as conn:
            for sid, ended in endings.items():
                conn.execute(
                    update(SessionRow)
                    .where(SessionRow.id == sid, SessionRow.ended.is_(None))
                    .values(ended=ended)
                )

    def _where(self) -> str:
        """The database as messages name it: its file, or its URL with no password."""
        return str(self._path) if self._path is not None else _safe_url(self.url)

    @staticmethod
    def _missing_columns(conn, existing: set[str]) -> list:
        """Nullable columns this version has that the database's tables lack."""
        from sqlalchemy import inspect

        out = []
        for name, table in Base.metadata.tables.items():
            if name not in existing:
                continue
            have = {c["name"] for c in inspect(conn).get_columns(name)}
            out += [(name, c) for c in table.columns if c.name not in have and c.nullable]
        return out

    def _error(self, exc: BaseException, doing: str) -> ScenarioError:
        """A database failure as a ScenarioError naming the database and the fix."""
        where = self._where()
        detail = str(getattr(exc, "orig", None) or exc).splitlines()[0][:300]
        text = detail.lower()
        if isinstance(exc, ImportError) or "no module named" in text:
            fix = (
                "the database driver is not installed; for PostgreSQL: "
                "pip install 'surgisim[postgres]'"
            )
        elif "not a database" in text or "malformed" in text or "file is encrypted" in text:
            fix = (
                "the file is damaged or is not a SQLite database; move it aside (its "
                "sessions are lost unless you have a backup) or give another with --db"
            )
        elif "readonly" in text or "read-only" in text:
            fix = self._read_only_fix()
        elif "unable to open" in text:
            fix = (
                "it cannot be opened: check that its folder exists and is writable and that "
                "the path is a file, or give another with --db"
            )
        elif "locked" in text:
            fix = "another process holds it locked; try again when it has finished"
        elif "full" in text or "disk i/o" in text:
            fix = (
                f"its disk is full or failing: free space where it is ({Path(str(where)).parent}"
                ") or give another with --db"
            )
        elif "://" not in str(self.url):
            path = Path(str(where)).expanduser().resolve()
            path = path / "records.db" if path.is_dir() else path
            fix = f"--db takes a database URL, not a path: for a SQLite file write sqlite:///{path}"
        else:
            fix = "check the URL given with --db and that the database server is reachable"
        return ScenarioError(f"cannot {doing} records database {where!r} ({detail}): {fix}.")

    def _read_only_fix(self) -> str:
        """What to do about records that cannot be written: ``chmod`` helps a read-only
        file or folder, never a read-only file system (a read-only mount), where it was
        advised all the same."""
        folder = Path(self._path).parent if self._path is not None else None
        try:
            mounted_ro = folder is not None and bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
        except OSError:
            mounted_ro = False
        copy = (
            "work on a writable copy (copy the data directory and point XDG_DATA_HOME, or "
            "--db, at the copy)"
        )
        if mounted_ro:
            return f"its file system is read-only (mounted so), which chmod cannot change; {copy}"
        return (
            "the file or its file system is read-only; if only the file or its folder is, "
            f"make them writable (chmod u+w), else {copy}"
        )

    def _check_same_file(self, doing: str) -> None:
        """Refuse to write once the SQLite file at the path is not the one this object
        opened (deleted, or moved aside and replaced, while a run went on): the open
        connections would write into the old file, and a session "stored" in a deleted
        one vanished when the command ended. Raising makes the caller keep it instead.

        Raises:
            ScenarioError: the file is gone or another one is in its place.
        """
        if self._opened is None or _file_identity(self._path) == self._opened:
            return
        now = "is gone" if not self._path.exists() else "was replaced by another file"
        raise ScenarioError(
            f"cannot {doing} records database {self._where()!r}: it {now} since this "
            "command opened it (the data directory deleted or moved meanwhile?), so "
            "nothing was written to it."
        )

    @contextmanager
    def _session(self, doing: str = "read") -> Iterator[Session]:
        if doing != "read":
            self._check_same_file(doing)
        try:
            bind = self.engine if doing == "read" else self._writer
            with Session(bind, expire_on_commit=False) as s, s.begin():
                yield s
        except ScenarioError:
            raise
        except (SQLAlchemyError, ImportError) as exc:
            raise self._error(exc, doing) from None

    def check_writable(self) -> None:
        """Make sure a session can be stored here, before a run spends minutes on one: a
        write that touches nothing, rolled back (a read-only file or database user fails
        it as a real write would).

        Raises:
            ScenarioError: the database cannot be written, saying why and what to do.
        """
        from sqlalchemy import delete

        with self._session("write to") as s:
            s.execute(delete(Trainee).where(Trainee.id < 0))
            s.rollback()

    # ---- trainees ------------------------------------------------------------------------
    def check_pseudonym(
        self, pseudonym: str, *, allow_name: bool = False, registering: bool = False
    ) -> str:
        """:func:`check_pseudonym` for this database: the rule for new pseudonyms applies
        to trainees not in it yet; one already here (made under an older rule) passes. A
        new pseudonym one typo away from an issued one here is refused (unless
        ``registering``: ``trainee new --pseudonym``, said on purpose): a swapped digit
        silently split a trainee's records in two."""
        check_pseudonym(pseudonym, allow_name=True)  # the characters, before any lookup
        known = self.find_trainee(pseudonym) is not None
        if not known and not registering:
            near = self._one_typo_from(pseudonym)
            if near is not None:
                raise ScenarioError(
                    f"no trainee {pseudonym!r} in {self.shown_url}, but {near!r} is: a typo? "
                    f"Use {near!r}. If {pseudonym!r} is a new trainee, register it first: "
                    f"surgisim trainee new --pseudonym {pseudonym}"
                )
        if not known:
            # 't730' beside 'T730' split one trainee's attempts and proficiency in two
            with self._session() as s:
                twin = s.scalar(
                    select(Trainee.pseudonym).where(
                        func.lower(Trainee.pseudonym) == pseudonym.lower(),
                        Trainee.pseudonym != pseudonym,  # made meanwhile by another run
                    )
                )
            if twin is not None:
                raise ScenarioError(
                    f"no trainee {pseudonym!r}, but {twin!r} is in {self.url}: pseudonyms "
                    f"differ only in case here; use {twin!r} (a new trainee needs a "
                    "pseudonym of its own)."
                )
        return check_pseudonym(pseudonym, allow_name=allow_name, known=known)

    def _one_typo_from(self, pseudonym: str) -> str | None:
        """A pseudonym here of the issued form (adjective-animal-NNNN) that ``pseudonym``
        is one typo away from (one letter or digit changed, added, dropped, or two
        neighbours swapped): issued ones are drawn at random, so a new one within a typo
        of one is a mistyping, not a trainee (an institution's codes such as T017 and
        T018 are neighbours on purpose, and are not checked)."""
        with self._session() as s:
            issued = [p for p in s.scalars(select(Trainee.pseudonym)) if _ISSUED.match(p)]
        return next((p for p in sorted(issued) if _one_edit_apart(p, pseudonym)), None)

    def register_trainee(self, pseudonym: str, *, allow_name: bool = False) -> str:
        """Record a trainee under a pseudonym of the institution's own (``trainee new
        --pseudonym``: a code such as ``T017``, checked by the rule) before any session,
        so the class view lists them as not started. Refuses one already here."""
        if self.find_trainee(pseudonym) is not None:
            raise ScenarioError(f"trainee {pseudonym!r} is already in {self.shown_url}.")
        pseudonym = self.check_pseudonym(pseudonym, allow_name=allow_name, registering=True)
        with self._session("write to") as s:
            self._trainee_in(s, pseudonym)
            # recorded again on purpose: their runs' sessions may be stored again (the
            # documented way to keep a session refused after a forget)
            digest = self._forgotten_digest(s, pseudonym)
            if digest is not None:
                s.execute(delete(ForgottenMark).where(ForgottenMark.digest == digest))
        return pseudonym

    # ---- marks of forgotten trainees ------------------------------------------------------
    @staticmethod
    def _forgotten_digest(s: Session, pseudonym: str, *, create: bool = False) -> str | None:
        """The :class:`ForgottenMark` digest of ``pseudonym`` (SHA-256 of this database's
        random salt and the pseudonym: the pseudonym itself is never kept), within the
        open transaction ``s``; None when the database has no salt yet (no forget ever:
        no mark), unless ``create`` (a write transaction) makes it."""
        salt = s.scalar(select(MetaRow.text).where(MetaRow.key == FORGET_SALT))
        if salt is None:
            if not create:
                return None
            salt = secrets.token_hex(32)
            s.add(MetaRow(key=FORGET_SALT, value=0, text=salt))
            s.flush()
        return _sha256(f"{salt}\0{pseudonym}")

    def forget_count(self) -> int:
        """How many forgets these records have had (:data:`FORGET_COUNT`; 0: none, or
        only an older surgisim's). A run reads it when it starts, before it looks its
        trainee up (:attr:`scenarios.checkpoint.RunInfo.forget_count`): a forget with a
        higher number came after, whatever the clocks of the two processes say."""
        with self._session() as s:
            return s.scalar(select(MetaRow.value).where(MetaRow.key == FORGET_COUNT)) or 0

    @staticmethod
    def _next_forget_number(s: Session) -> int:
        """Raise :data:`FORGET_COUNT` by one within forget's write transaction and return
        it (an UPDATE of the row: under PostgreSQL a second forget waits for this one's
        commit and raises the count it left)."""
        raised = s.execute(
            update(MetaRow)
            .where(MetaRow.key == FORGET_COUNT)
            .values(value=MetaRow.value + 1)
            .execution_options(synchronize_session=False)
        )
        if raised.rowcount == 0:
            s.add(MetaRow(key=FORGET_COUNT, value=1))
            s.flush()
        return s.scalar(select(MetaRow.value).where(MetaRow.key == FORGET_COUNT))

    def _mark_forgotten(self, s: Session, pseudonym: str) -> None:
        """Mark ``pseudonym`` forgotten by the next forget number (and now, by this
        process's clock), within forget's write transaction, after pruning old marks."""
        now = time.time()
        self._prune_marks(s, now)
        digest = self._forgotten_digest(s, pseudonym, create=True)
        s.execute(delete(ForgottenMark).where(ForgottenMark.digest == digest))
        number = self._next_forget_number(s)
        s.add(ForgottenMark(digest=digest, forgotten_at=now, forget_number=number))

    @staticmethod
    def _prune_marks(s: Session, now: float) -> None:
        """Delete the marks older than :data:`FORGOTTEN_MARK_KEEP_S` by this forget's
        clock (``now``, UNIX s) but never one of the newest
        :data:`FORGOTTEN_MARKS_KEPT_ANYWAY` by forget number: a clock far ahead makes
        every mark look old, and pruned every other trainee's mark, so that their runs
        begun before the forget stored their sessions again. Marks are thus kept a month
        at least and 100 forgets at least (small: a digest and two numbers each); an
        older surgisim's marks (no number) count as the oldest."""
        newest = (
            select(ForgottenMark.digest)
            .order_by(func.coalesce(ForgottenMark.forget_number, 0).desc())
            .limit(FORGOTTEN_MARKS_KEPT_ANYWAY)
        )
        s.execute(
            delete(ForgottenMark)
            .where(
                ForgottenMark.forgotten_at < now - FORGOTTEN_MARK_KEEP_S,
                ForgottenMark.digest.not_in(newest.scalar_subquery()),
            )
            .execution_options(synchronize_session=False)
        )

    def _refusal(
        self,
        s: Session,
        pseudonym: str,
        *,
        trainee_recorded: bool,
        run_start: RunStart | None,
    ) -> TraineeForgottenError | None:
        """Why a session of a run of ``pseudonym`` must not be stored, within the open
        transaction ``s`` (None: it may be): their mark says they were forgotten after the
        run began (:meth:`RunStart.began_before`: a forget before the run looked them up,
        or of a pseudonym new to the run), or they were in the records when the run
        started (``trainee_recorded``) and are not now. Only a mark says the latter was a
        forget: without one the records are not those the run started with (the database
        deleted or replaced while it ran), which is said as such."""
        mark = self._mark_of(s, pseudonym)
        if (
            mark is not None
            and run_start is not None
            and run_start.began_before(mark.forget_number, mark.forgotten_at)
        ):
            return self._forgotten(pseudonym)
        if (
            trainee_recorded
            and s.scalar(select(Trainee.id).where(Trainee.pseudonym == pseudonym)) is None
        ):
            return self._forgotten(pseudonym) if mark is not None else self._not_here(pseudonym)
        return None

    def _mark_of(self, s: Session, pseudonym: str):
        """The :class:`ForgottenMark` row (``forgotten_at``, ``forget_number``) of
        ``pseudonym``, within the open transaction ``s``; None when they have none."""
        digest = self._forgotten_digest(s, pseudonym)
        if digest is None:
            return None
        return s.execute(
            select(ForgottenMark.forgotten_at, ForgottenMark.forget_number).where(
                ForgottenMark.digest == digest
            )
        ).first()

    @staticmethod
    def _trainee_in(s: Session, pseudonym: str) -> Trainee:
        """The trainee row within the open transaction ``s``, created on first use.

        Atomic across processes: the row is inserted with ``ON CONFLICT DO NOTHING``
        (SQLite, PostgreSQL; a savepoint and a retry elsewhere) and then read, so two
        sessions storing the first session of the same new pseudonym both find one row.
        """
        query = select(Trainee).where(Trainee.pseudonym == pseudonym)
        row = s.scalar(query)
        if row is not None:
            return row
        values = {"pseudonym": pseudonym, "created_at": _now()}
        dialect = s.get_bind().dialect.name
        if dialect in ("sqlite", "postgresql"):
            if dialect == "sqlite":
                from sqlalchemy.dialects.sqlite import insert
            else:
                from sqlalchemy.dialects.postgresql import insert
            s.execute(
                insert(Trainee)
                .values(**values)
                .on_conflict_do_nothing(index_elements=["pseudonym"])
            )
        else:  # pragma: no cover - other dialects: a savepoint, and a lost race is fine
            with contextlib.suppress(IntegrityError), s.begin_nested():
                s.add(Trainee(**values))
        return s.scalars(query.execution_options(populate_existing=True)).one()

    def trainee(self, pseudonym: str, *, allow_name: bool = False) -> Trainee:
        """The trainee with this pseudonym, created on first use."""
        pseudonym = self.check_pseudonym(pseudonym, allow_name=allow_name)
        with self._session("write to") as s:
            return self._trainee_in(s, pseudonym)

    def new_trainee(self) -> str:
        """Create a trainee under a fresh random pseudonym (:func:`new_pseudonym`, never
        one already in use); return the pseudonym."""
        for _ in range(100):
            pseudonym = new_pseudonym()
            with self._session("write to") as s:
                if s.scalar(select(Trainee.id).where(Trainee.pseudonym == pseudonym)) is None:
                    self._trainee_in(s, pseudonym)
                    return pseudonym
        raise ScenarioError("could not find an unused pseudonym in 100 draws.")  # pragma: no cover

    def find_trainee(self, pseudonym: str, *, required: bool = False) -> Trainee | None:
        """The trainee with this pseudonym, or None (never creates one).

        Raises:
            ScenarioError: with ``required``, when there is none (names the closest).
        """
        with self._session() as s:
            row = s.scalar(select(Trainee).where(Trainee.pseudonym == pseudonym))
            if row is None and required:
                known = list(s.scalars(select(Trainee.pseudonym)))
                raise ScenarioError(
                    f"no trainee {pseudonym!r} in {self.url}." + suggest(pseudonym, known)
                )
            return row

    def trainees(self) -> list[tuple[Trainee, int]]:
        """All trainees with their number of sessions."""
        with self._session() as s:
            rows = s.scalars(select(Trainee).order_by(Trainee.pseudonym)).all()
            return [(t, len(t.sessions)) for t in rows]

    def session_count(self, pseudonym: str) -> int:
        """How many sessions ``pseudonym`` has stored (0: none, or no such trainee)."""
        from sqlalchemy import func

        with self._session() as s:
            query = select(func.count(SessionRow.id)).join(Trainee)
            return s.scalar(query.where(Trainee.pseudonym == pseudonym)) or 0

    def files_of(self, pseudonym: str) -> list[tuple[str, str]]:
        """What :meth:`forget` would delete of a trainee's files, as (path, kind): the
        session traces (``trace``) and the registered files (reports, exports, a run's
        outputs, class pages that name them), once each, those on disk only."""
        with self._session() as s:
            trainee = s.scalar(select(Trainee).where(Trainee.pseudonym == pseudonym))
            if trainee is None:
                return []
            found = self._files_in(s, trainee)
        out = {}
        for path, kind in found:
            if path not in out and os.path.exists(path):
                out[path] = kind.removeprefix(EXPECTED)
            for tmp in unfinished_copies(path):  # what a kill left of a write of it
                out.setdefault(str(tmp), f"{kind.removeprefix(EXPECTED)} (unfinished write)")
        return list(out.items())

    @staticmethod
    def _files_in(s: Session, trainee: Trainee) -> list[tuple[str, str]]:
        """A trainee's files as (path, kind), within the open transaction ``s``: the
        session traces (``trace``), then the registered files (kinds as registered,
        :data:`EXPECTED` prefix and all)."""
        found = [(r.trace_path, "trace") for r in trainee.sessions if r.trace_path]
        return found + [
            tuple(row)
            for row in s.execute(
                select(FileRow.path, FileRow.kind).where(FileRow.trainee_id == trainee.id)
            ).all()
        ]

    def waiting_of(self, pseudonym: str) -> list:
        """The sessions of ``pseudonym`` for this database that wait outside it (see
        :func:`scenarios.checkpoint.waiting_of`): live runs' checkpoints, killed runs'
        and finished sessions kept when storing failed."""
        from scenarios.checkpoint import waiting_of

        return waiting_of(pseudonym, database_location(self.url, self.store), self.work_dir)

    def live_runs(self, pseudonym: str, waiting: list | None = None) -> list[int]:
        """The process ids of the runs of ``pseudonym`` going on now, by their checkpoints
        in this database's store (``waiting``: their :meth:`waiting_of`, when already
        read); a run's first checkpoint is written once its session has started."""
        if waiting is None:
            waiting = self.waiting_of(pseudonym)
        return list(dict.fromkeys(w.live_pid for w in waiting if w.live_pid is not None))

    def check_no_live_run(self, pseudonym: str, waiting: list | None = None) -> None:
        """Refuse to forget a trainee while a run of theirs is going on (``waiting``:
        their :meth:`waiting_of`, when already read).

        Raises:
            LiveRunError: naming the run's PID and command, and what to do.
        """
        from scenarios.checkpoint import run_label

        pids = self.live_runs(pseudonym, waiting)
        if not pids:
            return
        runs = "; ".join(run_label(pid) for pid in pids)
        raise LiveRunError(
            f"trainee {pseudonym!r} has a run going on: {runs}. Stop it first (Ctrl-C in its "
            f"terminal, or kill {' '.join(map(str, pids))}) and let it store its session, then "
            "forget them: a run that stores after the trainee is forgotten would bring them "
            f"back. --force forgets them now: {AFTER_FORCED}."
        )

    def forget(self, pseudonym: str, *, force: bool = False) -> Forgotten:
        """Remove everything kept about a trainee: sessions, scores (re-scores too), the
        trainee row, and the files registered with their sessions in this database
        (traces, reports, CSV exports, a run's outputs), and their sessions that wait
        outside the records for this database (:meth:`waiting_of`: a killed run's
        checkpoint, a session kept when storing it failed, with the outputs their run
        wrote while it ran), which ``store --orphans`` would otherwise bring back. Only
        registered or waiting files are deleted, never a file guessed from a name:
        another database's ``session-1.html`` is not this one's (reports are registered
        before they are written, so none is left unregistered). The rows go in one
        transaction first; then the files; then the file is vacuumed.

        ``force``: forget them although a run of theirs is going on (its checkpoint is
        left, said in ``changed``: it is written again until the run ends, and the run
        then does not store its session, see :class:`TraineeForgottenError`).

        Raises:
            LiveRunError: a run of theirs is going on (without ``force``).
            ScenarioError: no trainee with this pseudonym and nothing of theirs waiting
                (the message lists the closest).
        """
        waiting = self.waiting_of(pseudonym)
        if not force:
            self.check_no_live_run(pseudonym, waiting)
        if not waiting:
            self.find_trainee(pseudonym, required=True)
        with self._session("write to") as s:
            trainee = s.scalar(select(Trainee).where(Trainee.pseudonym == pseudonym))
            if trainee is None and not waiting:  # forgotten by another process meanwhile
                raise ScenarioError(f"no trainee {pseudonym!r} in {self.url}.")
            session_ids = [r.id for r in trainee.sessions] if trainee else []
            unregistered = unregistered_outputs(trainee.sessions) if trainee else []
            files = self._files_in(s, trainee) if trainee else []
            still = self._still_theirs(s, trainee) if trainee else {}
            scores = self._delete_trainee(s, trainee, session_ids) if trainee else 0
            self._mark_forgotten(s, pseudonym)
        recorded = [path for path, _ in files]
        expected = {path for path, kind in files if kind.startswith(EXPECTED)}
        changed, waited = [], []
        for w in waiting:
            if w.live_pid is not None:
                changed.append(
                    f"{w.trace} (the run PID {w.live_pid} still writes it: {AFTER_FORCED})"
                )
                continue
            waited.append(str(w.trace))
            paths, checks = _waiting_files(w)
            recorded += paths
            expected.update(paths[1:])  # the trace must be there; the rest may not
            for path, check in checks.items():
                previous = still.get(path)
                still[path] = check if previous is None else _either(previous, check)
        removed, missing, failed = [], [], []
        # with each file, what a kill left of a write of it (the whole --json result in
        # a hidden .NAME.RANDOM.tmp beside it, the rename never made)
        copies = [str(tmp) for path in dict.fromkeys(recorded) for tmp in unfinished_copies(path)]
        recorded += copies
        expected.update(copies)  # gone meanwhile: nothing to say
        for path in dict.fromkeys(recorded):  # once each, in order
            why = still.get(path, lambda: None)()
            if why is not None:
                changed.append(f"{path} ({why})")
                continue
            try:
                os.unlink(path)
                removed.append(path)
            except FileNotFoundError:
                if path not in expected:
                    missing.append(path)
            except OSError as exc:
                failed.append(f"{path} ({exc.strerror})")
        self._forget_paths(removed)
        vacuum_error = self.vacuum() if self._path is not None else None
        return Forgotten(
            pseudonym,
            len(session_ids),
            scores,
            removed,
            missing,
            failed,
            changed,
            unregistered=unregistered,
            waiting=waited,
            vacuum_error=vacuum_error,
        )

    def _delete_trainee(self, s: Session, trainee: Trainee, session_ids: list[int]) -> int:
        """Delete a trainee's rows within the open transaction ``s``; return the number
        of scores deleted."""
        self._raise_session_id_floor(s, session_ids)
        scores = 0
        if session_ids:
            scores = s.execute(
                delete(ScoreRow).where(ScoreRow.session_id.in_(session_ids))
            ).rowcount
        s.execute(delete(FileRow).where(FileRow.trainee_id == trainee.id))
        s.execute(delete(SessionRow).where(SessionRow.trainee_id == trainee.id))
        s.execute(delete(Trainee).where(Trainee.id == trainee.id))
        return scores

    def _forget_paths(self, removed: list[str]) -> None:
        """Drop every trainee's registrations of files just deleted (a class page names
        the whole class: the others' rows for it would say "already gone" at their own
        forget). Best effort: a row left only makes that line."""
        if not removed:
            return
        with contextlib.suppress(ScenarioError), self._session("write to") as s:
            for chunk in range(0, len(removed), 500):
                s.execute(delete(FileRow).where(FileRow.path.in_(removed[chunk : chunk + 500])))

    @staticmethod
    def _still_theirs(s: Session, trainee: Trainee) -> dict:
        """For each registered file of ``trainee``: a check (called at deletion) that says
        why the file at its path is no longer the one registered (None: it is). A file
        registered written must have its stamp still; a run's output registered before it
        was written (:data:`EXPECTED`, never confirmed: the run was killed) must be no
        newer than its session's end and :data:`OUTPUT_SLACK_S`, or a later run's file
        would go with it. A file the records write themselves (a report, snapshots, an
        export: registered, with no stamp, each time before they write it, and by older
        surgisims with none ever) has no check: ``surgisim report N`` rewriting
        ``session-N.html`` a day later rewrites the trainee's own report, and another
        trainee's write of the path takes the registration away (:meth:`_disown`)."""
        ends = {
            r.id: r.started_at + dt.timedelta(seconds=r.wall_time_s + OUTPUT_SLACK_S)
            for r in trainee.sessions
        }
        checks = {}
        for row in s.scalars(select(FileRow).where(FileRow.trainee_id == trainee.id)):
            if row.stamp is not None:
                stamp = row.stamp

                def check(path=row.path, stamp=stamp):
                    now = file_stamp(path)
                    if now is None or now == stamp:
                        return None
                    return "changed since it was registered: written again since"

            elif row.kind.startswith(EXPECTED) and row.session_id in ends:
                end = ends[row.session_id]

                def check(path=row.path, end=end):
                    try:
                        mtime = os.stat(path).st_mtime
                    except OSError:
                        return None
                    written = dt.datetime.fromtimestamp(mtime, dt.timezone.utc).replace(tzinfo=None)
                    if written <= end:
                        return None
                    return "written after the session ended, by another run"

            else:
                continue
            previous = checks.get(row.path)
            checks[row.path] = check if previous is None else _either(previous, check)
        return checks

    def vacuum(self) -> str | None:
        """Rewrite the SQLite file (and empty its WAL) so that deleted rows do not linger
        in free pages; return why it could not be done (None: done). Another program
        holding the database open (a browser of it, a backup, a ``sqlite3`` shell in a
        transaction) keeps the old pages: the deleted text stays in the file until a
        vacuum succeeds (``surgisim trainee vacuum`` once that program is closed)."""
        if self._path is None:
            return None
        self.engine.dispose()  # our pooled connections would hold the WAL open
        try:
            with contextlib.closing(
                sqlite3.connect(self._path, timeout=VACUUM_WAIT_S, isolation_level=None)
            ) as con:
                checkpoint = "PRAGMA wal_checkpoint(TRUNCATE)"
                con.execute(checkpoint)
                con.execute("VACUUM")
                # (busy, ...): 1 when a reader kept the log from being copied back and
                # emptied (the old pages stay in the file); that does not raise by itself
                busy = con.execute(checkpoint).fetchone()[0]
        except sqlite3.Error as exc:
            return f"{exc}: another program has {self._path} open"
        if busy:
            return f"another program has {self._path} open (a read under way)"
        return None

    def register_file(
        self,
        path: str | Path,
        *,
        pseudonym: str | Sequence[str],
        session_id: int | None = None,
        kind: str = "report",
        written: bool = False,
        place: Callable[[], object] | None = None,
    ) -> None:
        """Remember a file written about a trainee (or about each of several: a class
        page), for :meth:`forget`. The file now holds their data and nobody else's: a
        registration of the same path for another trainee is dropped, since the file
        that trainee's data was in has been replaced (two runs writing ``--json
        result.json`` in turn: forgetting the first trainee must not delete the second's
        result). ``written``: the file is written now (a run's outputs): what it is is kept
        (:func:`file_stamp`), and forgetting leaves a file written again since (a later
        run's ``--overwrite``) instead of deleting it.

        ``place()``, when given, puts the file at ``path`` (a rename of a finished
        temporary file) once registered, in a write transaction that first checks every
        trainee is still here: :meth:`forget` deletes rows in a write transaction too, so
        it comes either before that check (this raises, nothing is placed) or after the
        file is in place (it finds the file registered and deletes it), never between. A
        kill before the rename leaves the registration and the old file, as without it.

        Raises:
            NoTraineeError: a trainee named is not in the records (forgotten meanwhile);
                nothing is placed: the file at ``path`` is left as it was.
        """
        names = [pseudonym] if isinstance(pseudonym, str) else list(pseudonym)
        path = str(Path(path).resolve())
        with self._session("write to") as s:
            owners = self._trainee_ids(s, names)
            self._disown(s, path, keep=owners)
            stamp = file_stamp(path) if written else None
            for trainee_id in owners:
                known = s.scalar(
                    select(FileRow).where(FileRow.trainee_id == trainee_id, FileRow.path == path)
                )
                if known is None:
                    s.add(
                        FileRow(
                            trainee_id=trainee_id,
                            session_id=session_id,
                            kind=kind,
                            path=path,
                            created_at=_now(),
                            stamp=stamp,
                        )
                    )
                elif stamp is not None:  # written now: this file is theirs, not another
                    known.stamp = stamp
                    known.session_id = known.session_id or session_id
        if place is not None:
            with self._session("write to") as s:  # the write lock: no forget meanwhile
                self._trainee_ids(s, names)
                place()

    def _trainee_ids(self, s: Session, names: Sequence[str]) -> list[int]:
        """The ids of the trainees ``names``, within the open transaction ``s``.

        Raises:
            NoTraineeError: one is not in the records (forgotten by another process).
        """
        ids = []
        for name in names:
            trainee_id = s.scalar(select(Trainee.id).where(Trainee.pseudonym == name))
            if trainee_id is None:
                raise NoTraineeError(name, self.url)
            ids.append(trainee_id)
        return ids

    def expect_files(
        self,
        pseudonym: str,
        paths: dict[str, str],
        *,
        allow_name: bool = False,
        run_start: RunStart | None = None,
    ) -> None:
        """Register files a run is about to write about a trainee (``kind`` -> path), as
        :data:`EXPECTED`, before it writes them: a run killed before its session is stored
        (in its start-up, before any checkpoint) leaves them with nothing else naming them,
        and ``trainee forget`` then removes them (the empty ``X.mcap.partial`` of a
        recording claimed at start). The trainee's row is made if it is new. Only for
        paths the run has claimed: another trainee's registration of them is dropped.

        Raises:
            TraineeForgottenError: they were forgotten after the run began
                (``run_start``: see :meth:`add_session`): their row is not made again.
        """
        pseudonym = self.check_pseudonym(pseudonym, allow_name=allow_name)
        with self._session("write to") as s:
            refusal = self._refusal(s, pseudonym, trainee_recorded=False, run_start=run_start)
            if refusal is not None:
                raise refusal
            trainee = self._trainee_in(s, pseudonym)
            for kind, path in paths.items():
                path = str(Path(path).resolve())
                self._disown(s, path, keep=[trainee.id])  # claimed by this run now
                known = s.scalar(
                    select(FileRow.id).where(FileRow.trainee_id == trainee.id, FileRow.path == path)
                )
                if known is None:
                    s.add(
                        FileRow(
                            trainee_id=trainee.id,
                            kind=EXPECTED + kind,
                            path=path,
                            created_at=_now(),
                        )
                    )

    @staticmethod
    def _disown(s: Session, path: str, keep: Sequence[int]) -> None:
        """Drop the registrations of ``path`` for every trainee but ``keep`` (its new
        owners): the file they were registered for has been overwritten."""
        s.execute(delete(FileRow).where(FileRow.path == path, FileRow.trainee_id.not_in(keep)))

    # ---- sessions ----------------------------------------------------------------------
    def add_session(
        self,
        *,
        pseudonym: str,
        scenario_name: str,
        scenario_version: str,
        scenario_yaml: str,
        operator: str,
        seed: int,
        sim_time_s: float,
        wall_time_s: float,
        completed: bool,
        metrics: dict[str, float],
        result: dict,
        rubric: dict,
        trace_path: str | None = None,
        allow_name: bool = False,
        conditions: dict | None = None,
        started_at: dt.datetime | None = None,
        ended: str | None = None,
        session_uid: str | None = None,
        files: dict[str, str] | None = None,
        trainee_recorded: bool = False,
        run_start: RunStart | None = None,
    ) -> int:
        """Store a session and its original score in one transaction; return its id.

        ``allow_name``: accept a new pseudonym outside the accepted forms (see
        :func:`check_pseudonym`). ``conditions``: how it ran (JSON-able: latency,
        loop timing), kept for comparing attempts. ``started_at``: when the session
        started (naive UTC; default: now) — attempts are ordered by it, so a session
        stored later (a killed run's checkpoint) takes its real place. ``ended``: one of
        :data:`ENDINGS` (default: ``completed`` or ``failed`` from ``completed``).
        ``session_uid``: the id the run gave the session (default: a new one).
        ``files``: kind -> path of the files the run writes about the trainee (its
        ``--record`` recording, ``--json``, ``--video``), registered for :meth:`forget`
        in the same transaction, whether or not they exist yet: a run killed after
        storing, or a killed run stored later, would otherwise leave them behind.
        ``trainee_recorded``: the trainee was in the records when the run started
        (:attr:`scenarios.checkpoint.RunInfo.trainee_recorded`): they must still be.
        ``run_start``: when the run began (:attr:`scenarios.checkpoint.RunInfo.run_start`):
        a forget of the pseudonym since refuses the session (None: not checked).

        Raises:
            TraineeForgottenError: with ``trainee_recorded``, the trainee is not here, or
                they were forgotten after the run began: nothing is stored.
            ScenarioError: the pseudonym is not valid, ``ended`` is unknown, a session
                with this ``session_uid`` is already stored, or the database cannot be
                written.
        """
        self.check_not_forgotten(pseudonym, trainee_recorded=trainee_recorded, run_start=run_start)
        pseudonym = self.check_pseudonym(pseudonym, allow_name=allow_name)
        ended = ended or ("completed" if completed else "failed")
        if ended not in ENDINGS:
            raise ScenarioError(f"unknown session ending {ended!r}; endings are {list(ENDINGS)}.")
        session_uid = session_uid or uuid.uuid4().hex
        try:
            return self._add_session(
                pseudonym=pseudonym,
                scenario=scenario_name,
                scenario_version=scenario_version,
                scenario_yaml=scenario_yaml,
                operator=operator,
                seed=seed,
                sim_time_s=sim_time_s,
                wall_time_s=wall_time_s,
                completed=completed,
                metrics=metrics,
                result=result,
                rubric=rubric,
                trace_path=trace_path,
                conditions=conditions,
                started_at=started_at or _now(),
                ended=ended,
                session_uid=session_uid,
                files=files or {},
                trainee_recorded=trainee_recorded,
                run_start=run_start,
            )
        except (AlreadyStoredError, TraineeForgottenError):
            raise
        except ScenarioError:
            # another process stored it between our check and our insert (the unique
            # index refused it): say so as the check would have
            with contextlib.suppress(ScenarioError):
                stored = self.session_by_uid(session_uid)
            if stored is not None:
                self.check_not_stored(session_uid)
            raise

    def check_not_forgotten(
        self,
        pseudonym: str,
        *,
        trainee_recorded: bool = True,
        run_start: RunStart | None = None,
    ) -> None:
        """Refuse a session of a run whose trainee was forgotten after it began: with
        ``trainee_recorded`` (they were in the records at its start), when they are not
        any more; with ``run_start`` (:class:`RunStart`), when a forget came later
        (:class:`ForgottenMark`: also a forget before the run looked them up, or of a
        pseudonym new to it). Storing would bring them back.

        Raises:
            TraineeForgottenError: saying so, and how to remove or keep the session.
        """
        with self._session() as s:
            refusal = self._refusal(
                s, pseudonym, trainee_recorded=trainee_recorded, run_start=run_start
            )
        if refusal is not None:
            raise refusal

    def _forgotten(self, pseudonym: str) -> TraineeForgottenError:
        return TraineeForgottenError(
            f"trainee {pseudonym!r} is no longer in {self.shown_url}: they were forgotten "
            "(surgisim trainee forget) after this run started, so their session is not "
            "stored (that would bring them back). `surgisim trainee forget "
            f"{pseudonym}` removes what is left of it; to store it after all, record them "
            f"again first (surgisim trainee new --pseudonym {pseudonym})."
        )

    def _not_here(self, pseudonym: str) -> TraineeForgottenError:
        return TraineeForgottenError(
            f"trainee {pseudonym!r} is not in {self.shown_url}, though they were in the "
            "records when this run started, and no forget of them is marked there: these are "
            "not the records the run started with (the database was deleted or replaced "
            "while it ran), so their session is not stored in them. If they belong in these "
            f"records, record them first (surgisim trainee new --pseudonym {pseudonym}), then "
            "store the session (surgisim store with its kept file; --discard drops it)."
        )

    def session_by_uid(self, session_uid: str) -> SessionRow | None:
        """The stored session with this run id (see :attr:`SessionRow.session_uid`)."""
        with self._session() as s:
            row = s.scalar(select(SessionRow).where(SessionRow.session_uid == session_uid))
            if row is not None:
                _ = row.trainee.pseudonym
            return row

    def check_not_stored(self, session_uid: str) -> None:
        """Refuse a session whose run id is stored already.

        Raises:
            AlreadyStoredError: naming the stored session.
        """
        row = self.session_by_uid(session_uid)
        if row is not None:
            raise AlreadyStoredError(
                f"this session (run id {session_uid}) is already stored as session {row.id} "
                f"({row.scenario}, trainee {row.trainee.pseudonym!r}, started "
                f"{row.started_at:%Y-%m-%d %H:%M} UTC); it was not stored again. A copy of a "
                "stored session's files can be deleted.",
                row.id,
            )

    def _add_session(
        self,
        *,
        pseudonym: str,
        scenario_yaml: str,
        seed: int,
        sim_time_s: float,
        wall_time_s: float,
        completed: bool,
        metrics: dict[str, float],
        result: dict,
        rubric: dict,
        conditions: dict | None,
        session_uid: str,
        files: dict[str, str],
        trainee_recorded: bool,
        run_start: RunStart | None,
        **columns,
    ) -> int:
        """Insert the session row and its score unless ``session_uid`` is stored (checked
        inside the write transaction: under SQLite's write lock no other process can
        store it meanwhile; elsewhere the unique index refuses the second)."""
        with self._session("write to") as s:
            known = s.scalar(select(SessionRow.id).where(SessionRow.session_uid == session_uid))
            # forgotten since the check before: not made again
            refusal = None
            if known is None:
                refusal = self._refusal(
                    s, pseudonym, trainee_recorded=trainee_recorded, run_start=run_start
                )
            if refusal is not None:
                raise refusal
            if known is None:
                if self._path is not None:  # SQLite: never a number given before
                    columns["id"] = self._next_session_id(s)
                    # kept at once, not only at forget: an older surgisim's forget of
                    # this session (it knows no floor) must not free its number here
                    self._raise_session_id_floor(s, [columns["id"]])
                row = SessionRow(
                    trainee=self._trainee_in(s, pseudonym),
                    scenario_sha256=_sha256(scenario_yaml),
                    scenario_yaml=scenario_yaml,
                    seed=int(seed),
                    sim_time_s=float(sim_time_s),
                    wall_time_s=float(wall_time_s),
                    completed=bool(completed),
                    metrics_json=json.dumps(metrics, sort_keys=True),
                    conditions_json=json.dumps(conditions, sort_keys=True) if conditions else None,
                    session_uid=session_uid,
                    **columns,
                )
                s.add(row)
                s.add(self._score_row(row, result, rubric))
                s.flush()
                for kind, path in files.items():
                    resolved = str(Path(path).resolve())
                    self._disown(s, resolved, keep=[row.trainee.id])  # this run rewrote it
                    s.add(
                        FileRow(
                            trainee_id=row.trainee.id,
                            session_id=row.id,
                            kind=EXPECTED + kind,
                            path=resolved,
                            created_at=_now(),
                        )
                    )
                return row.id
        self.check_not_stored(session_uid)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _next_session_id(s: Session) -> int:
        """The next session id under SQLite: above every id stored and every id a
        forgotten session had (SQLite's rowid would give the highest deleted one again).
        Read inside the write transaction (BEGIN IMMEDIATE): no other writer meanwhile."""
        stored = s.scalar(select(func.max(SessionRow.id))) or 0
        floor = s.scalar(select(MetaRow.value).where(MetaRow.key == SESSION_ID_FLOOR)) or 0
        return max(stored, floor) + 1

    @staticmethod
    def _raise_session_id_floor(s: Session, session_ids: list[int]) -> None:
        """Remember the highest id of sessions about to be deleted (see :class:`MetaRow`)."""
        if not session_ids:
            return
        meta = s.get(MetaRow, SESSION_ID_FLOOR)
        if meta is None:
            s.add(MetaRow(key=SESSION_ID_FLOOR, value=max(session_ids)))
        else:
            meta.value = max(meta.value, *session_ids)

    @staticmethod
    def _score_row(session: SessionRow, result: dict, rubric: dict) -> ScoreRow:
        rubric_json = json.dumps(rubric, sort_keys=True)
        return ScoreRow(
            session=session,
            created_at=_now(),
            rubric_sha256=_sha256(rubric_json),
            rubric_json=rubric_json,
            rule=str(result["rule"]),
            score=float(result["score"]),
            passed=bool(result["passed"]),
            result_json=json.dumps(result, sort_keys=True),
        )

    def add_score(
        self, session_id: int, result: dict, rubric: dict, *, once: bool = False
    ) -> int | None:
        """Store a re-score of a session; the session and earlier scores are untouched.

        ``once``: store it only if the session's latest verdict is not under this rubric
        already, judged inside the write transaction (None when it was not stored): two
        ``rescore --all`` at once each found every session under another rubric and gave
        each two identical re-scores."""
        with self._session("write to") as s:
            row = s.get(SessionRow, session_id)
            if row is None:
                raise ScenarioError(f"no session with id {session_id} in {self.url}.")
            if once and rubric_key(_verdicts(row)[-1].rubric_json) == rubric_key(
                json.dumps(rubric, sort_keys=True)
            ):
                return None
            score = self._score_row(row, result, rubric)
            s.add(score)
            s.flush()
            return score.id

    def session(self, session_id: int) -> SessionRow:
        """A session with its trainee and scores loaded."""
        with self._session() as s:
            row = s.get(SessionRow, session_id)
            if row is None:
                raise ScenarioError(f"no session with id {session_id} in {self.url}.")
            _ = row.trainee.pseudonym, list(row.scores)
            return row

    def sessions(
        self, pseudonym: str | None = None, scenario: str | None = None
    ) -> list[SessionRow]:
        """Sessions in the order they started (by ``started_at``, then id), optionally of
        one trainee and/or scenario: the order of attempts everywhere (tables, progress
        page, learning curves, proficiency), whatever order they were stored in."""
        with self._session() as s:
            query = select(SessionRow).order_by(SessionRow.started_at, SessionRow.id)
            if pseudonym is not None:
                query = query.join(Trainee).where(Trainee.pseudonym == pseudonym)
            if scenario is not None:
                query = query.where(SessionRow.scenario == scenario)
            rows = s.scalars(query).all()
            for r in rows:
                _ = r.trainee.pseudonym, list(r.scores)
            return list(rows)

    def proficiency(
        self,
        pseudonym: str,
        scenario: str,
        rule=None,
        *,
        required_consecutive: int | None = None,
        required_total: int | None = None,
    ) -> Proficiency:
        """Qualifying attempts (the longest run in a row, the current run, in total) and
        when the trainee became proficient, by each session's original verdict, over the
        attempts in the order they started. Sessions stopped by the user or recovered
        after a crash are not attempts (:data:`NOT_ATTEMPTS`): they neither count nor
        break a run; ``not_counted`` says how many there were.

        Args:
            rule: a :class:`scenarios.schema.Proficiency`: an attempt qualifies when it
                passed, scored at least ``rule.min_score`` and kept each metric of
                ``rule.limits`` within its value. Without it, every pass qualifies and
                ``required_consecutive`` / ``required_total`` give the requirement.
        """
        if rule is not None:
            required_consecutive, required_total = rule.consecutive, rule.total
        judged = judge_sessions(self.sessions(pseudonym, scenario), rule)
        return proficiency_of(judged, int(required_consecutive), int(required_total))


def proficiency_of(
    judged: Sequence[Judged], required_consecutive: int, required_total: int
) -> Proficiency:
    """Where a trainee stands on one scenario, from its sessions judged (oldest first, see
    :func:`judge_sessions`) and the requirement; what :meth:`Records.proficiency` returns."""
    rows = [j for j in judged if j.why_not is None]
    passed = [j.qualifies for j in rows]
    best, current, reached = _runs_and_reached(passed, required_consecutive, required_total)
    return Proficiency(
        len(rows),
        sum(passed),
        best,
        current,
        required_consecutive,
        required_total,
        reached,
        rows[reached - 1].row.started_at if reached else None,
        sum(1 for j in judged if j.why_not in NOT_ATTEMPTS),
        sum(1 for j in judged if j.why_not == OTHER_RUBRIC),
    )


#: :attr:`Judged.why_not` of an attempt with no verdict under the current rubric
OTHER_RUBRIC = "other rubric"


@dataclass(frozen=True)
class Judged:
    """A stored session as proficiency sees it.

    Attributes:
        row: the session.
        score: the verdict that counts: its latest score under the current rubric (the
            original, or a re-score under it); None when it has none.
        why_not: None for an attempt that counts; else ``stopped`` or ``crashed`` (not
            an attempt: :data:`NOT_ATTEMPTS`) or :data:`OTHER_RUBRIC`.
        qualifies: whether it counts toward proficiency (see :func:`qualifies`).
        unmet: what keeps an attempt from qualifying, in words (:func:`unmet`; empty when
            it qualifies or is not judged).
    """

    row: SessionRow
    score: ScoreRow | None
    why_not: str | None
    qualifies: bool
    unmet: tuple[str, ...] = ()

    @property
    def rescored(self) -> bool:
        """Whether the verdict that counts is a re-score, not the original."""
        return self.score is not None and self.score is not self.row.original_score


def rubric_key(rubric_json: str) -> str:
    """What makes two verdicts comparable: the rubric they were given under, without its
    proficiency rule (which judges verdicts, it does not make them), as this version
    reads it (a rubric stored by an older surgisim gets today's defaults, so an upgrade
    does not make old verdicts incomparable)."""
    return _rubric_key(rubric_json)


@functools.lru_cache(maxsize=256)
def _rubric_key(rubric_json: str) -> str:
    from pydantic import ValidationError

    from scenarios.schema import Scoring

    data = json.loads(rubric_json)
    # not a rubric this version reads: compared as stored
    with contextlib.suppress(ValidationError, ValueError, TypeError):
        data = Scoring.model_validate(data).model_dump(mode="json")
    if isinstance(data, dict):
        data.pop("proficiency", None)
    return json.dumps(data, sort_keys=True)


def current_score(rows: Sequence[SessionRow]) -> ScoreRow | None:
    """The verdict that sets the current rubric of a trainee's sessions of one scenario
    (oldest first): the latest verdict of the latest session (its original, or the
    re-score an instructor gave it last), never one under another scenario's rubric. Not
    the latest re-score given to an older session: one re-scored attempt does not set the
    others aside (it is marked "not judged by it" until the latest session is under its
    rubric too)."""
    return _verdicts(rows[-1])[-1] if rows else None


def _verdicts(row: SessionRow) -> list[ScoreRow]:
    """A session's scores that are verdicts on it: the original and its re-scores, less
    those forced under another scenario's rubric (``rescore --force``: a comparison, not
    a verdict on the exercise the trainee did)."""
    return [row.original_score] + [
        sc
        for sc in row.scores[1:]
        if not json.loads(sc.result_json).get("context", {}).get("forced", False)
    ]


def judge_sessions(rows: Sequence[SessionRow], rule=None) -> list[Judged]:
    """Judge a trainee's sessions of one scenario (oldest first) for proficiency under
    the current rubric (:func:`current_score`): each attempt by its latest verdict under
    that rubric. An attempt with none (it ran under a rubric since edited, and was not
    re-scored under the new one) neither counts nor breaks a run, as a stopped session:
    judging it by a verdict under another rubric would let four passes under a lenient
    benchmark make a trainee proficient under a strict one; ``surgisim rescore`` gives it
    a verdict under the new rubric. ``rule``: as for :func:`qualifies`."""
    current = current_score(rows)
    key = rubric_key(current.rubric_json) if current is not None else None
    out = []
    for row in rows:
        if not row.counts_as_attempt:
            out.append(Judged(row, None, row.ending, False))
            continue
        under = [sc for sc in _verdicts(row) if rubric_key(sc.rubric_json) == key]
        if not under:
            out.append(Judged(row, None, OTHER_RUBRIC, False))
            continue
        missing = tuple(unmet(row, rule, under[-1]))
        out.append(Judged(row, under[-1], None, not missing, missing))
    return out


def qualifies(row: SessionRow, rule=None, score: ScoreRow | None = None) -> bool:
    """Whether a stored session counts toward proficiency: it passed (its original
    verdict, or ``score``: a re-score) and, under a :class:`scenarios.schema.Proficiency`
    ``rule``, scored at least ``rule.min_score`` and kept each metric of ``rule.limits``
    within its value (a metric the session did not measure is within any limit)."""
    return not unmet(row, rule, score)


def unmet(row: SessionRow, rule=None, score: ScoreRow | None = None) -> list[str]:
    """What keeps a stored session from counting toward proficiency (:func:`qualifies`),
    in words (``not a pass``, ``score 98.1 < 100``, ``drops 1 > 0``); empty when it
    counts. A passing attempt that did not count said only "no" where a stopped one said
    why ("no (not an attempt)")."""
    score = score or row.original_score
    if not score.passed:
        return ["not a pass"]
    if rule is None:
        return []
    out = []
    if rule.min_score is not None and score.score < rule.min_score - 1e-9:
        out.append(f"score {_below(score.score, rule.min_score)} < {rule.min_score:g}")
    metrics = _judged_metrics(row, score)
    out += [
        f"{info(n).label.lower()} {metrics[n]:g} > {v:g}"
        for n, v in rule.limits.items()
        if metrics.get(n, 0.0) > v
    ]
    return out


def _below(score: float, limit: float) -> str:
    """``score`` to one decimal as the tables show it (98.06: "98.1"), but never rounded
    up to the ``limit`` it is below (99.96: "99.9 < 100", not "100.0 < 100")."""
    shown = round(score, 1)
    if shown >= limit:
        shown = math.floor(score * 10.0) / 10.0
    return f"{shown:.1f}"


def _judged_metrics(row: SessionRow, score: ScoreRow) -> dict[str, float]:
    """The session's metrics as ``score`` measured them (a re-score may have measured
    them again)."""
    metrics = dict(row.metrics)
    if score is not row.original_score:  # a re-score may have measured them again
        measured = json.loads(score.result_json).get("metrics", {})
        metrics.update(
            {
                n: m["value"]
                for n, m in measured.items()
                if isinstance(m, dict) and m.get("value") is not None
            }
        )
    return metrics


def _ending_from_trace(trace_path: str) -> str | None:
    """The ending (:data:`ENDINGS`) an incomplete session's trace tells by its events
    (``interrupted``, ``failed``, ``gave_up``), as a run decides it now; None when it
    tells none (an older surgisim's killed run stored from its checkpoint) or cannot be
    read."""
    from scenarios.archive import ending_of
    from scenarios.trace import SessionTrace

    try:
        trace = SessionTrace.load(trace_path)
    except ScenarioError:
        return None
    if trace.completed or not any(
        trace.events_of(kind) for kind in ("interrupted", "failed", "gave_up")
    ):
        return None
    return ending_of(trace, interrupted=False)


def _file_identity(path: Path | None) -> tuple[int, int] | None:
    """(device, inode) of the file at ``path``; None for no path or no file."""
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # the driver's own transaction handling is off: _sqlite_begin says BEGIN itself
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=30000")
    for attempt in range(50):
        try:
            # switching a new file to WAL needs a moment alone with it; another process
            # doing the same can make this fail at once instead of waiting
            cursor.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 49:
                raise
            time.sleep(0.02 * (1 + attempt % 5))
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA secure_delete=ON")  # deleted rows (a forgotten trainee) are zeroed
    cursor.close()


def _sqlite_begin(conn) -> None:
    write = conn.get_execution_options().get("surgisim_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def missing_database(db: str | None) -> Path | None:
    """The SQLite file a ``--db`` URL names when it does not exist (None otherwise): a
    command that only reads must not create an empty database at a mistyped path and
    then report "no trainee" as if the records were gone."""
    path = _sqlite_path(db) if db else None
    return path if path is not None and not path.exists() else None


def same_database(a: str | None, a_store: Store, b: str | None, b_store: Store) -> bool:
    """Whether two ``--db`` values (None: the store's default) name one database: SQLite
    files compared by their resolved path, other URLs as written."""
    return database_location(a, a_store) == database_location(b, b_store)


def database_location(db: str | None, store: Store) -> str:
    """The database a ``--db`` value (None: the store's default, in the data directory
    of this moment) names, as one string: a SQLite file's resolved path, another URL as
    written. Kept with a session that waits to be stored, it tells which data directory's
    database the session belongs to once ``XDG_DATA_HOME`` may say otherwise."""
    url = db or default_database_url(store)
    path = _sqlite_path(url)
    return str(path.resolve()) if path is not None else url


def _sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///PATH`` URL (or ``sqlite:///file:PATH?...&uri=true``);
    None for other databases and in-memory ones (``?mode=memory`` names no file)."""
    if keeps_nothing(url):
        return None
    for prefix in ("sqlite:///", "sqlite+pysqlite:///"):
        if url.startswith(prefix):
            rest = url.removeprefix(prefix).split("?", 1)[0]
            if rest.startswith("file:"):  # a URI: SQLite decodes its %XX escapes
                rest = unquote(rest.removeprefix("file:"))
            return Path(rest) if rest and rest != ":memory:" else None
    return None


def files_dir_of(url: str, path: Path | None) -> Path:
    """The folder of a database's traces and reports.

    - the default files (``records.sqlite``, ``demo.sqlite``): their store's directory, as
      before (``traces/``, ``reports/`` in the data directory; ``demo/...``);
    - any other SQLite file: a folder beside it named after it, ``names.sqlite`` ->
      ``names.sqlite-files/`` (as SQLite names its ``-wal`` and ``-journal``), so that the
      files travel and are deleted with the database and two files never share one;
    - another database (PostgreSQL) or an in-memory one: ``databases/<hash of the URL,
      password left out>`` in the data directory.

    Files a database registered before this (in the shared ``reports/``) keep their paths.
    """
    if path is not None:
        path = path.expanduser().resolve()
        for store in STORES:
            if path == database_file(store).resolve():
                return store_dir(store)
        return path.with_name(f"{path.name}-files")
    key = hashlib.sha256(re.sub(r"(//[^:/@]+:)[^@]*@", r"\1@", url).encode()).hexdigest()
    return data_dir() / "databases" / key[:16]


#: The longest full path (bytes, links resolved) of a file SQLite opens: its unix VFS
#: takes names of up to 512 bytes, and it must add ``-journal`` to name the journal
SQLITE_PATH_LIMIT_BYTES = 512 - len("-journal")


def _check_path_length(path: Path) -> None:
    """Refuse a database path SQLite cannot open, before any file is made: it said only
    "unable to open database file", which read as a missing or read-only folder, and
    left an empty file behind."""
    full = os.fsencode(os.path.realpath(path))
    if len(full) > SQLITE_PATH_LIMIT_BYTES:
        raise ScenarioError(
            f"records database {str(path)!r} cannot be opened: its full path is "
            f"{len(full)} bytes long, and SQLite opens none over {SQLITE_PATH_LIMIT_BYTES} "
            "bytes; use a shorter data directory (XDG_DATA_HOME) or give a shorter path "
            "with --db sqlite:///PATH."
        )


def _check_sqlite_file(path: Path) -> None:
    """Refuse a file that is not a whole SQLite database before SQLite writes to it (SQLite
    would take a truncated file for a new, empty database and create tables in it, and the
    sessions in it would be lost without a word)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ScenarioError(
            f"cannot open records database {str(path)!r}: {exc.strerror}."
        ) from None
    if size == 0:
        return  # a new database
    damaged = (
        f"records database {str(path)!r} is damaged or is not a SQLite database ({{}}): "
        "move it aside (its sessions are lost unless you have a backup) or give another "
        "with --db."
    )
    try:
        with open(path, "rb") as f:
            header = f.read(100)
    except OSError as exc:
        raise ScenarioError(
            f"cannot read records database {str(path)!r}: {exc.strerror}."
        ) from None
    if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
        raise ScenarioError(damaged.format("no SQLite header"))
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    header_valid = header[24:28] == header[92:96]
    wal = path.with_name(path.name + "-wal")
    wal_pending = wal.exists() and wal.stat().st_size > 0
    if header_valid and not wal_pending and size < page_size * pages:
        raise ScenarioError(damaged.format(f"truncated: {size} bytes of {page_size * pages}"))


_WARNED_READABLE: set[Path] = set()


def _warn_if_readable(path: Path) -> None:
    """Say once (per file and process, on stderr) that a records database others can read
    is used as it is.

    The files in the data directory are tightened to ``0600`` (surgisim made them); a file
    given with ``--db`` elsewhere is the user's, perhaps shared on purpose (a group of
    instructors), so it is not changed behind their back: the warning says what it exposes
    and the fix.
    """
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return
    if not mode & 0o077 or path in _WARNED_READABLE:
        return
    _WARNED_READABLE.add(path)
    sys.stderr.write(
        f"warning: records database {str(path)!r} has mode {mode:04o}: other users can read "
        f"trainees' pseudonyms and scores. Run `chmod 600 {path}` unless it is shared on "
        "purpose.\n"
    )


def _read_only(url: str) -> bool:
    """Whether a SQLite URL opens its file read-only (``?mode=ro&uri=true``)."""
    query = url.partition("?")[2]
    return "mode=ro" in query.split("&")


def _safe_url(url: str) -> str:
    """A URL with its password hidden (error messages are printed and logged)."""
    return re.sub(r"(//[^:/@]+:)[^@]*@", r"\1***@", url)


def open_records(db: str | None = None, *, demo: bool = False) -> Records:
    """The records a session goes to: the database at ``db`` when given, else the demo
    store for synthetic demonstrations (``demo=True``) or the trainee records.

    This is what ``surgisim run`` and ``surgisim serve`` call: a scripted operator's
    session lands in ``demo.sqlite``, never among trainees, unless ``--db`` says where.
    """
    if db:
        if keeps_nothing(db):
            raise ScenarioError(
                f"--db {_safe_url(db)}: an in-memory database keeps nothing once the command "
                "ends (a session would be reported stored, then lost); give a file: --db "
                "sqlite:///PATH/records.sqlite."
            )
        return Records(db)
    return Records(store="demo" if demo else "records")


def open_read_only(db: str | None = None, *, demo: bool = False) -> tuple[Records, str] | None:
    """The SQLite records at ``db`` (None: the store's default) opened read-only, with a
    note saying so, when their folder cannot be written (a read-only mount, a backup):
    SQLite opens a WAL database only where it can make its ``-shm`` index, so even
    ``trainee list`` was refused. None when that is not the case (not a SQLite file, no
    file, a writable folder, or already read-only): the caller's own error stands.

    With the ``-shm`` there, the file is opened ``mode=ro`` (SQLite reads its log with
    it). Without it, ``immutable=1``: SQLite then takes the file as it is, which is safe
    here, as nothing can write to a folder that cannot be written; a ``-wal`` log with
    changes not yet in the file would be left out, so that case is refused instead.

    Raises:
        ScenarioError: the log holds changes that cannot be read without the index.
    """
    url = db or default_database_url("demo" if demo else "records")
    path = _sqlite_path(url)
    if path is None or _read_only(url) or not path.is_file() or os.access(path.parent, os.W_OK):
        return None
    wal, shm = (path.with_name(path.name + side) for side in ("-wal", "-shm"))
    if shm.exists():
        mode = "mode=ro"
    elif wal.exists() and wal.stat().st_size > 0:
        raise ScenarioError(
            f"records database {str(path)!r} is in a folder that cannot be written, and its "
            f"log {wal.name} holds changes that SQLite can read only with an index it would "
            "make there: copy the folder to a writable place and give the copy with --db."
        )
    else:
        mode = "mode=ro&immutable=1"
    store: Store = "demo" if demo and not db else "records"  # as open_records picks it
    records = Records(f"sqlite:///file:{quote(str(path))}?{mode}&uri=true", store=store)
    note = (
        f"note: {path.parent} cannot be written, so the records are opened read-only "
        "(nothing is changed; pages and exports that would be registered in them are not "
        "written)."
    )
    return records, note


def keeps_nothing(url: str) -> bool:
    """Whether ``url`` is a SQLite database that lives only as long as its connection:
    in memory (``sqlite://``, ``sqlite:///:memory:``, ``file::memory:``, a URI with
    ``mode=memory``) or SQLite's private temporary file (an empty path, ``sqlite:///``).

    Refused for the commands (:func:`open_records`): a session "stored" there is gone when
    the command exits, and its trace and report were left in the data directory linked to
    nothing. :class:`Records` itself still opens one (a test's throwaway database).
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return False  # not a URL at all: Records says so
    if not parsed.drivername.lower().startswith("sqlite"):
        return False
    database = parsed.database or ""
    if database.lower().startswith("file:"):
        database = database[len("file:") :]
    modes = parsed.query.get("mode", ())
    modes = [modes] if isinstance(modes, str) else list(modes)
    return database in ("", ":memory:") or "memory" in (m.lower() for m in modes)
