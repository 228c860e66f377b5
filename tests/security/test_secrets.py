"""The API key leaks nowhere, and is never sent over plain HTTP to a host that is not loopback."""

from __future__ import annotations

import logging
import pathlib
import time
import traceback

import httpx
import pandas as pd
import pytest

import batchframe as bf
from batchframe.errors import APIStatusError, BadRequestError, ConflictError, NotFoundError
from batchframe.server import BatchServer, serve

KEY = "xai-S3cretKeyForLeakTests0123456789abcdef"
# Pieces that must not show up either (a partial key is still a leak).
FRAGMENTS = (KEY, KEY[4:], KEY[8:24], "S3cretKey")


def assert_no_key(text: str | bytes, where: str) -> None:
    data = text.encode("utf-8", "replace") if isinstance(text, str) else text
    for fragment in FRAGMENTS:
        assert fragment.encode() not in data, f"API key fragment {fragment!r} found in {where}"


def fast_client(base_url: str, key: str = KEY, **kwargs: object) -> bf.Client:
    return bf.Client(
        api_key=key,
        base_url=base_url,
        max_retries=60,
        sleep=lambda s: time.sleep(min(s, 0.005)),
        **kwargs,  # type: ignore[arg-type]
    )


def test_key_appears_in_no_log_repr_error_manifest_or_parquet(
    tmp_path: pathlib.Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.chdir(tmp_path)
    df = pd.DataFrame({"prompt": [f"question {i}" for i in range(300)]})
    texts: list[tuple[str, str]] = []
    faulty = serve(http_error_rate=0.2, drop_rate=0.1, fail_rate=0.2, seed=3)
    with faulty as handle, fast_client(handle.base_url) as client:
        job = bf.submit(df, prompt="prompt", model="grok-4.3", client=client, chunk_rows=20)
        job.wait(sleep=lambda s: time.sleep(min(s, 0.01)))
        out = job.results()
        parquet = job.to_parquet(tmp_path / "out" / "results.parquet")
        texts += [("repr(client)", repr(client)), ("repr(job)", repr(job))]
        texts += [("job html", job._repr_html_()), ("results frame", out.to_csv())]
        errors: list[Exception] = []
        handle.server.faults.update({"http_error_rate": 0.0, "drop_rate": 0.0})
        for call in (
            lambda: client.get_batch("batch_00000000-0000-0000-0000-000000000000"),
            lambda: client.add_requests(
                job.batch_id,
                [
                    {
                        "batch_request_id": "0",
                        "batch_request": {
                            "chat_get_completion": {
                                "model": "grok-4.3",
                                "messages": [{"role": "user", "content": "other"}],
                            }
                        },
                    }
                ],
            ),
        ):
            with pytest.raises(APIStatusError) as info:
                call()
            errors.append(info.value)
        assert isinstance(errors[0], NotFoundError) and isinstance(errors[1], ConflictError)
        # the server being down entirely: connection errors after retries
        handle.server.faults.update({"http_error_rate": 1.0})
        down_client = bf.Client(
            api_key=KEY, base_url=handle.base_url, max_retries=1, sleep=lambda s: None
        )
        with down_client, pytest.raises(bf.APIError) as down:
            down_client.list_batches()
        errors.append(down.value)
    for error in errors:
        texts += [("error str", str(error)), ("error repr", repr(error))]
        texts += [("error args", repr(error.args)), ("error vars", repr(vars(error)))]
    assert len(caplog.records) > 0, "faults should have produced retry log lines"
    for record in caplog.records:
        texts.append(("log record", record.getMessage()))
        texts.append(("log args", repr(record.args)))
    captured = capfd.readouterr()
    texts += [("stdout", captured.out), ("stderr", captured.err)]
    for where, text in texts:
        assert_no_key(text, where)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert parquet in files and any(".batchframe" in p.parts for p in files)
    for path in files:
        assert_no_key(path.read_bytes(), str(path))
    assert out["state"].isin(["succeeded", "failed"]).all()


def test_wrong_key_error_does_not_echo_the_key(tmp_path: pathlib.Path) -> None:
    with BatchServer(keys={"xai-the-right-key-000000000000": "team"}) as server:
        client = bf.Client(
            api_key=KEY, base_url="http://localhost/v1", transport=server.transport()
        )
        with pytest.raises(BadRequestError) as info:
            client.list_batches()
        assert "Incorrect API key" in str(info.value)
        assert_no_key(str(info.value) + repr(info.value) + repr(vars(info.value)), "400 error")


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/v1",
        "http://api.x.ai/v1",
        "http://10.0.0.5:8000/v1",
        "http://0.0.0.0:8000/v1",
        "http://127.0.0.1.evil.example/v1",
        "http://localhost.evil.example/v1",
        "http://127.0.0.1@evil.example/v1",
    ],
)
def test_plain_http_to_a_remote_host_is_refused(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BATCHFRAME_ALLOW_INSECURE", raising=False)
    with pytest.raises(ValueError, match="plain HTTP") as info:
        bf.Client(api_key=KEY, base_url=url)
    assert_no_key(str(info.value), "refusal message")


def test_plain_http_is_sent_only_when_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Allowed by argument or environment, the key does go out (to the in-process server)."""
    monkeypatch.delenv("BATCHFRAME_ALLOW_INSECURE", raising=False)
    seen: list[str] = []
    with BatchServer() as server:
        inner = server.transport()

        def spy(request: httpx.Request) -> httpx.Response:
            seen.append(request.headers["authorization"])
            return inner.handle_request(request)

        url = "http://batches.example.com/v1"
        with bf.Client(
            api_key=KEY, base_url=url, allow_insecure=True, transport=httpx.MockTransport(spy)
        ) as client:
            assert client.list_batches().batches == []
        monkeypatch.setenv("BATCHFRAME_ALLOW_INSECURE", "1")
        with bf.Client(api_key=KEY, base_url=url, transport=httpx.MockTransport(spy)) as client:
            client.create_batch("allowed")
        with pytest.raises(ValueError, match="plain HTTP"):
            bf.Client(api_key=KEY, base_url=url, allow_insecure=False)
    assert seen == [f"Bearer {KEY}"] * 2


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/v1",
        "http://localhost:1/v1",
        "http://[::1]:8000/v1",
        "http://127.9.9.9/v1",
        "https://api.x.ai/v1",
        "https://example.com/v1",
    ],
)
def test_loopback_and_https_are_accepted(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BATCHFRAME_ALLOW_INSECURE", raising=False)
    bf.Client(api_key=KEY, base_url=url).close()


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and everything chained to it (causes and contexts)."""
    found: list[BaseException] = []
    todo = [exc]
    while todo:
        current = todo.pop()
        if any(current is seen for seen in found):
            continue
        found.append(current)
        todo += [e for e in (current.__cause__, current.__context__) if e is not None]
    return found


def assert_exception_has_no_key(exc: BaseException) -> None:
    """No fragment of the key in the printed traceback, nor in any chained exception's parts."""
    assert_no_key("".join(traceback.format_exception(exc)), "traceback")
    for link in _chain(exc):
        where = type(link).__name__
        assert_no_key(str(link), f"str({where})")
        assert_no_key(repr(link), f"repr({where})")
        assert_no_key(repr(link.args), f"{where}.args")
        assert_no_key(repr(getattr(link, "object", "")), f"{where}.object")


BAD_KEYS = {
    "trailing newline (read from a file)": (KEY + "\n", "ends with a newline"),
    "trailing CRLF": (KEY + "\r\n", "ends with a carriage return"),
    "leading space": (" " + KEY, "starts with a space"),
    "inner space": (KEY[:12] + " " + KEY[12:], "contains a space"),
    "tab": (KEY + "\t", "ends with a tab"),
    "no-break space": (KEY + "\u00a0", "ends with whitespace"),
    "NUL byte": (KEY[:12] + "\x00" + KEY[12:], "control character"),
    "DEL": (KEY + "\x7f", "control character"),
    "non-ASCII letter": (KEY[:12] + "é" + KEY[12:], "not ASCII"),
    "zero-width space": (KEY + "\u200b", "not ASCII"),
}


# An environment variable cannot hold a NUL byte, so that case is only given as an argument.
CASES = [(case, given) for case in BAD_KEYS for given in ("argument", "environment")]
CASES = [(c, g) for c, g in CASES if not (g == "environment" and "\x00" in BAD_KEYS[c][0])]


@pytest.mark.parametrize(("case", "given"), CASES)
def test_a_key_that_cannot_be_sent_is_refused_and_never_shown(
    case: str, given: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bad, problem = BAD_KEYS[case]
    calls: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda r: calls.append(r) or httpx.Response(200, json={}))
    if given == "environment":
        monkeypatch.setenv("XAI_API_KEY", bad)
        source, api_key = "XAI_API_KEY", None
    else:
        source, api_key = "api_key", bad
    with pytest.raises(ValueError) as info:
        bf.Client(api_key=api_key, base_url="http://localhost/v1", transport=transport)
    message = str(info.value)
    assert message.startswith(f"{source} ") and problem in message, message
    assert "strip" in message or "ASCII" in message  # it says what to do
    assert_exception_has_no_key(info.value)
    assert calls == []  # refused before anything was sent: no retry, nothing to log
    for record in caplog.records:
        assert_no_key(record.getMessage(), f"log record of {record.name}")


def test_a_header_the_http_stack_refuses_is_not_retried_and_is_scrubbed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The HTTP stack itself refuses a header (h11's LocalProtocolError, as a key with a newline
    got before keys were checked): one attempt, and no part of the key in the error chain."""
    caplog.set_level(logging.DEBUG)
    attempts: list[str] = []

    class NewlineInHeader(httpx.BaseTransport):
        def __init__(self) -> None:
            self.real = httpx.HTTPTransport()

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            attempts.append(request.url.path)
            request.headers["authorization"] += "\n"  # what a key read from a file carried
            return self.real.handle_request(request)

        def close(self) -> None:
            self.real.close()

    with serve() as handle:
        client = fast_client(handle.base_url, transport=NewlineInHeader())
        with client, pytest.raises(bf.APIConnectionError) as info:
            client.list_batches()
    assert attempts == ["/v1/batches"]  # a request we built wrong fails the same way each time
    assert "LocalProtocolError" in str(info.value)
    assert any("Illegal header value" in str(e) for e in _chain(info.value))
    assert_exception_has_no_key(info.value)
    ours = [r for r in caplog.records if r.name.startswith("batchframe")]
    assert not [r for r in ours if "retry" in r.getMessage()]
    for record in ours:
        assert_no_key(record.getMessage(), "batchframe log record")


def test_a_non_ascii_header_error_leaves_no_key_in_its_args() -> None:
    """httpx's UnicodeEncodeError keeps the whole header value in ``args`` and ``object``."""

    def non_ascii(request: httpx.Request) -> httpx.Response:
        request.headers["authorization"] += "é"  # raises UnicodeEncodeError with the value
        return httpx.Response(200, json={})

    client = bf.Client(
        api_key=KEY, base_url="http://localhost/v1", transport=httpx.MockTransport(non_ascii)
    )
    with client, pytest.raises(UnicodeEncodeError) as info:
        client.get_batch("batch_1")
    assert "***" in info.value.object
    assert_exception_has_no_key(info.value)
