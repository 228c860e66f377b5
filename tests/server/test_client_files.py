"""The client's file flow, tokenizer and model list methods against the in-process server."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson
import pytest

import batchframe as bf
from batchframe.server import BatchServer

LINE = orjson.dumps({"custom_id": "c1", "method": "POST", "url": "/v1/chat/completions",
                     "body": {"model": "grok-4.3", "messages": [{"role": "user", "content": "from a file"}]}}) + b"\n"  # fmt: skip


def client_of(server: BatchServer, transport: httpx.BaseTransport | None = None) -> bf.Client:
    return bf.Client(
        api_key="k",
        base_url="http://localhost/v1",
        transport=transport or server.transport(),
        sleep=lambda _s: None,
    )


def test_upload_file_from_bytes_a_path_and_a_file_object(
    batch_server: BatchServer, tmp_path: Path
) -> None:
    client = client_of(batch_server)
    from_bytes = client.upload_file(LINE)
    assert isinstance(from_bytes, bf.FileObject)
    assert from_bytes.id.startswith("file_") and from_bytes.bytes == len(LINE)
    assert from_bytes.filename == "batch.jsonl" and from_bytes.purpose == ""
    path = tmp_path / 'my "odd" name.jsonl'
    path.write_bytes(LINE)
    assert client.upload_file(path).filename == 'my "odd" name.jsonl'
    assert client.upload_file(str(path), filename="renamed.jsonl").filename == "renamed.jsonl"
    with path.open("rb") as handle:
        assert client.upload_file(handle).filename == path.name
    http = httpx.Client(
        transport=batch_server.transport(),
        base_url="http://t/v1",
        headers={"Authorization": "Bearer k"},
    )
    assert http.get(f"/files/{from_bytes.id}/content").content == LINE


def test_create_batch_from_an_uploaded_file(batch_server: BatchServer) -> None:
    client = client_of(batch_server)
    uploaded = client.upload_file(LINE)
    batch = client.create_batch("from-file", input_file_id=uploaded.id)
    assert batch.input_file_id == uploaded.id and batch.num_requests == 0
    assert batch_server.ingest.wait_idle()
    batch_server.engine.step()
    assert [r.content for r in client.iter_results(batch.batch_id)] == ["from a file"]
    with pytest.raises(bf.ConflictError):  # sealed
        client.add_requests(batch.batch_id, [])
    with pytest.raises(bf.NotFoundError):
        client.create_batch("x", input_file_id="file_00000000-0000-4000-8000-000000000000")


def test_a_lost_create_reply_adopts_the_file_batch(batch_server: BatchServer) -> None:
    inner = batch_server.transport()
    lost = {"count": 0}

    def lossy(request: httpx.Request) -> httpx.Response:
        response = inner.handle_request(request)
        if request.method == "POST" and request.url.path == "/v1/batches" and not lost["count"]:
            lost["count"] += 1
            batch_server.ingest.wait_idle()  # the server filled the batch before the retry
            raise httpx.ReadError("connection lost after the request was sent", request=request)
        return response

    client = client_of(batch_server, httpx.MockTransport(lossy))
    uploaded = client.upload_file(LINE)
    batch = client.create_batch("once", input_file_id=uploaded.id)
    assert lost["count"] == 1
    assert [b.batch_id for b in client.iter_batches()] == [batch.batch_id]


def test_upload_retries_server_errors_and_refuses_a_too_large_file() -> None:
    with BatchServer(http_error_rate=0.5, seed=1, max_file_mb=0.001) as server:
        inner, statuses = server.transport(), []

        def counting(request: httpx.Request) -> httpx.Response:
            response = inner.handle_request(request)
            statuses.append(response.status_code)
            return response

        client = client_of(server, httpx.MockTransport(counting))
        assert client.upload_file(b"x\n" * 10).bytes == 20
        assert statuses[-1] == 200 and any(code >= 500 for code in statuses)
        server.faults.http_error_rate = 0.0
        statuses.clear()
        with pytest.raises(bf.PayloadTooLargeError):
            client.upload_file(b"x" * 5000)
        assert statuses == [413]  # not retried


def test_tokenize_text_and_list_language_models(client: bf.Client) -> None:
    tokens = client.tokenize_text("Hello world", "grok-4.3")
    assert all(isinstance(t, bf.Token) for t in tokens)
    assert [(t.string_token, t.token_bytes) for t in tokens] == [
        ("Hello", b"Hello"),
        (" world", b" world"),
    ]
    models = client.list_language_models()
    assert all(isinstance(m, bf.LanguageModel) for m in models)
    grok = next(m for m in models if m.id == "grok-4.3")
    assert grok.usd_per_token(grok.prompt_text_token_price) == pytest.approx(1.25e-6)
    with pytest.raises(bf.NotFoundError):
        client.tokenize_text("x", "no-such-model")
