"""Benchmark the local batch server: ingest, results served, engine processing (median of 3).

Run: ``.venv/bin/python bench/bench_server.py`` (prints one line per figure).

The server is a real ``serve()`` server in a child process (as it is for a user: another process
on the same box), so the client and the server each get a core; it is driven over loopback and
through its ``/_control`` routes.

- ingest: add calls of 10,000 requests (~100-character prompts) POSTed over loopback, engine
  paused so the figure is the API's alone; requests/s.
- serve: every result of a 100,000-request batch fetched in pages of 1,000 over loopback
  (following pagination tokens; the client reads only the token, not every item); results/s.
- process: the engine finishing 100,000 pending requests with the simulated model; requests/s.

Each line shows the wall-clock rate (median of 3 runs) and, in brackets, the rate per second of
CPU time the server spent: on a shared 2-core box other processes slow the wall-clock figure,
the CPU figure shows what the server itself costs.
"""

from __future__ import annotations

import multiprocessing
import statistics
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection

import httpx
import orjson
import psutil

from batchframe.server import BatchServer, serve

AUTH = {"Authorization": "Bearer bench-key", "Content-Type": "application/json"}
Rates = tuple[float, float]  # (items per wall second, items per server CPU second)
PER_CALL = 10_000
TOTAL = 100_000
PROMPT = (
    "Classify the sentiment of this product review as positive, negative or neutral: item {:07d}"
)


def add_bodies(prefix: str) -> list[bytes]:
    bodies = []
    for start in range(0, TOTAL, PER_CALL):
        items = [
            {
                "batch_request_id": f"{prefix}{i:07d}",
                "batch_request": {
                    "chat_get_completion": {
                        "model": "grok-4.3",
                        "messages": [{"role": "user", "content": PROMPT.format(i)}],
                    }
                },
            }
            for i in range(start, start + PER_CALL)
        ]
        bodies.append(orjson.dumps({"batch_requests": items}))
    return bodies


def bench_ingest(
    http: httpx.Client, server: psutil.Process, run: int, prefix: str = "run"
) -> Rates:
    bodies = add_bodies(f"{prefix}{run}-")
    batch_id = http.post("/batches", json={"name": f"ingest {run}"}).json()["batch_id"]
    start, cpu = time.perf_counter(), cpu_seconds(server)
    for body in bodies:
        reply = http.post(f"/batches/{batch_id}/requests", content=body)
        reply.raise_for_status()
    return TOTAL / (time.perf_counter() - start), TOTAL / (cpu_seconds(server) - cpu)


def bench_serve(http: httpx.Client, server: psutil.Process, batch_id: str) -> Rates:
    start, cpu = time.perf_counter(), cpu_seconds(server)
    count, token = 0, None
    while True:
        params = {"limit": 1000, **({"pagination_token": token} if token else {})}
        body = http.get(f"/batches/{batch_id}/results", params=params).content
        # The server is measured, not a JSON parser: count the items and read the token off
        # the tail (a full orjson parse of a page adds about 3-5 ms of client CPU).
        count += body.count(b'{"batch_request_id":')
        token = orjson.loads(body[body.rindex(b'"pagination_token":') + 19 : -1])
        if not token:
            break
    assert count == TOTAL, count
    return count / (time.perf_counter() - start), count / (cpu_seconds(server) - cpu)


def bench_process(run: int) -> Rates:
    with BatchServer(paused=True) as server:
        batch = server.store.create_batch("t", "p", key_id="k", now=time.time())
        for body in add_bodies(f"p{run}-"):
            server.routes.add_requests("t", batch.batch_id, body, time.time())
        start, cpu = time.perf_counter(), time.process_time()
        done = server.engine.step()
        elapsed, used = time.perf_counter() - start, time.process_time() - cpu
    assert done == TOTAL
    return done / elapsed, done / used


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def median_of_3(name: str, unit: str, fn: Callable[[int], Rates], width: int = 8) -> float:
    figures = [fn(run) for run in range(3)]
    wall = statistics.median(f[0] for f in figures)
    cpu = statistics.median(f[1] for f in figures)
    runs = ", ".join(f"{f[0]:,.0f}" for f in figures)
    print(
        f"{name:{width}s} {wall:>10,.0f} {unit}  [{cpu:,.0f} per server CPU second]  (runs: {runs})"
    )
    return wall


def _child(conn: Connection) -> None:
    with serve() as handle:
        conn.send(handle.url)
        conn.recv()  # wait for "stop"


def main() -> int:
    parent, child = multiprocessing.get_context("spawn").Pipe()
    proc = multiprocessing.get_context("spawn").Process(target=_child, args=(child,), daemon=True)
    proc.start()
    url = parent.recv()
    server = psutil.Process(proc.pid)
    try:
        with httpx.Client(base_url=f"{url}/v1", headers=AUTH, timeout=120) as http:
            http.post(f"{url}/_control/pause")
            median_of_3("ingest", "requests/s", lambda run: bench_ingest(http, server, run))
            batch_id = http.get("/batches", params={"limit": 1}).json()["batches"][0]["batch_id"]
            http.post(f"{url}/_control/step")
            median_of_3("serve", "results/s", lambda run: bench_serve(http, server, batch_id))
    finally:
        parent.send("stop")
        proc.join(30)
    median_of_3("process", "requests/s", bench_process)
    return 0


if __name__ == "__main__":
    sys.exit(main())
