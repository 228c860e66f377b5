"""Paging: a batch's result and request pages, fetched ahead by a thread, decoded into Arrow.

Each results page is decoded straight into an Arrow record batch
(:func:`~batchframe.frame.decode.decode_results_page`) while a background thread already fetches
the next page. No pydantic object and no dict per row.

>>> pages = list(iter_result_pages(client, job.batch_id))      # doctest: +SKIP
>>> pages[0].schema.names[:2]                                   # doctest: +SKIP
['batch_request_id', 'state']
"""

from __future__ import annotations

import logging
import queue
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import orjson
import pyarrow as pa

from batchframe._config import PAGE_LIMIT
from batchframe.client import Client
from batchframe.errors import PaginationError

__all__ = [
    "fetch_request_states",
    "iter_result_pages",
    "peek_token",
    "prefetch_pages",
]

logger = logging.getLogger("batchframe")

T = TypeVar("T")

#: ``peek_token`` could not tell the next token from the raw bytes alone.
UNSURE: Any = type("Unsure", (), {"__repr__": lambda self: "UNSURE"})()

# The top-level key "pagination_token" as the last member of the page object. A string value
# cannot contain an unescaped quote, so this only matches the outermost object's own member.
_TAIL_TOKEN = re.compile(rb'"pagination_token"\s*:\s*(null|"(?:[^"\\]|\\.)*")\s*}\s*\Z', re.S)


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

    from batchframe.frame.decode import REQUEST_SCHEMA

    pages = list(prefetch_pages(fetch, decode_requests_page))
    return pa.Table.from_batches(pages, REQUEST_SCHEMA) if pages else REQUEST_SCHEMA.empty_table()
