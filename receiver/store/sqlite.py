"""The embedded default store: one SQLite file in WAL mode.

Why these choices:
- WAL lets the CLI and other processes read while the server writes, and several
  writers (two servers, a replay from the CLI) serialise on BEGIN IMMEDIATE + busy_timeout.
- synchronous=FULL by default: an acknowledged event survives power loss, not only a
  process crash. Group commit (see group_commit.py) spreads the fsync over many events.
- Two connections: writes go through `db` (in the service, only from the group commit,
  whose COMMIT may run on a thread), reads through `reader`, so a read never lands inside
  another thread's open transaction.
- The claim query enforces per-media ordering in SQL, so it holds across processes and
  restarts, not only inside one dispatcher.
"""

from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from receiver.store.base import (
    Delivery,
    ErrorRecord,
    EventDetail,
    EventRecord,
    EventStore,
    HandlerRun,
    Op,
    Status,
    Stored,
    StoreUnavailable,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id              INTEGER PRIMARY KEY,
    dedup_key       TEXT NOT NULL UNIQUE,
    event_type      TEXT NOT NULL,
    media_id        TEXT,
    status          TEXT NOT NULL,
    source          TEXT NOT NULL,
    received_at     REAL NOT NULL,
    event_time      TEXT,
    body            BLOB NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    lease_until     REAL,
    last_error      TEXT,
    updated_at      REAL NOT NULL
);
-- Partial indexes only, so they stay small however much history is kept, and only one of
-- them is written by an insert: events_received, in id order, so it grows at its end.
-- Earlier layouts indexed every open event by (next_attempt_at, id) and by (media_id, id);
-- the second took a random page per insert, and under a burst, with the dispatcher standing
-- back, it grew with the backlog (bench/: about 3 µs per event and most of the WAL written).
-- The claim walks received rows in id order and due retrying rows by time; an event is
-- held back while an older event of its media is processing or retrying (events_busy_media),
-- and within one claim only the oldest event of a media is taken, which covers older
-- received events of the same media: they come first in the walk. One case is not
-- ordered: an older event replayed (requeued) while a newer event of its media is
-- retrying; as before, a replayed event is not ordered against a newer processing one.
DROP INDEX IF EXISTS events_queued;
DROP INDEX IF EXISTS events_queue_order;
DROP INDEX IF EXISTS events_due;
DROP INDEX IF EXISTS events_open_by_media;
CREATE INDEX IF NOT EXISTS events_received ON events (id) WHERE status = 'received';
CREATE INDEX IF NOT EXISTS events_retrying ON events (next_attempt_at) WHERE status = 'retrying';
CREATE INDEX IF NOT EXISTS events_busy_media ON events (media_id, id)
    WHERE status IN ('processing', 'retrying');
CREATE INDEX IF NOT EXISTS events_leases ON events (lease_until) WHERE status = 'processing';
CREATE TABLE IF NOT EXISTS handler_runs (
    event_id   INTEGER NOT NULL REFERENCES events (id),
    handler    TEXT NOT NULL,
    status     TEXT NOT NULL,
    attempts   INTEGER NOT NULL,
    result     TEXT,
    error      TEXT,
    updated_at REAL NOT NULL,
    PRIMARY KEY (event_id, handler)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS event_errors (
    id       INTEGER PRIMARY KEY,
    event_id INTEGER NOT NULL REFERENCES events (id),
    attempt  INTEGER NOT NULL,
    handler  TEXT,
    error    TEXT NOT NULL,
    at       REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS event_errors_by_event ON event_errors (event_id);
"""

_COLUMNS = (
    "id, dedup_key, event_type, media_id, status, source, received_at, event_time, body, "
    "attempts, next_attempt_at, last_error, updated_at"
)

_INSERT_HEAD = (
    "INSERT INTO events (dedup_key, event_type, media_id, status, source, received_at, "
    "event_time, body, next_attempt_at, last_error, updated_at) VALUES "
)
_ROW = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
#: Rows per INSERT statement: 11 parameters each stays under SQLite's old 999 limit.
INSERT_CHUNK = 64


@functools.cache
def _insert_sql(rows: int) -> str:
    return _INSERT_HEAD + ", ".join([_ROW] * rows) + " ON CONFLICT (dedup_key) DO NOTHING"

_NOT_HELD_BACK = """(e.media_id IS NULL OR NOT EXISTS (
        SELECT 1 FROM events AS p WHERE p.media_id = e.media_id AND p.id < e.id
        AND p.status IN ('processing', 'retrying')))"""
_CLAIMABLE_RECEIVED = f"""
SELECT {_COLUMNS} FROM events AS e WHERE e.status = 'received' AND {_NOT_HELD_BACK}
ORDER BY e.id LIMIT ?
"""
_CLAIMABLE_RETRYING = f"""
SELECT {_COLUMNS} FROM events AS e
WHERE e.status = 'retrying' AND e.next_attempt_at <= ? AND {_NOT_HELD_BACK}
ORDER BY e.next_attempt_at LIMIT ?
"""
#: Candidates read per event claimed: some are dropped as later events of a claimed media.
CLAIM_SCAN = 4


def _row(row: tuple[Any, ...]) -> EventRecord:
    return EventRecord(
        id=row[0],
        dedup_key=row[1],
        event_type=row[2],
        media_id=row[3],
        status=Status(row[4]),
        source=row[5],
        received_at=row[6],
        event_time=row[7],
        body=bytes(row[8]),
        attempts=row[9],
        next_attempt_at=row[10],
        last_error=row[11],
        updated_at=row[12],
    )


def _dumps(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


class _InsertOp:
    """The op of op_insert / op_insert_many; SQLiteStore.apply_ops merges runs of them."""

    __slots__ = ("deliveries", "many", "store")

    def __init__(self, store: SQLiteStore, deliveries: tuple[Delivery, ...], many: bool) -> None:
        self.store = store
        self.deliveries = deliveries
        self.many = many

    def __call__(self) -> Any:
        stored = self.store._insert_rows(self.deliveries)
        return stored if self.many else stored[0]


class SQLiteStore(EventStore):
    def __init__(self, path: str | Path, synchronous: str = "FULL") -> None:
        self.path = str(path)
        if self.path in ("", ":memory:"):
            raise ValueError("SQLiteStore needs a file: WAL and a second reader connection")
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode with explicit BEGIN IMMEDIATE: the write lock is taken up front,
        # so two writers never deadlock upgrading a read lock.
        self.db = self._connect()
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute(f"PRAGMA synchronous = {'FULL' if synchronous == 'FULL' else 'NORMAL'}")
        self.db.executescript(SCHEMA)
        self.reader = self._connect()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 5000")
        return conn

    # -- transactions -----------------------------------------------------------------------
    def run_ops(self, ops: Sequence[Op]) -> list[Any]:
        results = self.apply_ops(ops)
        self.commit()
        return results

    def apply_ops(self, ops: Sequence[Op]) -> list[Any]:
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot start a write transaction: {exc}") from exc
        try:
            return self._apply(ops)
        except BaseException as exc:
            self.rollback()
            if isinstance(exc, sqlite3.Error):
                raise StoreUnavailable(f"store write failed: {exc}") from exc
            raise

    def _apply(self, ops: Sequence[Op]) -> list[Any]:
        """Run ops in order; each run of consecutive inserts becomes one statement."""
        results: list[Any] = []
        i = 0
        while i < len(ops):
            op = ops[i]
            if type(op) is not _InsertOp:
                results.append(op())
                i += 1
                continue
            j = i
            while j < len(ops) and type(ops[j]) is _InsertOp:
                j += 1
            run: list[_InsertOp] = ops[i:j]  # type: ignore[assignment]
            stored = self._insert_rows([d for o in run for d in o.deliveries])
            k = 0
            for o in run:
                part = stored[k : k + len(o.deliveries)]
                k += len(o.deliveries)
                results.append(part if o.many else part[0])
            i = j
        return results

    def commit(self) -> None:
        try:
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            self.rollback()
            raise StoreUnavailable(f"store commit failed: {exc}") from exc

    def rollback(self) -> None:
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")

    # -- write ops --------------------------------------------------------------------------
    def op_insert(self, delivery: Delivery) -> Op:
        return _InsertOp(self, (delivery,), many=False)

    def op_insert_many(self, deliveries: Sequence[Delivery]) -> Op:
        return _InsertOp(self, tuple(deliveries), many=True)

    def _insert_rows(self, deliveries: Sequence[Delivery]) -> list[Stored]:
        out: list[Stored] = []
        for start in range(0, len(deliveries), INSERT_CHUNK):
            out += self._insert_chunk(deliveries[start : start + INSERT_CHUNK])
        return out

    def _insert_chunk(self, ds: Sequence[Delivery]) -> list[Stored]:
        """One INSERT for many rows, instead of a statement (and a GIL release) per row.

        Measured: a statement per row made inserts the largest cost of the MNS path, where
        every release of the GIL handed it to the poller thread (bench/, issue 5). SQLite
        gives each new row of a table without AUTOINCREMENT the id after the current
        maximum, so the rows one statement inserts have consecutive ids ending at
        lastrowid. When some keys already existed (or repeat within the chunk), each row's
        id is looked up and compared with that range.
        """
        db = self.db
        params: list[Any] = []
        for d in ds:
            at = d.received_at
            params += (
                d.dedup_key,
                d.event_type,
                d.media_id,
                Status.DEAD if d.problem else Status.RECEIVED,
                d.source,
                at,
                d.event_time,
                d.body,
                at,
                d.problem,
                at,
            )
        cur = db.execute(_insert_sql(len(ds)), params)
        n, inserted, last = len(ds), cur.rowcount, cur.lastrowid or 0
        if inserted == n:
            stored = [Stored(last - n + 1 + i, False) for i in range(n)]
        else:
            # The inserted rows' ids; none when every row was a duplicate.
            new_ids = range(last - inserted + 1, last + 1) if inserted > 0 else range(0)
            stored = []
            first: set[str] = set()
            for d in ds:
                row = db.execute(
                    "SELECT id FROM events WHERE dedup_key = ?", (d.dedup_key,)
                ).fetchone()
                new = row[0] in new_ids and d.dedup_key not in first
                first.add(d.dedup_key)
                stored.append(Stored(int(row[0]), not new))
        errors = [
            (s.event_id, d.problem, d.received_at)
            for d, s in zip(ds, stored, strict=True)
            if d.problem and not s.duplicate
        ]
        if errors:
            db.executemany(
                "INSERT INTO event_errors (event_id, attempt, handler, error, at) "
                "VALUES (?, 0, NULL, ?, ?)",
                errors,
            )
        return stored

    def op_claim(self, limit: int, now: float, lease_until: float) -> Op:
        return partial(self._claim, limit, now, lease_until)

    def _claim(self, limit: int, now: float, lease_until: float) -> list[EventRecord]:
        scan = limit * CLAIM_SCAN
        candidates = [_row(r) for r in self.db.execute(_CLAIMABLE_RECEIVED, (scan,))]
        candidates += [_row(r) for r in self.db.execute(_CLAIMABLE_RETRYING, (now, scan))]
        candidates.sort(key=lambda rec: rec.id)
        rows: list[EventRecord] = []
        taken: set[str] = set()
        for rec in candidates:
            if rec.media_id is not None:
                if rec.media_id in taken:
                    continue  # a later event of a media claimed just now waits for it
                taken.add(rec.media_id)
            rows.append(rec)
            if len(rows) == limit:
                break
        if rows:
            marks = ",".join("?" * len(rows))
            self.db.execute(
                "UPDATE events SET status = 'processing', attempts = attempts + 1, "
                f"lease_until = ?, updated_at = ? WHERE id IN ({marks})",
                (lease_until, now, *(r.id for r in rows)),
            )
        for rec in rows:
            rec.status = Status.PROCESSING
            rec.attempts += 1
        return rows

    def op_renew_leases(self, event_ids: Iterable[int], lease_until: float) -> Op:
        ids = list(event_ids)
        return partial(
            self.db.executemany,
            "UPDATE events SET lease_until = ? WHERE id = ? AND status = 'processing'",
            [(lease_until, i) for i in ids],
        )

    def op_reclaim_stale(self, now: float) -> Op:
        def reclaim() -> int:
            return self.db.execute(
                "UPDATE events SET status = 'retrying', next_attempt_at = ?, updated_at = ? "
                "WHERE status = 'processing' AND lease_until < ?",
                (now, now, now),
            ).rowcount

        return reclaim

    def op_record_handler(
        self,
        event_id: int,
        handler: str,
        ok: bool,
        result: Any = None,
        error: str | None = None,
        attempt: int = 0,
    ) -> Op:
        # Serialised here, on the caller's thread, so a result that cannot be stored fails
        # its handler rather than the whole group commit.
        stored_result = None if result is None else _dumps(result)
        now = time.time()

        def record() -> None:
            self.db.execute(
                "INSERT INTO handler_runs (event_id, handler, status, attempts, result, error, "
                "updated_at) VALUES (?, ?, ?, 1, ?, ?, ?) "
                "ON CONFLICT (event_id, handler) DO UPDATE SET status = excluded.status, "
                "attempts = handler_runs.attempts + 1, result = excluded.result, "
                "error = excluded.error, updated_at = excluded.updated_at",
                (event_id, handler, "done" if ok else "failed", stored_result, error, now),
            )
            if error is not None:
                self.db.execute(
                    "INSERT INTO event_errors (event_id, attempt, handler, error, at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (event_id, attempt, handler, error, now),
                )

        return record

    def op_set_status(
        self, event_id: int, status: Status, error: str | None = None, at: float | None = None
    ) -> Op:
        now = time.time()
        return partial(
            self.db.execute,
            "UPDATE events SET status = ?, last_error = ?, lease_until = NULL, "
            "next_attempt_at = COALESCE(?, next_attempt_at), updated_at = ? WHERE id = ?",
            (str(status), error, at, now, event_id),
        )

    def op_requeue(self, event_ids: Iterable[int] = (), status: str | None = None) -> Op:
        ids = list(event_ids)
        now = time.time()

        def requeue() -> int:
            sql = (
                "UPDATE events SET status = 'received', attempts = 0, next_attempt_at = ?, "
                "lease_until = NULL, updated_at = ? WHERE status != 'processing' AND "
            )
            if ids:
                marks = ",".join("?" * len(ids))
                return self.db.execute(sql + f"id IN ({marks})", (now, now, *ids)).rowcount
            return self.db.execute(sql + "status = ?", (now, now, status)).rowcount

        return requeue

    # -- reads ------------------------------------------------------------------------------
    def journal(self, event_id: int) -> dict[str, HandlerRun]:
        rows = self.reader.execute(
            "SELECT handler, status, attempts, result, error, updated_at FROM handler_runs "
            "WHERE event_id = ?",
            (event_id,),
        ).fetchall()
        return {
            r[0]: HandlerRun(r[0], r[1], r[2], orjson.loads(r[3]) if r[3] else None, r[4], r[5])
            for r in rows
        }

    def next_due(self) -> float | None:
        received = self.reader.execute(
            "SELECT next_attempt_at FROM events WHERE status = 'received' ORDER BY id LIMIT 1"
        ).fetchone()
        retrying = self.reader.execute(
            "SELECT MIN(next_attempt_at) FROM events WHERE status = 'retrying'"
        ).fetchone()
        due = [float(r[0]) for r in (received, retrying) if r is not None and r[0] is not None]
        return min(due) if due else None

    def get(self, event_id: int) -> EventDetail | None:
        row = self.reader.execute(
            f"SELECT {_COLUMNS} FROM events WHERE id = ?", (event_id,)
        ).fetchone()
        if row is None:
            return None
        errors = [
            ErrorRecord(r[0], r[1], r[2], r[3])
            for r in self.reader.execute(
                "SELECT attempt, handler, error, at FROM event_errors WHERE event_id = ? "
                "ORDER BY id",
                (event_id,),
            )
        ]
        journal = sorted(self.journal(event_id).values(), key=lambda run: run.updated_at)
        return EventDetail(_row(row), journal, errors)

    def list(
        self, status: str | None = None, event_type: str | None = None, limit: int = 100
    ) -> list[EventRecord]:
        where, args = [], []
        if status:
            where.append("status = ?")
            args.append(status)
        if event_type:
            where.append("event_type = ?")
            args.append(event_type)
        sql = f"SELECT {_COLUMNS} FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        return [_row(r) for r in self.reader.execute(sql, (*args, limit)).fetchall()]

    def counts(self) -> dict[str, int]:
        counts = {str(s): 0 for s in Status}
        for status, n in self.reader.execute("SELECT status, COUNT(*) FROM events GROUP BY status"):
            counts[status] = n
        return counts

    def ping(self) -> None:
        try:
            self.reader.execute("SELECT 1").fetchone()
        except sqlite3.Error as exc:
            raise StoreUnavailable(str(exc)) from exc

    def close(self) -> None:
        self.reader.close()
        self.db.close()
