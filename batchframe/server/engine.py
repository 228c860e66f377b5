"""The engine: a background thread that claims pending requests and runs them on a model.

It claims work from the store under a lease, no more than the model has free slots for, hands it
to the :class:`~batchframe.server.model_protocol.Model`, and stores the answers as they come back
(in bulk, one transaction per flush). It never holds a lock while a model works, so a slow model
never holds up the API, a cancel or :meth:`Engine.pause`: those stop new claims at once, and the
requests already in flight finish and keep their answer. It renews the leases it holds, gives
back requests the model could not try (an upstream that is down: they wait, pending, and the
engine backs off), and cancels what is unfinished in expired batches. ``speed`` (requests per
second, 0 = flat out) is enforced with a token bucket on claims.

>>> from batchframe.server.store import Store
>>> engine = Engine(Store(), speed=0)
>>> engine.step()
0
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from batchframe.server.model_protocol import RETRY_LATER, Model
from batchframe.server.simulated import CHUNK, SimulatedModel
from batchframe.server.store_protocol import LEASE_SECONDS, BatchStore, Done

__all__ = ["CHUNK", "Engine"]

log = logging.getLogger("batchframe")

_IDLE_WAIT = 0.05
_BACKOFF_START, _BACKOFF_MAX = 0.25, 30.0


class _Claim:
    """One lease the engine holds: how many of its requests are still out."""

    __slots__ = ("answered", "count", "done", "given_back", "lease", "left")

    def __init__(self, lease: int, count: int) -> None:
        self.lease, self.count, self.left = lease, count, count
        self.answered = self.given_back = 0
        self.done = threading.Event()


class Engine:
    """Runs pending requests on ``model`` (the simulator by default) at ``speed`` per second.

    ``fail_rate`` and ``seed`` configure the default simulator. ``sweep_every`` is how often (in
    seconds) expired batches are looked for.
    """

    def __init__(
        self,
        store: BatchStore,
        *,
        model: Model | None = None,
        speed: float = 0.0,
        fail_rate: Callable[[], float] = lambda: 0.0,
        seed: int | None = None,
        lease_seconds: float = LEASE_SECONDS,
        sweep_every: float = 1.0,
    ) -> None:
        self.store = store
        self.model: Model = model if model is not None else SimulatedModel(fail_rate, seed)
        self.speed = speed
        self.lease_seconds = lease_seconds
        self.sweep_every = sweep_every
        self.processed = 0
        self._claiming = threading.Lock()  # held while claiming (a synchronous model answers)
        self._flushing = threading.Lock()
        self._lock = threading.Lock()  # guards _claims and _answers
        self._claims: dict[int, _Claim] = {}
        self._answers: deque[tuple[int, Sequence[Done]]] = deque()
        self._wake = threading.Event()
        self._delivered = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._tokens, self._last = 0.0, time.monotonic()
        self._next_renew = self._next_sweep = 0.0
        self._backoff_until, self._outage = 0.0, 0

    # -- control -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the background thread (idempotent)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._loop, name="batchframe-engine", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the background thread and the model; requests still in flight are given back
        (pending again, so a restart runs them)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.model.close()
        self._flush()
        with self._lock:
            leases = list(self._claims)
            self._claims.clear()
        if leases:
            self.store.release(leases, now=time.time())

    def pause(self) -> None:
        """Stop claiming until :meth:`resume` (``step`` still works).

        Returns once a claim under way, if any, is made: no request added after this returns is
        claimed in the background until :meth:`resume`. Requests already claimed finish.
        """
        self._running.clear()
        with self._claiming:  # the thread may be past its pause check, claiming
            pass

    def resume(self) -> None:
        self._running.set()
        self._wake.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def in_flight(self) -> int:
        """Requests claimed and not answered yet."""
        with self._lock:
            return sum(claim.left for claim in self._claims.values())

    def notify(self) -> None:
        """Wake the thread: new requests arrived."""
        self._wake.set()

    def step(self, n: int | None = None) -> int:
        """Synchronously run up to ``n`` pending requests (all when None); return how many were
        answered. Stops early when the model gives requests back (its backend is down)."""
        mine: list[_Claim] = []
        claimed = 0
        while True:
            want = CHUNK if n is None else n - claimed
            got = self._claim_round(want, background=False) if want > 0 else []
            mine += got
            claimed += sum(claim.count for claim in got)
            out = [claim for claim in mine if not claim.done.is_set()]
            given_back = any(claim.given_back for claim in mine)
            if not out and (not got or given_back):
                break
            if out and (not got or given_back):
                self._await_answers()
        return sum(claim.answered for claim in mine)

    # -- claiming and storing ------------------------------------------------------------------

    def _claim_round(self, budget: int, *, background: bool) -> list[_Claim]:
        """Claim up to ``budget`` requests (no more than the model's free slots) and submit them."""
        claims: list[_Claim] = []
        with self._claiming:
            while budget > 0:
                if background and not self._running.is_set():
                    break  # paused while this thread waited for the lock
                size = min(budget, self.model.claim_size, self.model.concurrency - self.in_flight)
                if size <= 0:
                    break
                claim = self.store.claim(size, now=time.time(), lease_seconds=self.lease_seconds)
                if claim is None:
                    break
                state = _Claim(claim.lease, len(claim.items))
                with self._lock:
                    self._claims[claim.lease] = state
                claims.append(state)
                budget -= state.count
                deliver = functools.partial(self._deliver, claim.lease)
                try:
                    self.model.submit(claim.items, deliver)
                except Exception:  # a model bug must not lose the requests
                    log.exception("the model failed to take %d requests", state.count)
                    deliver([(*item[:3], RETRY_LATER, b"") for item in claim.items])
                self._flush()  # a synchronous model has answered already
                if state.given_back:
                    break
        return claims

    def _deliver(self, lease: int, answers: Sequence[Done]) -> None:
        with self._lock:
            self._answers.append((lease, answers))
        self._delivered.set()
        self._wake.set()

    def _flush(self) -> int:
        """Store the answers that came back; end (or give back) the claims now complete."""
        with self._flushing:
            rows: list[Done] = []
            close: list[int] = []
            release: list[int] = []
            complete: list[_Claim] = []
            with self._lock:
                while self._answers:
                    lease, answers = self._answers.popleft()
                    claim = self._claims.get(lease)
                    if claim is None:
                        continue  # given back at stop: it runs again later
                    back = sum(1 for answer in answers if answer[3] == RETRY_LATER)
                    if back:
                        rows.extend(answer for answer in answers if answer[3] != RETRY_LATER)
                    else:
                        rows.extend(answers)
                    claim.given_back += back
                    claim.answered += len(answers) - back
                    claim.left -= len(answers)
                    if claim.left <= 0:
                        del self._claims[lease]
                        (release if claim.given_back else close).append(lease)
                        complete.append(claim)
            if not rows and not close and not release:
                return 0
            try:
                stored = self.store.finish(rows, now=time.time(), close=close)
                self.store.release(release, now=time.time())
            finally:
                for claim in complete:
                    claim.done.set()
            self.processed += stored
            self._track_outage(given_back=bool(release), answered=bool(rows))
            return stored

    def _track_outage(self, *, given_back: bool, answered: bool) -> None:
        if given_back:
            delay = min(_BACKOFF_MAX, _BACKOFF_START * 2.0**self._outage)
            delay *= 0.5 + random.random() / 2
            if self._outage == 0:
                log.warning("the model cannot be reached; requests wait (retrying)")
            self._outage += 1
            self._backoff_until = time.monotonic() + delay
        elif answered and self._outage:
            log.warning("the model answers again")
            self._outage = 0

    def _await_answers(self) -> None:
        """Wait a little for answers (flushing them), keeping leases renewed meanwhile."""
        self._delivered.wait(_IDLE_WAIT)
        self._delivered.clear()
        self._flush()
        self._housekeeping()

    # -- the background thread -----------------------------------------------------------------

    def _housekeeping(self) -> None:
        now = time.monotonic()
        if now >= self._next_renew:
            self._next_renew = now + self.lease_seconds / 3
            with self._lock:
                leases = list(self._claims)
            self.store.renew(leases, now=time.time(), lease_seconds=self.lease_seconds)
        if now >= self._next_sweep:
            self._next_sweep = now + self.sweep_every
            expired = self.store.expire(time.time())
            if expired:
                log.info("expiry cancelled %d unfinished requests", expired)

    def _background_round(self) -> int:
        if not self._running.is_set() or time.monotonic() < self._backoff_until:
            return 0
        if self.speed <= 0:
            return sum(c.count for c in self._claim_round(CHUNK, background=True))
        now = time.monotonic()
        self._tokens = min(self._tokens + (now - self._last) * self.speed, max(self.speed, 1.0))
        self._last = now
        if self._tokens < 1:
            return 0
        claimed = sum(c.count for c in self._claim_round(int(self._tokens), background=True))
        self._tokens -= claimed
        return claimed

    def _idle_wait(self) -> float:
        wait = _IDLE_WAIT
        if self.speed > 0 and self._tokens < 1:
            wait = min(wait, (1 - self._tokens) / self.speed)
        return max(wait, 0.001)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._housekeeping()
                self._flush()
                claimed = self._background_round()
            except Exception:  # never let one bad round kill the engine
                log.exception("engine round failed")
                claimed = 0
            if claimed == 0:
                self._wake.wait(self._idle_wait())
                self._wake.clear()
