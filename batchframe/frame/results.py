"""Results: page through a batch's results in Arrow and join them back onto the input frame.

The hot path is columnar. Each results page is decoded straight into an Arrow record batch
(:func:`~batchframe.frame.decode.decode_results_page`) while a background thread already fetches
the next page; the join computes row positions once with ``Index.get_indexer`` and ``take``s the
result columns into the frame's row order. No pydantic object and no dict per row.

>>> out = collect_results(source, batch, partial=False)        # doctest: +SKIP
>>> list(out.columns[-3:])                                      # doctest: +SKIP
['total_tokens', 'cost_usd', 'error']
"""

from __future__ import annotations

import logging
import queue
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from batchframe._config import PAGE_LIMIT
from batchframe.client import Client
from batchframe.errors import NotFinishedError, PaginationError
from batchframe.models import Batch

__all__ = [
    "ResultSource",
    "collect_results",
    "fetch_request_states",
    "iter_result_pages",
    "peek_token",
    "prefetch_pages",
    "result_table",
]

logger = logging.getLogger("batchframe")

T = TypeVar("T")

#: ``peek_token`` could not tell the next token from the raw bytes alone.
UNSURE: Any = type("Unsure", (), {"__repr__": lambda self: "UNSURE"})()

# The top-level key "pagination_token" as the last member of the page object. A string value
# cannot contain an unescaped quote, so this only matches the outermost object's own member.
_TAIL_TOKEN = re.compile(rb'"pagination_token"\s*:\s*(null|"(?:[^"\\]|\\.)*")\s*}\s*\Z', re.S)

# States of a row that has no result (yet).
PENDING, SKIPPED, NOT_SENT = "pending", "skipped", "not_sent"


# -- paging ---------------------------------------------------------------------------------


def peek_token(raw: bytes) -> str | Any | None:
    """The next-page token read from the tail of a page's raw JSON, or ``UNSURE``.

    It lets the next fetch start before this page is decoded; the decoder's token is checked
    against it. Only a ``pagination_token`` that is the last member of the page is recognised.

    >>> peek_token(b'{"results": [], "pagination_token": "abc"}')
    'abc'
    >>> peek_token(b'{"results": [], "pagination_token": null}') is None
    True
    >>> peek_token(b'{"pagination_token": "x", "results": []}')
    UNSURE
    """
    match = _TAIL_TOKEN.search(raw, max(0, len(raw) - 4096))
    if match is None:
        return UNSURE
    value = orjson.loads(match.group(1))
    return value or None if isinstance(value, str | type(None)) else UNSURE


def prefetch_pages(
    fetch: Callable[[str | None], bytes],
    decode: Callable[[bytes], tuple[T, str | None]],
    *,
    depth: int = 2,
) -> Iterator[T]:
    """Decoded pages, fetched by one background thread up to ``depth`` pages ahead.

    The thread reads each next token from the raw page tail (:func:`peek_token`) so fetching
    page n+1 overlaps decoding page n; when it cannot, it waits for the decoder's token. If the
    decoded token ever disagrees with the peeked one, paging continues in this thread from the
    decoded token (correct, only slower). Errors in the thread are raised here.

    >>> pages = {None: b'{"v": 1, "pagination_token": "b"}', "b": b'{"v": 2, "pagination_token": null}'}
    >>> def decode(raw):
    ...     page = orjson.loads(raw)
    ...     return page["v"], page["pagination_token"]
    >>> list(prefetch_pages(pages.__getitem__, decode))
    [1, 2]
    """
    pipe = _Prefetcher(fetch, depth)
    pipe.start()
    try:
        while True:
            item = pipe.pages.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            raw, guess = item
            page, token = decode(raw)
            token = token or None
            if guess is UNSURE:
                pipe.tokens.put(token)
            yield page
            if guess is not UNSURE and guess != token:
                logger.warning("pagination token peek disagreed with the page; paging serially")
                pipe.close()
                yield from _serial_pages(fetch, decode, token)
                return
    finally:
        pipe.close()


class _Prefetcher:
    """The fetching side of :func:`prefetch_pages`: one daemon thread, a bounded queue."""

    def __init__(self, fetch: Callable[[str | None], bytes], depth: int) -> None:
        self._fetch = fetch
        self.pages: queue.Queue[tuple[bytes, Any] | BaseException | None] = queue.Queue(depth)
        self.tokens: queue.Queue[str | None] = queue.Queue(1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="batchframe-pages", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self.tokens.empty():
            self.tokens.put_nowait(None)  # wake a thread waiting for a token

    def _put(self, item: tuple[bytes, Any] | BaseException | None) -> bool:
        while not self._stop.is_set():
            try:
                self.pages.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        token: str | None = None
        seen: set[str] = set()
        try:
            while not self._stop.is_set():
                raw = self._fetch(token)
                guess = peek_token(raw)
                if not self._put((raw, guess)):
                    return
                token = self.tokens.get() if guess is UNSURE else guess
                if token is None or self._stop.is_set():
                    break
                if token in seen:  # a server that repeats a token would loop forever
                    raise PaginationError(f"the server repeated pagination token {token!r}")
                seen.add(token)
            self._put(None)
        except BaseException as exc:  # handed to the consumer, which raises it
            self._put(exc)


def _serial_pages(
    fetch: Callable[[str | None], bytes],
    decode: Callable[[bytes], tuple[T, str | None]],
    token: str | None,
) -> Iterator[T]:
    while token is not None:
        page, token = decode(fetch(token))
        yield page
        token = token or None


def iter_result_pages(client: Client, batch_id: str) -> Iterator[pa.RecordBatch]:
    """Every results page of the batch as an Arrow record batch (``RESULT_SCHEMA``)."""
    from batchframe.frame.decode import decode_results_page

    def fetch(token: str | None) -> bytes:
        return client.fetch_results_page(batch_id, PAGE_LIMIT, token)

    return prefetch_pages(fetch, decode_results_page)


def fetch_request_states(client: Client, batch_id: str) -> pa.Table:
    """``batch_request_id`` and ``state`` of every request in the batch (metadata pages)."""
    from batchframe.frame.decode import decode_requests_page

    def fetch(token: str | None) -> bytes:
        return client.fetch_requests_page(batch_id, PAGE_LIMIT, token)

    pages = list(prefetch_pages(fetch, decode_requests_page))
    schema = pa.schema([("batch_request_id", pa.string()), ("state", pa.string())])
    if not pages:
        return schema.empty_table()
    return pa.Table.from_batches(pages).select(["batch_request_id", "state"]).cast(schema)


# -- the join -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResultSource:
    """What a join needs: where the results are, and the frame (if any) they belong to.

    ``ids`` are the request IDs of ``df``'s rows in row order (unique strings).
    """

    client: Client
    batch_id: str
    df: pd.DataFrame | None = None
    ids: pd.Index | None = None
    skipped_ids: frozenset[str] = frozenset()
    response_model: Any = None

    def needs_request_states(self, batch: Batch) -> bool:
        """Whether rows without a result could be anything but pending or skipped.

        With a frame, that is when the frame's sent rows and the batch's request count
        disagree (some rows never reached the batch); without a frame, while requests are
        pending (their IDs are only listed by the metadata pages).
        """
        if self.ids is None:
            return not batch.is_done
        return len(self.ids) - len(self.skipped_ids) != batch.num_requests


def result_table(pages: Iterator[pa.RecordBatch]) -> pa.Table:
    """All result pages as one table, keeping the first result of a duplicated ID."""
    from batchframe.frame.decode import RESULT_SCHEMA

    batches = [page for page in pages if page.num_rows]
    table = (
        pa.Table.from_batches(batches, RESULT_SCHEMA) if batches else RESULT_SCHEMA.empty_table()
    )
    ids = pd.Index(table["batch_request_id"].to_numpy(zero_copy_only=False))
    dup = ids.duplicated(keep="first")
    if dup.any():
        logger.warning(
            "%d duplicate results (kept the first of each), e.g. %s",
            int(dup.sum()),
            list(ids[dup][:5]),
        )
        table = table.filter(pa.array(~dup))
    return table


def fill_state(
    taken: pa.Table, ids: pd.Index, skipped: frozenset[str], in_batch: np.ndarray | None
) -> pa.Table:
    """Set ``batch_request_id`` to ``ids`` and give rows without a result their state.

    ``taken`` holds result rows aligned with ``ids`` (all-null where there is none). Such a row
    is ``skipped`` when submit skipped it, ``pending`` when it is in the batch, else
    ``not_sent`` (an upload that stopped part-way never added it; ``in_batch`` says which rows
    are in the batch, ``None`` meaning all). Rerunning the same ``submit`` sends those rows.
    """
    fallback = np.full(len(ids), PENDING, dtype=object)
    if in_batch is not None:
        fallback[~in_batch] = NOT_SENT
    if skipped:
        fallback[ids.isin(list(skipped))] = SKIPPED
    state = pc.coalesce(taken["state"], pa.array(fallback, pa.string()))
    taken = taken.set_column(taken.schema.get_field_index("state"), "state", state)
    id_array = pa.array(np.asarray(ids, dtype=object), pa.string())
    return taken.set_column(
        taken.schema.get_field_index("batch_request_id"), "batch_request_id", id_array
    )


def positions_in_frame(frame_ids: pd.Index, result_ids: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """For each result, its row in the frame; results not in the frame are dropped (-1)."""
    positions = frame_ids.get_indexer(pd.Index(result_ids.to_numpy(zero_copy_only=False)))
    missing = positions < 0
    if missing.any():
        logger.warning(
            "%d results have IDs that are not in the frame and were dropped, e.g. %s",
            int(missing.sum()),
            result_ids.filter(pa.array(missing)).to_pylist()[:5],
        )
    return np.asarray(positions, dtype=np.int64)


def attach_columns(
    part: pd.DataFrame | None, results: pa.Table, response_model: Any
) -> pd.DataFrame:
    """``part`` (rows aligned with ``results``) plus the result and structured columns."""
    from batchframe.frame.decode import to_pandas

    added = to_pandas(results)
    if response_model is not None:
        from batchframe.frame.structured import parse_structured

        parsed = parse_structured(added["content"].reset_index(drop=True), response_model)
        clash = [c for c in parsed.columns if c in added.columns and c != "parse_error"]
        if clash:
            raise ValueError(
                f"response_model fields {clash} clash with result columns; rename them in the model"
            )
        for column in parsed.columns:
            added[column] = parsed[column].array
    if part is None:
        return added
    clash = [c for c in added.columns if c in part.columns]
    if clash:
        logger.warning("input columns %s are replaced by result columns of the same name", clash)
        part = part.drop(columns=clash)
    added.index = part.index
    return part.assign(**{str(c): added[c].array for c in added.columns})


def collect_results(source: ResultSource, batch: Batch, *, partial: bool) -> pd.DataFrame:
    """The results of ``source``'s batch joined onto its frame (see ``Job.results``)."""
    if not partial and not batch.is_done:
        raise NotFinishedError(
            f"Batch {source.batch_id} is not finished ({batch.num_pending} of "
            f"{batch.num_requests} requests pending). Call job.wait() first, or pass "
            "partial=True for the rows finished so far (the rest come back as 'pending').",
            batch,
        )
    # Metadata first: any request finished before this listing is in the results read after it.
    states = (
        fetch_request_states(source.client, source.batch_id)
        if source.needs_request_states(batch)
        else None
    )
    table = result_table(iter_result_pages(source.client, source.batch_id))
    if source.df is None or source.ids is None:
        return attach_columns(None, _without_frame(table, states), source.response_model)
    ids = source.ids
    rows = np.full(len(ids), -1, dtype=np.int64)
    positions = positions_in_frame(ids, table["batch_request_id"])
    keep = positions >= 0
    rows[positions[keep]] = np.flatnonzero(keep)
    taken = table.take(pa.array(rows, mask=rows < 0))
    in_batch = None if states is None else ids.isin(states["batch_request_id"].to_pylist())
    taken = fill_state(taken, ids, source.skipped_ids, in_batch)
    return attach_columns(source.df, taken, source.response_model)


def _without_frame(table: pa.Table, states: pa.Table | None) -> pa.Table:
    """Result columns alone, one row per request (pending ones too), ordered by ID."""
    if states is not None and states.num_rows:
        have = pa.array(table["batch_request_id"].to_numpy(zero_copy_only=False))
        rest = states.filter(pc.invert(pc.is_in(states["batch_request_id"], value_set=have)))
        table = pa.concat_tables([table, pending_rows(table.schema, rest["batch_request_id"])])
    return table.take(pc.sort_indices(table, [("batch_request_id", "ascending")]))


def pending_rows(
    schema: pa.Schema, ids: pa.ChunkedArray | pa.Array, state: str | None = PENDING
) -> pa.Table:
    """Rows of ``schema`` for ``ids`` with ``state`` and every other column null.

    >>> pending_rows(pa.schema([("batch_request_id", pa.string()), ("state", pa.string())]),
    ...              pa.array(["a"])).to_pylist()
    [{'batch_request_id': 'a', 'state': 'pending'}]
    """
    n = len(ids)
    states = pa.repeat(pa.scalar(state, pa.string()), n)
    columns = [
        ids
        if f.name == "batch_request_id"
        else states
        if f.name == "state"
        else pa.nulls(n, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)
