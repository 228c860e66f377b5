"""The result cache: succeeded answers kept by request key, so no job pays twice for one.

A request's key is the hash of its canonical body (everything sent but its ID; see
:func:`batchframe.frame.dedup.request_keys`); an entry is that key *and* the canonical server URL
(:func:`~batchframe.frame.identity.canonical_server_url`), so an answer never crosses servers, and
the model is part of the body, so it never crosses models. Only succeeded results are stored.

The cache is one SQLite file: ``cache=path``, else ``$BATCHFRAME_HOME/cache/results.sqlite``,
else the user's cache directory (``platformdirs``). Several processes share it safely: WAL
journal, a 60 s busy timeout, one short transaction per read or write. A file SQLite cannot read
(corrupted, or not a database) is renamed ``<name>.corrupt-<time>`` and a fresh one is made,
with a warning: the cache then misses, it never crashes a job nor gives a wrong answer.

>>> import tempfile, pathlib
>>> cache = ResultCache(pathlib.Path(tempfile.mkdtemp()) / "c.sqlite")
>>> cache.info().entries
0
"""

from __future__ import annotations

import contextlib
import logging
import os
import pathlib
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from batchframe._config import read_env
from batchframe.frame.decode import RESULT_SCHEMA

__all__ = [
    "CacheInfo",
    "ResultCache",
    "cache_info",
    "clear_cache",
    "default_cache_path",
    "open_cache",
]

logger = logging.getLogger("batchframe")

#: The result columns an entry keeps (the ID, state, error and origin are the job's own).
STORED = (
    "content",
    "reasoning_content",
    "finish_reason",
    "model",
    "prompt_tokens",
    "completion_tokens",
    "reasoning_tokens",
    "cached_tokens",
    "total_tokens",
    "cost_usd",
)
_TEXTS = STORED[:4]
_NUMBERS = STORED[4:]  # the token counts and cost_usd, packed in one blob a row
#: One row's numbers: five int64 token counts (-1 for null) and cost_usd (NaN for null).
_PACKED = np.dtype([("tokens", "<i8", (5,)), ("cost", "<f8")])
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS results (server TEXT NOT NULL, key TEXT NOT NULL, "
    + ", ".join(f"{c} TEXT" for c in _TEXTS)
    + ", numbers BLOB NOT NULL, stored REAL NOT NULL, PRIMARY KEY (server, key)) WITHOUT ROWID"
)
_COLUMNS = "".join(f", {c}" for c in _TEXTS) + ", numbers"
_CHUNK = 100_000  # keys per query (passed as one JSON array)


def default_cache_path() -> pathlib.Path:
    """``$BATCHFRAME_HOME/cache/results.sqlite``, else the user's cache directory.

    >>> default_cache_path().name
    'results.sqlite'
    """
    home = read_env().home
    if home:
        return pathlib.Path(home) / "cache" / "results.sqlite"
    import platformdirs

    return platformdirs.user_cache_path("batchframe", appauthor=False) / "results.sqlite"


@dataclass(frozen=True)
class CacheInfo:
    """What ``batchframe cache info`` shows: the file, its entries, its size on disk."""

    path: pathlib.Path
    entries: int
    size_bytes: int

    def __str__(self) -> str:
        return f"{self.path}: {self.entries:,} entries, {self.size_bytes / 1e6:,.1f} MB on disk"


class ResultCache:
    """One cache file (see the module docstring); every method opens and closes its connection."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = pathlib.Path(path).expanduser()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect():
                pass
        except (OSError, sqlite3.Error) as exc:
            raise ValueError(
                f"the result cache {self.path} cannot be opened ({exc}); nothing was sent. Pass "
                "cache=False to run without it, or cache= a writable file path."
            ) from exc

    def __repr__(self) -> str:
        return f"ResultCache({str(self.path)!r})"

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = self._open()
        except sqlite3.DatabaseError as exc:
            if not _corrupt(exc):
                raise
            self._set_aside(exc)
            conn = self._open()
        try:
            yield conn
        finally:
            conn.close()

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout = 60000")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA cache_size = -65536")  # 64 MB: big lookups and inserts
            conn.execute(_SCHEMA)
            conn.execute("SELECT count(*) FROM results WHERE 0").fetchall()
        except BaseException:
            conn.close()
            raise
        return conn

    def _set_aside(self, exc: Exception) -> None:
        aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d%H%M%S')}")
        logger.warning(
            "the result cache %s cannot be read (%s): moved it to %s and started a new one",
            self.path,
            exc,
            aside,
        )
        import warnings

        warnings.warn(
            f"batchframe: the result cache {self.path} was unreadable ({exc}); it was moved to "
            f"{aside.name} and rebuilt empty (answers are fetched again, never guessed)",
            RuntimeWarning,
            stacklevel=4,
        )
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.replace(f"{self.path}{suffix}", f"{aside}{suffix}")

    def _guarded(self, work: Any) -> Any:
        """Run ``work(conn)``; a corruption found mid-way sets the file aside, then runs again."""
        for attempt in (1, 2):
            try:
                with self._connect() as conn:
                    return work(conn)
            except sqlite3.DatabaseError as exc:
                if attempt == 2 or not _corrupt(exc):
                    raise
                self._set_aside(exc)
        raise AssertionError("unreachable")

    # -- reads -------------------------------------------------------------------------------

    def has_server(self, server: str) -> bool:
        """Whether any entry was stored for ``server`` (lets an empty cache cost one query)."""

        def work(conn: sqlite3.Connection) -> bool:
            row = conn.execute("SELECT 1 FROM results WHERE server = ? LIMIT 1", (server,))
            return row.fetchone() is not None

        return bool(self._guarded(work))

    def _joined(self, server: str, keys: Sequence[str], columns: str) -> list[tuple[Any, ...]]:
        """``(position in keys, *columns)`` of every key the cache holds for ``server``.

        The keys go in as one JSON array per query (``json_each``), looked up one by one in
        the primary key (``CROSS JOIN`` keeps that order): no temporary table, no row per key
        written."""

        def work(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            out: list[tuple[Any, ...]] = []
            for start in range(0, len(keys), _CHUNK):
                chunk = orjson.dumps(list(keys[start : start + _CHUNK]))
                rows = conn.execute(
                    f"SELECT j.key{columns} FROM json_each(?) j CROSS JOIN results r "
                    "ON r.server = ? AND r.key = j.value",
                    (chunk, server),
                ).fetchall()
                out += rows if not start else [(start + r[0], *r[1:]) for r in rows]
            return out

        return list(self._guarded(work))

    def _rows(self, server: str, keys: Sequence[bytes], columns: str) -> tuple[list[Any], pa.Array]:
        """Rows ``(key or position, *columns)`` and, for each of ``keys``, the index of its row
        (null when the cache does not hold it).

        Many keys for the entries of ``server`` (a rerun): one scan of those entries, matched in
        Arrow. Few keys: one primary-key lookup each."""
        n = len(keys)
        hexes = [k.hex() for k in keys]

        def count(conn: sqlite3.Connection) -> int:
            return int(
                conn.execute("SELECT count(*) FROM results WHERE server = ?", (server,)).fetchone()[
                    0
                ]
            )

        held = int(self._guarded(count)) if n else 0
        if not held:
            return [], pa.nulls(n, pa.int64())
        if 4 * n >= held:

            def scan(conn: sqlite3.Connection) -> list[Any]:
                return conn.execute(
                    f"SELECT key{columns} FROM results WHERE server = ?",
                    (server,),
                ).fetchall()

            rows = list(self._guarded(scan))
            stored = pa.array([r[0] for r in rows], pa.string())
            return rows, pc.index_in(pa.array(hexes, pa.string()), value_set=stored)
        rows = self._joined(server, hexes, columns.replace(", ", ", r."))
        order = np.full(n, -1, dtype=np.int64)
        order[np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))] = np.arange(
            len(rows)
        )
        return rows, pa.array(order, mask=order < 0)

    def contains(self, server: str, keys: Sequence[bytes]) -> pa.Array:
        """A boolean array: which of ``keys`` the cache holds for ``server``."""
        _, where = self._rows(server, keys, "")
        return pc.is_valid(where)

    def fetch(self, server: str, keys: Sequence[bytes]) -> tuple[pa.Table, pa.Array]:
        """The stored columns of ``keys`` (``STORED``; nulls where missing) and which were found."""
        rows, where = self._rows(server, keys, _COLUMNS)
        columns = {}
        for k, name in enumerate(_TEXTS, start=1):
            values = pa.array([r[k] for r in rows], RESULT_SCHEMA.field(name).type)
            columns[name] = values.take(where)
        packed = np.frombuffer(b"".join(r[-1] for r in rows), dtype=_PACKED)
        tokens = packed["tokens"]
        for k, name in enumerate(_NUMBERS[:5]):
            values = tokens[:, k]
            columns[name] = pa.array(values, mask=values < 0).take(where)
        cost = packed["cost"]
        columns["cost_usd"] = pa.array(cost, mask=np.isnan(cost)).take(where)
        return pa.table({c: columns[c] for c in STORED}), pc.is_valid(where)

    def info(self) -> CacheInfo:
        """Entries and size on disk (the file and its WAL)."""
        entries = int(
            self._guarded(lambda c: c.execute("SELECT count(*) FROM results").fetchone()[0])
        )
        size = sum(os.path.getsize(p) for p in (self.path, f"{self.path}-wal") if os.path.exists(p))
        return CacheInfo(self.path, entries, size)

    # -- writes ------------------------------------------------------------------------------

    def store(self, server: str, keys: Sequence[bytes], results: pa.Table) -> int:
        """Keep the succeeded rows of ``results`` (``RESULT_SCHEMA`` columns) under ``keys``."""
        ok = pc.equal(results["state"], "succeeded").fill_null(False)
        picked = results.filter(ok)
        if picked.num_rows == 0:
            return 0
        key_list = [k.hex() for k, good in zip(keys, ok.to_pylist(), strict=True) if good]
        columns = [picked[c].to_pylist() for c in _TEXTS]
        packed = np.empty(picked.num_rows, dtype=_PACKED)
        for k, name in enumerate(_NUMBERS[:5]):
            packed["tokens"][:, k] = picked[name].fill_null(-1).to_numpy()
        packed["cost"] = picked["cost_usd"].cast(pa.float64()).fill_null(np.nan).to_numpy()
        raw = packed.tobytes()
        size = _PACKED.itemsize
        numbers = [raw[i : i + size] for i in range(0, len(raw), size)]
        now = time.time()
        rows = sorted(  # in key order: the primary key's pages fill one after another
            (server, key, *values, now)
            for key, *values in zip(key_list, *columns, numbers, strict=True)
        )
        marks = ", ".join("?" * (len(_TEXTS) + 4))

        def work(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(f"INSERT OR REPLACE INTO results VALUES ({marks})", rows)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

        self._guarded(work)
        return len(rows)

    def clear(self) -> int:
        """Remove every entry; returns how many there were."""

        def work(conn: sqlite3.Connection) -> int:
            count = int(conn.execute("SELECT count(*) FROM results").fetchone()[0])
            conn.execute("DELETE FROM results")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.execute("VACUUM")
            return count

        return int(self._guarded(work))


def _corrupt(exc: sqlite3.DatabaseError) -> bool:
    text = str(exc).lower()
    return any(word in text for word in ("not a database", "malformed", "corrupt"))


def open_cache(cache: Any) -> ResultCache | None:
    """The cache of a ``cache=`` argument: ``None`` the default file, ``False`` none, a path
    that file (or a :class:`ResultCache` as is).

    >>> open_cache(False) is None
    True
    """
    if cache is None or cache is True:
        return ResultCache(default_cache_path())
    if cache is False:
        return None
    if isinstance(cache, ResultCache):
        return cache
    if isinstance(cache, str | os.PathLike):
        return ResultCache(cache)
    raise ValueError(f"cache must be None (the default cache), False or a file path, got {cache!r}")


def cache_info(cache: str | os.PathLike[str] | None = None) -> CacheInfo:
    """Entries, size on disk and path of the result cache (the default one, or ``cache``).

    >>> bf.cache_info()                                          # doctest: +SKIP
    CacheInfo(path=PosixPath('~/.cache/batchframe/results.sqlite'), entries=1200, size_bytes=...)
    """
    opened = open_cache(cache)
    assert opened is not None
    return opened.info()


def clear_cache(cache: str | os.PathLike[str] | None = None) -> int:
    """Empty the result cache (the default one, or ``cache``); returns the entries removed.

    >>> bf.clear_cache()                                         # doctest: +SKIP
    1200
    """
    opened = open_cache(cache)
    assert opened is not None
    return opened.clear()
