"""The client against the real local server: every endpoint, errors, paging, retries."""

from __future__ import annotations

import logging
import pathlib
import traceback
from collections.abc import Callable

import httpx
import orjson
import pytest

import batchframe as bf
from batchframe.client import Client, is_loopback_url
from batchframe.server.app import BatchServer
from batchframe.server.runner import ServerHandle

KEY = "xai-TESTKEY-should-never-appear-0123456789"


def item(rid: str, text: str, model: str = "grok-4.3") -> dict[str, object]:
    return {
        "batch_request_id": rid,
        "batch_request": {
            "chat_get_completion": {
                "model": model,
                "messages": [{"role": "user", "content": text}],
            }
        },
    }


def make_client(server: BatchServer, **kwargs: object) -> Client:
    return Client(
        api_key=KEY,
        base_url="http://localhost/v1",
        transport=server.transport(),
        sleep=lambda s: None,
        **kwargs,  # type: ignore[arg-type]
    )


def test_full_lifecycle_through_every_endpoint(batch_server: BatchServer) -> None:
    batch_server.engine.pause()
    with make_client(batch_server) as client:
        batch = client.create_batch("lifecycle")
        assert batch.batch_id.startswith("batch_") and batch.num_requests == 0
        client.add_requests(batch.batch_id, [item(f"r{i}", f"text {i}") for i in range(5)])
        got = client.get_batch(batch.batch_id)
        assert got.num_requests == 5 and got.num_pending == 5 and not got.is_done
        assert [m.state for m in client.iter_requests(batch.batch_id)] == ["pending"] * 5
        assert list(client.iter_results(batch.batch_id)) == []

        batch_server.engine.step()
        done = client.get_batch(batch.batch_id)
        assert done.is_done and done.num_success == 5
        results = list(client.iter_results(batch.batch_id, limit=2))
        assert [r.batch_request_id for r in results] == [f"r{i}" for i in range(5)]
        assert [r.content for r in results] == [f"text {i}" for i in range(5)]
        assert all(r.usage["total_tokens"] > 0 for r in results)

        assert batch.batch_id in {b.batch_id for b in client.iter_batches(limit=1)}
        cancelled = client.cancel_batch(batch.batch_id)
        assert cancelled.is_cancelled
        assert client.cancel_batch(batch.batch_id).is_cancelled  # idempotent


def test_add_accepts_encoded_bytes_object_or_array(
    client: Client, batch_server: BatchServer
) -> None:
    batch_server.engine.pause()
    batch = client.create_batch("bytes")
    client.add_requests(batch.batch_id, orjson.dumps({"batch_requests": [item("a", "x")]}))
    client.add_requests(batch.batch_id, orjson.dumps([item("b", "y")]))
    assert client.get_batch(batch.batch_id).num_requests == 2
    with pytest.raises(ValueError, match="JSON object or array"):
        client.add_requests(batch.batch_id, b"nonsense")


def test_paging_with_limit_one_reaches_a_null_token(client: Client) -> None:
    batch = client.create_batch("paging")
    client.add_requests(batch.batch_id, [item(f"id{i:02d}", str(i)) for i in range(7)])
    pages = []
    token = None
    while True:
        page = client.list_requests(batch.batch_id, limit=1, pagination_token=token)
        pages.append(page)
        token = page.pagination_token
        if token is None:
            break
    assert [p.batch_request_metadata[0].batch_request_id for p in pages] == [
        f"id{i:02d}" for i in range(7)
    ]


def test_status_errors_map_to_the_tree(client: Client, batch_server: BatchServer) -> None:
    batch_server.engine.pause()
    with pytest.raises(bf.NotFoundError) as not_found:
        client.get_batch("batch_does-not-exist")
    assert not_found.value.status_code == 404 and not_found.value.code
    batch = client.create_batch("errors")
    client.add_requests(batch.batch_id, [item("same", "one")])
    client.add_requests(batch.batch_id, [item("same", "one")])  # identical re-add: a no-op
    assert client.get_batch(batch.batch_id).num_requests == 1
    with pytest.raises(bf.ConflictError) as conflict:
        client.add_requests(batch.batch_id, [item("same", "two")])
    assert conflict.value.status_code == 412 and "same" in str(conflict.value)
    client.cancel_batch(batch.batch_id)
    with pytest.raises(bf.PermissionDeniedError):
        client.add_requests(batch.batch_id, [item("new", "x")])
    with pytest.raises(bf.BadRequestError):
        client.list_results(batch.batch_id, limit=1001)


def test_path_tricks_in_batch_ids_stay_one_segment(client: Client) -> None:
    for bad in ["..", ".", "a/b", "../batches", "x%2Fy", "batch_\x00"]:
        with pytest.raises(bf.NotFoundError):
            client.get_batch(bad)
    with pytest.raises(ValueError):
        client.get_batch("")


def test_unknown_key_with_keys_file_is_a_400_without_the_key() -> None:
    with BatchServer(keys={"xai-good-key-000000": "team-a"}) as server:
        client = make_client(server)
        with pytest.raises(bf.BadRequestError) as err:
            client.list_batches()
        assert "Incorrect API key" in str(err.value)
        assert KEY not in str(err.value) and "TESTKEY" not in repr(err.value)


def test_retries_ride_through_injected_errors_without_duplicates() -> None:
    with BatchServer(http_error_rate=0.4, drop_rate=0.3, seed=7) as server:
        client = make_client(server, max_retries=30)
        batch = client.create_batch("flaky")
        for chunk in range(10):
            client.add_requests(
                batch.batch_id, [item(f"c{chunk}-{i}", f"{chunk}/{i}") for i in range(20)]
            )
        server.faults.update({"http_error_rate": 0, "drop_rate": 0})
        ids = [m.batch_request_id for m in client.iter_requests(batch.batch_id)]
        assert len(ids) == 200 and len(set(ids)) == 200
        # Lost create replies were recovered, not re-created: exactly one batch of this name.
        assert [b.name for b in client.iter_batches()].count("flaky") == 1


def test_lost_create_reply_never_adopts_a_batch_it_cannot_prove_it_made() -> None:
    with BatchServer(seed=3) as server:
        server.faults.update({"drop_rate": 1.0})
        real = server.transport()
        drops = {"n": 0}

        class DropAfterFirstCreate(httpx.BaseTransport):
            """Drops replies (server-side fault) only until the first create has happened."""

            def handle_request(self, request: httpx.Request) -> httpx.Response:
                if request.method == "POST" and drops["n"] == 0:
                    # Force the "applied, reply lost" case: apply the create, then drop.
                    server.faults.update({"drop_rate": 0})
                    response = real.handle_request(request)
                    response.read()
                    drops["n"] += 1
                    raise httpx.RemoteProtocolError("reply lost")
                return real.handle_request(request)

        server.faults.update({"drop_rate": 0})
        client = Client(
            api_key=KEY,
            base_url="http://localhost/v1",
            transport=DropAfterFirstCreate(),
            sleep=lambda s: None,
        )
        batch = client.create_batch("adopt-me")
        names = [b.name for b in client.iter_batches()]
        # Without a recovery the create is retried: another caller's empty batch of this name
        # is never adopted (that mixed two jobs, issue 9 item 5); bf.submit recovers its own.
        assert names.count("adopt-me") == 2
        assert client.get_batch(batch.batch_id).name == "adopt-me"
        adopted = client.create_batch("given", recover=lambda: batch)
        assert adopted.batch_id != batch.batch_id  # no lost reply: recover is not consulted


def test_rate_limit_is_retried_after_retry_after(batch_server: BatchServer) -> None:
    batch_server.faults.update({"add_calls_per_30s": 2})
    slept: list[float] = []
    client = Client(
        api_key=KEY,
        base_url="http://localhost/v1",
        transport=batch_server.transport(),
        sleep=slept.append,
        max_retries=1,
    )
    batch = client.create_batch("limited")
    client.add_requests(batch.batch_id, [item("a", "1")])
    client.add_requests(batch.batch_id, [item("b", "2")])
    with pytest.raises(bf.RateLimitError) as err:
        client.add_requests(batch.batch_id, [item("c", "3")])
    assert err.value.retry_after is not None and err.value.retry_after > 0
    assert slept and slept[0] >= err.value.retry_after - 1


def test_give_up_after_max_retries_raises_server_error() -> None:
    with BatchServer(http_error_rate=1.0) as server:
        calls: list[float] = []
        client = Client(
            api_key=KEY,
            base_url="http://localhost/v1",
            transport=server.transport(),
            sleep=calls.append,
            max_retries=3,
        )
        with pytest.raises(bf.ServerError) as err:
            client.list_batches()
        assert len(calls) == 3 and err.value.status_code in (500, 503)


def test_key_never_logged_or_shown(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with BatchServer(http_error_rate=0.5, drop_rate=0.3, seed=1) as server:
        client = make_client(server, max_retries=40)
        batch = client.create_batch("secret")
        client.add_requests(batch.batch_id, [item("a", "x")])
        assert KEY not in repr(client) and KEY not in str(vars(client).get("base_url"))
    assert caplog.records, "the faults should have produced retry log lines"
    assert KEY not in caplog.text and "TESTKEY" not in caplog.text


def test_missing_key_and_insecure_url_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XAI_API_KEY", raising=False)
    with pytest.raises(ValueError, match="XAI_API_KEY"):
        Client()
    with pytest.raises(ValueError, match="plain HTTP"):
        Client(api_key=KEY, base_url="http://10.1.2.3:8000/v1")
    assert Client(api_key=KEY, base_url="http://10.1.2.3/v1", allow_insecure=True)
    monkeypatch.setenv("BATCHFRAME_ALLOW_INSECURE", "1")
    assert Client(api_key=KEY, base_url="http://example.com/v1")
    monkeypatch.setenv("XAI_BASE_URL", "https://example.com/v1/")
    assert Client(api_key=KEY).base_url == "https://example.com/v1"
    assert is_loopback_url("http://[::1]:9/v1") and is_loopback_url("http://localhost/v1")
    assert not is_loopback_url("http://localhost.example.com/v1")


def test_user_agent_and_auth_header_are_sent(batch_server: BatchServer) -> None:
    seen: list[httpx.Request] = []
    real = batch_server.transport()

    class Recording(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return real.handle_request(request)

    client = Client(api_key=KEY, base_url="http://localhost/v1", transport=Recording())
    client.list_batches()
    assert seen[0].headers["user-agent"] == f"batchframe/{bf.__version__}"
    assert seen[0].headers["authorization"] == f"Bearer {KEY}"


def test_over_loopback_with_drops_and_errors(loopback_server: ServerHandle) -> None:
    loopback_server.server.faults.update({"drop_rate": 0.2, "http_error_rate": 0.2})
    with Client(api_key=KEY, base_url=loopback_server.base_url, max_retries=30) as client:
        client._sleep = lambda s: None
        batch = client.create_batch("loopback")
        for chunk in range(5):
            client.add_requests(batch.batch_id, [item(f"{chunk}-{i}", "t") for i in range(50)])
        loopback_server.server.faults.update({"drop_rate": 0, "http_error_rate": 0})
        assert client.get_batch(batch.batch_id).num_requests == 250
        # A dropped create reply is retried, never adopted blind: it may leave an empty batch.
        named = [b for b in client.iter_batches() if b.name == "loopback"]
        assert [b.num_requests for b in named if b.num_requests] == [250]


# -- replies that are not what they claim (a proxy's login page, a redirect) ----------------

HTML = b"<!DOCTYPE html><html><head><title>Sign in to the corporate proxy</title></head></html>"


class Rewriting(httpx.BaseTransport):
    """The in-process server behind a "proxy" that answers the calls ``when`` picks with
    ``reply`` instead; it counts every call that reaches it."""

    def __init__(
        self,
        server: BatchServer,
        when: Callable[[httpx.Request], bool],
        reply: Callable[[], httpx.Response],
    ) -> None:
        self.inner, self.when, self.reply = server.transport(), when, reply
        self.calls: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(f"{request.method} {request.url.path}")
        if self.when(request):
            return self.reply()
        return self.inner.handle_request(request)


def _html(status: int = 200) -> httpx.Response:
    return httpx.Response(status, content=HTML, headers={"content-type": "text/html"})


ENDPOINTS: dict[str, Callable[[Client, str], object]] = {
    "create_batch": lambda c, b: c.create_batch("n"),
    "get_batch": lambda c, b: c.get_batch(b),
    "list_batches": lambda c, b: c.list_batches(),
    "add_requests": lambda c, b: c.add_requests(b, [item("x", "y")]),
    "list_requests": lambda c, b: c.list_requests(b),
    "list_results": lambda c, b: c.list_results(b),
    "fetch_results_page": lambda c, b: c.fetch_results_page(b),
    "fetch_requests_page": lambda c, b: c.fetch_requests_page(b),
    "cancel_batch": lambda c, b: c.cancel_batch(b),
}


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
@pytest.mark.parametrize("status", [200, 201])
def test_an_html_2xx_is_an_api_error_with_the_status_and_first_bytes(
    batch_server: BatchServer, endpoint: str, status: int
) -> None:
    batch_id = make_client(batch_server).create_batch("real").batch_id
    proxy = Rewriting(batch_server, lambda r: True, lambda: _html(status))
    client = Client(api_key=KEY, base_url="http://localhost/v1", transport=proxy)
    with pytest.raises(bf.UnexpectedResponseError) as info:
        ENDPOINTS[endpoint](client, batch_id)
    error = info.value
    assert isinstance(error, bf.APIError)
    assert error.status_code == status and error.body_start.startswith("<!DOCTYPE html>")
    assert f"answered {status}" in str(error) and "<!DOCTYPE html><html>" in str(error)
    assert "text/html" in str(error)
    assert len(proxy.calls) == 1  # not retried: the proxy would answer the same


@pytest.mark.parametrize(
    ("body", "what"),
    [
        (b"", "not a JSON object"),
        (b'{"batches": [{"batch_id": "b1", "na', "not a JSON object"),  # cut short
        (b"OK", "not a JSON object"),
        (b'{"batches": "many"}', "not a BatchPage (batches"),
    ],
)
def test_a_2xx_body_that_is_not_the_json_expected_is_an_api_error(
    batch_server: BatchServer, body: bytes, what: str
) -> None:
    proxy = Rewriting(batch_server, lambda r: True, lambda: httpx.Response(200, content=body))
    client = Client(api_key=KEY, base_url="http://localhost/v1", transport=proxy)
    with pytest.raises(bf.UnexpectedResponseError, match=r"answered 200") as info:
        client.list_batches()
    assert what in str(info.value)
    printed = "".join(traceback.format_exception(info.value))
    assert (
        "ValidationError" not in printed and "DecodeError" not in printed
    )  # no bare decoder error


def test_add_requests_accepts_an_empty_2xx_reply(batch_server: BatchServer) -> None:
    """The reference is unsure whether add-requests answers `{}` or nothing: both are fine."""
    batch_id = make_client(batch_server).create_batch("empty-ok").batch_id

    def added_then_empty(request: httpx.Request) -> bool:
        if request.method == "POST" and request.url.path.endswith("/requests"):
            batch_server.transport().handle_request(request).read()  # applied for real
            return True
        return False

    proxy = Rewriting(batch_server, added_then_empty, lambda: httpx.Response(200))
    client = Client(api_key=KEY, base_url="http://localhost/v1", transport=proxy)
    client.add_requests(batch_id, [item("a", "b")])
    assert client.get_batch(batch_id).num_requests == 1


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_an_error_never_a_success(batch_server: BatchServer, status: int) -> None:
    """An add-requests call answered 3xx added nothing: it must not pass for done."""
    batch_id = make_client(batch_server).create_batch("moved").batch_id
    location = "https://elsewhere.example/v1/batches"
    proxy = Rewriting(
        batch_server,
        lambda r: r.method == "POST",
        lambda: httpx.Response(status, headers={"location": location}),
    )
    client = Client(api_key=KEY, base_url="http://localhost/v1", transport=proxy)
    with pytest.raises(bf.UnexpectedResponseError) as info:
        client.add_requests(batch_id, [item("a", "b")])
    assert info.value.status_code == status
    assert location in str(info.value) and "base_url" in str(info.value)
    assert len(proxy.calls) == 1
    assert client.get_batch(batch_id).num_requests == 0


def test_job_results_over_an_html_page_is_an_api_error_not_a_decoder_error(
    batch_server: BatchServer, tmp_path: pathlib.Path
) -> None:
    import pandas as pd

    proxy = Rewriting(batch_server, lambda r: r.url.path.endswith("/results"), _html)
    client = Client(api_key=KEY, base_url="http://localhost/v1", transport=proxy)
    job = bf.submit(
        pd.DataFrame({"text": ["a", "b"]}), prompt="text", model="grok-4.3", client=client,
        progress=False,
    )  # fmt: skip
    job.wait(progress=False, sleep=lambda s: None)
    with pytest.raises(bf.UnexpectedResponseError, match="answered 200"):
        job.results()
    with pytest.raises(bf.UnexpectedResponseError, match="answered 200"):
        job.to_parquet(tmp_path / "out.parquet")
    assert not (tmp_path / "out.parquet").exists()


def test_status_error_body_holds_the_parsed_error_body(client: Client) -> None:
    with pytest.raises(bf.NotFoundError) as info:
        client.get_batch("batch_nope")
    body = info.value.body
    assert isinstance(body, dict) and body["code"] == info.value.code
    assert body["error"] == info.value.error


def test_status_error_body_is_scrubbed_of_the_key() -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"code": "bad", "error": f"Incorrect key {KEY}",
                                         "detail": {"seen": [request.headers["authorization"]]}})  # fmt: skip

    client = Client(
        api_key=KEY, base_url="http://localhost/v1", transport=httpx.MockTransport(echo)
    )
    with pytest.raises(bf.BadRequestError) as info:
        client.list_batches()
    assert info.value.body["error"] == "Incorrect key ***"
    assert KEY not in repr(info.value.body) and "TESTKEY" not in repr(info.value.body)


def test_a_sent_request_and_its_body_are_freed_without_the_cycle_collector(
    loopback_server: ServerHandle,
) -> None:
    """httpx ties a response to its stream in a cycle; an add call's body must not wait for the
    cyclic collector (in a long upload that kept many 10 MiB bodies alive at once)."""
    import gc

    client = Client(api_key=KEY, base_url=loopback_server.base_url)
    batch_id = client.create_batch("freed").batch_id
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for chunk in range(3):
            client.add_requests(batch_id, [item(f"{chunk}-{i}", "x" * 1000) for i in range(200)])
        client.list_results(batch_id)
        gc.collect()
        held = [o for o in gc.garbage if isinstance(o, (httpx.Request, httpx.Response))]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if was_enabled:
            gc.enable()
        client.close()
    assert held == []
