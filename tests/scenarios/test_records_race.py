"""Two processes storing the first session of the same new trainee at the same moment:
real processes, a real SQLite file, the race forced by a barrier, many times over.

Before the trainee row was created with an insert that ignores a conflict, the second
writer failed with ``IntegrityError: UNIQUE constraint failed: trainees.pseudonym``
(24 of 36 writes in 12 rounds of three processes on one database, measured with the
old code). Rounds on a fresh database also race the creation of its tables."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3

WORKERS = 3
SHARED_ROUNDS = 12  # one existing database, a new pseudonym each round
FRESH_ROUNDS = 4  # a new database each round: tables and WAL mode race as well
ROUNDS = SHARED_ROUNDS + FRESH_ROUNDS


def _database(tmp: str, r: int) -> str:
    return f"{tmp}/shared.sqlite" if r < SHARED_ROUNDS else f"{tmp}/fresh-{r}.sqlite"


def _worker(tmp: str, worker: int, barrier, results) -> None:
    from scenarios.records import Records

    for r in range(ROUNDS):
        barrier.wait(timeout=60)
        try:
            records = Records(f"sqlite:///{_database(tmp, r)}")
            sid = records.add_session(
                pseudonym=f"rc-{r:03d}",
                scenario_name="peg-transfer",
                scenario_version="1",
                scenario_yaml="name: x\n",
                operator=f"worker{worker}",
                seed=worker,
                sim_time_s=1.0,
                wall_time_s=1.0,
                completed=True,
                metrics={"completion_time_s": 1.0},
                result={"rule": "mscore", "score": 50.0, "passed": False},
                rubric={},
            )
            records.engine.dispose()
            results.put((r, worker, "ok", sid))
        except Exception as exc:
            results.put((r, worker, "error", f"{type(exc).__name__}: {exc}"[:300]))


def test_first_session_of_a_new_trainee_from_two_processes(tmp_path):
    from scenarios.records import Records

    Records(f"sqlite:///{tmp_path / 'shared.sqlite'}").engine.dispose()
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(WORKERS)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(str(tmp_path), w, barrier, results))
        for w in range(WORKERS)
    ]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=300) for _ in range(WORKERS * ROUNDS)]
    for p in procs:
        p.join(timeout=60)
    errors = [o for o in outcomes if o[2] != "ok"]
    assert not errors, errors[:3]
    for r in range(ROUNDS):
        con = sqlite3.connect(_database(str(tmp_path), r))
        trainees = con.execute("SELECT id FROM trainees WHERE pseudonym = ?", (f"rc-{r:03d}",))
        (trainee,) = trainees.fetchall()  # exactly one row
        sessions = con.execute("SELECT operator FROM sessions WHERE trainee_id = ?", trainee)
        assert sorted(sessions.fetchall()) == [(f"worker{w}",) for w in range(WORKERS)]
        con.close()
