"""Regression tests for bugs found in a review of the local batch server."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest
from srv_helpers import add, assert_error, chat_item, client_for, new_batch

from batchframe.server import BatchServer
from batchframe.server.runner import serve


@pytest.mark.parametrize("path", ["/batches", "/batches/{b}/requests", "/batches/{b}/results"])
def test_limit_with_thousands_of_digits_is_a_400_not_a_500(
    paused_api: httpx.Client, path: str
) -> None:
    batch_id = new_batch(paused_api)
    reply = paused_api.get(path.format(b=batch_id), params={"limit": "1" * 5000})
    assert_error(reply, 400)


def test_control_step_with_thousands_of_digits_is_a_400_not_a_500(
    batch_server: BatchServer, paused_api: httpx.Client
) -> None:
    reply = paused_api.post("http://batchframe.local/_control/step", params={"n": "1" * 5000})
    assert_error(reply, 400)


@pytest.mark.parametrize(
    ("first", "second"),
    [({"logprobs": True}, {"logprobs": 1}), ({"temperature": 0}, {"temperature": False})],
)
def test_readd_with_true_instead_of_1_is_different_content(
    paused_api: httpx.Client, first: dict[str, object], second: dict[str, object]
) -> None:
    batch_id = new_batch(paused_api)
    assert add(paused_api, batch_id, [chat_item("a", **first)]).status_code == 200
    assert_error(add(paused_api, batch_id, [chat_item("a", **second)]), 412)
    state = paused_api.get(f"/batches/{batch_id}").json()["state"]
    assert state["num_requests"] == 1


def test_readd_with_other_key_order_and_spacing_is_still_identical(
    paused_api: httpx.Client,
) -> None:
    batch_id = new_batch(paused_api)
    one = (
        b'{"batch_requests":[{"batch_request_id":"a","batch_request":{"chat_get_completion":'
        b'{"model":"grok-4.3","temperature":1,"messages":[{"role":"user","content":"x"}]}}}]}'
    )
    two = (
        b'{"batch_requests": [{"batch_request_id": "a", "batch_request": {"chat_get_completion":'
        b' {"messages": [{"content": "x", "role": "user"}], "temperature": 1, "model": "grok-4.3"}}}]}'
    )
    headers = {"content-type": "application/json"}
    for body in (one, two):
        reply = paused_api.post(f"/batches/{batch_id}/requests", content=body, headers=headers)
        assert reply.status_code == 200, reply.text
    assert paused_api.get(f"/batches/{batch_id}").json()["state"]["num_requests"] == 1


def _nested_arrays(levels: int, min_items: int) -> dict[str, object]:
    schema: dict[str, object] = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "array", "minItems": min_items, "items": schema}
    return schema


@pytest.mark.parametrize(
    "schema",
    [_nested_arrays(6, 100), {"type": "string", "minLength": 10**12}],
    ids=["nested-minItems", "huge-minLength"],
)
def test_schema_asking_for_a_huge_instance_fails_the_request_not_the_engine(
    batch_server: BatchServer, paused_api: httpx.Client, schema: dict[str, object]
) -> None:
    # Before: 100**6 values were built one by one (the engine stalled for good), or a
    # terabyte string was allocated.
    batch_id = new_batch(paused_api)
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    items = [chat_item("a-bomb", response_format=fmt), chat_item("b-plain", "still answered")]
    assert add(paused_api, batch_id, items).status_code == 200
    assert batch_server.engine.step() == 2
    results = paused_api.get(f"/batches/{batch_id}/results").json()["results"]
    assert "error" in results[0]["batch_result"]
    answer = results[1]["batch_result"]["response"]["chat_get_completion"]
    assert answer["choices"][0]["message"]["content"] == "still answered"
    state = paused_api.get(f"/batches/{batch_id}").json()["state"]
    assert (state["num_success"], state["num_error"], state["num_pending"]) == (1, 1, 0)


def test_empty_add_to_a_cancelled_batch_is_403_like_any_add(paused_api: httpx.Client) -> None:
    batch_id = new_batch(paused_api)
    assert paused_api.post(f"/batches/{batch_id}:cancel").status_code == 200
    assert_error(add(paused_api, batch_id, []), 403)


def test_nothing_added_after_pause_returns_is_processed(batch_server: BatchServer) -> None:
    """pause() used to return while the engine thread was already past its pause check and
    about to take a chunk: requests added right after pause() were processed anyway."""
    with client_for(batch_server) as api:
        batch_id = new_batch(api)
        pauser = threading.Thread(target=batch_server.engine.pause)
        added = False
        with batch_server.store.lock:
            batch_server.engine.notify()
            time.sleep(0.2)  # let the engine block inside take_pending, past its pause check
            pauser.start()
            pauser.join(0.5)
            if not pauser.is_alive():  # pause() returned: whatever comes next must stay pending
                added = add(api, batch_id, [chat_item(f"r{i}") for i in range(5)]).is_success
        pauser.join()
        if not added:
            assert add(api, batch_id, [chat_item(f"r{i}") for i in range(5)]).is_success
        time.sleep(0.3)  # give a wrongly running engine the time to process them
        state = api.get(f"/batches/{batch_id}").json()["state"]
        assert state["num_pending"] == 5
        batch_server.engine.resume()
    assert batch_server.internal_errors == 0


def test_serve_on_a_taken_port_leaves_no_engine_running() -> None:
    def engines() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name == "batchframe-engine"}

    before = engines()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            serve(port=taken.getsockname()[1])
    assert engines() <= before
