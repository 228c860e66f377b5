"""The SQLite database under :class:`~batchframe.server.store.Store`: opening a file (or
memory), the schema and its migrations, the one connection with its lock, and transactions.

Opening a file releases every lease, since a database file is served by one process: what a
killed server had in flight runs again, and is still answered once.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from batchframe.server.store_protocol import DEFAULT_EXPIRE_AFTER

__all__ = ["Database"]

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
CREATE TABLE IF NOT EXISTS leases (
    id INTEGER PRIMARY KEY,
    lo INTEGER NOT NULL,
    hi INTEGER NOT NULL,
    expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS files (
    pk INTEGER PRIMARY KEY,
    file_id TEXT NOT NULL UNIQUE,
    team TEXT NOT NULL,
    filename TEXT NOT NULL,
    purpose TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    content BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_files_team ON files(team, pk);
-- A file batch: its input file, whether that was parsed (0 not yet, 1 parsed, 2 refused), and
-- the message of that refusal.
CREATE TABLE IF NOT EXISTS batch_files (
    batch_pk INTEGER PRIMARY KEY,
    input_file_id TEXT NOT NULL,
    parse_state INTEGER NOT NULL,
    cancel_by_xai_message TEXT
);
"""
_AFTER_MIGRATION = """
CREATE INDEX IF NOT EXISTS ix_batches_expiry ON batches(expire_ts) WHERE expired_ts IS NULL;
"""


class Database:
    """One SQLite connection (``":memory:"`` or a file, WAL mode for files) with the schema in
    place, guarded by one lock held only for a statement or a transaction.

    ``expire_after`` (seconds) is the expiry a new batch gets, and the one filled in for
    batches of a file made before expiry existed.
    """

    def __init__(self, path: str = ":memory:", *, expire_after: float = DEFAULT_EXPIRE_AFTER):
        self.path = path
        self.expire_after = expire_after
        self.lock = threading.RLock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        # Big pages: fewer splits for ~1 KB result rows (only takes effect on a new database).
        self._conn.execute("PRAGMA page_size=65536")
        if path != ":memory:":
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA temp_store=MEMORY")
        self._conn.executescript(_SCHEMA)
        self._migrate()
        # One process serves a file: whatever an earlier process held in flight is pending again.
        self._conn.execute("UPDATE leases SET expires = 0")

    def _migrate(self) -> None:
        """Columns added since the first release, for a file made before them."""
        have = {
            name
            for (name,) in self._conn.execute("SELECT name FROM pragma_table_info(?)", ("batches",))
        }
        if "expire_ts" not in have:  # when unfinished requests are cancelled
            self._conn.execute("ALTER TABLE batches ADD COLUMN expire_ts REAL")
        if "expired_ts" not in have:  # when that happened (NULL: not yet)
            self._conn.execute("ALTER TABLE batches ADD COLUMN expired_ts REAL")
        self._conn.execute(
            "UPDATE batches SET expire_ts = create_ts + ? WHERE expire_ts IS NULL",
            (self.expire_after,),
        )
        self._conn.executescript(_AFTER_MIGRATION)

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
