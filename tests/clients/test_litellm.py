"""LiteLLM's xAI batch flow (files over REST) against the local server, over loopback, unchanged:
``create_file`` -> ``create_batch`` -> ``retrieve_batch`` -> ``list_batches`` -> ``file_content``
(the results as OpenAI output JSONL) -> ``cancel_batch``, and the file routes."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

# LiteLLM fetches its model cost map from the network at import unless told to use its own copy.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm
import orjson
import pytest

from batchframe.server import ServerHandle, serve

# LiteLLM's own TypedDicts use ReadOnly, which pydantic warns about when it builds their schemas.
pytestmark = pytest.mark.filterwarnings(
    r"ignore:Items? .* (is|are) using the `ReadOnly` qualifier:UserWarning"
)


@pytest.fixture
def server() -> Iterator[ServerHandle]:
    with serve() as handle:
        yield handle
        assert handle.server.internal_errors == 0


def options(handle: ServerHandle) -> dict[str, Any]:
    return {"custom_llm_provider": "xai", "api_base": handle.base_url, "api_key": "local-key"}


def jsonl(*texts: str, model: str = "grok-4.3") -> bytes:
    return b"".join(
        orjson.dumps(
            {
                "custom_id": f"req-{i}",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {"model": model, "messages": [{"role": "user", "content": text}]},
            }
        )
        + b"\n"
        for i, text in enumerate(texts)
    )


def wait_for(kw: dict[str, Any], batch_id: str, *statuses: str) -> Any:
    deadline = time.monotonic() + 30
    while True:
        batch = litellm.retrieve_batch(batch_id=batch_id, **kw)
        if batch.status in statuses:
            return batch
        assert time.monotonic() < deadline, batch
        time.sleep(0.02)


def test_litellm_batch_flow(server: ServerHandle) -> None:
    kw = options(server)
    uploaded = litellm.create_file(
        file=("requests.jsonl", jsonl("alpha", "beta", "gamma")), purpose="batch", **kw
    )
    assert (
        uploaded.id.startswith("file_")
        and uploaded.bytes > 0
        and uploaded.filename == "requests.jsonl"
    )
    batch = litellm.create_batch(
        completion_window="24h",
        endpoint="/v1/chat/completions",
        input_file_id=uploaded.id,
        metadata={"name": "litellm-run"},
        **kw,
    )
    assert batch.id.startswith("batch_") and batch.input_file_id == uploaded.id
    assert batch.status in ("validating", "in_progress", "completed")
    done = wait_for(kw, batch.id, "completed")
    assert done.request_counts.total == 3 and done.request_counts.completed == 3
    assert done.metadata == {"name": "litellm-run"}

    listed = litellm.list_batches(**kw)
    assert [b.id for b in listed.data] == [batch.id] and listed.has_more is False

    content = litellm.file_content(file_id=done.output_file_id, **kw).content
    lines = [orjson.loads(line) for line in content.splitlines()]
    assert [line["custom_id"] for line in lines] == ["req-0", "req-1", "req-2"]
    answers = [line["response"]["body"]["choices"][0]["message"]["content"] for line in lines]
    assert answers == ["alpha", "beta", "gamma"]
    assert all(line["response"]["status_code"] == 200 and line["error"] is None for line in lines)

    assert litellm.cancel_batch(batch_id=batch.id, **kw).status == "cancelled"

    files = litellm.file_list(**kw)
    assert [f.id for f in files] == [uploaded.id]
    assert litellm.file_retrieve(file_id=uploaded.id, **kw).bytes == uploaded.bytes
    assert litellm.file_delete(file_id=uploaded.id, **kw).deleted is True
    assert litellm.file_list(**kw) == []


def test_litellm_sees_an_xai_side_rejection_as_failed(server: ServerHandle) -> None:
    kw = options(server)
    uploaded = litellm.create_file(
        file=("bad.jsonl", jsonl("ok", model="grok-4.5")), purpose="batch", **kw
    )
    batch = litellm.create_batch(
        completion_window="24h", endpoint="/v1/chat/completions", input_file_id=uploaded.id, **kw
    )
    failed = wait_for(kw, batch.id, "failed")
    assert failed.errors is not None
    assert failed.errors.data[0].message == (
        "JSONL file validation failed: line 1: Model grok-4.5 is not supported for batch processing."
    )


def test_litellm_cancel_keeps_finished_rows(server: ServerHandle) -> None:
    kw = options(server)
    server.server.engine.pause()
    uploaded = litellm.create_file(file=("a.jsonl", jsonl("one", "two")), purpose="batch", **kw)
    batch = litellm.create_batch(
        completion_window="24h", endpoint="/v1/chat/completions", input_file_id=uploaded.id, **kw
    )
    assert server.server.ingest.wait_idle()
    server.server.engine.step(1)
    cancelled = litellm.cancel_batch(batch_id=batch.id, **kw)
    assert cancelled.status == "cancelled"
    assert (cancelled.request_counts.completed, cancelled.request_counts.failed) == (1, 1)
