"""The engine: a background thread that finishes pending requests with the simulated model.

It takes the oldest pending requests in bulk chunks, runs them without holding the store lock,
and writes the results back in one transaction per chunk, so API calls interleave. ``speed``
(requests per second, 0 = flat out) is enforced with a token bucket.

>>> from batchframe.server.store import Store
>>> engine = Engine(Store(), speed=0)
>>> engine.step()
0
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

import orjson

from batchframe.server.model import simulate
from batchframe.server.store import FAILED, SUCCEEDED, Store

__all__ = ["Engine"]

log = logging.getLogger("batchframe")

CHUNK = 2000
_IDLE_WAIT = 0.05


class Engine:
    """Moves pending requests to succeeded/failed at ``speed`` requests per second."""

    def __init__(
        self,
        store: Store,
        *,
        speed: float = 0.0,
        fail_rate: Callable[[], float] = lambda: 0.0,
        seed: int | None = None,
    ) -> None:
        self.store = store
        self.speed = speed
        self._fail_rate = fail_rate
        self._rng = random.Random(seed)
        self._work = threading.Lock()
        self._wake = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.processed = 0

    def start(self) -> None:
        """Start the background thread (idempotent)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._loop, name="batchframe-engine", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the background thread and wait for the chunk in hand to finish."""
        self._stop.set()
        self._wake.set()
        self._running.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def pause(self) -> None:
        """Stop processing until :meth:`resume` (``step`` still works).

        Returns once the chunk in hand, if any, is stored: no request added after this returns
        is processed in the background until :meth:`resume`.
        """
        self._running.clear()
        with self._work:  # the thread may be past its pause check, taking a chunk
            pass

    def resume(self) -> None:
        self._running.set()
        self._wake.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def notify(self) -> None:
        """Wake the thread: new requests arrived."""
        self._wake.set()

    def step(self, n: int | None = None) -> int:
        """Synchronously process up to ``n`` pending requests (all when None); return the count."""
        total = 0
        while n is None or total < n:
            want = CHUNK if n is None else min(CHUNK, n - total)
            taken, finished = self._process(want)
            total += finished
            if taken == 0:
                break
        return total

    def _process(self, limit: int, background: bool = False) -> tuple[int, int]:
        """Finish up to ``limit`` of the oldest pending requests: (taken, finished)."""
        with self._work:
            if background and not self._running.is_set():
                return 0, 0  # paused while this thread waited for the lock
            pending = self.store.take_pending(limit)
            if not pending:
                return 0, 0
            fail_rate = self._fail_rate()
            now = time.time()
            done: list[tuple[int, int, str, int, bytes]] = []
            for seq, pk, rid, kind, canon in pending:
                try:
                    body = orjson.loads(canon)[kind]
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    body = None  # admission let it through; fail the request, not the engine
                ok, result = simulate(rid, kind, body, fail_rate=fail_rate, rng=self._rng, now=now)
                done.append((seq, pk, rid, SUCCEEDED if ok else FAILED, result))
            finished = self.store.finish(done, now=now)
            self.processed += finished
            return len(pending), finished

    def _loop(self) -> None:
        tokens, last = 0.0, time.monotonic()
        while not self._stop.is_set():
            self._running.wait()
            if self._stop.is_set():
                break
            try:
                if self.speed <= 0:
                    done = self._process(CHUNK, background=True)[0]
                else:
                    now = time.monotonic()
                    tokens = min(tokens + (now - last) * self.speed, max(self.speed, 1.0))
                    last = now
                    done = (
                        self._process(min(CHUNK, int(tokens)), background=True)[0]
                        if tokens >= 1
                        else 0
                    )
                    tokens -= done
                    if done == 0 and tokens < 1:
                        time.sleep(min(_IDLE_WAIT, (1 - tokens) / self.speed))
                        continue
            except Exception:  # never let one bad chunk kill the engine
                log.exception("engine chunk failed")
                done = 0
            if done == 0:
                self._wake.wait(_IDLE_WAIT)
                self._wake.clear()
