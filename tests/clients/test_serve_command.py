"""``batchframe serve --grpc-port N --models ...`` as a real process: the SDK on gRPC, httpx on
REST, one store behind both, only the listed models admitted."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
from xai_sdk import Client
from xai_sdk.chat import user

from batchframe.testing import free_port

AUTH = {"Authorization": "Bearer cli-key"}


def test_serve_with_a_grpc_port_and_a_model_list() -> None:
    port, grpc_port = free_port(), free_port()
    command = [sys.executable, "-m", "batchframe", "serve", "--port", str(port),
               "--grpc-port", str(grpc_port), "--models", "grok-4.3,my-model"]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, env=env, text=True)
    try:
        url = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/batches", headers=AUTH, timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.05)
        sdk = Client(api_key="cli-key", api_host=f"localhost:{grpc_port}")
        batch = sdk.batch.create(batch_name="cli-grpc")
        chat = sdk.chat.create(model="my-model", batch_request_id="one")
        chat.append(user("over the command line"))
        sdk.batch.add(batch_id=batch.batch_id, batch_requests=[chat])
        while sdk.batch.get(batch_id=batch.batch_id).state.num_pending:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        results = sdk.batch.list_batch_results(batch_id=batch.batch_id)
        assert results.succeeded[0].response.content == "over the command line"
        sdk.close()
        rest = httpx.get(f"{url}/batches/{batch.batch_id}/results", headers=AUTH).json()
        assert rest["results"][0]["batch_request_id"] == "one"
        item = {"batch_request": {"chat_get_completion": {"model": "grok-4.20", "messages": []}}}
        refused = httpx.post(f"{url}/batches/{batch.batch_id}/requests", headers=AUTH,
                             json={"batch_requests": [item]})  # fmt: skip
        assert refused.status_code == 400
        assert refused.json()["error"] == "Model grok-4.20 is not supported for batch processing."
        models = httpx.get(f"{url}/language-models", headers=AUTH).json()["models"]
        assert [m["id"] for m in models] == ["grok-4.3", "my-model"]
    finally:
        proc.terminate()
        _out, err = proc.communicate(timeout=20)
    assert f"api_host='localhost:{grpc_port}'" in err
