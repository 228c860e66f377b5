"""Hostile input never yields a 5xx: path tricks, bad encodings, huge and SQL-looking values."""

from __future__ import annotations

import httpx
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from srv_helpers import AUTH, add, chat_item, new_batch

from batchframe.server import BatchServer


def raw(server: BatchServer, method: str, path: str, body: bytes = b"", query: bytes = b"") -> int:
    headers = {"authorization": AUTH["Authorization"], "content-type": "application/json"}
    status, _headers, out = server.handle(method, path, query, headers, body)
    envelope = orjson.loads(out)
    assert isinstance(envelope, dict)
    return status


def test_path_tricks_are_404_or_400(batch_server: BatchServer, api: httpx.Client) -> None:
    batch_id = new_batch(api)
    paths = [
        "/v1/batches/..",
        "/v1/batches/../batches",
        f"/v1/batches/{batch_id}%2F..%2Fresults",
        f"/v1/batches/{batch_id}%2Fresults",
        "/v1/batches/%00",
        f"/v1/batches/{batch_id}%00",
        "/v1/batches/" + "a" * 10_000,
        "/v1/batches/" + "%ff%fe",
        "/v1/batches/%E2%82",
        "/v1/batches/batch_' OR '1'='1",
        "/v1/batches/%27%3B%20DROP%20TABLE%20batches%3B--",
        f"/v1/batches/{batch_id}/results/extra",
        f"/v1/batches/{batch_id}:cancel:cancel",
        "/v1/batches//requests",
        "/v1//batches",
    ]
    for path in paths:
        for method in ("GET", "POST"):
            assert raw(batch_server, method, path, b'{"batch_requests": []}') in (
                400,
                404,
                405,
                415,
                422,
            ), path
    assert api.get(f"/batches/{batch_id}").status_code == 200
    assert batch_server.internal_errors == 0


def test_bad_bytes_are_422_never_5xx(batch_server: BatchServer, api: httpx.Client) -> None:
    batch_id = new_batch(api)
    bodies = [
        b"\xff\xfe\x00",
        b'{"name": "\\ud800"}',
        b'{"batch_requests": [{"batch_request_id": "\\udfff"}]}',
        b'{"name": "caf\xe9"}',
        b"null",
        b"1e999999",
        b"[" * 5000 + b"]" * 5000,
        b'{"a":' * 5000 + b"1" + b"}" * 5000,
        b'{"batch_requests": [{"batch_request": {"chat_get_completion": {"model": "grok-4.3", "messages": '
        + b"[" * 5000
        + b"]" * 5000
        + b"}}}]}",
    ]
    for body in bodies:
        for path in ("/v1/batches", f"/v1/batches/{batch_id}/requests"):
            status = raw(batch_server, "POST", path, body)
            assert 400 <= status < 500, (body[:40], status)
    assert (
        raw(batch_server, "GET", "/v1/batches", query=b"limit=%ff&pagination_token=%00%ff") == 400
    )
    assert batch_server.internal_errors == 0


def test_sql_looking_values_are_just_data(batch_server: BatchServer, api: httpx.Client) -> None:
    name = "x'); DROP TABLE batches; --"
    reply = api.post("/batches", json={"name": name})
    assert reply.json()["name"] == name
    batch_id = reply.json()["batch_id"]
    rid = "' OR 1=1 --\"; DELETE FROM requests"
    assert (
        add(api, batch_id, [chat_item(rid, "Robert'); DROP TABLE requests;--")]).status_code == 200
    )
    batch_server.engine.step()
    results = api.get(f"/batches/{batch_id}/results").json()["results"]
    assert results[0]["batch_request_id"] == rid
    assert (
        results[0]["batch_result"]["response"]["chat_get_completion"]["choices"][0]["message"][
            "content"
        ]
        == "Robert'); DROP TABLE requests;--"
    )
    assert len(api.get("/batches").json()["batches"]) == 1


def test_odd_ids_roundtrip_including_cancel_rows(
    batch_server: BatchServer, paused_api: httpx.Client
) -> None:
    batch_id = new_batch(paused_api)
    ids = ['quote"d', "back\\slash", "new\nline", "tab\t", "emoji 😀", "\u2028sep", "ctl\x01"]
    assert add(paused_api, batch_id, [chat_item(i) for i in ids]).status_code == 200
    paused_api.post(f"/batches/{batch_id}:cancel")
    results = paused_api.get(f"/batches/{batch_id}/results").json()["results"]
    assert sorted(r["batch_request_id"] for r in results) == sorted(ids)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
    tail=st.text(max_size=60),
    query=st.binary(max_size=60),
    body=st.one_of(
        st.binary(max_size=200),
        st.builds(
            lambda v: orjson.dumps(v),
            st.recursive(
                st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=20),
                lambda inner: (
                    st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=10), inner, max_size=4)
                ),
                max_leaves=12,
            ),
        ),
    ),
)
def test_fuzzed_calls_never_5xx(
    batch_server: BatchServer, method: str, tail: str, query: bytes, body: bytes
) -> None:
    path = "/v1/batches" + ("/" + tail if tail else "")
    status = raw(batch_server, method, path, body, query)
    assert status < 500
    assert batch_server.internal_errors == 0
