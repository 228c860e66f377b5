"""The SQLite work queue behind :class:`~batchframe.server.store.Store`: claims under leases,
results written once, requests closed by cancel or expiry. Plain functions over a connection,
called inside the store's transactions.

- ``engine.cursor`` is the claim frontier: requests after it (in ``seq`` order) were never
  claimed. A claim takes the next ones and records them as one lease, a ``seq`` range with an
  expiry, in the same transaction: one row per claim however many requests it holds.
- A lease ends when its holder has finished every request in it. One that expires or is given
  back is *stale*: its requests without a result are claimed again first (as a new lease).
- A request is in flight while a live lease covers it and it has no result. Cancel and expiry
  close every request of the batch that is not in flight and has no result.
- A result row is written at most once per request (``ON CONFLICT DO NOTHING``), and counters
  move by the rows actually written.
"""

from __future__ import annotations

import itertools
import operator
import sqlite3
from collections.abc import Sequence

from batchframe.server.store_protocol import SUCCEEDED, Claim, Done, Pending

__all__ = ["claim", "close_released", "close_unfinished", "store_results"]

_INSERT_RESULT = (
    "INSERT INTO results (batch_pk, rid, state, finish_ts, result) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT DO NOTHING"
)
# Error rows written in SQL for requests that end without running (cancel, expiry).
_CLOSE = (
    "INSERT INTO results (batch_pk, rid, state, finish_ts, result)"
    " SELECT batch_pk, rid, 4, ?, CAST('{\"batch_request_id\":' || json_quote(rid) ||"
    " ',\"batch_result\":{\"error\":' || json_quote(?) || '}}' AS BLOB)"
    " FROM requests WHERE batch_pk = ? AND seq BETWEEN ? AND ? ORDER BY rid"
    " ON CONFLICT DO NOTHING"
)
_UNFINISHED = (
    "SELECT q.seq, q.batch_pk, q.rid, q.kind, q.canon FROM requests AS q"
    " LEFT JOIN results AS r ON r.batch_pk = q.batch_pk AND r.rid = q.rid"
    " WHERE q.seq BETWEEN ? AND ? AND r.rid IS NULL ORDER BY q.seq LIMIT ?"
)
_NEW_LEASE = "INSERT INTO leases (lo, hi, expires) VALUES (?, ?, ?)"
_LAST_SEQ = 2**62


def claim(conn: sqlite3.Connection, limit: int, now: float, expires: float) -> Claim | None:
    """Lease up to ``limit`` pending requests, stale leases first (None: nothing pending)."""
    stale = _reclaim(conn, limit, now, expires)
    if stale is not None:
        return stale
    (cursor,) = conn.execute("SELECT cursor FROM engine").fetchone()
    while True:
        rows: list[Pending] = conn.execute(
            "SELECT seq, batch_pk, rid, kind, canon FROM requests WHERE seq > ? ORDER BY seq LIMIT ?",
            (cursor, limit),
        ).fetchall()
        if not rows:
            return None
        first, cursor = cursor + 1, rows[-1][0]
        conn.execute("UPDATE engine SET cursor = ? WHERE id = 1", (cursor,))
        closed = closed_batches(conn, rows)  # their requests already have results
        fresh = _lease(conn, rows, closed, first, cursor, expires)
        if fresh is not None:
            return fresh


def _reclaim(conn: sqlite3.Connection, limit: int, now: float, expires: float) -> Claim | None:
    """The unfinished requests of the oldest stale lease, as a new lease (or None).

    A stale request of a batch cancelled or expired meanwhile is not in flight any more: it is
    closed instead of handed out.
    """
    while True:
        stale = conn.execute(
            "SELECT id, lo, hi FROM leases WHERE expires <= ? ORDER BY lo LIMIT 1", (now,)
        ).fetchone()
        if stale is None:
            return None
        old, lo, hi = stale
        rows: list[Pending] = conn.execute(_UNFINISHED, (lo, hi, limit)).fetchall()
        last = rows[-1][0] if rows else hi
        if last >= hi:
            conn.execute("DELETE FROM leases WHERE id = ?", (old,))
        else:  # the rest of the range stays stale, to be claimed next
            conn.execute("UPDATE leases SET lo = ? WHERE id = ?", (last + 1, old))
        closed = closed_batches(conn, rows)
        _close_all(conn, closed, lo, last, now)
        again = _lease(conn, rows, closed, lo, last, expires)
        if again is not None:
            return again


def _lease(
    conn: sqlite3.Connection,
    rows: list[Pending],
    closed: dict[int, str],
    lo: int,
    hi: int,
    expires: float,
) -> Claim | None:
    """``rows`` but those of ``closed`` batches, as one new lease over [lo, hi] (None: none)."""
    if closed:
        rows = [row for row in rows if row[1] not in closed]
    if not rows:
        return None
    lease = conn.execute(_NEW_LEASE, (lo, hi, expires)).lastrowid
    assert lease is not None
    return Claim(lease, rows)


def _close_all(
    conn: sqlite3.Connection, closed: dict[int, str], lo: int, hi: int, now: float
) -> int:
    """Close the requests in [lo, hi] of the ``closed`` batches (pk -> why); return how many."""
    return sum(close_rows(conn, pk, now, why, lo, hi) for pk, why in closed.items())


def closed_batches(conn: sqlite3.Connection, rows: Sequence[Pending]) -> dict[int, str]:
    """The cancelled or expired batches among ``rows``: pk -> the error their requests get."""
    if not rows:
        return {}
    pks = list({row[1] for row in rows})
    marks = ",".join("?" * len(pks))
    return {
        pk: "Batch cancelled" if cancelled else "Batch expired"
        for pk, cancelled in conn.execute(
            f"SELECT pk, cancel_ts IS NOT NULL FROM batches WHERE pk IN ({marks})"
            " AND (cancel_ts IS NOT NULL OR expired_ts IS NOT NULL)",
            pks,
        )
    }


def close_released(conn: sqlite3.Connection, lo: int, hi: int, now: float) -> int:
    """Close the unfinished requests in ``seq`` range [lo, hi] whose batch was cancelled or
    expired (given back, they are not in flight any more); return how many."""
    rows: list[Pending] = conn.execute(_UNFINISHED, (lo, hi, _LAST_SEQ)).fetchall()
    return _close_all(conn, closed_batches(conn, rows), lo, hi, now)


def close_unfinished(conn: sqlite3.Connection, pk: int, now: float, why: str) -> int:
    """Error rows (``why``) for the batch's requests that have no result and are not in
    flight; return how many."""
    (cursor,) = conn.execute("SELECT cursor FROM engine").fetchone()
    closed = close_rows(conn, pk, now, why, cursor + 1, _LAST_SEQ)
    stale = conn.execute("SELECT lo, hi FROM leases WHERE expires <= ?", (now,)).fetchall()
    for lo, hi in stale:  # given back or left by a dead process: not in flight
        closed += close_rows(conn, pk, now, why, lo, hi)
    return closed


def close_rows(conn: sqlite3.Connection, pk: int, now: float, why: str, lo: int, hi: int) -> int:
    """Cancelled rows for the batch's requests in ``seq`` range [lo, hi] without a result, with
    the counters; return how many."""
    closed = int(conn.execute(_CLOSE, (now, why, pk, lo, hi)).rowcount)
    if closed > 0:
        conn.execute(
            "UPDATE batches SET num_pending = num_pending - ?,"
            " num_cancelled = num_cancelled + ? WHERE pk = ?",
            (closed, closed, pk),
        )
    return closed


def store_results(conn: sqlite3.Connection, done: Sequence[Done], now: float) -> int:
    """Write answers (a request that has a result keeps it) and move the counters; return how
    many were written."""
    stored = 0
    # Claims are in seq order, so a batch's requests come in runs: one insert per run.
    for pk, run in itertools.groupby(done, key=operator.itemgetter(1)):
        rows = [(pk, rid, state, now, result) for _seq, _pk, rid, state, result in run]
        ok, bad = _insert_results(conn, rows)
        if ok + bad:
            conn.execute(
                "UPDATE batches SET num_pending = num_pending - ?,"
                " num_success = num_success + ?, num_error = num_error + ? WHERE pk = ?",
                (ok + bad, ok, bad, pk),
            )
        stored += ok + bad
    return stored


def _insert_results(
    conn: sqlite3.Connection, rows: list[tuple[int, str, int, float, bytes]]
) -> tuple[int, int]:
    """Insert one batch's results: (succeeded written, failed written)."""
    conn.execute("SAVEPOINT results")
    before = conn.total_changes
    conn.executemany(_INSERT_RESULT, rows)
    if conn.total_changes - before == len(rows):
        conn.execute("RELEASE results")
        ok = sum(1 for row in rows if row[2] == SUCCEEDED)
        return ok, len(rows) - ok
    # Some already had a result: redo row by row to count only the rows written (rare).
    conn.execute("ROLLBACK TO results")
    conn.execute("RELEASE results")
    ok = bad = 0
    for row in rows:
        if conn.execute(_INSERT_RESULT, row).rowcount > 0:
            ok, bad = (ok + 1, bad) if row[2] == SUCCEEDED else (ok, bad + 1)
    return ok, bad
