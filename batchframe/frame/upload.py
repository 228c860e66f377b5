"""Send encoded requests in chunks: a few add calls at a time, paced to the add-call budget.

The pacing is a pure rolling-window limiter (:class:`CallLimiter`) with an injectable clock and
sleep; the sending loop (:func:`upload_requests`) keeps at most ``concurrency`` add calls in
flight, builds each chunk's body in the worker (memory is bounded by a few chunks), and leaves
retries to the :class:`~batchframe.Client` (re-adding identical requests is safe).

>>> limiter = CallLimiter(2, clock=lambda: 0.0, sleep=lambda s: None)
>>> limiter.acquire(), limiter.acquire()
(0.0, 0.0)
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from batchframe._config import ChunkPolicy
from batchframe._hints import RERUN, render, say
from batchframe._progress import ProgressBar, progress_bar
from batchframe.errors import APIStatusError, UploadError

__all__ = [
    "CallLimiter",
    "Encoded",
    "UploadReport",
    "plan_chunks",
    "upload_requests",
]

logger = logging.getLogger("batchframe")

#: Statuses a server answers the same request with every time: rerunning as is cannot help.
_REFUSED = frozenset({400, 401, 403, 404, 413, 422})

#: Called in the submitting thread after each confirmed chunk: (rows_done, chunks_done, chunks).
ChunkCallback = Callable[[int, int, int], None]


class Encoded(Protocol):
    """What the uploader needs from ``batchframe.frame.encode.EncodedRequests``."""

    def __len__(self) -> int: ...

    def item_sizes(self) -> Any: ...

    def payload(self, start: int, stop: int) -> bytes: ...

    def payload_for(self, indices: Any) -> bytes: ...


class AddClient(Protocol):
    """The one client method the uploader calls."""

    def add_requests(self, batch_id: str, batch_requests: bytes) -> None: ...


class CallLimiter:
    """At most ``calls`` call starts in any rolling window of ``period`` seconds.

    Thread-safe; :meth:`acquire` blocks (through the injected ``sleep``) until a start is allowed
    and returns the seconds it waited. A fractional budget below one (``calls=0.5``) means one
    call per ``period / calls`` seconds.

    >>> now = [0.0]
    >>> lim = CallLimiter(2, period=30, clock=lambda: now[0],
    ...                   sleep=lambda s: now.__setitem__(0, now[0] + s))
    >>> [lim.acquire() for _ in range(3)]
    [0.0, 0.0, 30.0]
    """

    def __init__(
        self,
        calls: float,
        period: float = 30.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not calls > 0 or not period > 0:
            raise ValueError(f"calls and period must be > 0, got calls={calls!r} period={period!r}")
        self.capacity = max(1, int(calls))
        # Keep the rate at calls/period when the budget is fractional (0.5 -> 1 per 60 s).
        self.period = float(period) * self.capacity / float(calls)
        self._clock = clock
        self._sleep = sleep
        self._starts: deque[float] = deque()
        self._lock = threading.Lock()

    def delay(self) -> float:
        """Seconds until the next call may start (0.0 when it may start now)."""
        with self._lock:
            return self._delay(self._clock())

    def acquire(self) -> float:
        """Wait until a call may start, record the start, return the seconds waited."""
        waited = 0.0
        with self._lock:  # held while sleeping: later callers queue behind the earliest one
            while True:
                now = self._clock()
                pause = self._delay(now)
                if pause <= 0.0:
                    self._starts.append(now)
                    return waited
                self._sleep(pause)
                waited += pause

    def _delay(self, now: float) -> float:
        while self._starts and self._starts[0] <= now - self.period:
            self._starts.popleft()
        if len(self._starts) < self.capacity:
            return 0.0
        return max(0.0, self._starts[0] + self.period - now)


@dataclass(frozen=True)
class UploadReport:
    """What an upload sent: requests, add calls, and how long pacing made it wait."""

    rows: int
    chunks: int
    paced_seconds: float


@dataclass(frozen=True)
class _Chunk:
    start: int
    stop: int
    rows: int


def plan_chunks(
    sizes: Any, *, chunk_rows: int | None = None, chunk_bytes: int | None = None
) -> list[tuple[int, int]]:
    """Chunk bounds over item ``sizes``: at most ``chunk_rows`` items and ``chunk_bytes`` bytes.

    Defaults come from :class:`~batchframe.ChunkPolicy`.

    >>> import numpy as np
    >>> plan_chunks(np.array([10, 10, 10]), chunk_rows=2)
    [(0, 2), (2, 3)]
    """
    from batchframe.frame.encode import chunk_bounds

    policy = ChunkPolicy()
    return list(
        chunk_bounds(
            np.asarray(sizes, dtype=np.int64),
            chunk_rows if chunk_rows is not None else policy.max_rows,
            chunk_bytes if chunk_bytes is not None else policy.max_bytes,
        )
    )


def upload_requests(
    client: AddClient,
    batch_id: str,
    encoded: Encoded,
    *,
    indices: Sequence[int] | np.ndarray | None = None,
    chunk_rows: int | None = None,
    chunk_bytes: int | None = None,
    limiter: CallLimiter | None = None,
    concurrency: int | None = None,
    progress: bool = True,
    on_chunk: ChunkCallback | None = None,
    bar: ProgressBar | None = None,
) -> UploadReport:
    """Add ``encoded`` (or only its items at ``indices``) to ``batch_id`` in chunks.

    Raises :class:`~batchframe.errors.UploadError` (after the other in-flight chunks finish) when
    a chunk fails for good; a Ctrl-C stops starting new chunks. Rerunning the same ``submit``
    resumes either way. ``bar`` is a progress bar shared with other uploads (one bar over every
    shard of a job); without it one is shown when there is more than one chunk.

    >>> upload_requests(client, batch.batch_id, encoded, concurrency=4)  # doctest: +SKIP
    UploadReport(rows=1000, chunks=1, paced_seconds=0.0)
    """
    policy = ChunkPolicy()
    workers = concurrency if concurrency is not None else policy.concurrency
    if workers < 1:
        raise ValueError(f"concurrency must be >= 1, got {workers!r}")
    picked = None if indices is None else np.asarray(indices, dtype=np.int64)
    sizes = np.asarray(encoded.item_sizes(), dtype=np.int64)
    if picked is not None:
        sizes = sizes[picked]
    bounds = plan_chunks(sizes, chunk_rows=chunk_rows, chunk_bytes=chunk_bytes)
    chunks = [_Chunk(a, b, b - a) for a, b in bounds if b > a]
    if not chunks:
        return UploadReport(rows=0, chunks=0, paced_seconds=0.0)

    def build(chunk: _Chunk) -> bytes:
        if picked is None:
            return encoded.payload(chunk.start, chunk.stop)
        return encoded.payload_for(picked[chunk.start : chunk.stop])

    def post(body: bytes) -> None:
        client.add_requests(batch_id, body)

    total_rows = sum(c.rows for c in chunks)
    show = progress and len(chunks) > 1 and bar is None
    with progress_bar(total=total_rows, desc="upload", unit="req", enabled=show) as own:
        return _send_all(
            chunks,
            build,
            post,
            batch_id=batch_id,
            limiter=limiter or CallLimiter(policy.calls_per_30s),
            workers=min(workers, len(chunks)),
            bar=bar if bar is not None else own,
            on_chunk=on_chunk,
        )


def _send_all(
    chunks: Sequence[_Chunk],
    build: Callable[[_Chunk], bytes],
    post: Callable[[bytes], None],
    *,
    batch_id: str,
    limiter: CallLimiter,
    workers: int,
    bar: ProgressBar,
    on_chunk: ChunkCallback | None,
) -> UploadReport:
    state = _Progress(len(chunks), bar, on_chunk)
    paced = 0.0
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="batchframe-upload")
    in_flight: dict[Future[None], _Chunk] = {}
    try:
        for chunk in chunks:
            while len(in_flight) >= workers:
                state.collect(in_flight, wait(in_flight, return_when=FIRST_COMPLETED).done)
            if state.failures:
                break  # a chunk failed for good: start nothing new, let the others finish
            paced += limiter.acquire()
            # Bodies are built here, one at a time, and only for a free worker: at most
            # ``workers`` bodies exist (built in threads, each thread's heap kept its own).
            in_flight[pool.submit(post, build(chunk))] = chunk
        while in_flight:
            state.collect(in_flight, wait(in_flight, return_when=FIRST_COMPLETED).done)
    except BaseException as exc:  # Ctrl-C (or a failing callback): start nothing new, leave
        pool.shutdown(wait=False, cancel_futures=True)
        if isinstance(exc, KeyboardInterrupt):
            logger.warning(
                "Upload to batch %s interrupted after %d of %d chunks. %s to resume.",
                batch_id,
                state.chunks_done,
                len(chunks),
                render(say(RERUN)),
            )
        raise
    pool.shutdown(wait=True)
    if state.failures:
        first = state.failures[0]
        status = first.status_code if isinstance(first, APIStatusError) else None
        refused = status in _REFUSED
        raise UploadError(
            say(
                f"Upload to batch {batch_id} stopped after {state.rows_done} requests in "
                f"{state.chunks_done} of {len(chunks)} chunks: {first}. ",
                RERUN,
                " to resume"
                + (
                    f" once what the server refused is fixed: it answers {status} to "
                    "the same request every time, so a rerun as it is fails the same way"
                    if refused
                    else "; requests already added are not sent twice."
                ),
            ),
            batch_id=batch_id,
            rows_done=state.rows_done,
        ) from first
    return UploadReport(rows=state.rows_done, chunks=state.chunks_done, paced_seconds=paced)


class _Progress:
    """Bookkeeping of confirmed chunks, run in the submitting thread only."""

    def __init__(self, total: int, bar: ProgressBar, on_chunk: ChunkCallback | None) -> None:
        self.total = total
        self.bar = bar
        self.on_chunk = on_chunk
        self.rows_done = 0
        self.chunks_done = 0
        self.failures: list[BaseException] = []

    def collect(self, in_flight: dict[Future[None], _Chunk], done: set[Future[None]]) -> None:
        for future in done:
            chunk = in_flight.pop(future)
            error = future.exception()
            if error is not None:
                logger.warning("add call for requests %d..%d failed: %s", *_span(chunk), error)
                self.failures.append(error)
                continue
            self.rows_done += chunk.rows
            self.chunks_done += 1
            self.bar.update(chunk.rows)
            if self.on_chunk is not None:
                self.on_chunk(self.rows_done, self.chunks_done, self.total)


def _span(chunk: _Chunk) -> tuple[int, int]:
    return chunk.start, chunk.stop - 1
