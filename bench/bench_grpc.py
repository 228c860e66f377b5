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
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection

import httpx
import psutil
from bench_server import PER_CALL, PROMPT, TOTAL, Rates, bench_ingest, bench_serve, cpu_seconds
from bench_server import median_of_3 as _median_of_3
from xai_sdk import Client
from xai_sdk.proto.v6 import batch_pb2, chat_pb2

from batchframe.server import serve

KEY = "bench-key"
AUTH = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
TARGET = 50_000


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


def ingest_grpc(sdk: Client, server: psutil.Process, run: int) -> Rates:
    calls = protos(f"g{run}-")
    batch_id = sdk.batch.create(batch_name=f"grpc ingest {run}").batch_id
    start, cpu = time.perf_counter(), cpu_seconds(server)
    for requests in calls:
        sdk.batch.add(batch_id=batch_id, batch_requests=requests)
    return TOTAL / (time.perf_counter() - start), TOTAL / (cpu_seconds(server) - cpu)


def serve_grpc(sdk: Client, server: psutil.Process, batch_id: str) -> Rates:
    start, cpu = time.perf_counter(), cpu_seconds(server)
    count, token = 0, None
    while True:
        page = sdk.batch.list_batch_results(batch_id=batch_id, limit=1000, pagination_token=token)
        count += len(page.results)
        token = page.pagination_token
        if not token:
            break
    assert count == TOTAL, count
    return count / (time.perf_counter() - start), count / (cpu_seconds(server) - cpu)


def median_of_3(name: str, unit: str, fn: Callable[[int], Rates]) -> float:
    return _median_of_3(name, unit, fn, width=12)


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
                "rest ingest", "requests/s", lambda r: bench_ingest(http, server, r, prefix="r")
            )
            batch_id = http.get("/batches", params={"limit": 1}).json()["batches"][0]["batch_id"]
            http.post(f"{url}/_control/step")
            grpc_out = median_of_3(
                "grpc serve", "results/s", lambda _r: serve_grpc(sdk, server, batch_id)
            )
            rest_out = median_of_3(
                "rest serve", "results/s", lambda _r: bench_serve(http, server, batch_id)
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
