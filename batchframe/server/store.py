"""SQLite state of the local batch server: batches, requests and their finished results.

The store never sees HTTP. One connection, guarded by one lock; every statement is
parameterised. Batch counters are kept up to date in the same transaction as the rows they count,
so a poll reads one row. Requests are written once; a finished request gets a row in ``results``
(clustered by batch and ID) holding its result item as JSON bytes, so a results page is one
range read and a join of bytes. A request with no result row is pending. The engine works
oldest first, so one cursor (the last ``seq`` it finished) marks where pending work starts.

>>> s = Store(":memory:")
>>> b = s.create_batch("team", "demo", key_id="k", now=0.0)
>>> s.add_requests("team", b.batch_id, [("r1", "chat_get_completion", "m", b"{}")], now=0.0)
1
>>> s.get_batch("team", b.batch_id).num_pending
1
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import orjson

from batchframe.server.errors import NotFound, PermissionDenied, PreconditionFailed

__all__ = ["STATE_NAMES", "BatchRow", "NewRequest", "Pending", "Store"]

PENDING, SUCCEEDED, FAILED, CANCELLED = 1, 2, 3, 4
STATE_NAMES = {
    0: "unknown",
    PENDING: "pending",
    SUCCEEDED: "succeeded",
    FAILED: "failed",
    CANCELLED: "cancelled",
}

#: (batch_request_id, kind, model, canonical request JSON)
NewRequest = tuple[str, str, str, bytes]
#: (seq, batch_pk, batch_request_id, kind, canonical request JSON)
Pending = tuple[int, int, str, str, bytes]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    pk INTEGER PRIMARY KEY,
    batch_id TEXT NOT NULL UNIQUE,
    team TEXT NOT NULL,
    name TEXT NOT NULL,
    key_id TEXT NOT NULL,
    create_ts REAL NOT NULL,
    cancel_ts REAL,
    num_requests INTEGER NOT NULL DEFAULT 0,
    num_pending INTEGER NOT NULL DEFAULT 0,
    num_success INTEGER NOT NULL DEFAULT 0,
    num_error INTEGER NOT NULL DEFAULT 0,
    num_cancelled INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS ix_batches_team ON batches(team, pk);
CREATE TABLE IF NOT EXISTS requests (
    seq INTEGER PRIMARY KEY,
    batch_pk INTEGER NOT NULL,
    rid TEXT NOT NULL,
    kind TEXT NOT NULL,
    model TEXT NOT NULL,
    canon BLOB NOT NULL,
    create_ts REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS ux_requests ON requests(batch_pk, rid);
CREATE TABLE IF NOT EXISTS results (
    batch_pk INTEGER NOT NULL,
    rid TEXT NOT NULL,
    state INTEGER NOT NULL,
    finish_ts REAL NOT NULL,
    result BLOB NOT NULL,
    PRIMARY KEY (batch_pk, rid)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS engine (id INTEGER PRIMARY KEY CHECK (id = 1), cursor INTEGER NOT NULL);
INSERT OR IGNORE INTO engine (id, cursor) VALUES (1, 0);
"""

_INSERT = (
    "INSERT INTO requests (batch_pk, rid, kind, model, canon, create_ts)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (batch_pk, rid) DO NOTHING"
)
_BATCH_COLUMNS = (
    "pk, batch_id, name, key_id, create_ts, cancel_ts,"
    " num_requests, num_pending, num_success, num_error, num_cancelled"
)
_IN_CHUNK = 900


def _normal(canon: bytes) -> bytes:
    """JSON text with sorted keys and no spacing, so only real content differences remain.

    Comparing parsed values with ``==`` would call ``true`` and ``1`` (and ``1`` and ``1.0``) the
    same content; their serialised forms differ.
    """
    try:
        return orjson.dumps(orjson.loads(canon), option=orjson.OPT_SORT_KEYS)
    except orjson.JSONDecodeError:
        return canon


@dataclass(frozen=True)
class BatchRow:
    """One batch with its counters."""

    pk: int
    batch_id: str
    name: str
    key_id: str
    create_ts: float
    cancel_ts: float | None
    num_requests: int
    num_pending: int
    num_success: int
    num_error: int
    num_cancelled: int


class Store:
    """Batches and requests in SQLite (``":memory:"`` or a file, WAL mode for files)."""

    def __init__(self, path: str = ":memory:") -> None:
        self.path = path
        self.lock = threading.RLock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        # Big pages: fewer splits for ~1 KB result rows (only takes effect on a new database).
        self._conn.execute("PRAGMA page_size=65536")
        if path != ":memory:":
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA temp_store=MEMORY")
        self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        with self.lock:
            self._conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    # -- batches -------------------------------------------------------------------------------

    def create_batch(self, team: str, name: str, *, key_id: str, now: float) -> BatchRow:
        batch_id = f"batch_{uuid.uuid4()}"
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO batches (batch_id, team, name, key_id, create_ts) VALUES (?, ?, ?, ?, ?)",
                (batch_id, team, name, key_id, now),
            )
        batch = self.get_batch(team, batch_id)
        assert batch is not None
        return batch

    def get_batch(self, team: str, batch_id: str) -> BatchRow | None:
        with self.lock:
            row = self._conn.execute(
                f"SELECT {_BATCH_COLUMNS} FROM batches WHERE batch_id = ? AND team = ?",
                (batch_id, team),
            ).fetchone()
        return None if row is None else BatchRow(*row)

    def require_batch(self, team: str, batch_id: str) -> BatchRow:
        batch = self.get_batch(team, batch_id)
        if batch is None:
            raise NotFound(f"Cannot find batch with ID {batch_id[:200]}")
        return batch

    def list_batches(self, team: str, limit: int, before_pk: int | None) -> list[BatchRow]:
        """Newest first; up to ``limit`` batches older than ``before_pk``."""
        with self.lock:
            rows = self._conn.execute(
                f"SELECT {_BATCH_COLUMNS} FROM batches WHERE team = ? AND pk < ?"
                " ORDER BY pk DESC LIMIT ?",
                (team, before_pk if before_pk is not None else 2**62, limit),
            ).fetchall()
        return [BatchRow(*row) for row in rows]

    def cancel_batch(self, team: str, batch_id: str, *, now: float) -> BatchRow:
        """Set ``cancel_time`` (once) and turn pending requests into cancelled result rows."""
        with self._transaction() as conn:
            batch = self.require_batch(team, batch_id)
            if batch.cancel_ts is None:
                conn.execute("UPDATE batches SET cancel_ts = ? WHERE pk = ?", (now, batch.pk))
            cur = conn.execute(
                "INSERT INTO results (batch_pk, rid, state, finish_ts, result)"
                " SELECT batch_pk, rid, 4, ?, CAST('{\"batch_request_id\":' || json_quote(rid) ||"
                ' \',"batch_result":{"error":"Batch cancelled"}}\' AS BLOB)'
                " FROM requests WHERE batch_pk = ? AND seq > (SELECT cursor FROM engine)"
                " ORDER BY rid ON CONFLICT DO NOTHING",
                (now, batch.pk),
            )
            if cur.rowcount > 0:
                conn.execute(
                    "UPDATE batches SET num_pending = num_pending - ?,"
                    " num_cancelled = num_cancelled + ? WHERE pk = ?",
                    (cur.rowcount, cur.rowcount, batch.pk),
                )
        return self.require_batch(team, batch_id)

    # -- requests ------------------------------------------------------------------------------

    def add_requests(
        self, team: str, batch_id: str, items: Sequence[NewRequest], *, now: float
    ) -> int:
        """Admit all items or none; return how many were new.

        An identical re-add of an ID is a no-op; the same ID with different content raises
        :class:`PreconditionFailed` (412) and nothing is admitted.
        """
        with self._transaction() as conn:
            batch = self.require_batch(team, batch_id)
            if batch.cancel_ts is not None:
                raise PermissionDenied(f"Cannot add requests to cancelled batch {batch_id}")
            before = conn.total_changes
            conn.executemany(
                _INSERT,
                [(batch.pk, rid, kind, model, canon, now) for rid, kind, model, canon in items],
            )
            added = conn.total_changes - before
            if added < len(items):
                self._check_conflicts(conn, batch.pk, items)
            if added:
                conn.execute(
                    "UPDATE batches SET num_requests = num_requests + ?,"
                    " num_pending = num_pending + ? WHERE pk = ?",
                    (added, added, batch.pk),
                )
        return added

    @staticmethod
    def _check_conflicts(conn: sqlite3.Connection, pk: int, items: Sequence[NewRequest]) -> None:
        stored: dict[str, bytes] = {}
        ids = list({item[0] for item in items})
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ids[start : start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            stored.update(
                conn.execute(
                    f"SELECT rid, canon FROM requests WHERE batch_pk = ? AND rid IN ({marks})",
                    (pk, *chunk),
                ).fetchall()
            )
        for rid, _kind, _model, canon in items:
            # Bytes first; the same JSON sent with other key order or spacing is identical too.
            before = stored.get(rid)
            if before != canon and (before is None or _normal(before) != _normal(canon)):
                raise PreconditionFailed(
                    f"batch_request_id '{rid[:200]}' content differs from originally submitted"
                )

    def list_requests(
        self, pk: int, limit: int, after: str | None
    ) -> list[tuple[str, str, str, int, float, float | None]]:
        """(id, kind, model, state, create_ts, finish_ts) ordered by ID, after ``after``."""
        with self.lock:
            return self._conn.execute(
                "SELECT q.rid, q.kind, q.model, COALESCE(r.state, 1), q.create_ts, r.finish_ts"
                " FROM requests AS q LEFT JOIN results AS r"
                " ON r.batch_pk = q.batch_pk AND r.rid = q.rid"
                " WHERE q.batch_pk = ? AND q.rid > ? ORDER BY q.rid LIMIT ?",
                (pk, after or "", limit),
            ).fetchall()

    def list_results(self, pk: int, limit: int, after: str | None) -> list[tuple[str, bytes]]:
        """(id, result JSON bytes) of finished requests, ordered by ID, after ``after``."""
        with self.lock:
            return self._conn.execute(
                "SELECT rid, result FROM results WHERE batch_pk = ? AND rid > ? ORDER BY rid LIMIT ?",
                (pk, after or "", limit),
            ).fetchall()

    # -- engine --------------------------------------------------------------------------------

    def take_pending(self, limit: int) -> list[Pending]:
        """The oldest unfinished requests after the engine cursor (they stay pending until
        :meth:`finish`); rows of cancelled batches may be among them and are skipped there."""
        with self.lock:
            return self._conn.execute(
                "SELECT seq, batch_pk, rid, kind, canon FROM requests"
                " WHERE seq > (SELECT cursor FROM engine) ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()

    def finish(self, done: Sequence[tuple[int, int, str, int, bytes]], *, now: float) -> int:
        """Store finished requests: (seq, batch_pk, id, state, result bytes), a prefix of the
        pending queue in ``seq`` order; return how many were stored.

        Rows of a batch cancelled meanwhile are skipped: cancel already finished them.
        """
        if not done:
            return 0
        with self._transaction() as conn:
            pks = list({row[1] for row in done})
            marks = ",".join("?" * len(pks))
            cancelled = {
                pk
                for (pk,) in conn.execute(
                    f"SELECT pk FROM batches WHERE pk IN ({marks}) AND cancel_ts IS NOT NULL", pks
                )
            }
            rows = [row for row in done if row[1] not in cancelled] if cancelled else done
            conn.executemany(
                "INSERT INTO results (batch_pk, rid, state, finish_ts, result) VALUES (?, ?, ?, ?, ?)",
                [(pk, rid, state, now, result) for _seq, pk, rid, state, result in rows],
            )
            conn.execute("UPDATE engine SET cursor = ? WHERE id = 1", (max(r[0] for r in done),))
            counts: dict[int, list[int]] = {}
            for _seq, pk, _rid, state, _result in rows:
                pair = counts.setdefault(pk, [0, 0])
                pair[0 if state == SUCCEEDED else 1] += 1
            conn.executemany(
                "UPDATE batches SET num_pending = num_pending - ?, num_success = num_success + ?,"
                " num_error = num_error + ? WHERE pk = ?",
                [(ok + bad, ok, bad, pk) for pk, (ok, bad) in counts.items()],
            )
        return len(rows)

    def stats(self) -> dict[str, int]:
        """Totals over all batches (for ``/_control/stats``)."""
        with self.lock:
            row = self._conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(num_requests), 0), COALESCE(SUM(num_pending), 0),"
                " COALESCE(SUM(num_success), 0), COALESCE(SUM(num_error), 0),"
                " COALESCE(SUM(num_cancelled), 0) FROM batches"
            ).fetchone()
        names = ("batches", "requests", "pending", "succeeded", "failed", "cancelled")
        return dict(zip(names, (int(v) for v in row), strict=True))
