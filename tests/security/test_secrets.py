"""The API key leaks nowhere, and is never sent over plain HTTP to a host that is not loopback."""

from __future__ import annotations

import logging
import pathlib
import time

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
