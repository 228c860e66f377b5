"""One benchmark figure per fresh interpreter: ``python bench/_figures.py FIGURE 'JSON-ARGS'``.

Prints one JSON object (the last line of stdout) with the measured values. ``bench/run.py``
starts these processes and any server they talk to; nothing here is meant to be run by hand,
but it can be, e.g. ``python bench/_figures.py encode '{"n": 100000, "impl": "bf"}'``.
"""

from __future__ import annotations

import gc
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import baseline
import httpx
from _measure import API_KEY, MB, MODEL, PYTHON, Sample, make_frame, measure

_TOKEN = re.compile(rb'"pagination_token"\s*:\s*(null|"[^"]*")')
AUTH = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}


def _client(base_url: str, **kwargs: Any) -> Any:
    import batchframe as bf

    return bf.Client(api_key=API_KEY, base_url=base_url, timeout=600, **kwargs)


def _settle() -> None:
    gc.collect()


def fig_encode(n: int, impl: str) -> dict[str, Any]:
    """Request building only: DataFrame -> the bytes of every add call."""
    df = make_frame(n)
    if impl == "bf":
        from batchframe.frame.encode import encode_requests

        def run() -> Any:
            return encode_requests(df, prompt="prompt", model=MODEL, id_column="id")
    else:

        def run() -> Any:
            return baseline.encode_chunks(baseline.build_requests(df, MODEL))

    _settle()
    cold = measure(run).as_dict()
    _settle()  # the same call again: allocator pools and caches are warm now
    warm = measure(run)
    return {**cold, "wall_warm": warm.wall}


def fig_submit(n: int, impl: str, base_url: str) -> dict[str, Any]:
    """``bf.submit`` (or the baseline loop) of ``n`` rows to a server in another process."""
    df = make_frame(n)
    if impl == "bf":
        import batchframe as bf

        client = _client(base_url)
        home = tempfile.mkdtemp(prefix="bench-manifests-")

        def run() -> str:
            job = bf.submit(
                df,
                prompt="prompt",
                model=MODEL,
                id_column="id",
                client=client,
                progress=False,
                manifest_dir=home,
                cache=False,  # every repetition sends: the cache has its own figures
                name=f"bench-{uuid.uuid4().hex[:8]}",
            )
            return str(job.batch_id)
    else:

        def run() -> str:
            return baseline.submit(df, base_url, API_KEY, MODEL)

    _settle()
    sample = measure(run)
    got = httpx.get(f"{base_url}/batches/{sample.value}", headers=AUTH).json()["state"]
    return {**sample.as_dict(), "num_requests": got["num_requests"]}


def _post_all(base_url: str, batch_id: str, bodies: list[bytes], workers: int = 2) -> None:
    """POST every body to the batch, ``workers`` connections at a time."""
    todo = list(enumerate(bodies))
    lock = threading.Lock()
    errors: list[str] = []

    def worker() -> None:
        with httpx.Client(base_url=base_url, headers=AUTH, timeout=600) as http:
            while True:
                with lock:
                    if not todo:
                        return
                    _, body = todo.pop(0)
                response = http.post(f"/batches/{batch_id}/requests", content=body)
                if response.status_code >= 400:
                    errors.append(f"{response.status_code} {response.text[:200]}")

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"add calls failed: {errors[:3]}")


def _bodies(n: int) -> list[bytes]:
    df = make_frame(n)
    try:
        from batchframe.frame.encode import encode_requests

        enc = encode_requests(df, prompt="prompt", model=MODEL, id_column="id")
        return [enc.payload(i, i + baseline.CHUNK) for i in range(0, n, baseline.CHUNK)]
    except ImportError:  # the codec is not there: the same bodies, built the plain way
        return [b.encode() for b in baseline.encode_chunks(baseline.build_requests(df, MODEL))]


def fig_server(n: int, base_url: str) -> dict[str, Any]:
    """The server alone: ingest (engine paused), process (one step), serve (raw pages)."""
    bodies = _bodies(n)
    root = base_url.rsplit("/v1", 1)[0]
    with httpx.Client(base_url=base_url, headers=AUTH, timeout=600) as http:
        batch_id = http.post("/batches", content=b'{"name":"bench-server"}').json()["batch_id"]
        http.post(f"{root}/_control/pause")
        t0 = time.perf_counter()
        _post_all(base_url, batch_id, bodies)
        ingest = time.perf_counter() - t0
        t0 = time.perf_counter()
        processed = http.post(f"{root}/_control/step").json()["processed"]
        process = time.perf_counter() - t0
        http.post(f"{root}/_control/resume")
        t0, token, served = time.perf_counter(), None, 0
        while True:
            params: dict[str, Any] = {"limit": 1000}
            if token:
                params["pagination_token"] = token
            raw = http.get(f"/batches/{batch_id}/results", params=params).content
            served += raw.count(b'"batch_request_id"')
            match = _TOKEN.search(raw, max(0, len(raw) - 1000))
            token = json.loads(match.group(1)) if match else None
            if not token:
                break
        serve = time.perf_counter() - t0
    return {
        "batch_id": batch_id,
        "ingest_per_s": n / ingest,
        "process_per_s": processed / process if processed else 0.0,
        "serve_per_s": served / serve,
        "processed": processed,
        "served": served,
    }


def fig_results(n: int, impl: str, base_url: str, batch_id: str) -> dict[str, Any]:
    """``attach(...).results()`` (or the baseline pages + merge) of a finished batch."""
    df = make_frame(n)
    if impl == "bf":
        import batchframe as bf

        client = _client(base_url)

        def run() -> Any:
            return bf.attach(batch_id, df, id_column="id", client=client).results()
    else:

        def run() -> Any:
            return baseline.results(df, base_url, API_KEY, batch_id)

    _settle()
    sample = measure(run)
    out = sample.value
    return {**sample.as_dict(), "rows": len(out), "content": int(out["content"].notna().sum())}


def fig_parquet(n: int, impl: str, base_url: str, batch_id: str) -> dict[str, Any]:
    """``job.to_parquet`` (or the baseline frame's ``to_parquet``): peak RSS growth."""
    df = make_frame(n)
    path = os.path.join(tempfile.mkdtemp(prefix="bench-parquet-"), "out.parquet")
    run: Callable[[], Any]
    if impl == "bf":
        import batchframe as bf

        job = bf.attach(batch_id, df, id_column="id", client=_client(base_url))

        def run() -> Any:
            return job.to_parquet(path)
    else:

        def run() -> Any:
            return baseline.results(df, base_url, API_KEY, batch_id).to_parquet(path)

    _settle()
    sample = measure(run)
    import pyarrow.parquet as pq

    rows = pq.ParquetFile(path).metadata.num_rows
    os.unlink(path)
    return {**sample.as_dict(), "rows": rows}


class _Recorder(httpx.HTTPTransport):
    """A real HTTP transport that notes the start time and status of every add call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[float, int]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        start = time.monotonic()
        response = super().handle_request(request)
        if request.method == "POST" and request.url.path.endswith("/requests"):
            self.calls.append((start, response.status_code))
        return response


def fig_pacing(rows: int, chunk: int, budget: float, base_url: str) -> dict[str, Any]:
    """``bf.submit`` in chunks of ``chunk`` against a server allowing ``budget`` add calls / 30 s.

    Utilisation = the shortest span a rolling window of ``budget`` per 30 s allows for the
    calls made (``floor((calls-1)/budget) * 30`` s, first start to last start) divided by
    the span observed. 100% means no time was left on the table.
    """
    import batchframe as bf

    df = make_frame(rows)
    recorder = _Recorder()
    client = _client(base_url, transport=recorder)
    failure = ""
    t0 = time.perf_counter()
    try:
        bf.submit(
            df,
            prompt="prompt",
            model=MODEL,
            id_column="id",
            client=client,
            progress=False,
            manifest_dir=tempfile.mkdtemp(prefix="bench-manifests-"),
            cache=False,
            chunk_rows=chunk,
            calls_per_30s=budget,
        )
    except Exception as exc:  # an add call that failed for good is the figure, not a crash
        failure = f"{type(exc).__name__}: {exc}"[:300]
    wall = time.perf_counter() - t0
    ok = [t for t, status in recorder.calls if status < 400]
    limited = sum(1 for _, status in recorder.calls if status == 429)
    span = (max(ok) - min(ok)) if len(ok) > 1 else 0.0
    ideal = ((len(ok) - 1) // max(1, int(budget))) * 30.0 if ok else 0.0
    return {
        "wall": wall,
        "calls_ok": len(ok),
        "calls_429": limited,
        "span": span,
        "ideal_span": ideal,
        "utilisation": (ideal / span) if span > 0 and ideal > 0 else float("nan"),
        "failure": failure,
    }


def fig_e2e_api(n: int) -> dict[str, Any]:
    """The Python API end to end, in one process like ``run --local``: phase times, peak RSS."""
    import resource

    import batchframe as bf
    from batchframe.frame.encode import encode_requests

    df = make_frame(n)
    _settle()
    phases: dict[str, float] = {}
    encode: Sample = measure(
        lambda: encode_requests(df, prompt="prompt", model=MODEL, id_column="id")
    )
    phases["encode"] = encode.wall
    del encode
    _settle()
    path = os.path.join(tempfile.mkdtemp(prefix="bench-e2e-"), "out.parquet")
    start = time.perf_counter()
    with bf.serve() as handle:
        client = bf.Client(api_key=API_KEY, base_url=handle.base_url, timeout=600)
        t0 = time.perf_counter()
        job = bf.submit(
            df,
            prompt="prompt",
            model=MODEL,
            id_column="id",
            client=client,
            progress=False,
            manifest_dir=tempfile.mkdtemp(prefix="bench-manifests-"),
            cache=False,
        )
        phases["upload"] = max(0.0, time.perf_counter() - t0 - phases["encode"])
        t0 = time.perf_counter()
        job.wait(progress=False)
        phases["processing"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        job.to_parquet(path)
        phases["results+write"] = time.perf_counter() - t0
    phases["total"] = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MB
    os.unlink(path)
    return {**phases, "peak_rss_mb": peak}


def fig_e2e_cli(n: int) -> dict[str, Any]:
    """``batchframe run INPUT --local -o OUT.parquet``: wall time and the command's peak RSS."""
    import resource

    folder = tempfile.mkdtemp(prefix="bench-cli-")
    source = os.path.join(folder, "in.parquet")
    make_frame(n).to_parquet(source)
    command = [
        PYTHON, "-m", "batchframe", "run", source, "--model", MODEL, "--prompt", "prompt",
        "--id-column", "id", "--local", "--no-progress", "-o", os.path.join(folder, "out.parquet"),
    ]  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"batchframe run exited {proc.returncode}: {proc.stderr[-1500:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 / MB
    return {"wall": wall, "peak_rss_mb": peak}


FIGURES: dict[str, Callable[..., dict[str, Any]]] = {
    "encode": fig_encode,
    "submit": fig_submit,
    "server": fig_server,
    "results": fig_results,
    "parquet": fig_parquet,
    "pacing": fig_pacing,
    "e2e_api": fig_e2e_api,
    "e2e_cli": fig_e2e_cli,
}


def main(argv: list[str]) -> int:
    name, args = argv[1], json.loads(argv[2])
    result = FIGURES[name](**args)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
