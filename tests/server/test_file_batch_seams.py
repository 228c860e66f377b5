"""File batches (issue 11) meet the engine, leases and expiry (issue 12): a file batch expires
like any batch, its parse lands while the engine is paused, and a server SIGKILLed around the
parse loses nothing and answers nothing twice after a restart."""

from __future__ import annotations

import pathlib
import time
from typing import Any

import httpx
import orjson
from srv_helpers import assert_error, chat_item, client_for

from batchframe.server import BatchServer
from batchframe.testing import ServeProcess


def jsonl(n: int, prefix: str = "r") -> bytes:
    rows = (
        {
            "custom_id": f"{prefix}{i:05d}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "grok-4.3", "messages": [{"role": "user", "content": f"text {i}"}]},
        }
        for i in range(n)
    )
    return b"".join(orjson.dumps(row) + b"\n" for row in rows)


def create_from_file(api: httpx.Client, content: bytes) -> str:
    file_id = api.post("/files", files={"file": ("in.jsonl", content)}).json()["id"]
    created = api.post("/batches", json={"name": "from file", "input_file_id": file_id})
    assert created.status_code == 200, created.text
    return str(created.json()["batch_id"])


def batch(api: httpx.Client, batch_id: str) -> dict[str, Any]:
    return dict(api.get(f"/batches/{batch_id}").json())


def wait_until(check: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.02)


def all_results(api: httpx.Client, batch_id: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    token = None
    while True:
        params: dict[str, Any] = {"limit": 1000, **({"pagination_token": token} if token else {})}
        page = api.get(f"/batches/{batch_id}/results", params=params).json()
        out += page["results"]
        token = page["pagination_token"]
        if token is None:
            return out


def test_a_file_batch_expires_like_any_batch() -> None:
    with BatchServer(expire_after=1.0, paused=True) as server, client_for(server) as api:
        batch_id = create_from_file(api, jsonl(3))
        assert server.ingest.wait_idle()
        assert server.engine.step(1) == 1
        wait_until(lambda: batch(api, batch_id)["state"]["num_pending"] == 0, "the expiry")
        final = batch(api, batch_id)
        results = all_results(api, batch_id)
    assert final["state"]["num_success"] == 1 and final["state"]["num_cancelled"] == 2
    assert final["cancel_by_xai_message"] is None  # expired, not refused by the parse
    assert [r["batch_result"].get("error") for r in results] == [
        None,
        "Batch expired",
        "Batch expired",
    ]


def test_a_file_parsed_after_its_batch_expired_admits_nothing() -> None:
    with BatchServer(expire_after=0.2, paused=True) as server, client_for(server) as api:
        server.ingest.stop()  # the parse comes late
        batch_id = create_from_file(api, jsonl(2))
        time.sleep(0.3)  # past its expire_time
        server.ingest.run_once()
        state = batch(api, batch_id)["state"]
        assert server.store.unparsed_file_batches() == []  # handled: not parsed again later
    assert state["num_requests"] == 0


def test_a_file_parsed_while_the_engine_is_paused_waits_then_runs(
    batch_server: BatchServer,
) -> None:
    batch_server.engine.pause()
    with client_for(batch_server) as api:
        batch_id = create_from_file(api, jsonl(50))
        assert batch_server.ingest.wait_idle()
        time.sleep(0.2)  # a wrongly running engine would take them meanwhile
        parsed = batch(api, batch_id)["state"]
        assert batch_server.engine.processed == 0
        sealed = api.post(
            f"/batches/{batch_id}/requests", json={"batch_requests": [chat_item("x")]}
        )
        assert_error(sealed, 412)
        batch_server.engine.resume()
        wait_until(lambda: batch(api, batch_id)["state"]["num_pending"] == 0, "the run")
        results = all_results(api, batch_id)
    assert (parsed["num_requests"], parsed["num_pending"], parsed["num_success"]) == (50, 50, 0)
    contents = {
        r["batch_request_id"]: r["batch_result"]["response"]["chat_get_completion"]["choices"][0][
            "message"
        ]["content"]
        for r in results
    }
    assert contents == {f"r{i:05d}": f"text {i}" for i in range(50)}


def test_control_step_runs_a_file_batch_created_just_before_it() -> None:
    """``/_control/step`` drives a paused server deterministically: a file batch created right
    before it is parsed first, so the step runs its requests (the parse is asynchronous)."""
    with BatchServer(paused=True) as server, client_for(server) as api:
        batch_id = create_from_file(api, jsonl(5000))
        stepped = api.post("http://batchframe.local/_control/step").json()
        state = batch(api, batch_id)["state"]
    assert stepped == {"processed": 5000}
    assert (state["num_success"], state["num_pending"]) == (5000, 0)


def test_a_server_killed_around_a_file_parse_loses_nothing_and_doubles_nothing(
    tmp_path: pathlib.Path,
) -> None:
    """Killed right after the create (the parse of 50,000 lines under way or not yet begun),
    then after the parse with some requests answered: every line is answered once."""
    rows = 50_000
    server = ServeProcess("--db", str(tmp_path / "b.sqlite"), log=tmp_path / "serve.log")
    server.start()
    headers = {"Authorization": "Bearer k"}
    base = f"http://127.0.0.1:{server.port}"
    try:
        with httpx.Client(base_url=f"{base}/v1", headers=headers, timeout=60) as api:
            api.post(f"{base}/_control/pause")
            batch_id = create_from_file(api, jsonl(rows))
            server.kill()  # the parse runs in the background: most likely mid-parse
            server.start()
            api.post(f"{base}/_control/pause")
            wait_until(lambda: batch(api, batch_id)["state"]["num_requests"] == rows, "the parse")
            api.post(f"{base}/_control/step", params={"n": 5000})
            server.kill()  # parsed, some answered, the rest pending
            server.start()
            wait_until(lambda: batch(api, batch_id)["state"]["num_pending"] == 0, "the run", 60)
            final = batch(api, batch_id)
            results = all_results(api, batch_id)
    finally:
        server.stop()
    ids = [r["batch_request_id"] for r in results]
    assert len(ids) == len(set(ids)) == rows
    assert ids == [f"r{i:05d}" for i in range(rows)]
    for r in results[::997]:
        message = r["batch_result"]["response"]["chat_get_completion"]["choices"][0]["message"]
        assert message["content"] == f"text {int(r['batch_request_id'][1:])}"
    assert final["state"] == {
        "num_requests": rows, "num_pending": 0, "num_success": rows,
        "num_error": 0, "num_cancelled": 0,
    }  # fmt: skip
    assert final["cancel_by_xai_message"] is None
