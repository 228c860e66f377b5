"""Helpers for the upstream tests: a batch server in front of an upstream, driven over httpx."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from batchframe.server import BatchServer

AUTH = {"Authorization": "Bearer test-key"}
#: Short timeouts and one retry, so the fault tests finish in a few seconds.
FAST = {"upstream_timeout": 1.0, "upstream_retries": 1}


def upstream_server(url: str, **options: Any) -> BatchServer:
    return BatchServer(upstream=url, **{**FAST, **options})


def client_for(server: BatchServer) -> httpx.Client:
    return httpx.Client(
        transport=server.transport(), base_url="http://batchframe.local/v1", headers=AUTH
    )


def chat(rid: str, text: str, **params: Any) -> dict[str, Any]:
    body = {"model": "grok-4.3", "messages": [{"role": "user", "content": text}], **params}
    return {"batch_request_id": rid, "batch_request": {"chat_get_completion": body}}


def submit(api: httpx.Client, items: list[dict[str, Any]], name: str = "upstream") -> str:
    batch_id = str(api.post("/batches", json={"name": name}).json()["batch_id"])
    reply = api.post(f"/batches/{batch_id}/requests", json={"batch_requests": items})
    assert reply.status_code == 200, reply.text
    return batch_id


def state(api: httpx.Client, batch_id: str) -> dict[str, int]:
    return dict(api.get(f"/batches/{batch_id}").json()["state"])


def wait_for(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll ``check`` until true; fail (naming ``what``) if it never is: a stuck engine."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.02)


def wait_done(api: httpx.Client, batch_id: str, timeout: float = 30.0) -> dict[str, int]:
    wait_for(lambda: state(api, batch_id)["num_pending"] == 0, "the batch to finish", timeout)
    return state(api, batch_id)


def results(api: httpx.Client, batch_id: str) -> dict[str, dict[str, Any]]:
    """Every result of the batch by ID (checked to be one per ID)."""
    items = api.get(f"/batches/{batch_id}/results", params={"limit": 1000}).json()["results"]
    ids = [item["batch_request_id"] for item in items]
    assert len(ids) == len(set(ids)), "a request was answered twice"
    return {item["batch_request_id"]: item["batch_result"] for item in items}


def answer(result: dict[str, Any]) -> dict[str, Any]:
    assert "response" in result, result
    return dict(result["response"]["chat_get_completion"])
