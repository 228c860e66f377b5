"""Seeded fault scenarios: submit a frame to a faulty local server and check every row.

Shared by the reliability tests and ``bench/soak.py``. A scenario is a plain frozen record; one
run starts a fresh server (in-process or on loopback), submits with ``bf.submit``, waits with
``job.wait``, reads ``job.results`` and checks that every input row appears exactly once with its
own answer (the simulated model echoes the prompt) or a failure text, and that the server holds
exactly one batch with exactly as many requests as rows.

Faults are counted as the client sees them, by a transport that wraps the real one and only
observes (the server keeps no per-kind fault counters): ``http_500``, ``http_503``, ``http_429``
(rate limit), ``dropped`` (connection closed with no reply), ``timeout`` (no reply within
``CALL_TIMEOUT``); ``failed_rows`` come from the server's request counters (``fail_rate``).
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
import pandas as pd

import batchframe as bf
from batchframe.server import BatchServer, serve

__all__ = [
    "CountingTransport",
    "Outcome",
    "Scenario",
    "check_rows",
    "make_frame",
    "make_matrix",
    "run_scenario",
]

API_KEY = "xai-reliability-test-key-0123456789"
#: Seconds a call may take before the client gives up on it and retries.
CALL_TIMEOUT = 10.0
_TRICKY = ["plain", 'quote " inside', "back\\slash", "new\nline", "tab\there", "é ü 漢字", "🎉", ""]


@dataclass(frozen=True)
class Scenario:
    """One seeded combination of fault settings, size and transport."""

    seed: int
    rows: int
    chunk_rows: int
    http_error_rate: float = 0.0
    drop_rate: float = 0.0
    fail_rate: float = 0.0
    add_calls_per_30s: float | None = None
    latency: float = 0.0
    loopback: bool = False
    concurrency: int = 2
    shuffled_index: bool = False

    def server_options(self) -> dict[str, Any]:
        return {
            "http_error_rate": self.http_error_rate,
            "drop_rate": self.drop_rate,
            "fail_rate": self.fail_rate,
            "add_calls_per_30s": self.add_calls_per_30s,
            "latency": self.latency,
            "seed": self.seed,
        }


@dataclass
class Outcome:
    """What one scenario run saw."""

    scenario: Scenario
    rows_checked: int = 0
    lost: int = 0
    duplicated: int = 0
    wrong: int = 0
    failed_rows: int = 0
    server_requests: int = 0
    server_batches: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    longest_sleep_asked: float = 0.0


def make_matrix(count: int, seed: int, *, max_rows: int = 400) -> list[Scenario]:
    """``count`` seeded scenarios: mixed faults, small sizes, every fourth one on loopback.

    >>> len(make_matrix(5, seed=1)), make_matrix(3, 7) == make_matrix(3, 7)
    (5, True)
    """
    rng = random.Random(seed)
    out: list[Scenario] = []
    for n in range(count):
        rows = rng.choice([1, 2, 7, 50, 137, max_rows])
        chunk_rows = rng.choice([1, 7, 25, 64]) if rows < 100 else rng.choice([25, 64, 100])
        limited = n % 10 == 3
        if limited:  # enough add calls to run past the budget
            rows, chunk_rows = max(rows, 60), 5
        out.append(
            Scenario(
                seed=rng.randrange(2**31),
                rows=rows,
                chunk_rows=chunk_rows,
                http_error_rate=rng.choice([0.0, 0.1, 0.25, 0.4]),
                drop_rate=rng.choice([0.0, 0.05, 0.15, 0.25]),
                fail_rate=rng.choice([0.0, 0.0, 0.2, 0.5, 1.0]),
                add_calls_per_30s=rng.choice([2.0, 4.0]) if limited else None,
                loopback=n % 4 == 1,
                concurrency=rng.choice([1, 2, 4]),
                shuffled_index=rng.random() < 0.5,
            )
        )
    return out


def make_frame(rows: int, seed: int, *, shuffled_index: bool = False) -> pd.DataFrame:
    """A frame whose ``prompt`` column is unique per row (escaping-hostile text included)."""
    rng = random.Random(seed)
    prompts = [f"row {i}: {rng.choice(_TRICKY)} {rng.randrange(10**6)}" for i in range(rows)]
    index: Any = None
    if shuffled_index:
        labels = np.arange(rows) * 3 + 5
        np.random.default_rng(seed).shuffle(labels)
        index = pd.Index(labels)
    return pd.DataFrame({"prompt": prompts, "n": range(rows)}, index=index)


class CountingTransport(httpx.BaseTransport):
    """Wraps a transport and counts what comes back by kind; changes nothing.

    ``on_request(request, counts)`` runs before each call (tests use it to act at a chosen
    moment, such as lifting a rate limit or killing the server).
    """

    def __init__(
        self,
        inner: httpx.BaseTransport,
        on_request: Callable[[httpx.Request, Counter[str]], None] | None = None,
    ) -> None:
        self.inner = inner
        self.on_request = on_request
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.counts[key] += n

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        kind = f"{request.method} {_route_of(path)}"
        self._count(f"call {kind}")
        if self.on_request is not None:
            self.on_request(request, self.counts)
        try:
            response = self.inner.handle_request(request)
            try:
                body = response.read()  # over a socket a drop shows while reading the body
            finally:
                response.close()
        except httpx.TimeoutException:
            self._count("timeout")
            raise
        except httpx.TransportError:
            self._count("dropped")
            raise
        if response.status_code >= 400:
            self._count(f"http_{response.status_code}")
        return httpx.Response(response.status_code, headers=response.headers, content=body)

    def close(self) -> None:
        self.inner.close()


def _route_of(path: str) -> str:
    parts = path.split("/")
    if len(parts) >= 4 and parts[2] == "batches":
        parts[3] = "{id}:cancel" if parts[3].endswith(":cancel") else "{id}"
    return "/".join(parts)


@contextmanager
def _server(sc: Scenario) -> Iterator[tuple[BatchServer, str, httpx.BaseTransport]]:
    if sc.loopback:
        handle = serve(**sc.server_options())
        try:
            yield handle.server, handle.base_url, httpx.HTTPTransport()
        finally:
            handle.stop()
    else:
        server = BatchServer(**sc.server_options())
        try:
            yield server, "http://localhost/v1", server.transport()
        finally:
            server.close()


def run_scenario(sc: Scenario, workdir: str | os.PathLike[str]) -> Outcome:
    """Run one scenario end to end and check every row (manifests go under ``workdir``)."""
    outcome = Outcome(sc)
    sleeps: list[float] = []

    def fast_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        time.sleep(min(seconds, 0.005))

    df = make_frame(sc.rows, sc.seed, shuffled_index=sc.shuffled_index)
    with _server(sc) as (server, base_url, inner):

        def lift_rate_limit(request: httpx.Request, counts: Counter[str]) -> None:
            # The add budget's window is 30 real seconds; after a few 429s open it up so the
            # suite stays fast (the 429 handling has been exercised by then).
            if counts["http_429"] >= 3 and server.faults.add_calls_per_30s is not None:
                server.faults.update({"add_calls_per_30s": None})

        transport = CountingTransport(inner, lift_rate_limit)
        client = bf.Client(
            api_key=API_KEY,
            base_url=base_url,
            timeout=CALL_TIMEOUT,
            max_retries=60,
            transport=transport,
            sleep=fast_sleep,
        )
        with client:
            job = bf.submit(
                df,
                prompt="prompt",
                model="grok-4.3",
                name=f"scenario-{sc.seed}",
                client=client,
                progress=False,
                chunk_rows=sc.chunk_rows,
                concurrency=sc.concurrency,
                calls_per_30s=100_000,
                manifest_dir=workdir,
            )
            job.wait(progress=False, sleep=lambda s: time.sleep(min(s, 0.01)))
            out = job.results()
            listed = [m.batch_request_id for m in client.iter_requests(job.batch_id)]
            batches = list(client.iter_batches())
        check_rows(df, out, listed, outcome)
        stats = server.store.stats()
        outcome.server_batches = len(batches)
        outcome.server_requests = stats["requests"]
        outcome.failed_rows = stats["failed"]
        outcome.faults.update(
            {k: v for k, v in transport.counts.items() if not k.startswith("call ")}
        )
        outcome.longest_sleep_asked = max(sleeps, default=0.0)
        if server.internal_errors:
            outcome.faults["internal_errors"] += server.internal_errors
    return outcome


def check_rows(df: pd.DataFrame, out: pd.DataFrame, listed: list[str], outcome: Outcome) -> None:
    """Compare results with the input row by row; fill lost/duplicated/wrong counts."""
    outcome.rows_checked += len(df)
    ids = [str(label) for label in df.index]
    counts = Counter(listed)
    outcome.duplicated += sum(c - 1 for c in counts.values() if c > 1)
    outcome.duplicated += max(0, len(out) - len(df))
    outcome.lost += len(set(ids) - set(counts))
    same_frame = len(out) == len(df) and out.index.equals(df.index)
    if not same_frame:
        outcome.lost += max(0, len(df) - len(out))
        outcome.wrong += len(df)
        return
    rows = zip(
        ids,
        df["prompt"].tolist(),
        out["batch_request_id"].tolist(),
        out["state"].tolist(),
        out["content"].tolist(),
        out["error"].tolist(),
        strict=True,
    )
    for rid, prompt, got_id, state, content, error in rows:
        if state not in ("succeeded", "failed"):
            outcome.lost += 1
        elif not _row_ok(rid, prompt, got_id, state, content, error):
            outcome.wrong += 1


def _row_ok(rid: str, prompt: str, got_id: Any, state: str, content: Any, error: Any) -> bool:
    if got_id != rid:
        return False
    if state == "succeeded":
        return bool(content == prompt)
    return isinstance(error, str) and bool(error) and not _present(content)


def _present(value: Any) -> bool:
    return not pd.isna(value)
