"""Benchmark the local server in front of an upstream model (median of 3 runs each).

Run: ``.venv/bin/python bench/bench_upstream.py [--llama]`` (prints one line per figure).

- stub: a stub OpenAI-compatible upstream (its own process) answers every call after a fixed
  50 ms; the batch server (its own process, ``upstream_concurrency=32``) runs 3,000 requests
  through it. The ideal is 32 / 0.05 s = 640 requests/s; the line shows the rate, its ratio to
  the ideal, the same stub driven directly with the server's own HTTP client at 32 at once (the
  baseline, same run), and the batch server's CPU per request (its whole process: API, engine,
  store, HTTP client).
- llama (with ``--llama``, needs the ``llama`` extra): 20 reviews through the batch server to
  llama.cpp with Gemma 3 270M (1 thread, then 2), requests/s and generated tokens/s, beside the
  same 20 calls made directly to llama.cpp.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import httpx
import orjson
import psutil

AUTH = {"Authorization": "Bearer bench-key"}
LATENCY = 0.05
CONCURRENCY = 32
REQUESTS = 3000
_ANSWER = orjson.dumps(
    {
        "id": "x",
        "object": "chat.completion",
        "created": 1,
        "model": "stub",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 20, "completion_tokens": 1, "total_tokens": 21},
    }
)
_REPLY = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
    % len(_ANSWER)
    + _ANSWER
)


# -- the stub upstream (its own process) -----------------------------------------------------


async def _serve_stub(conn: Connection) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
                await asyncio.sleep(LATENCY)
                writer.write(_REPLY)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    conn.send(server.sockets[0].getsockname()[1])
    await asyncio.get_running_loop().run_in_executor(None, conn.recv)


def _stub_child(conn: Connection) -> None:
    asyncio.run(_serve_stub(conn))


def _server_child(conn: Connection, options: dict[str, Any]) -> None:
    from batchframe.server import serve

    with serve(**options) as handle:
        conn.send(handle.base_url)
        conn.recv()


class Child:
    """A spawned child process sending one value back, stopped on exit."""

    def __init__(self, target: Callable[..., None], *args: Any) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.parent, child = ctx.Pipe()
        self.proc = ctx.Process(target=target, args=(child, *args), daemon=True)

    def __enter__(self) -> tuple[Any, psutil.Process]:
        self.proc.start()
        value = self.parent.recv()
        assert self.proc.pid is not None
        return value, psutil.Process(self.proc.pid)

    def __exit__(self, *exc: object) -> None:
        self.parent.send("stop")
        self.proc.join(30)


def cpu_of(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


# -- runs ------------------------------------------------------------------------------------


def run_batch(base_url: str, items: list[dict[str, Any]], timeout: float = 600) -> float:
    """Seconds from adding ``items`` to the batch having nothing pending."""
    with httpx.Client(base_url=base_url, headers=AUTH, timeout=120) as http:
        batch_id = http.post("/batches", json={"name": "bench"}).json()["batch_id"]
        start = time.perf_counter()
        http.post(
            f"/batches/{batch_id}/requests", json={"batch_requests": items}
        ).raise_for_status()
        while True:
            state = http.get(f"/batches/{batch_id}").json()["state"]
            if state["num_pending"] == 0:
                break
            assert time.perf_counter() - start < timeout, state
            time.sleep(0.02)
        elapsed = time.perf_counter() - start
        assert state["num_success"] == len(items), state
    return elapsed


def chat_items(prefix: str, n: int, text: str, **params: Any) -> list[dict[str, Any]]:
    return [
        {
            "batch_request_id": f"{prefix}{i:06d}",
            "batch_request": {
                "chat_get_completion": {
                    "model": "grok-4.3",
                    "messages": [{"role": "user", "content": text.format(i=i)}],
                    **params,
                }
            },
        }
        for i in range(n)
    ]


async def _direct(url: str, bodies: list[dict[str, Any]], concurrency: int) -> float:
    """Seconds for ``bodies`` sent straight to the upstream with the server's own HTTP client."""
    from batchframe.server.upstream_http import HttpPool

    pool = HttpPool(url, size=concurrency, max_body=2**24, connect_timeout=10)
    headers = [("content-type", "application/json")]
    start = time.perf_counter()
    answers = await asyncio.gather(
        *(pool.post("/chat/completions", orjson.dumps(body), headers) for body in bodies)
    )
    elapsed = time.perf_counter() - start
    await pool.close()
    assert all(answer.status == 200 for answer in answers)
    return elapsed


def bench_stub() -> None:
    ideal = CONCURRENCY / LATENCY
    rates, cpus, direct = [], [], []
    with Child(_stub_child) as (port, _stub):
        url = f"http://127.0.0.1:{port}/v1"
        options = {"upstream": url, "upstream_concurrency": CONCURRENCY}
        with Child(_server_child, options) as (base_url, server):
            for run in range(3):
                items = chat_items(f"s{run}-", REQUESTS, "Classify review {i}: fine.")
                cpu = cpu_of(server)
                elapsed = run_batch(base_url, items)
                cpus.append((cpu_of(server) - cpu) / REQUESTS * 1000)
                rates.append(REQUESTS / elapsed)
                bodies = [{"model": "m", "messages": [{"role": "user", "content": "x"}]}] * REQUESTS
                direct.append(REQUESTS / asyncio.run(_direct(url, bodies, CONCURRENCY)))
    rate, base, cpu = statistics.median(rates), statistics.median(direct), statistics.median(cpus)
    print(
        f"stub 50 ms x {CONCURRENCY}: {rate:,.0f} requests/s = {rate / ideal:.0%} of the ideal "
        f"{ideal:,.0f} (direct baseline {base:,.0f}/s, ratio {rate / base:.2f}); "
        f"server CPU {cpu:.2f} ms/request  (runs: {', '.join(f'{r:,.0f}' for r in rates)}; "
        f"CPU {', '.join(f'{c:.2f}' for c in cpus)})"
    )


def bench_llama(threads: int) -> None:
    import pandas as pd

    from batchframe.server.llama import MODEL, LlamaServer

    texts = list(pd.read_csv("examples/reviews.csv")["text"].head(20))
    prompt = "Classify the sentiment of this review as positive, negative or neutral: "
    params = {"max_tokens": 16, "temperature": 0}
    rates, tokens, direct = [], [], []
    with LlamaServer(threads=threads) as llama:
        options = {"upstream": llama.base_url, "model_map": {"*": MODEL}, "upstream_concurrency": 2}
        with Child(_server_child, options) as (base_url, _server):
            for run in range(3):
                items = chat_items(f"l{run}-", 0, "")
                for i, text in enumerate(texts):
                    items += chat_items(f"l{run}-{i}-", 1, prompt + text, **params)
                elapsed = run_batch(base_url, items)
                generated = _generated(base_url)
                rates.append(len(items) / elapsed)
                tokens.append(generated / elapsed)
                bodies = [
                    {
                        "model": MODEL,
                        "messages": [{"role": "user", "content": prompt + t}],
                        **params,
                    }
                    for t in texts
                ]
                direct.append(len(bodies) / asyncio.run(_direct(llama.base_url, bodies, 2)))
    rate, tok, base = statistics.median(rates), statistics.median(tokens), statistics.median(direct)
    print(
        f"llama.cpp gemma-3-270m, {threads} thread(s): {rate:.2f} requests/s, {tok:.1f} generated "
        f"tokens/s (direct to llama.cpp {base:.2f} requests/s, ratio {rate / base:.2f})  "
        f"(runs: {', '.join(f'{r:.2f}' for r in rates)})"
    )


def _generated(base_url: str) -> int:
    """Completion tokens of the newest batch's results."""
    with httpx.Client(base_url=base_url, headers=AUTH) as http:
        batch_id = http.get("/batches", params={"limit": 1}).json()["batches"][0]["batch_id"]
        page = http.get(f"/batches/{batch_id}/results", params={"limit": 1000}).json()
    return sum(
        r["batch_result"]["response"]["chat_get_completion"]["usage"]["completion_tokens"]
        for r in page["results"]
    )


def main() -> int:
    bench_stub()
    if "--llama" in sys.argv:
        bench_llama(1)
        bench_llama(2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
