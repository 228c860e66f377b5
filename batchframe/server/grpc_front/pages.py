"""Result pages for ``ListBatchResults``, with the next page encoded while the client reads this one.

A client pages through results one call at a time, so server and client take turns: the server
encodes a page, then waits while the client parses it. After answering a page whose reply has a
next token, a background thread encodes that next page, and the next call takes it if nothing
changed in between. "Nothing changed" is checked on the batch's finished counter, read *before*
the prefetched rows: results are only ever added, so an equal counter at request time means the
prefetched page holds exactly what a fresh read would.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from batchframe.server.errors import ServerProblem
from batchframe.server.grpc_front.encode import encode_page
from batchframe.server.service import BatchService

__all__ = ["ResultPages"]

_KEEP = 16
Key = tuple[str, str, str, int | None]
Page = tuple[int, bytes, str | None]  # (finished counter before the read, page, next token)


class ResultPages:
    """Encoded result pages of one service, with one page of read-ahead per client."""

    def __init__(self, service: BatchService) -> None:
        self.service = service
        self._ahead: OrderedDict[Key, Future[Page]] = OrderedDict()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="batchframe-pages")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def page(self, team: str, batch_id: str, limit: int | None, token: str | None) -> bytes:
        """The serialized ``ListBatchResultsResponse`` (problems raise, as the service's do)."""
        key = (team, batch_id, token or "", limit)
        with self._lock:
            ahead = self._ahead.pop(key, None)
        found = self._take(ahead, team, batch_id)
        _finished, page, next_token = found or self._read(team, batch_id, limit, token)
        if next_token:
            self._prefetch((team, batch_id, next_token, limit))
        return page

    def _take(self, ahead: Future[Page] | None, team: str, batch_id: str) -> Page | None:
        if ahead is None:
            return None
        try:
            page = ahead.result()
        except ServerProblem:
            return None  # read it again in the caller's thread, so the problem is its own
        return page if page[0] == self._finished(team, batch_id) else None

    def _finished(self, team: str, batch_id: str) -> int:
        row = self.service.require_batch(team, batch_id)
        return row.num_success + row.num_error + row.num_cancelled

    def _read(self, team: str, batch_id: str, limit: int | None, token: str | None) -> Page:
        finished = self._finished(team, batch_id)
        rows, next_token = self.service.list_results(team, batch_id, limit, token)
        return finished, encode_page([r[1] for r in rows], next_token), next_token

    def _prefetch(self, key: Key) -> None:
        team, batch_id, token, limit = key
        read: Callable[[], Page] = lambda: self._read(team, batch_id, limit, token)  # noqa: E731
        try:
            future = self._pool.submit(read)
        except RuntimeError:
            return  # shutting down
        with self._lock:
            self._ahead[key] = future
            while len(self._ahead) > _KEEP:
                self._ahead.popitem(last=False)[1].cancel()
