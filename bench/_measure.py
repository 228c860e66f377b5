"""Measuring helpers for the benchmark suite: timing, CPU, peak RSS, server subprocesses, data.

Every figure runs in a fresh Python subprocess (``bench/_figures.py``), so one figure's memory
never inflates the next one's; inside it, :func:`measure` takes wall time (``perf_counter``),
this process's CPU time (``getrusage(RUSAGE_SELF)``, user + system, all threads) and the peak
RSS growth over the call (a psutil polling thread, checked against ``ru_maxrss``).

>>> sample = measure(lambda: sum(range(1000)))
>>> sample.wall >= 0 and sample.cpu >= 0
True
"""

from __future__ import annotations

import contextlib
import os
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import psutil

__all__ = [
    "API_KEY",
    "MODEL",
    "PeakRSS",
    "Sample",
    "ServerProcess",
    "make_frame",
    "measure",
    "median",
]

MODEL = "grok-4.3"
API_KEY = "bench-local-key"
MB = 1024 * 1024
PYTHON = sys.executable


def median(values: Sequence[float]) -> float:
    """The median of ``values`` (NaN when empty).

    >>> median([3.0, 1.0, 2.0])
    2.0
    """
    clean = [v for v in values if v == v]
    return statistics.median(clean) if clean else float("nan")


class PeakRSS:
    """The highest RSS of this process while the block runs, polled every ``interval`` seconds.

    ``growth`` is that peak minus the RSS at entry, in bytes. ``ru_maxrss`` is a lifetime peak,
    so it only tells something when it rose during the block; both readings are combined.
    """

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.process = psutil.Process()
        self.before = 0
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True, name="bench-rss")

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRSS:
        self._maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        self.before = self.process.memory_info().rss
        self.peak = self.before
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        if maxrss > self._maxrss_before:
            self.peak = max(self.peak, maxrss)

    @property
    def growth(self) -> int:
        return max(0, self.peak - self.before)


@dataclass
class Sample:
    """One measured call: seconds of wall and CPU time, peak RSS growth in bytes, its result."""

    wall: float
    cpu: float
    rss_growth: int
    value: Any = field(default=None, repr=False)

    def as_dict(self) -> dict[str, float]:
        return {"wall": self.wall, "cpu": self.cpu, "rss_mb": self.rss_growth / MB}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(fn: Callable[[], Any]) -> Sample:
    """Run ``fn()`` once and measure wall time, this process's CPU time and peak RSS growth."""
    with PeakRSS() as rss:
        cpu0, t0 = _cpu_seconds(), time.perf_counter()
        value = fn()
        wall, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
    return Sample(wall=wall, cpu=cpu, rss_growth=rss.growth, value=value)


# -- input data ---------------------------------------------------------------------------------

_ALPHABET = "abcdefghijklmnopqrstuvwxyz" + "     " + "eeaaoitn" + ".,'?\"-"


def make_frame(n: int, seed: int = 20261126) -> Any:
    """``n`` rows: ``id`` (``row-0000000``...) and ``prompt`` (random text of 80-120 chars).

    Deterministic for a given ``n`` and ``seed``; about 100 characters a prompt, with spaces,
    punctuation and the odd double quote (so the JSON escaping has work to do).

    >>> df = make_frame(3)
    >>> list(df.columns), df["id"].tolist()[:2], 80 <= len(df["prompt"][0]) <= 120
    (['id', 'prompt'], ['row-0000000', 'row-0000001'], True)
    """
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    rng = np.random.default_rng(seed)
    lengths = rng.integers(80, 121, size=n, dtype=np.int64)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    table = np.frombuffer(_ALPHABET.encode("ascii"), dtype=np.uint8)
    noise = np.frombuffer(rng.bytes(int(offsets[-1])), dtype=np.uint8)
    data = table[noise % len(table)]
    prompts = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))
    numbers = pc.utf8_lpad(pa.array(np.arange(n)).cast(pa.string()), 7, "0")
    ids = pc.binary_join_element_wise(pa.scalar("row-"), numbers, "")
    # pandas' default text dtype (what read_csv / read_parquet give a user).
    text = pd.StringDtype("pyarrow", na_value=np.nan)
    return pd.DataFrame(
        {"id": pd.array(ids, dtype=text), "prompt": pd.array(prompts.cast(pa.string()), dtype=text)}
    )


# -- the local server in a subprocess -----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """``python -m batchframe serve`` in a subprocess, on a free loopback port, speed 0.

    >>> with ServerProcess() as server:                       # doctest: +SKIP
    ...     print(server.base_url)
    """

    def __init__(self, *options: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.url = f"http://127.0.0.1:{self.port}"
        args = ["-m", "batchframe", "serve", "--port", str(self.port), "--speed", "0", *options]
        self.proc = subprocess.Popen(
            [PYTHON, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        headers = {"Authorization": f"Bearer {API_KEY}"}
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"the server exited early: {err[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base_url}/batches", headers=headers).status_code < 500:
                    return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("the server did not start in time")

    def rss_mb(self) -> float:
        with contextlib.suppress(psutil.Error):
            return float(psutil.Process(self.proc.pid).memory_info().rss) / MB
        return float("nan")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def server(*options: str) -> Iterator[ServerProcess]:
    """A :class:`ServerProcess` for the block."""
    proc = ServerProcess(*options)
    try:
        yield proc
    finally:
        proc.stop()


def wait_done(base_url: str, batch_id: str, timeout: float = 1800.0) -> float:
    """Poll ``GET /batches/{id}`` until nothing is pending; return the seconds it took."""
    import httpx

    start = time.perf_counter()
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as http:
        while time.perf_counter() - start < timeout:
            state = http.get(f"/batches/{batch_id}").json()["state"]
            if state["num_requests"] > 0 and state["num_pending"] == 0:
                return time.perf_counter() - start
            time.sleep(0.05)
    raise TimeoutError(f"batch {batch_id} still pending after {timeout}s")


def run_child(
    figure: str, args: dict[str, Any], env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run one figure in a fresh interpreter (``bench/_figures.py``); return its JSON result."""
    import json

    here = os.path.dirname(os.path.abspath(__file__))
    proc = subprocess.run(
        [PYTHON, os.path.join(here, "_figures.py"), figure, json.dumps(args)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout)[-3000:]
        return {"error": f"{figure} exited {proc.returncode}: {tail.strip()}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result
