"""Benchmark the gRPC front with xAI's SDK as the client, against REST in the same run (median of 3).

Run: ``.venv/bin/python bench/bench_grpc.py`` (prints one line per figure, then the ratios).

The server is a real ``serve(grpc_port=0)`` server in a child process (both fronts, one store),
so the client and the server each get a core; everything goes over loopback.

- ingest: 100,000 requests (~100-character prompts) in add calls of 10,000, engine paused.
  gRPC: ``xai_sdk.Client.batch.add`` with ``BatchRequest`` protos built beforehand (the SDK's
  own request copying and serialisation are timed). REST: the same requests as pre-encoded JSON
  bodies, POSTed with httpx (as ``bench/bench_server.py`` does).
- serve: every result of a 100,000-request batch, in pages of 1,000. gRPC:
  ``client.batch.list_batch_results`` following its tokens, reading each page's ``results``
  (the SDK parses every result proto). REST: GET pages, reading only the token.

Each line shows the wall-clock rate (median of 3) and, in brackets, the rate per second of
CPU time the server spent (the box is shared; the CPU figure is what the server costs).
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
from xai_sdk import Client
from xai_sdk.proto.v6 import batch_pb2, chat_pb2

from batchframe.server import serve

KEY = "bench-key"
AUTH = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
Rates = tuple[float, float]
PER_CALL = 10_000
TOTAL = 100_000
TARGET = 50_000
PROMPT = (
    "Classify the sentiment of this product review as positive, negative or neutral: item {:07d}"
)


def protos(prefix: str) -> list[list[batch_pb2.BatchRequest]]:
    calls = []
    for start in range(0, TOTAL, PER_CALL):
        calls.append(
            [
                batch_pb2.BatchRequest(
                    batch_request_id=f"{prefix}{i:07d}",
                    completion_request=chat_pb2.GetCompletionsRequest(
                        model="grok-4.3",
                        messages=[
                            chat_pb2.Message(
                                role=chat_pb2.ROLE_USER,
                                content=[chat_pb2.Content(text=PROMPT.format(i))],
                            )
                        ],
                    ),
                )
                for i in range(start, start + PER_CALL)
            ]
        )
    return calls


def bodies(prefix: str) -> list[bytes]:
    out = []
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
        out.append(orjson.dumps({"batch_requests": items}))
    return out


def ingest_grpc(sdk: Client, server: psutil.Process, run: int) -> Rates:
    calls = protos(f"g{run}-")
    batch_id = sdk.batch.create(batch_name=f"grpc ingest {run}").batch_id
    start, cpu = time.perf_counter(), _cpu(server)
    for requests in calls:
        sdk.batch.add(batch_id=batch_id, batch_requests=requests)
    return TOTAL / (time.perf_counter() - start), TOTAL / (_cpu(server) - cpu)


def ingest_rest(http: httpx.Client, server: psutil.Process, run: int) -> Rates:
    calls = bodies(f"r{run}-")
    batch_id = http.post("/batches", json={"name": f"rest ingest {run}"}).json()["batch_id"]
    start, cpu = time.perf_counter(), _cpu(server)
    for body in calls:
        http.post(f"/batches/{batch_id}/requests", content=body).raise_for_status()
    return TOTAL / (time.perf_counter() - start), TOTAL / (_cpu(server) - cpu)


def serve_grpc(sdk: Client, server: psutil.Process, batch_id: str) -> Rates:
    start, cpu = time.perf_counter(), _cpu(server)
    count, token = 0, None
    while True:
        page = sdk.batch.list_batch_results(batch_id=batch_id, limit=1000, pagination_token=token)
        count += len(page.results)
        token = page.pagination_token
        if not token:
            break
    assert count == TOTAL, count
    return count / (time.perf_counter() - start), count / (_cpu(server) - cpu)


def serve_rest(http: httpx.Client, server: psutil.Process, batch_id: str) -> Rates:
    start, cpu = time.perf_counter(), _cpu(server)
    count, token = 0, None
    while True:
        params = {"limit": 1000, **({"pagination_token": token} if token else {})}
        body = http.get(f"/batches/{batch_id}/results", params=params).content
        count += body.count(b'{"batch_request_id":')
        token = orjson.loads(body[body.rindex(b'"pagination_token":') + 19 : -1])
        if not token:
            break
    assert count == TOTAL, count
    return count / (time.perf_counter() - start), count / (_cpu(server) - cpu)


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def median_of_3(name: str, unit: str, fn: Callable[[int], Rates]) -> float:
    figures = [fn(run) for run in range(3)]
    wall = statistics.median(f[0] for f in figures)
    cpu = statistics.median(f[1] for f in figures)
    runs = ", ".join(f"{f[0]:,.0f}" for f in figures)
    print(f"{name:12s} {wall:>10,.0f} {unit}  [{cpu:,.0f} per server CPU second]  (runs: {runs})")
    return wall


def _child(conn: Connection) -> None:
    with serve(grpc_port=0) as handle:
        conn.send((handle.url, handle.grpc_address))
        conn.recv()  # wait for "stop"


def main() -> int:
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    proc = context.Process(target=_child, args=(child,), daemon=True)
    proc.start()
    url, address = parent.recv()
    server = psutil.Process(proc.pid)
    sdk = Client(api_key=KEY, api_host=address)
    try:
        with httpx.Client(base_url=f"{url}/v1", headers=AUTH, timeout=120) as http:
            http.post(f"{url}/_control/pause")
            grpc_in = median_of_3(
                "grpc ingest", "requests/s", lambda r: ingest_grpc(sdk, server, r)
            )
            rest_in = median_of_3(
                "rest ingest", "requests/s", lambda r: ingest_rest(http, server, r)
            )
            batch_id = http.get("/batches", params={"limit": 1}).json()["batches"][0]["batch_id"]
            http.post(f"{url}/_control/step")
            grpc_out = median_of_3(
                "grpc serve", "results/s", lambda _r: serve_grpc(sdk, server, batch_id)
            )
            rest_out = median_of_3(
                "rest serve", "results/s", lambda _r: serve_rest(http, server, batch_id)
            )
    finally:
        sdk.close()
        parent.send("stop")
        proc.join(30)
    print(f"grpc/rest ingest {grpc_in / rest_in:.2f}x, serve {grpc_out / rest_out:.2f}x")
    ok = grpc_in >= TARGET and grpc_out >= TARGET
    print(f"target {TARGET:,}/s for both gRPC figures: {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
