"""Fault injection and limits: injected 5xx, 429 with Retry-After, dropped connections, 413."""

from __future__ import annotations

import httpx
import pytest
from srv_helpers import AUTH, add, assert_error, chat_item, client_for, new_batch

from batchframe.server import BatchServer, ServerHandle, serve


def test_http_error_rate_gives_500_and_503_envelopes() -> None:
    with BatchServer(http_error_rate=1.0, seed=3) as server, client_for(server) as api:
        statuses = set()
        for _ in range(30):
            reply = api.get("/batches")
            body = assert_error(reply, reply.status_code)
            statuses.add(reply.status_code)
            assert body["code"] in ("Internal error", "The service is currently unavailable")
        assert statuses == {500, 503}
        assert server.internal_errors == 0


def test_add_calls_per_30s_gives_429_with_retry_after() -> None:
    with BatchServer(add_calls_per_30s=2) as server, client_for(server) as api:
        batch_id = new_batch(api)
        assert add(api, batch_id, [chat_item("a")]).status_code == 200
        assert add(api, batch_id, [chat_item("b")]).status_code == 200
        reply = add(api, batch_id, [chat_item("c")])
        assert_error(reply, 429, "Some resource has been exhausted")
        assert 1 <= int(reply.headers["retry-after"]) <= 30
        assert api.get(f"/batches/{batch_id}").json()["state"]["num_requests"] == 2


def test_creates_per_second_gives_429() -> None:
    with BatchServer(creates_per_second=1) as server, client_for(server) as api:
        assert api.post("/batches", json={"name": "a"}).status_code == 200
        reply = api.post("/batches", json={"name": "b"})
        assert_error(reply, 429, "Some resource has been exhausted")
        assert int(reply.headers["retry-after"]) >= 1


def test_drop_rate_in_process_is_a_transport_error_before_and_after() -> None:
    with BatchServer(seed=11) as server, client_for(server) as api:
        batch_id = new_batch(api)
        server.faults.drop_rate = 1.0
        for i in range(20):
            with pytest.raises(httpx.TransportError):
                add(api, batch_id, [chat_item(f"r{i}")])
        server.faults.drop_rate = 0.0
        applied = api.get(f"/batches/{batch_id}").json()["state"]["num_requests"]
        assert 0 < applied < 20  # some drops happened after the call was applied, some before


def test_drop_rate_over_loopback_is_a_transport_error() -> None:
    with (
        serve(drop_rate=1.0) as handle,
        httpx.Client(base_url=handle.base_url, headers=AUTH) as http,
    ):
        for _ in range(3):
            with pytest.raises(httpx.TransportError):
                http.get("/batches")
        handle.server.faults.drop_rate = 0.0
        assert http.get("/batches").status_code == 200
        assert handle.server.internal_errors == 0


def test_oversized_body_is_413_in_process_and_over_loopback() -> None:
    items = [chat_item(f"r{i}", "x" * 1000) for i in range(200)]
    with BatchServer(max_body_mb=0.05) as server, client_for(server) as api:
        assert_error(add(api, new_batch(api), items), 413)
    with (
        serve(max_body_mb=0.05) as handle,
        httpx.Client(base_url=handle.base_url, headers=AUTH) as http,
    ):
        batch_id = http.post("/batches", json={"name": "a"}).json()["batch_id"]
        reply = http.post(f"/batches/{batch_id}/requests", json={"batch_requests": items})
        assert_error(reply, 413)
        assert http.get(f"/batches/{batch_id}").json()["state"]["num_requests"] == 0


def test_control_routes(loopback_server: ServerHandle) -> None:
    url = loopback_server.url
    with (
        httpx.Client(base_url=url) as http,
        httpx.Client(base_url=loopback_server.base_url, headers=AUTH) as api,
    ):
        assert http.post("/_control/pause").json() == {"paused": True}
        batch_id = new_batch(api)
        add(api, batch_id, [chat_item(f"r{i}") for i in range(5)])
        assert http.post("/_control/step", params={"n": 2}).json() == {"processed": 2}
        assert api.get(f"/batches/{batch_id}").json()["state"]["num_pending"] == 3
        faults = http.post("/_control/faults", json={"http_error_rate": 1.0}).json()
        assert faults["http_error_rate"] == 1.0
        assert api.get("/batches").status_code in (500, 503)
        http.post("/_control/faults", json={"http_error_rate": 0})
        assert_error(http.post("/_control/faults", json={"nope": 1}), 400)
        http.post("/_control/resume")
        stats = http.get("/_control/stats").json()
        assert stats["requests"] == 5 and stats["internal_errors"] == 0


def test_latency_is_applied(loopback_server: ServerHandle) -> None:
    loopback_server.server.faults.latency = 0.01
    with httpx.Client(base_url=loopback_server.base_url, headers=AUTH) as api:
        assert api.get("/batches").status_code == 200
