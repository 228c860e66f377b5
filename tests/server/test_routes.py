"""The seven routes: shapes, status codes, paging, idempotency, cancel."""

from __future__ import annotations

import re

import httpx
from srv_helpers import add, assert_error, chat_item, new_batch

from batchframe.models import Batch, BatchResult, RequestMetadata
from batchframe.server import BatchServer

NOT_FOUND = "Some requested entity was not found"


def test_create_get_and_list_batches(api: httpx.Client) -> None:
    reply = api.post("/batches", json={"name": "My New Batch"})
    assert reply.status_code == 200
    body = reply.json()
    assert re.fullmatch(r"batch_[0-9a-f-]{36}", body["batch_id"])
    assert body["state"] == dict.fromkeys(
        ("num_requests", "num_pending", "num_success", "num_error", "num_cancelled"), 0
    )
    assert body["cancel_time"] is None and body["cancel_by_xai_message"] is None
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", body["create_time"])
    assert "input_file_id" not in body
    assert reply.headers["content-type"] == "application/json"
    batch = Batch.model_validate(body)
    assert (batch.expire_time - batch.create_time).days == 30
    assert api.get(f"/batches/{body['batch_id']}").json() == body
    second = new_batch(api, "second")
    page = api.get("/batches").json()
    assert [b["batch_id"] for b in page["batches"]] == [second, body["batch_id"]]
    assert page["pagination_token"] is None


def test_list_batches_pages_newest_first(api: httpx.Client) -> None:
    ids = [new_batch(api, f"b{i}") for i in range(5)]
    seen, token = [], None
    while True:
        params = {"limit": 2, **({"pagination_token": token} if token else {})}
        page = api.get("/batches", params=params).json()
        seen += [b["batch_id"] for b in page["batches"]]
        token = page["pagination_token"]
        if token is None:
            break
    assert seen == ids[::-1]


def test_add_requests_then_results(batch_server: BatchServer, api: httpx.Client) -> None:
    batch_id = new_batch(api)
    items = [chat_item(f"id-{i}", f"text {i}") for i in (3, 1, 2)]
    reply = add(api, batch_id, items)
    assert reply.status_code == 200 and reply.json() == {}
    batch_server.engine.step()
    state = api.get(f"/batches/{batch_id}").json()["state"]
    assert state == {
        "num_requests": 3,
        "num_pending": 0,
        "num_success": 3,
        "num_error": 0,
        "num_cancelled": 0,
    }
    page = api.get(f"/batches/{batch_id}/results").json()
    assert page["pagination_token"] is None
    results = [BatchResult.model_validate(r) for r in page["results"]]
    assert [r.batch_request_id for r in results] == ["id-1", "id-2", "id-3"]
    assert [r.content for r in results] == ["text 1", "text 2", "text 3"]


def test_missing_request_id_is_generated(paused_api: httpx.Client) -> None:
    batch_id = new_batch(paused_api)
    assert add(paused_api, batch_id, [chat_item(None), chat_item(None)]).status_code == 200
    rows = paused_api.get(f"/batches/{batch_id}/requests").json()["batch_request_metadata"]
    assert len(rows) == 2
    assert all(re.fullmatch(r"batch_request_[0-9a-f-]{36}", r["batch_request_id"]) for r in rows)


def test_requests_listing_includes_pending(
    batch_server: BatchServer, paused_api: httpx.Client
) -> None:
    batch_id = new_batch(paused_api)
    add(paused_api, batch_id, [chat_item("a"), chat_item("b")])
    batch_server.engine.step(1)
    page = paused_api.get(f"/batches/{batch_id}/requests").json()
    rows = [RequestMetadata.model_validate(r) for r in page["batch_request_metadata"]]
    assert [(r.batch_request_id, r.state) for r in rows] == [("a", "succeeded"), ("b", "pending")]
    assert rows[1].finish_time is None and rows[0].finish_time is not None
    assert page["batch_request_metadata"][0]["endpoint"] == "xai_api.Chat/GetCompletion"
    assert page["batch_request_metadata"][0]["model"] == "grok-4.3"
    results = paused_api.get(f"/batches/{batch_id}/results").json()["results"]
    assert [r["batch_request_id"] for r in results] == ["a"]


def test_paging_limit_one_to_null_token(api: httpx.Client, batch_server: BatchServer) -> None:
    batch_id = new_batch(api)
    ids = [f"r{i:02d}" for i in range(7)]
    add(api, batch_id, [chat_item(i) for i in reversed(ids)])
    batch_server.engine.step()
    for route, key in (("results", "results"), ("requests", "batch_request_metadata")):
        seen, token = [], None
        while True:
            params = {"limit": 1, **({"pagination_token": token} if token else {})}
            page = api.get(f"/batches/{batch_id}/{route}", params=params).json()
            assert len(page[key]) <= 1
            seen += [row["batch_request_id"] for row in page[key]]
            token = page["pagination_token"]
            if token is None:
                break
        assert seen == ids


def test_identical_readd_is_accepted_once(paused_api: httpx.Client) -> None:
    batch_id = new_batch(paused_api)
    items = [chat_item("x", "same"), chat_item("y", "other")]
    assert add(paused_api, batch_id, items).status_code == 200
    assert add(paused_api, batch_id, items).status_code == 200
    assert add(paused_api, batch_id, [items[0], items[0]]).status_code == 200
    assert paused_api.get(f"/batches/{batch_id}").json()["state"]["num_requests"] == 2


def test_conflicting_id_is_412_and_nothing_admitted(paused_api: httpx.Client) -> None:
    batch_id = new_batch(paused_api)
    add(paused_api, batch_id, [chat_item("x", "one")])
    reply = add(paused_api, batch_id, [chat_item("new"), chat_item("x", "two")])
    body = assert_error(reply, 412)
    assert body["error"] == "batch_request_id 'x' content differs from originally submitted"
    assert paused_api.get(f"/batches/{batch_id}").json()["state"]["num_requests"] == 1
    within_one_call = add(paused_api, batch_id, [chat_item("z", "a"), chat_item("z", "b")])
    assert_error(within_one_call, 412)


def test_cancel_turns_pending_into_cancelled(
    paused_api: httpx.Client, batch_server: BatchServer
) -> None:
    batch_id = new_batch(paused_api)
    add(paused_api, batch_id, [chat_item(f"r{i}") for i in range(4)])
    batch_server.engine.step(1)
    first = paused_api.post(f"/batches/{batch_id}:cancel")
    assert first.status_code == 200
    batch = first.json()
    assert batch["cancel_time"] is not None
    assert batch["state"] == {
        "num_requests": 4,
        "num_pending": 0,
        "num_success": 1,
        "num_error": 0,
        "num_cancelled": 3,
    }
    again = paused_api.post(f"/batches/{batch_id}:cancel")
    assert again.status_code == 200 and again.json() == batch
    results = paused_api.get(f"/batches/{batch_id}/results").json()["results"]
    assert [r["batch_result"].get("error") for r in results] == [None, *["Batch cancelled"] * 3]
    states = [
        r["state"]
        for r in paused_api.get(f"/batches/{batch_id}/requests").json()["batch_request_metadata"]
    ]
    assert states == ["succeeded", "cancelled", "cancelled", "cancelled"]
    assert batch_server.engine.step() == 0
    assert_error(add(paused_api, batch_id, [chat_item("late")]), 403)


def test_unknown_batch_is_404(api: httpx.Client) -> None:
    missing = "batch_00000000-0000-4000-8000-000000000000"
    for method, path in (
        ("GET", f"/batches/{missing}"),
        ("GET", f"/batches/{missing}/requests"),
        ("GET", f"/batches/{missing}/results"),
        ("POST", f"/batches/{missing}:cancel"),
    ):
        assert_error(api.request(method, path), 404, NOT_FOUND)
    assert_error(add(api, missing, [chat_item("a")]), 404, NOT_FOUND)


def test_unknown_route_404_and_wrong_method_405(api: httpx.Client) -> None:
    batch_id = new_batch(api)
    assert_error(api.get("/nothing"), 404)
    assert_error(api.get(f"/batches/{batch_id}/other"), 404)
    assert_error(api.delete("/batches"), 405)
    assert_error(api.post(f"/batches/{batch_id}"), 405)
    assert_error(api.get(f"/batches/{batch_id}:cancel"), 405)
    assert_error(api.put(f"/batches/{batch_id}/results"), 405)


def test_bad_limits_and_tokens_are_400(api: httpx.Client) -> None:
    batch_id = new_batch(api)
    for route in ("/batches", f"/batches/{batch_id}/requests", f"/batches/{batch_id}/results"):
        for limit in ("0", "1001", "abc", "-1", "1.5"):
            assert_error(api.get(route, params={"limit": limit}), 400)
        for token in ("!!!", "not base64 at all", "eA", "YjpvbmU"):
            if route == "/batches" or token != "YjpvbmU":
                assert_error(api.get(route, params={"pagination_token": token}), 400)
        assert api.get(route, params={"limit": "1000"}).status_code == 200


def test_bad_names_are_400_or_422(api: httpx.Client) -> None:
    assert_error(api.post("/batches", json={"name": "x" * 1025}), 400)
    assert_error(api.post("/batches", json={"name": ""}), 400)
    assert_error(api.post("/batches", json={"name": 5}), 422)
    assert_error(api.post("/batches", json={"nom": "x"}), 422)
    assert_error(api.post("/batches", json=["x"]), 422)
    assert api.post("/batches", json={"name": "x" * 1024}).status_code == 200


def test_missing_or_empty_model_is_400(paused_api: httpx.Client) -> None:
    batch_id = new_batch(paused_api)
    no_model = {"batch_request_id": "a", "batch_request": {"chat_get_completion": {"messages": []}}}
    assert_error(add(paused_api, batch_id, [no_model]), 400)
    empty = chat_item("b")
    empty["batch_request"]["chat_get_completion"]["model"] = ""
    assert_error(add(paused_api, batch_id, [empty]), 400)
    assert paused_api.get(f"/batches/{batch_id}").json()["state"]["num_requests"] == 0


def test_wrong_body_shapes_are_422(paused_api: httpx.Client) -> None:
    batch_id = new_batch(paused_api)
    path = f"/batches/{batch_id}/requests"
    ok = chat_item("ok")
    bad_bodies = [
        b"{not json",
        b'{"requests": []}',
        b'{"batch_requests": {}}',
        b'{"batch_requests": [1]}',
        b'{"batch_requests": [{"batch_request_id": 5, "batch_request": {}}]}',
        b'{"batch_requests": [{"batch_request": {"chat_get_completion": {}, "responses": {}}}]}',
        b'{"batch_requests": [{"batch_request": {"teleport": {"model": "grok-4.3"}}}]}',
        b'{"batch_requests": [{"batch_request": {"chat_get_completion": "text"}}]}',
        b"[]",
    ]
    for body in bad_bodies:
        reply = paused_api.post(path, content=body, headers={"content-type": "application/json"})
        assert_error(reply, 422)
    mixed = {"batch_requests": [ok, {"batch_request_id": "bad"}]}
    assert_error(paused_api.post(path, json=mixed), 422)
    assert paused_api.get(f"/batches/{batch_id}").json()["state"]["num_requests"] == 0


def test_empty_body_or_foreign_content_type_is_415(paused_api: httpx.Client) -> None:
    batch_id = new_batch(paused_api)
    assert_error(paused_api.post("/batches"), 415)
    assert_error(paused_api.post(f"/batches/{batch_id}/requests"), 415)
    text = paused_api.post(
        "/batches", content=b'{"name": "x"}', headers={"content-type": "text/plain"}
    )
    assert_error(text, 415)
    lenient = paused_api.post("/batches", content=b'{"name": "x"}')
    assert lenient.status_code == 200


def test_add_with_empty_list_is_fine(api: httpx.Client) -> None:
    batch_id = new_batch(api)
    assert add(api, batch_id, []).status_code == 200
    assert api.get(f"/batches/{batch_id}").json()["state"]["num_requests"] == 0


def test_readd_with_other_key_order_is_identical(paused_api: httpx.Client) -> None:
    batch_id = new_batch(paused_api)
    path = f"/batches/{batch_id}/requests"
    first = b'{"batch_requests": [{"batch_request_id": "k", "batch_request": {"chat_get_completion": {"model": "grok-4.3", "messages": [], "temperature": 1}}}]}'
    second = b'{"batch_requests":[{"batch_request":{"chat_get_completion":{"temperature":1,"messages":[],"model":"grok-4.3"}},"batch_request_id":"k"}]}'
    json_type = {"content-type": "application/json"}
    assert paused_api.post(path, content=first, headers=json_type).status_code == 200
    assert paused_api.post(path, content=second, headers=json_type).status_code == 200
    assert paused_api.get(f"/batches/{batch_id}").json()["state"]["num_requests"] == 1


def test_lone_surrogate_in_content_is_422(paused_api: httpx.Client) -> None:
    batch_id = new_batch(paused_api)
    body = b'{"batch_requests": [{"batch_request": {"chat_get_completion": {"model": "grok-4.3", "messages": [{"role": "user", "content": "\\ud800"}]}}}]}'
    reply = paused_api.post(
        f"/batches/{batch_id}/requests", content=body, headers={"content-type": "application/json"}
    )
    assert_error(reply, 422)
