"""`batchframe serve` as a subprocess, the runner, and /openapi.json."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
from click.testing import CliRunner
from srv_helpers import AUTH

from batchframe.cli import main
from batchframe.server import ServerHandle
from batchframe.testing import free_port

ROUTES = {
    "/v1/batches",
    "/v1/batches/{batch_id}",
    "/v1/batches/{batch_id}:cancel",
    "/v1/batches/{batch_id}/requests",
    "/v1/batches/{batch_id}/results",
}
NEW_ROUTES = {
    "/v1/files",
    "/v1/files/{file_id}",
    "/v1/files/{file_id}/content",
    "/v1/tokenize-text",
    "/v1/language-models",
    "/v1/language-models/{model_id}",
}


def test_serve_subprocess_answers_on_its_port() -> None:
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "batchframe", "serve", "--port", str(port), "--speed", "0"],
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        url = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + 20
        while True:
            try:
                reply = httpx.post(f"{url}/batches", json={"name": "cli"}, headers=AUTH, timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, "server exited"
                assert time.monotonic() < deadline, "server did not come up"
                time.sleep(0.1)
        assert reply.status_code == 200
        assert httpx.get(f"{url}/batches", headers=AUTH).json()["batches"][0]["name"] == "cli"
    finally:
        proc.terminate()
        _out, err = proc.communicate(timeout=10)
    assert f"batchframe local batch server on http://127.0.0.1:{port}/v1" in err.decode()


def test_serve_help_lists_the_fixed_options() -> None:
    result = CliRunner().invoke(main, ["serve", "--help"])
    assert result.exit_code == 0
    for option in (
        "--host",
        "--port",
        "--db",
        "--keys",
        "--speed",
        "--fail-rate",
        "--http-error-rate",
        "--drop-rate",
        "--latency",
        "--add-calls-per-30s",
        "--creates-per-second",
        "--max-body-mb",
        "--time-format",
        "--seed",
        "--grpc-port",
        "--models",
        "--max-file-mb",
    ):
        assert option in result.output


def test_openapi_lists_every_route(loopback_server: ServerHandle) -> None:
    doc = httpx.get(f"{loopback_server.url}/openapi.json").json()
    assert doc["openapi"].startswith("3.0")
    assert set(doc["paths"]) == ROUTES | NEW_ROUTES
    operations = [op for item in doc["paths"].values() for op in item]
    assert len(operations) == 7 + 8  # the seven batch routes; files, tokenizer, model list
    assert "Error" in doc["components"]["schemas"]


def test_rfc3339_time_format() -> None:
    from batchframe.server import serve

    with serve(time_format="rfc3339") as handle:
        batch = httpx.post(f"{handle.base_url}/batches", json={"name": "t"}, headers=AUTH).json()
    assert batch["create_time"].endswith("Z") and "T" in batch["create_time"]
