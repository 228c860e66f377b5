"""Restarts lose nothing: the server SIGKILLed and restarted on its database, the client killed.

- The server runs as ``python -m batchframe serve --port P --db FILE``; it is killed with SIGKILL
  and restarted on the same file and port during the upload, during polling and during result
  paging. The client rides through with retries and real (short) backoff sleeps.
- A client process is SIGKILLed part-way through its upload; the same ``submit`` run again, from
  another working directory, reattaches to the batch, adds only the rest and creates no second
  batch (manifests live in BATCHFRAME_HOME, never in the working directory).
"""

from __future__ import annotations

import os
import pathlib
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import orjson
import pytest
from fault_scenarios import API_KEY, CountingTransport, Outcome, Scenario, check_rows, make_frame

import batchframe as bf
from batchframe._config import RetryPolicy
from batchframe.server import serve
from batchframe.testing import free_port

HERE = pathlib.Path(__file__).parent
RIDE_THROUGH = RetryPolicy(max_retries=200, initial_delay=0.05, max_delay=0.2)


class ServerProcess:
    """``python -m batchframe serve`` on a fixed port and database file."""

    def __init__(self, db: pathlib.Path, port: int, *args: str) -> None:
        self.db, self.port, self.args = db, port, args
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0
        self.log = db.with_suffix(".log")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> None:
        cmd = [sys.executable, "-m", "batchframe", "serve", "--port", str(self.port)]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [*cmd, "--db", str(self.db), *self.args], stdout=log, stderr=log
            )
        for _ in range(3000):
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.01)
        raise RuntimeError("server did not start")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.kills += 1

    def kill_and_restart(self, outage: float) -> None:
        self.kill()
        time.sleep(outage)  # the client keeps retrying into a closed port meanwhile
        self.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def server_process(tmp_path: pathlib.Path) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path / "batches.sqlite", free_port(), "--speed", "4000")
    process.start()
    yield process
    process.stop()


@pytest.mark.slow
def test_server_killed_during_upload_polling_and_paging(
    server_process: ServerProcess, tmp_path: pathlib.Path
) -> None:
    rows = 6000
    df = make_frame(rows, 99, shuffled_index=True)
    kill_at = {"POST /v1/batches/{id}/requests": 6, "GET /v1/batches/{id}": 2}
    kill_at["GET /v1/batches/{id}/results"] = 3
    restarts: list[threading.Thread] = []
    killed: set[str] = set()

    def chaos(request: httpx.Request, counts: Counter[str]) -> None:
        for route, nth in kill_at.items():
            if route not in killed and counts[f"call {route}"] >= nth:
                killed.add(route)
                thread = threading.Thread(target=server_process.kill_and_restart, args=(1.0,))
                thread.start()
                restarts.append(thread)
                if route.startswith("POST"):
                    return  # the kill lands while this add call is on the wire or applying
                time.sleep(0.05)  # let the kill land before this call goes out

    transport = CountingTransport(httpx.HTTPTransport(), chaos)
    client = bf.Client(
        api_key=API_KEY, base_url=server_process.base_url, retry=RIDE_THROUGH, transport=transport
    )
    with client:
        job = bf.submit(
            df,
            prompt="prompt",
            model="grok-4.3",
            name="restarts",
            client=client,
            progress=False,
            chunk_rows=100,
            concurrency=2,
            calls_per_30s=100_000,
            manifest_dir=tmp_path,
        )
        job.wait(progress=False, sleep=lambda s: time.sleep(min(s, 0.05)))
        out = job.results()
        listed = [m.batch_request_id for m in client.iter_requests(job.batch_id)]
        batches = list(client.iter_batches())
    for thread in restarts:
        thread.join()
    outcome = Outcome(Scenario(seed=99, rows=rows, chunk_rows=100))
    check_rows(df, out, listed, outcome)
    assert server_process.kills == 3 and killed == set(kill_at)
    assert transport.counts["dropped"] >= 3  # each outage was felt by the client
    assert (outcome.lost, outcome.duplicated, outcome.wrong) == (0, 0, 0)
    assert len(listed) == rows and len(batches) == 1
    assert batches[0].num_requests == rows and batches[0].num_success == rows


_CLIENT_SCRIPT = """
import sys
sys.path.insert(0, {here!r})
import batchframe as bf
from fault_scenarios import API_KEY, make_frame
client = bf.Client(api_key=API_KEY, base_url=sys.argv[1])
bf.submit(make_frame({rows}, 5), prompt="prompt", model="grok-4.3", name="resume-me",
          client=client, progress=False, chunk_rows=20, concurrency=1, calls_per_30s=100000)
"""


@pytest.mark.slow
def test_client_killed_mid_upload_resumes_without_resending(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = 2000
    with serve(latency=0.02) as handle:
        script = tmp_path / "submit_script.py"
        script.write_text(_CLIENT_SCRIPT.format(here=str(HERE), rows=rows))
        home = tmp_path / "home"
        env = {**os.environ, "BATCHFRAME_DISABLE_PROGRESS": "1", "BATCHFRAME_HOME": str(home)}
        child = subprocess.Popen(
            [sys.executable, str(script), handle.base_url],
            cwd=tmp_path,
            env=env,
            stderr=subprocess.DEVNULL,
        )
        store = handle.server.store
        while store.stats()["requests"] < 300 and child.poll() is None:
            time.sleep(0.005)
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert child.returncode == -signal.SIGKILL, "the client finished before it was killed"
        time.sleep(0.2)  # an add call already on the wire lands (or not) before we count
        before = store.stats()["requests"]
        assert 0 < before < rows
        assert list((home / "manifests").glob("*.json"))
        assert not (tmp_path / ".batchframe").exists()

        sent: Counter[str] = Counter()

        def count_items(request: httpx.Request, counts: Counter[str]) -> None:
            if request.method == "POST" and request.url.path.endswith("/requests"):
                for item in orjson.loads(request.content)["batch_requests"]:
                    sent[item["batch_request_id"]] += 1

        (tmp_path / "elsewhere").mkdir()
        monkeypatch.chdir(tmp_path / "elsewhere")
        monkeypatch.setenv("BATCHFRAME_HOME", str(home))
        transport = CountingTransport(httpx.HTTPTransport(), count_items)
        df = make_frame(rows, 5)
        with bf.Client(api_key=API_KEY, base_url=handle.base_url, transport=transport) as client:
            job = bf.submit(
                df,
                prompt="prompt",
                model="grok-4.3",
                name="resume-me",
                client=client,
                progress=False,
                chunk_rows=20,
                calls_per_30s=100_000,
            )
            assert transport.counts["call POST /v1/batches"] == 0  # reattached, no create
            job.wait(progress=False, sleep=lambda s: time.sleep(min(s, 0.02)))
            out = job.results()
            listed = [m.batch_request_id for m in client.iter_requests(job.batch_id)]
        assert sum(sent.values()) == rows - before  # only the rest was added
        assert max(sent.values()) == 1
        stats = handle.server.store.stats()
        assert stats["batches"] == 1 and stats["requests"] == rows
    outcome = Outcome(Scenario(seed=5, rows=rows, chunk_rows=20))
    check_rows(df, out, listed, outcome)
    assert (outcome.lost, outcome.duplicated, outcome.wrong) == (0, 0, 0)
