"""Bad input to the client is a clear ValueError before anything is sent: no call, no batch."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import httpx
import pandas as pd
import pydantic
import pytest

import batchframe as bf
from batchframe._config import MAX_REQUEST_BYTES
from batchframe.server import BatchServer

KEY = "xai-input-test-key-abcdef0123456789"


class Sentiment(pydantic.BaseModel):
    label: str


class Recording(httpx.BaseTransport):
    """Passes calls to the in-process server and remembers each one."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.calls: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(f"{request.method} {request.url.path}")
        return self.inner.handle_request(request)


@pytest.fixture
def setup(tmp_path: pathlib.Path) -> Iterator[tuple[BatchServer, Recording, bf.Client]]:
    server = BatchServer()
    recording = Recording(server.transport())
    client = bf.Client(api_key=KEY, base_url="http://localhost/v1", transport=recording)
    yield server, recording, client
    client.close()
    server.close()


def frame(prompts: list[Any], index: list[Any] | None = None) -> pd.DataFrame:
    return pd.DataFrame({"prompt": prompts}, index=index)


OK = frame(["a", "b"])
MSG = [{"role": "user", "content": "hi"}]
CASES: dict[str, tuple[pd.DataFrame, dict[str, Any], str]] = {
    "missing column": (OK, {"prompt": "nope"}, "nope"),
    "empty frame": (frame([]), {"prompt": "prompt"}, "empty|no rows"),
    "duplicate IDs": (frame(["a", "b", "c"], ["x", "y", "x"]), {"prompt": "prompt"}, "unique.*'x'"),
    "null IDs": (
        pd.DataFrame({"prompt": ["a", "b"], "id": ["k1", None]}),
        {"prompt": "prompt", "id_column": "id"},
        "null",
    ),
    "ID too long": (frame(["a"], ["x" * 257]), {"prompt": "prompt"}, "256"),
    "ID with control char": (frame(["a"], ["a\x01b"]), {"prompt": "prompt"}, "printable ASCII"),
    "ID with newline": (frame(["a"], ["a\nb"]), {"prompt": "prompt"}, "printable ASCII"),
    "non-ASCII ID": (frame(["a"], ["café"]), {"prompt": "prompt"}, "printable ASCII"),
    "leading space ID": (frame(["a"], [" a"]), {"prompt": "prompt"}, "whitespace"),
    "trailing space ID": (frame(["a"], ["a "]), {"prompt": "prompt"}, "whitespace"),
    "empty ID": (frame(["a"], [""]), {"prompt": "prompt"}, "empty"),
    "null prompt": (frame(["a", None]), {"prompt": "prompt"}, "null"),
    "NaN prompt": (frame(["a", float("nan")]), {"prompt": "prompt"}, "null|text"),
    "non-text prompt": (frame([1, 2]), {"prompt": "prompt"}, "text"),
    "mixed prompt": (frame(["a", 3.5]), {"prompt": "prompt"}, "text"),
    "template missing column": (OK, {"template": "Say {prompt} {nope}"}, "nope"),
    "malformed template": (OK, {"template": "Say {prompt"}, "template"),
    "messages not JSON": (
        pd.DataFrame({"m": ["not json", "[]"]}),
        {"messages": "m"},
        "messages",
    ),
    "messages missing role": (
        pd.DataFrame({"m": [[{"content": "x"}]]}),
        {"messages": "m"},
        "role",
    ),
    "messages not a list": (pd.DataFrame({"m": [5]}), {"messages": "m"}, "messages"),
    "messages empty list": (pd.DataFrame({"m": [[]]}), {"messages": "m"}, "messages"),
    "request over the size limit": (
        frame(["a", "x" * (MAX_REQUEST_BYTES + 10)]),
        {"prompt": "prompt"},
        "limit|large|MB|bytes",
    ),
    "empty model": (OK, {"prompt": "prompt", "model": ""}, "model"),
    "blank model": (OK, {"prompt": "prompt", "model": "   "}, "model"),
    "prompt and template": (OK, {"prompt": "prompt", "template": "{prompt}"}, "one of|exactly"),
    "prompt and messages": (OK, {"prompt": "prompt", "messages": "prompt"}, "one of|exactly"),
    "none of prompt/template/messages": (OK, {}, "one of|exactly"),
    "response_model and response_format": (
        OK,
        {"prompt": "prompt", "response_model": Sentiment, "response_format": {"type": "text"}},
        "response_model.*response_format|both",
    ),
    "stream parameter": (OK, {"prompt": "prompt", "stream": True}, "stream"),
    "unserialisable parameter": (OK, {"prompt": "prompt", "temperature": object()}, "JSON"),
    "bad chunk_rows": (OK, {"prompt": "prompt", "chunk_rows": 0}, "chunk_rows"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_a_value_error_and_nothing_is_sent(
    case: str, setup: tuple[BatchServer, Recording, bf.Client], tmp_path: pathlib.Path
) -> None:
    server, recording, client = setup
    df, kwargs, message = CASES[case]
    kwargs = {"model": "grok-4.3", **kwargs}
    with pytest.raises(ValueError, match=message):
        bf.submit(df, client=client, progress=False, manifest_dir=tmp_path, **kwargs)
    assert recording.calls == []
    assert client.list_batches().batches == []
    assert server.store.stats()["batches"] == 0
    assert not (tmp_path / ".batchframe").exists() and list(tmp_path.iterdir()) == []


def test_the_same_frame_fixed_goes_through(
    setup: tuple[BatchServer, Recording, bf.Client], tmp_path: pathlib.Path
) -> None:
    """The checks above reject the bad value, not everything: a clean frame is sent."""
    server, recording, client = setup
    df = frame(["a", "b"], ["id-1", "id-2"])
    assert recording.calls == []
    job = bf.submit(
        df, prompt="prompt", model="grok-4.3", client=client, progress=False, manifest_dir=tmp_path
    )
    assert server.store.stats()["requests"] == 2
    assert [m.batch_request_id for m in client.iter_requests(job.batch_id)] == ["id-1", "id-2"]


def test_to_requests_rejects_the_same_input_without_a_client() -> None:
    with pytest.raises(ValueError, match="unique"):
        bf.to_requests(frame(["a", "b"], ["x", "x"]), prompt="prompt", model="grok-4.3")
