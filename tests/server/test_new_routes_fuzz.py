"""Property-based fuzzing of the REST routes issue 11 added (files, tokenizer, model list) and of
the JSONL parse: never a 5xx, always the error envelope, never a crash in the file ingest.
(schemathesis covers them too, through /openapi.json, in tests/security/test_server_input.py.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchframe.server import BatchServer
from batchframe.server.file_ingest import FileInvalid, parse_jsonl
from batchframe.server.prices import DEFAULT_MODELS, resolve_models

AUTH = {"authorization": "Bearer fuzz-key"}
FUZZ = settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
ROUTES = [
    ("POST", "/v1/files"),
    ("GET", "/v1/files"),
    ("GET", "/v1/files/{id}"),
    ("DELETE", "/v1/files/{id}"),
    ("GET", "/v1/files/{id}/content"),
    ("POST", "/v1/tokenize-text"),
    ("GET", "/v1/language-models"),
    ("GET", "/v1/language-models/{id}"),
    ("POST", "/v1/batches"),
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["text", "model", "name", "input_file_id", "file", "purpose", "x"])
            | st.text(max_size=6),
            children,
            max_size=4,
        )
    ),
    max_leaves=10,
)


@pytest.fixture(scope="module")
def target() -> Iterator[tuple[BatchServer, str]]:
    with BatchServer(keys={"fuzz-key": "fuzzers"}) as server:
        body = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\n\r\n{}\r\n--b--\r\n'
        headers = {**AUTH, "content-type": "multipart/form-data; boundary=b"}
        status, _h, out = server.handle("POST", "/v1/files", b"", headers, body)
        assert status == 200, out
        yield server, orjson.loads(out)["id"]


def call(
    server: BatchServer, method: str, path: str, query: bytes, headers: dict[str, str], body: bytes
) -> int:
    status, _headers, out = server.handle(method, path, query, {**AUTH, **headers}, body)
    assert status < 500, (method, path, query, body[:100], out[:200])
    if status >= 400:
        assert set(orjson.loads(out)) == {"code", "error"}
    return status


@pytest.mark.parametrize(("method", "route"), ROUTES)
@FUZZ
@given(value=json_values, raw=st.binary(max_size=200), query=st.binary(max_size=60))
def test_random_json_and_bytes_never_5xx(
    target: tuple[BatchServer, str], method: str, route: str, value: Any, raw: bytes, query: bytes
) -> None:
    server, file_id = target
    path = route.replace("{id}", file_id)
    for ctype in ("application/json", "multipart/form-data; boundary=b", "multipart/form-data"):
        call(server, method, path, query, {"content-type": ctype}, json.dumps(value).encode())
        call(server, method, path, b"", {"content-type": ctype}, raw)
    noise = raw.decode("latin-1")[:80] or "x"
    call(server, method, route.replace("{id}", noise), b"", {}, raw)
    assert server.internal_errors == 0


parts = st.lists(
    st.tuples(
        st.sampled_from(
            [
                'name="file"; filename="a.jsonl"',
                'name="purpose"',
                'name="expires_after[seconds]"',
                "",
                "name=\"x\"; filename*=utf-8''%E2%82",
            ]
        ),
        st.binary(max_size=80),
    ),
    max_size=5,
)


@FUZZ
@given(parts=parts, boundary=st.text(min_size=0, max_size=12), tail=st.binary(max_size=20))
def test_random_multipart_never_5xx(
    target: tuple[BatchServer, str], parts: list[tuple[str, bytes]], boundary: str, tail: bytes
) -> None:
    server, _file_id = target
    b = boundary.encode("utf-8", "replace")
    body = (
        b"".join(
            b"--"
            + b
            + b"\r\nContent-Disposition: form-data; "
            + head.encode()
            + b"\r\n\r\n"
            + data
            + b"\r\n"
            for head, data in parts
        )
        + b"--"
        + b
        + b"--\r\n"
        + tail
    )
    call(
        server,
        "POST",
        "/v1/files",
        b"",
        {"content-type": f"multipart/form-data; boundary={boundary}"},
        body,
    )
    assert server.internal_errors == 0


line_values = st.fixed_dictionaries(
    {},
    optional={
        "custom_id": st.text(max_size=8) | st.integers(),
        "method": st.sampled_from(["POST", "GET"]) | st.text(max_size=4),
        "url": st.sampled_from(
            ["/v1/chat/completions", "/v1/responses", "/v1/images/generations", "/v1/videos"]
        )
        | st.text(max_size=8),
        "body": json_values
        | st.fixed_dictionaries(
            {"model": st.sampled_from(list(DEFAULT_MODELS)) | st.text(max_size=6)},
            optional={"messages": json_values, "input": json_values, "prompt": json_values},
        ),
    },
)
ADMITTED = resolve_models(DEFAULT_MODELS)


@settings(max_examples=200, derandomize=True, deadline=None, database=None)
@given(lines=st.lists(line_values | json_values | st.binary(max_size=30), max_size=6))
def test_random_jsonl_is_parsed_or_rejected_with_a_message(lines: list[Any]) -> None:
    content = b"\n".join(x if isinstance(x, bytes) else json.dumps(x).encode() for x in lines)
    try:
        items = parse_jsonl(content, ADMITTED)
    except FileInvalid as exc:
        assert str(exc).startswith("JSONL file validation failed: ")
        return
    ids = [item[0] for item in items]
    assert len(ids) == len(set(ids))
    for _rid, kind, model, canon in items:
        assert model in ADMITTED and kind in orjson.loads(canon)
