"""SQLite state of the local batch server: batches, requests, leases and finished results.

The one implementation of :class:`~batchframe.server.store_protocol.BatchStore`; SQL lives in
the ``store*`` modules and nowhere else, and the store never sees HTTP. One connection, one lock
(held only for a statement or a transaction, never while a model runs); every statement is
parameterised. Batch counters are kept up to date in the same transaction as the rows they
count, so a poll reads one row. Requests are written once; a finished request gets a row in
``results`` (clustered by batch and ID) holding its result item as JSON bytes, so a results page
is one range read and a join of bytes.

A request is *pending*, then *claimed* under a lease, then *done* (it has a result row); the
work queue is in :mod:`batchframe.server.store_work`, the connection, schema and migrations in
:mod:`batchframe.server.store_schema`, the uploaded files in :mod:`batchframe.server.store_files`.

>>> from batchframe.server.store_protocol import SUCCEEDED
>>> s = Store(":memory:")
>>> b = s.create_batch("team", "demo", key_id="k", now=0.0)
>>> s.add_requests("team", b.batch_id, [("r1", "chat_get_completion", "m", b"{}")], now=0.0)
1
>>> claim = s.claim(10, now=0.0)
>>> [item[2] for item in claim.items]
['r1']
>>> s.finish([(*claim.items[0][:3], SUCCEEDED, b"{}")], now=0.0, close=[claim.lease])
1
>>> s.get_batch("team", b.batch_id).num_success
1
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterable, Sequence

import orjson

from batchframe.server import store_work
from batchframe.server.errors import NotFound, PermissionDenied, PreconditionFailed
from batchframe.server.store_files import FileTables
from batchframe.server.store_protocol import (
    LEASE_SECONDS,
    BatchRow,
    Claim,
    Done,
    NewRequest,
    RequestRow,
    StoredRequest,
)

__all__ = ["Store"]

_INSERT = (
    "INSERT INTO requests (batch_pk, rid, kind, model, canon, create_ts)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (batch_pk, rid) DO NOTHING"
)
# A batch with what a file batch adds (NULLs for an inline one), in BatchRow's order.
_BATCH_SELECT = (
    "SELECT b.pk, b.batch_id, b.name, b.key_id, b.create_ts, b.cancel_ts, b.num_requests,"
    " b.num_pending, b.num_success, b.num_error, b.num_cancelled, b.expire_ts,"
    " f.input_file_id, f.cancel_by_xai_message"
    " FROM batches AS b LEFT JOIN batch_files AS f ON f.batch_pk = b.pk"
)
# Request metadata rows (RequestRow); a request without a result is pending (1).
_REQUEST_ROWS = (
    "SELECT q.rid, q.kind, q.model, COALESCE(r.state, 1) AS st, q.create_ts, r.finish_ts"
    " FROM requests AS q LEFT JOIN results AS r ON r.batch_pk = q.batch_pk AND r.rid = q.rid"
)
_IN_CHUNK = 900
# The summed cost_in_usd_ticks of a batch's succeeded results, by request kind.
_COST_OF = (
    "json_extract(CAST(r.result AS TEXT), '$.batch_result.response.{}.usage.cost_in_usd_ticks')"
)
_COSTS_SQL = (
    "SELECT q.kind, COUNT(*), COALESCE(SUM(COALESCE("
    + ", ".join(
        _COST_OF.format(key)
        for key in ("chat_get_completion", "image_generation", "video_generation")
    )
    + ", 0)), 0) FROM results AS r JOIN requests AS q ON q.batch_pk = r.batch_pk AND q.rid = r.rid"
    " WHERE r.batch_pk = ? AND r.state = 2 GROUP BY q.kind ORDER BY q.kind"
)


def _normal(canon: bytes) -> bytes:
    """JSON text with sorted keys and no spacing, so only real content differences remain.

    Comparing parsed values with ``==`` would call ``true`` and ``1`` (and ``1`` and ``1.0``) the
    same content; their serialised forms differ.
    """
    try:
        return orjson.dumps(orjson.loads(canon), option=orjson.OPT_SORT_KEYS)
    except orjson.JSONDecodeError:
        return canon


class Store(FileTables):
    """Batches, requests, results, leases and files in SQLite (``":memory:"`` or a file).

    ``expire_after`` (seconds) sets each new batch's ``expire_time``.
    """

    # -- batches -------------------------------------------------------------------------------

    def create_batch(
        self, team: str, name: str, *, key_id: str, now: float, input_file_id: str | None = None
    ) -> BatchRow:
        """A new empty batch; with ``input_file_id``, a sealed file batch whose requests come
        from that file once it is parsed (:meth:`unparsed_file_batches`)."""
        batch_id = f"batch_{uuid.uuid4()}"
        expire_ts = now + self.expire_after
        with self._transaction() as conn:
            cur = conn.execute(
                "INSERT INTO batches (batch_id, team, name, key_id, create_ts, expire_ts)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (batch_id, team, name, key_id, now, expire_ts),
            )
            pk = int(cur.lastrowid or 0)
            if input_file_id is not None:
                conn.execute(
                    "INSERT INTO batch_files (batch_pk, input_file_id, parse_state)"
                    " VALUES (?, ?, 0)",
                    (pk, input_file_id),
                )
        # The batch as created, not re-read: a file batch's parse may fill it a moment later.
        return BatchRow(
            pk, batch_id, name, key_id, now, None, 0, 0, 0, 0, 0, expire_ts, input_file_id
        )

    def get_batch(self, team: str, batch_id: str) -> BatchRow | None:
        with self.lock:
            row = self._conn.execute(
                f"{_BATCH_SELECT} WHERE b.batch_id = ? AND b.team = ?", (batch_id, team)
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
                f"{_BATCH_SELECT} WHERE b.team = ? AND b.pk < ? ORDER BY b.pk DESC LIMIT ?",
                (team, before_pk if before_pk is not None else 2**62, limit),
            ).fetchall()
        return [BatchRow(*row) for row in rows]

    def cancel_batch(
        self, team: str, batch_id: str, *, now: float, xai_message: str | None = None
    ) -> BatchRow:
        """Set ``cancel_time`` (once); requests not in flight become cancelled result rows.

        Requests under a live lease are being answered: they finish and keep their answer.
        ``xai_message`` is a cancel by the server (a file batch whose file it refused): the
        message is its ``cancel_by_xai_message``, and the file counts as handled.
        """
        with self._transaction() as conn:
            batch = self.require_batch(team, batch_id)
            if batch.cancel_ts is None:
                conn.execute("UPDATE batches SET cancel_ts = ? WHERE pk = ?", (now, batch.pk))
            store_work.close_unfinished(conn, batch.pk, now, "Batch cancelled")
            if xai_message is not None:
                conn.execute(
                    "UPDATE batch_files SET parse_state = 2, cancel_by_xai_message = ?"
                    " WHERE batch_pk = ?",
                    (xai_message, batch.pk),
                )
        return self.require_batch(team, batch_id)

    def expire(self, now: float) -> int:
        """Cancel what is unfinished in batches past their expiry ("Batch expired"); return how
        many requests that cancelled. Requests in flight finish, as on cancel."""
        with self._transaction() as conn:
            due = conn.execute(
                "SELECT pk FROM batches WHERE expired_ts IS NULL AND expire_ts <= ?", (now,)
            ).fetchall()
            closed = 0
            for (pk,) in due:
                closed += store_work.close_unfinished(conn, pk, now, "Batch expired")
                conn.execute("UPDATE batches SET expired_ts = ? WHERE pk = ?", (now, pk))
        return closed

    # -- requests ------------------------------------------------------------------------------

    def add_requests(
        self, team: str, batch_id: str, items: Sequence[NewRequest], *, now: float
    ) -> int:
        """Admit all items or none; return how many were new.

        An identical re-add of an ID is a no-op; the same ID with different content raises
        :class:`PreconditionFailed` (412) and nothing is admitted. A cancelled or expired batch
        takes nothing (403).
        """
        with self._transaction() as conn:
            batch = self.require_batch(team, batch_id)
            closed = batch.closed_at(now)
            if closed is not None:
                raise PermissionDenied(f"Cannot add requests to {closed} batch {batch_id}")
            return self._insert(conn, batch.pk, items, now)

    def _insert(
        self, conn: sqlite3.Connection, pk: int, items: Sequence[NewRequest], now: float
    ) -> int:
        before = conn.total_changes
        conn.executemany(
            _INSERT, [(pk, rid, kind, model, canon, now) for rid, kind, model, canon in items]
        )
        added = conn.total_changes - before
        if added < len(items):
            self._check_conflicts(conn, pk, items)
        if added:
            conn.execute(
                "UPDATE batches SET num_requests = num_requests + ?,"
                " num_pending = num_pending + ? WHERE pk = ?",
                (added, added, pk),
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
        self, pk: int, limit: int, after: str | None, states: Sequence[int] = ()
    ) -> list[RequestRow]:
        """(id, kind, model, state, create_ts, finish_ts) ordered by ID, after ``after``; only
        requests in ``states`` when given (the gRPC status filter).

        A claimed request is still ``pending`` here, as on xAI.
        """
        with self.lock:
            if not states:
                return self._conn.execute(
                    f"{_REQUEST_ROWS} WHERE q.batch_pk = ? AND q.rid > ? ORDER BY q.rid LIMIT ?",
                    (pk, after or "", limit),
                ).fetchall()
            marks = ",".join("?" * len(states))
            return self._conn.execute(
                f"{_REQUEST_ROWS} WHERE q.batch_pk = ? AND q.rid > ? AND st IN ({marks})"
                " ORDER BY q.rid LIMIT ?",
                (pk, after or "", *states, limit),
            ).fetchall()

    def get_request(self, pk: int, batch_request_id: str) -> StoredRequest | None:
        """One request of the batch, with its result if it has one."""
        with self.lock:
            row = self._conn.execute(
                "SELECT q.kind, q.model, q.canon, COALESCE(r.state, 1), r.result"
                " FROM requests AS q LEFT JOIN results AS r"
                " ON r.batch_pk = q.batch_pk AND r.rid = q.rid"
                " WHERE q.batch_pk = ? AND q.rid = ?",
                (pk, batch_request_id),
            ).fetchone()
        return None if row is None else StoredRequest(row[0], row[1], bytes(row[2]), *row[3:])

    def list_results(self, pk: int, limit: int, after: str | None) -> list[tuple[str, bytes]]:
        """(id, result JSON bytes) of finished requests, ordered by ID, after ``after``."""
        with self.lock:
            return self._conn.execute(
                "SELECT rid, result FROM results WHERE batch_pk = ? AND rid > ? ORDER BY rid LIMIT ?",
                (pk, after or "", limit),
            ).fetchall()

    def batch_costs(self, pk: int) -> list[tuple[str, int, int]]:
        """(request kind, succeeded requests, summed ``cost_in_usd_ticks``) of one batch."""
        with self.lock:
            return self._conn.execute(_COSTS_SQL, (pk,)).fetchall()

    # -- work: claim, finish, renew, release ---------------------------------------------------

    def claim(
        self, limit: int, *, now: float, lease_seconds: float = LEASE_SECONDS
    ) -> Claim | None:
        """Lease up to ``limit`` pending requests, oldest first (None when nothing is pending).

        Requests of an expired or given-back lease come first; then never-claimed ones, skipping
        batches that were cancelled or expired (their requests already have results).
        """
        if limit <= 0:
            return None
        with self._transaction() as conn:
            return store_work.claim(conn, limit, now, now + lease_seconds)

    def finish(self, done: Sequence[Done], *, now: float, close: Iterable[int] = ()) -> int:
        """Store finished requests, (seq, batch_pk, id, state, result bytes) each, and end the
        leases in ``close`` (every request in them is finished); return how many were stored.

        A request that already has a result (cancelled while its lease was stale, or answered by
        another run after a crash) keeps it: results are written once.
        """
        leases = list(close)
        if not done and not leases:
            return 0
        with self._transaction() as conn:
            stored = store_work.store_results(conn, done, now)
            if leases:
                marks = ",".join("?" * len(leases))
                conn.execute(f"DELETE FROM leases WHERE id IN ({marks})", leases)
        return stored

    def renew(
        self, leases: Sequence[int], *, now: float, lease_seconds: float = LEASE_SECONDS
    ) -> None:
        """Keep ``leases`` live for another ``lease_seconds``: their holder is still working."""
        if leases:
            marks = ",".join("?" * len(leases))
            with self._transaction() as conn:
                conn.execute(
                    f"UPDATE leases SET expires = ? WHERE id IN ({marks})",
                    (now + lease_seconds, *leases),
                )

    def release(self, leases: Sequence[int], *, now: float) -> None:
        """Give ``leases`` back: their unfinished requests are pending again at once (or, in a
        batch cancelled or expired meanwhile, cancelled: they are no longer in flight)."""
        if leases:
            marks = ",".join("?" * len(leases))
            with self._transaction() as conn:
                ranges = conn.execute(
                    f"SELECT lo, hi FROM leases WHERE id IN ({marks})", leases
                ).fetchall()
                conn.execute(f"UPDATE leases SET expires = 0 WHERE id IN ({marks})", leases)
                for lo, hi in ranges:
                    store_work.close_released(conn, lo, hi, now)

    def stats(self) -> dict[str, int]:
        """Totals over all batches (for ``/_control/stats``)."""
        with self.lock:
            row = self._conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(num_requests), 0), COALESCE(SUM(num_pending), 0),"
                " COALESCE(SUM(num_success), 0), COALESCE(SUM(num_error), 0),"
                " COALESCE(SUM(num_cancelled), 0) FROM batches"
            ).fetchone()
            (leased,) = self._conn.execute("SELECT COUNT(*) FROM leases").fetchone()
        names = ("batches", "requests", "pending", "succeeded", "failed", "cancelled", "leases")
        return dict(zip(names, (int(v) for v in (*row, leased)), strict=True))

    # -- file batches --------------------------------------------------------------------------

    def unparsed_file_batches(self) -> list[tuple[str, str, str]]:
        """(team, batch_id, input_file_id) of file batches whose file is not parsed yet."""
        with self.lock:
            return self._conn.execute(
                "SELECT b.team, b.batch_id, f.input_file_id FROM batch_files AS f"
                " JOIN batches AS b ON b.pk = f.batch_pk WHERE f.parse_state = 0 ORDER BY b.pk"
            ).fetchall()

    def fill_file_batch(
        self, team: str, batch_id: str, items: Sequence[NewRequest], *, now: float
    ) -> int:
        """Admit a file batch's parsed requests and mark its file parsed, in one transaction,
        so a crash leaves it either unparsed (parsed again at the next start) or filled. A batch
        cancelled or expired meanwhile takes none (its file still counts as parsed)."""
        with self._transaction() as conn:
            batch = self.require_batch(team, batch_id)
            conn.execute("UPDATE batch_files SET parse_state = 1 WHERE batch_pk = ?", (batch.pk,))
            if batch.closed_at(now) is not None:
                return 0
            return self._insert(conn, batch.pk, items, now)
