"""Helpers for the server tests (plain functions; fixtures live in conftest.py)."""

from __future__ import annotations

from typing import Any

import httpx

from batchframe.server import BatchServer

AUTH = {"Authorization": "Bearer test-key"}


def chat_item(rid: str | None, text: str = "hello", **params: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "grok-4.3", "messages": [{"role": "user", "content": text}]}
    body.update(params)
    item: dict[str, Any] = {"batch_request": {"chat_get_completion": body}}
    if rid is not None:
        item["batch_request_id"] = rid
    return item


def client_for(server: BatchServer, headers: dict[str, str] | None = None) -> httpx.Client:
    return httpx.Client(
        transport=server.transport(),
        base_url="http://batchframe.local/v1",
        headers=AUTH if headers is None else headers,
    )


def new_batch(api: httpx.Client, name: str = "test") -> str:
    reply = api.post("/batches", json={"name": name})
    assert reply.status_code == 200, reply.text
    return str(reply.json()["batch_id"])


def add(api: httpx.Client, batch_id: str, items: list[dict[str, Any]]) -> httpx.Response:
    return api.post(f"/batches/{batch_id}/requests", json={"batch_requests": items})


def assert_error(reply: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert set(body) == {"code", "error"}
    assert isinstance(body["code"], str) and isinstance(body["error"], str)
    if code is not None:
        assert body["code"] == code
    return dict(body)
