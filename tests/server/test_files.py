"""The file flow: upload JSONL, create a batch from it, the asynchronous parse, the sealed batch,
xAI-side cancels with ``cancel_by_xai_message``, the limits, and team isolation."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from srv_helpers import add, assert_error, chat_item, client_for

from batchframe.server import BatchServer, serve

A, B = {"Authorization": "Bearer key-a"}, {"Authorization": "Bearer key-b"}


def line(
    rid: str, text: str = "hi", url: str = "/v1/chat/completions", **body: Any
) -> dict[str, Any]:
    payload: dict[str, Any] = {"model": "grok-4.3", "messages": [{"role": "user", "content": text}]}
    payload.update(body)
    return {"custom_id": rid, "method": "POST", "url": url, "body": payload}


def jsonl(*lines: dict[str, Any]) -> bytes:
    return b"".join(orjson.dumps(x) + b"\n" for x in lines)


def upload(api: httpx.Client, content: bytes, name: str = "requests.jsonl") -> httpx.Response:
    return api.post(
        "/files", files={"file": (name, content, "application/jsonl")}, data={"purpose": "batch"}
    )


def file_batch(api: httpx.Client, server: BatchServer, content: bytes) -> dict[str, Any]:
    """Upload, create a batch from the file, wait for the parse; the batch as JSON."""
    reply = upload(api, content)
    assert reply.status_code == 200, reply.text
    created = api.post("/batches", json={"name": "from-file", "input_file_id": reply.json()["id"]})
    assert created.status_code == 200, created.text
    assert server.ingest.wait_idle()
    return dict(api.get(f"/batches/{created.json()['batch_id']}").json())


@pytest.fixture
def teams() -> Iterator[tuple[BatchServer, httpx.Client, httpx.Client]]:
    with BatchServer(keys={"key-a": "a", "key-b": "b"}) as server:
        with client_for(server, A) as a, client_for(server, B) as b:
            yield server, a, b
        assert server.internal_errors == 0


def test_upload_get_list_content_delete(api: httpx.Client) -> None:
    content = jsonl(line("r1"), line("r2"))
    reply = upload(api, content)
    assert reply.status_code == 200
    file = reply.json()
    assert set(file) == {"id", "object", "bytes", "created_at", "expires_at", "filename", "purpose"}
    assert re.fullmatch(r"file_[0-9a-f-]{36}", file["id"])
    assert (file["object"], file["bytes"], file["filename"], file["purpose"]) == (
        "file", len(content), "requests.jsonl", "")  # fmt: skip
    assert isinstance(file["created_at"], int) and file["expires_at"] is None
    assert api.get(f"/files/{file['id']}").json() == file
    assert api.get(f"/files/{file['id']}/content").content == content
    listed = api.get("/files").json()
    assert listed == {"data": [file], "pagination_token": None}
    gone = api.delete(f"/files/{file['id']}")
    assert gone.json() == {"id": file["id"], "object": "file", "deleted": True}
    assert_error(api.get(f"/files/{file['id']}"), 404)
    assert_error(api.delete(f"/files/{file['id']}"), 404)
    assert_error(api.get(f"/files/{file['id']}/content"), 404)


def test_list_files_pages_newest_first(api: httpx.Client) -> None:
    ids = [upload(api, jsonl(line(f"r{i}"))).json()["id"] for i in range(5)]
    seen, token = [], None
    while True:
        page = api.get(
            "/files", params={"limit": 2, **({"pagination_token": token} if token else {})}
        ).json()
        seen += [f["id"] for f in page["data"]]
        token = page["pagination_token"]
        if token is None:
            break
    assert seen == ids[::-1]


def test_expires_after(api: httpx.Client) -> None:
    reply = api.post(
        "/files",
        files={"file": ("a.jsonl", jsonl(line("a")))},
        data={"expires_after[anchor]": "created_at", "expires_after[seconds]": "3600"},
    )
    file = reply.json()
    assert file["expires_at"] == file["created_at"] + 3600
    for bad in ("5", "99999999", "x", "1" * 50):
        late = api.post("/files", files={"file": ("a", b"x")}, data={"expires_after[seconds]": bad})
        assert_error(late, 400)


def test_bad_uploads_are_4xx(api: httpx.Client) -> None:
    assert_error(api.post("/files", json={"file": "x"}), 415)
    assert_error(api.post("/files", files={"other": ("a", b"x")}), 400)
    assert_error(upload(api, b""), 400)
    no_boundary = api.post("/files", content=b"x", headers={"content-type": "multipart/form-data"})
    assert_error(no_boundary, 400)
    truncated = api.post(
        "/files",
        content=b'--b\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc',
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    assert_error(truncated, 400)
    assert_error(api.put("/files"), 405)
    assert_error(api.post("/files/file_x"), 405)
    assert_error(api.get("/files/nope/other"), 404)
    assert api.get("/files").json()["data"] == []


def test_file_too_large_is_413() -> None:
    with BatchServer(max_file_mb=0.01) as server, client_for(server) as api:
        assert_error(upload(api, b"x" * 20_000), 413)
        assert upload(api, jsonl(line("a"))).status_code == 200


def test_file_batch_parses_runs_and_is_sealed(api: httpx.Client, batch_server: BatchServer) -> None:
    batch_server.engine.pause()
    reply = upload(api, jsonl(line("b", "second"), line("a", "first")) + b"\n\n")
    file_id = reply.json()["id"]
    created = api.post("/batches", json={"name": "f", "input_file_id": file_id}).json()
    assert created["input_file_id"] == file_id and created["state"]["num_requests"] == 0
    assert batch_server.ingest.wait_idle()
    batch_id = created["batch_id"]
    assert api.get(f"/batches/{batch_id}").json()["state"]["num_pending"] == 2
    sealed = assert_error(add(api, batch_id, [chat_item("x")]), 412)
    assert sealed["error"] == "Cannot add inline requests to a file-based batch"
    batch_server.engine.step()
    results = api.get(f"/batches/{batch_id}/results").json()["results"]
    contents = [
        (
            r["batch_request_id"],
            r["batch_result"]["response"]["chat_get_completion"]["choices"][0]["message"][
                "content"
            ],
        )
        for r in results
    ]
    assert contents == [("a", "first"), ("b", "second")]
    inline = api.get("/batches").json()["batches"]
    assert inline[0]["input_file_id"] == file_id


def test_every_line_url_becomes_its_kind(api: httpx.Client, batch_server: BatchServer) -> None:
    image = {"model": "grok-imagine-image", "prompt": "a cat"}
    lines = [
        line("chat"),
        {
            "custom_id": "resp",
            "method": "POST",
            "url": "/v1/responses",
            "body": {"model": "grok-4.3", "input": "hey"},
        },
        {"custom_id": "img", "url": "/v1/images/generations", "body": image},
        {
            "custom_id": "vid",
            "method": "POST",
            "url": "/v1/videos",
            "body": {"model": "grok-imagine-video", "prompt": "a"},
        },
    ]
    batch = file_batch(api, batch_server, jsonl(*lines))
    batch_server.engine.step()
    rows = api.get(f"/batches/{batch['batch_id']}/requests").json()["batch_request_metadata"]
    assert {r["batch_request_id"]: r["endpoint"] for r in rows} == {
        "chat": "xai_api.Chat/GetCompletion",
        "img": "xai_api.Image/GenerateImage",
        "resp": "xai_api.Chat/GetCompletion",
        "vid": "xai_api.Video/GenerateVideo",
    }
    assert api.get(f"/batches/{batch['batch_id']}").json()["state"]["num_success"] == 4


BAD_FILES = {
    "not json": (b'{"custom_id": "a"\n', "line 1: invalid JSON"),
    "not utf-8": (jsonl(line("a")) + b'{"custom_id": "b\xff"}\n', "line 2: not valid UTF-8"),
    "duplicate custom_id": (
        jsonl(line("a"), line("b"), line("a")),
        "line 3: duplicate custom_id 'a'",
    ),
    "no custom_id": (
        orjson.dumps({"url": "/v1/chat/completions", "body": {}}),
        "line 1: custom_id",
    ),
    "bad url": (jsonl(line("a", url="/v1/embeddings")), "line 1: unsupported url"),
    "bad method": (orjson.dumps({**line("a"), "method": "GET"}), "line 1: method must be POST"),
    "no messages": (
        jsonl({"custom_id": "a", "url": "/v1/chat/completions", "body": {"model": "grok-4.3"}}),
        "body.messages",
    ),
    "array line": (b"[1, 2]\n", "line 1: expected a JSON object"),
    "empty": (b"\n\n", "the file holds no requests"),
    "unsupported model": (
        jsonl(line("a"), line("b", model="grok-4.5")),
        "line 2: Model grok-4.5 is not supported for batch processing.",
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_line_cancels_the_batch_by_xai(
    api: httpx.Client, batch_server: BatchServer, case: str
) -> None:
    content, why = BAD_FILES[case]
    batch = file_batch(api, batch_server, content)
    message = batch["cancel_by_xai_message"]
    assert message.startswith("JSONL file validation failed: ") and why in message, message
    assert batch["cancel_time"] is not None
    assert batch["state"] == dict.fromkeys(
        ("num_requests", "num_pending", "num_success", "num_error", "num_cancelled"), 0
    )


def test_more_lines_than_the_limit(api: httpx.Client, batch_server: BatchServer) -> None:
    row = orjson.dumps(line("x")).replace(b'"x"', b'"%d"')
    content = b"\n".join(row % i for i in range(50_001))
    batch = file_batch(api, batch_server, content)
    assert "more than 50,000 requests" in batch["cancel_by_xai_message"]
    at_limit = file_batch(api, batch_server, b"\n".join(row % i for i in range(50_000)))
    assert at_limit["cancel_by_xai_message"] is None and at_limit["state"]["num_requests"] == 50_000


def test_a_line_over_the_request_size_limit(api: httpx.Client, batch_server: BatchServer) -> None:
    huge = jsonl(line("ok"), line("big", "x" * (25 * 1024 * 1024)))
    batch = file_batch(api, batch_server, huge)
    assert "line 2: the request is larger than" in batch["cancel_by_xai_message"]


def test_file_of_another_team_is_404(teams: tuple[BatchServer, httpx.Client, httpx.Client]) -> None:
    _server, a, b = teams
    file_id = upload(a, jsonl(line("a"))).json()["id"]
    for reply in (
        b.get(f"/files/{file_id}"),
        b.get(f"/files/{file_id}/content"),
        b.delete(f"/files/{file_id}"),
    ):
        assert_error(reply, 404)
    assert_error(b.post("/batches", json={"name": "steal", "input_file_id": file_id}), 404)
    assert b.get("/files").json()["data"] == []
    assert b.get("/batches").json()["batches"] == []
    assert a.get(f"/files/{file_id}").status_code == 200


def test_unknown_or_malformed_file_id_on_create(api: httpx.Client) -> None:
    assert_error(
        api.post(
            "/batches",
            json={"name": "x", "input_file_id": "file_00000000-0000-4000-8000-000000000000"},
        ),
        404,
    )
    assert_error(api.post("/batches", json={"name": "x", "input_file_id": "nope"}), 404)
    assert_error(api.post("/batches", json={"name": "x", "input_file_id": 5}), 422)
    assert api.get("/batches").json()["batches"] == []


def test_file_deleted_before_the_parse(api: httpx.Client, batch_server: BatchServer) -> None:
    batch_server.ingest.stop()  # hold the parse back
    file_id = upload(api, jsonl(line("a"))).json()["id"]
    batch_id = api.post("/batches", json={"name": "x", "input_file_id": file_id}).json()["batch_id"]
    api.delete(f"/files/{file_id}")
    batch_server.ingest.run_once()
    batch = api.get(f"/batches/{batch_id}").json()
    assert "was deleted" in batch["cancel_by_xai_message"]


def test_cancel_during_the_parse_admits_nothing(
    api: httpx.Client, batch_server: BatchServer
) -> None:
    batch_server.ingest.stop()
    file_id = upload(api, jsonl(line("a"))).json()["id"]
    batch_id = api.post("/batches", json={"name": "x", "input_file_id": file_id}).json()["batch_id"]
    cancelled = api.post(f"/batches/{batch_id}:cancel").json()
    batch_server.ingest.run_once()
    batch = api.get(f"/batches/{batch_id}").json()
    assert batch["state"]["num_requests"] == 0 and batch["cancel_by_xai_message"] is None
    assert batch["cancel_time"] == cancelled["cancel_time"]


def test_an_unparsed_file_batch_is_parsed_after_a_restart(tmp_path: Path) -> None:
    db = str(tmp_path / "b.sqlite")
    with BatchServer(db=db) as first, client_for(first) as api:
        first.ingest.stop()
        file_id = upload(api, jsonl(line("a"), line("b"))).json()["id"]
        batch_id = api.post("/batches", json={"name": "x", "input_file_id": file_id}).json()[
            "batch_id"
        ]
    with BatchServer(db=db) as second, client_for(second) as api:
        deadline = time.monotonic() + 30
        while api.get(f"/batches/{batch_id}").json()["state"]["num_success"] < 2:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert api.get(f"/files/{file_id}/content").content.count(b"\n") == 2


def test_a_file_past_the_request_body_limit_uploads_over_a_real_socket() -> None:
    """Uploads have their own limit (200 MB by default), not the 25 MB of other calls."""
    with (
        serve(max_body_mb=1) as handle,
        httpx.Client(base_url=handle.base_url, headers=A, timeout=60) as http,
    ):
        content = jsonl(*(line(f"r{i}", "x" * 1000) for i in range(3000)))  # ~3.2 MB
        assert len(content) > 3 * 1024 * 1024
        reply = upload(http, content)
        assert reply.status_code == 200 and reply.json()["bytes"] == len(content)
        too_big = http.post("/batches", content=b'{"name": "' + b"n" * 2 * 1024 * 1024 + b'"}')
        assert_error(too_big, 413)
    with (
        serve(max_file_mb=1) as handle,
        httpx.Client(base_url=handle.base_url, headers=A, timeout=60) as http,
    ):
        assert_error(upload(http, content), 413)


def test_an_empty_input_file_id_is_an_inline_batch(api: httpx.Client) -> None:
    batch = api.post("/batches", json={"name": "x", "input_file_id": ""}).json()
    assert "input_file_id" not in batch
    assert add(api, batch["batch_id"], [chat_item("a")]).status_code == 200
