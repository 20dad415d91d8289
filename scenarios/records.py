"""Trainee records: every scored session, kept for progress over weeks.

SQLAlchemy over SQLite by default (one file under the user's data directory), or any
database URL (PostgreSQL for an institution) through the same code. Trainees are stored
by pseudonym only: the framework never asks for or keeps a name; an institution that
needs to link pseudonyms to students keeps that key elsewhere (or derives pseudonyms
with :func:`pseudonym_from` and a secret it holds).

A session row keeps what re-scoring needs without re-running: the measured metrics and
the scenario text it was scored under. Each score (the original and every re-score under
an edited rubric) is its own row. SQLite runs in WAL mode and each session is written in
one transaction, so a killed process leaves the database consistent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    create_engine,
    event,
    select,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from scenarios.errors import ScenarioError
from scenarios.paths import data_dir

PSEUDONYM_PATTERN = re.compile(r"^[A-Za-z0-9_-]{2,40}$")


def default_database_url() -> str:
    """``sqlite:///$XDG_DATA_HOME/surgisim/records.sqlite`` (else ``~/.local/share/...``)."""
    return f"sqlite:///{data_dir() / 'records.sqlite'}"


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
    trace_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    trainee: Mapped[Trainee] = relationship(back_populates="sessions")
    scores: Mapped[list[ScoreRow]] = relationship(back_populates="session", order_by="ScoreRow.id")

    @property
    def metrics(self) -> dict[str, float]:
        """The measured metrics."""
        return json.loads(self.metrics_json)

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


@dataclass(frozen=True)
class Proficiency:
    """Where a trainee stands on one scenario."""

    attempts: int
    passes: int
    consecutive_passes: int
    required_consecutive: int
    required_total: int

    @property
    def proficient(self) -> bool:
        """Passed ``required_consecutive`` times in a row and ``required_total`` in all."""
        return (
            self.consecutive_passes >= self.required_consecutive
            and self.passes >= self.required_total
        )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Records:
    """The records database.

    Args:
        url: SQLAlchemy URL; default :func:`default_database_url`. Parent directories of
            a SQLite file are created.
    """

    def __init__(self, url: str | None = None) -> None:
        self.url = url or default_database_url()
        if self.url.startswith("sqlite:///"):
            Path(self.url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.engine = create_engine(self.url, future=True)
        except Exception as exc:  # bad URL or missing driver: say which extra to install
            raise ScenarioError(
                f"cannot open records database {self.url!r}: {exc}. For PostgreSQL install "
                "the driver: pip install 'surgisim[postgres]'."
            ) from None
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        Base.metadata.create_all(self.engine)

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as s, s.begin():
            yield s

    # ---- trainees ------------------------------------------------------------------------
    @staticmethod
    def check_pseudonym(pseudonym: str) -> str:
        """Return ``pseudonym`` or raise: 2-40 letters, digits, '-' or '_', no spaces (a
        full name with a space is refused, so names do not slip into the records)."""
        if not isinstance(pseudonym, str) or not PSEUDONYM_PATTERN.match(pseudonym):
            raise ScenarioError(
                f"trainee pseudonym {pseudonym!r} is not valid: use 2-40 letters, digits, '-' "
                "or '_' (a pseudonym, never a name), e.g. 'T7f3k2'."
            )
        return pseudonym

    @staticmethod
    def _trainee_in(s: Session, pseudonym: str) -> Trainee:
        """The trainee row within the open transaction ``s``, created on first use."""
        row = s.scalar(select(Trainee).where(Trainee.pseudonym == pseudonym))
        if row is None:
            row = Trainee(pseudonym=pseudonym, created_at=_now())
            s.add(row)
        return row

    def trainee(self, pseudonym: str) -> Trainee:
        """The trainee with this pseudonym, created on first use."""
        pseudonym = self.check_pseudonym(pseudonym)
        with self._session() as s:
            return self._trainee_in(s, pseudonym)

    def trainees(self) -> list[tuple[Trainee, int]]:
        """All trainees with their number of sessions."""
        with self._session() as s:
            rows = s.scalars(select(Trainee).order_by(Trainee.pseudonym)).all()
            return [(t, len(t.sessions)) for t in rows]

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
    ) -> int:
        """Store a session and its original score in one transaction; return its id."""
        pseudonym = self.check_pseudonym(pseudonym)
        with self._session() as s:
            trainee = self._trainee_in(s, pseudonym)
            row = SessionRow(
                trainee=trainee,
                scenario=scenario_name,
                scenario_version=scenario_version,
                scenario_sha256=_sha256(scenario_yaml),
                scenario_yaml=scenario_yaml,
                operator=operator,
                seed=int(seed),
                started_at=_now(),
                sim_time_s=float(sim_time_s),
                wall_time_s=float(wall_time_s),
                completed=bool(completed),
                metrics_json=json.dumps(metrics, sort_keys=True),
                trace_path=trace_path,
            )
            s.add(row)
            s.add(self._score_row(row, result, rubric))
            s.flush()
            return row.id

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

    def add_score(self, session_id: int, result: dict, rubric: dict) -> int:
        """Store a re-score of a session; the session and earlier scores are untouched."""
        with self._session() as s:
            row = s.get(SessionRow, session_id)
            if row is None:
                raise ScenarioError(f"no session with id {session_id} in {self.url}.")
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
        """Sessions, oldest first, optionally of one trainee and/or scenario."""
        with self._session() as s:
            query = select(SessionRow).order_by(SessionRow.id)
            if pseudonym is not None:
                query = query.join(Trainee).where(Trainee.pseudonym == pseudonym)
            if scenario is not None:
                query = query.where(SessionRow.scenario == scenario)
            rows = s.scalars(query).all()
            for r in rows:
                _ = r.trainee.pseudonym, list(r.scores)
            return list(rows)

    def proficiency(
        self, pseudonym: str, scenario: str, required_consecutive: int, required_total: int
    ) -> Proficiency:
        """Passes in a row (latest first) and in total, by each session's original score."""
        rows = self.sessions(pseudonym, scenario)
        passed = [r.original_score.passed for r in rows]
        consecutive = 0
        for p in reversed(passed):
            if not p:
                break
            consecutive += 1
        return Proficiency(
            len(rows), sum(passed), consecutive, required_consecutive, required_total
        )


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
