"""Teams are isolated, SQL is parameterised, and request bodies are bounded (413)."""

from __future__ import annotations

import ast
import pathlib
from collections.abc import Iterator

import httpx
import orjson
import pytest

import batchframe as bf
import batchframe.server
from batchframe.errors import NotFoundError, PayloadTooLargeError
from batchframe.server import BatchServer, ServerHandle, serve

KEY_A, KEY_B = "xai-team-a-key-0000000000", "xai-team-b-key-1111111111"
ITEM = {
    "batch_request_id": "a-1",
    "batch_request": {
        "chat_get_completion": {"model": "grok-4.3", "messages": [{"role": "user", "content": "x"}]}
    },
}


@pytest.fixture(params=["in-process", "loopback"])
def teams(request: pytest.FixtureRequest) -> Iterator[tuple[BatchServer, bf.Client, bf.Client]]:
    keys = {KEY_A: "team-a", KEY_B: "team-b"}
    # The SQL-looking model must be admitted to reach the store (other models are a 400).
    models = ("grok-4.3", "'; DROP TABLE requests; --")
    if request.param == "loopback":
        handle = serve(keys=keys, models=models)
        a = bf.Client(api_key=KEY_A, base_url=handle.base_url)
        b = bf.Client(api_key=KEY_B, base_url=handle.base_url)
        yield handle.server, a, b
        for closing in (a.close, b.close, handle.stop):
            closing()
    else:
        server = BatchServer(keys=keys, models=models)
        a = bf.Client(api_key=KEY_A, base_url="http://localhost/v1", transport=server.transport())
        b = bf.Client(api_key=KEY_B, base_url="http://localhost/v1", transport=server.transport())
        yield server, a, b
        for closing in (a.close, b.close, server.close):
            closing()


def snapshot(client: bf.Client, batch_id: str) -> tuple[object, ...]:
    batch = client.get_batch(batch_id)
    return (
        batch.model_dump(),
        [m.model_dump() for m in client.iter_requests(batch_id)],
        [r.model_dump() for r in client.iter_results(batch_id)],
    )


def test_team_b_cannot_touch_team_a_batch(teams: tuple[BatchServer, bf.Client, bf.Client]) -> None:
    server, a, b = teams
    batch_id = a.create_batch("team a secret").batch_id
    a.add_requests(batch_id, [ITEM])
    server.engine.step()
    before = snapshot(a, batch_id)
    b_own = b.create_batch("team b").batch_id
    other = {**ITEM, "batch_request_id": "b-1"}
    for attempt in (
        lambda: b.get_batch(batch_id),
        lambda: b.add_requests(batch_id, [other]),
        lambda: b.add_requests(batch_id, [ITEM]),
        lambda: b.cancel_batch(batch_id),
        lambda: b.list_requests(batch_id),
        lambda: b.list_results(batch_id),
    ):
        with pytest.raises(NotFoundError):
            attempt()
    assert [x.batch_id for x in b.iter_batches()] == [b_own]
    assert [x.batch_id for x in a.iter_batches()] == [batch_id]
    assert snapshot(a, batch_id) == before
    assert before[0]["cancel_time"] is None  # type: ignore[index]
    assert server.internal_errors == 0


# -- SQL is parameterised: a static check over the server's source --------------------------------

_EXECUTE = {"execute", "executemany", "executescript"}


def unsafe_sql_calls(source: str) -> list[str]:
    """``execute`` calls whose SQL text is built from values rather than fixed text.

    Allowed inside f-strings: module constants (UPPER_CASE names) and a placeholder list
    named ``marks`` built from ``"?"`` only. Anything else (%-format, ``.format``, ``+`` of a
    non-constant, other f-string fields) is reported.
    """
    tree = ast.parse(source)
    marks_ok = all(
        isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Attribute)
        and isinstance(node.value.func.value, ast.Constant)
        and node.value.func.value.value == ","
        and "?" in ast.unparse(node.value.args[0])
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "marks" for t in node.targets)
    )
    bad: list[str] = []
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _EXECUTE
            and node.args
        ):
            continue
        if not _fixed_text(node.args[0], marks_ok):
            bad.append(f"line {node.lineno}: {ast.unparse(node.args[0])[:120]}")
    return bad


def _fixed_text(node: ast.expr, marks_ok: bool) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.Name):
        return node.id.isupper() or node.id.lstrip("_").isupper()
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _fixed_text(node.left, marks_ok) and _fixed_text(node.right, marks_ok)
    if isinstance(node, ast.JoinedStr):
        for part in node.values:
            if isinstance(part, ast.FormattedValue):
                value = part.value
                if not isinstance(value, ast.Name):
                    return False
                if value.id == "marks" and marks_ok:
                    continue
                if not value.id.lstrip("_").isupper():
                    return False
        return True
    return False


def test_server_sql_is_parameterised() -> None:
    folder = pathlib.Path(batchframe.server.__file__).parent
    checked = 0
    for path in sorted(folder.glob("*.py")):
        source = path.read_text(encoding="utf-8")
        assert unsafe_sql_calls(source) == [], path.name
        checked += source.count(".execute")
    assert checked >= 10  # the check really looked at the store's statements


@pytest.mark.parametrize(
    "snippet",
    [
        "conn.execute(f\"SELECT * FROM batches WHERE name = '{name}'\")",
        "conn.execute(\"SELECT * FROM batches WHERE name = '%s'\" % name)",
        "conn.execute(\"SELECT * FROM batches WHERE name = '{}'\".format(name))",
        'conn.execute("SELECT * FROM batches WHERE name = \'" + name + "\'")',
        "conn.executemany(f'DELETE FROM requests WHERE rid = {rid}', rows)",
        "marks = name\nconn.execute(f'SELECT 1 WHERE x IN ({marks})', ())",
    ],
)
def test_the_static_check_catches_built_sql(snippet: str) -> None:
    assert unsafe_sql_calls(snippet) != []


def test_sql_injection_strings_are_only_data(
    teams: tuple[BatchServer, bf.Client, bf.Client],
) -> None:
    server, a, _b = teams
    evil = "'; DROP TABLE requests; --"
    keep = a.create_batch("keep me").batch_id
    a.add_requests(keep, [ITEM])
    batch = a.create_batch(evil)
    assert batch.name == evil
    items = [
        {**ITEM, "batch_request_id": evil},
        {**ITEM, "batch_request_id": "x' OR '1'='1"},
        {
            "batch_request_id": 'y"); DELETE FROM batches; --',
            "batch_request": {
                "chat_get_completion": {
                    "model": evil,
                    "messages": [{"role": "user", "content": evil}],
                }
            },
        },
    ]
    a.add_requests(batch.batch_id, items)
    server.engine.step()
    results = {r.batch_request_id: r for r in a.iter_results(batch.batch_id)}
    assert set(results) == {i["batch_request_id"] for i in items}
    assert results['y"); DELETE FROM batches; --'].content == evil
    assert a.get_batch(keep).num_requests == 1 and len(list(a.iter_results(keep))) == 1
    names = sorted(x.name for x in a.iter_batches())
    assert names == sorted([evil, "keep me"])
    with pytest.raises(NotFoundError):
        a.get_batch("batch_' OR '1'='1")
    with pytest.raises(bf.BadRequestError):
        a.list_requests(keep, pagination_token=evil)
    assert server.store.stats()["requests"] == 4 and server.internal_errors == 0


# -- bodies are bounded by max_body_mb -------------------------------------------------------------

LIMIT_MB = 0.05  # 52,428 bytes


@pytest.fixture
def small_limit() -> Iterator[ServerHandle]:
    with serve(max_body_mb=LIMIT_MB) as handle:
        yield handle


def big_body(size: int) -> bytes:
    text = "x" * size
    item = {
        **ITEM,
        "batch_request": {
            "chat_get_completion": {
                "model": "grok-4.3",
                "messages": [{"role": "user", "content": text}],
            }
        },
    }
    return orjson.dumps({"batch_requests": [item]})


def assert_413(reply: httpx.Response) -> None:
    assert reply.status_code == 413, reply.text[:200]
    assert set(reply.json()) == {"code", "error"}


def test_oversized_body_is_413_over_loopback_with_and_without_length(
    small_limit: ServerHandle,
) -> None:
    headers = {"Authorization": "Bearer k", "Content-Type": "application/json"}
    with httpx.Client(base_url=small_limit.base_url, headers=headers) as http:
        batch_id = http.post("/batches", json={"name": "limits"}).json()["batch_id"]
        path = f"/batches/{batch_id}/requests"
        body = big_body(int(LIMIT_MB * 1024 * 1024) + 1000)
        assert_413(http.post(path, content=body))

        def chunked() -> Iterator[bytes]:  # no Content-Length: Transfer-Encoding: chunked
            for start in range(0, len(body), 4096):
                yield body[start : start + 4096]

        request = http.build_request("POST", path, content=chunked())
        assert "content-length" not in request.headers
        assert request.headers["transfer-encoding"] == "chunked"
        assert_413(http.send(request))
        assert_413(http.post("/batches", content=b'{"name": "' + b"n" * 60_000 + b'"}'))
        # a body just under the limit is fine, and the server kept serving
        assert http.post(path, content=big_body(40_000)).status_code == 200
        assert http.get(f"/batches/{batch_id}").json()["state"]["num_requests"] == 1
    assert small_limit.server.internal_errors == 0


def test_client_gets_payload_too_large_and_does_not_retry(small_limit: ServerHandle) -> None:
    calls: list[str] = []
    inner = httpx.HTTPTransport()

    def record(request: httpx.Request) -> httpx.Response:
        calls.append(f"{request.method} {request.url.path}")
        return inner.handle_request(request)

    transport = httpx.MockTransport(record)
    with bf.Client(api_key="k", base_url=small_limit.base_url, transport=transport) as client:
        batch_id = client.create_batch("limits").batch_id
        with pytest.raises(PayloadTooLargeError):
            client.add_requests(batch_id, big_body(60_000))
    inner.close()
    assert calls == ["POST /v1/batches", f"POST /v1/batches/{batch_id}/requests"]


def test_oversized_body_is_413_in_process() -> None:
    with BatchServer(max_body_mb=LIMIT_MB) as server:
        http = httpx.Client(
            transport=server.transport(),
            base_url="http://localhost/v1",
            headers={"Authorization": "Bearer k"},
        )
        with http:
            batch_id = http.post("/batches", json={"name": "x"}).json()["batch_id"]
            assert_413(http.post(f"/batches/{batch_id}/requests", content=big_body(60_000)))
            assert http.get("/batches").status_code == 200
