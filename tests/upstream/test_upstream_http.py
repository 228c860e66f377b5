"""The upstream's HTTP client against real servers: every legal framing of an answer, kept-alive
connections the upstream closes, and HTTPS with a certificate the machine trusts."""

from __future__ import annotations

import gc
import pathlib
import subprocess
import warnings

import pytest
from stub import StubUpstream
from upstream_helpers import answer, chat, client_for, results, submit, upstream_server, wait_done


def test_chunked_closing_and_kept_alive_answers_are_all_read(stub: StubUpstream) -> None:
    texts = ["chunked:1", "close:2", "plain:3", "chunked:4", "close:5", "plain:6"]
    with upstream_server(stub.url, upstream_concurrency=1) as server:
        api = client_for(server)
        batch_id = submit(api, [chat(f"r{i}", text) for i, text in enumerate(texts)])
        assert wait_done(api, batch_id)["num_success"] == len(texts)
        got = results(api, batch_id)
    for i, text in enumerate(texts):
        assert answer(got[f"r{i}"])["choices"][0]["message"]["content"] == f"echo: {text}"
    assert sorted(stub.texts()) == sorted(texts)  # each sent once: no spurious retries


def _certificate(folder: pathlib.Path) -> tuple[str, str]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    command = [
        "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        "-keyout", str(key), "-out", str(cert),
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True)
    return str(cert), str(key)


def test_an_https_upstream_with_a_trusted_certificate(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = _certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", cert)  # the machine's trust store, for this test
    with StubUpstream(tls=(cert, key)) as stub, upstream_server(stub.url) as server:
        assert stub.url.startswith("https://")
        api = client_for(server)
        batch_id = submit(api, [chat("a", "over tls")])
        assert wait_done(api, batch_id)["num_success"] == 1
        got = results(api, batch_id)
    assert answer(got["a"])["choices"][0]["message"]["content"] == "echo: over tls"
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", ResourceWarning)
        gc.collect()  # a connection left closing when the loop stopped warns here
    assert [str(w.message) for w in seen if issubclass(w.category, ResourceWarning)] == []


def test_an_https_upstream_with_an_untrusted_certificate_never_gets_the_request(
    tmp_path: pathlib.Path,
) -> None:
    cert, key = _certificate(tmp_path)
    with StubUpstream(tls=(cert, key)) as stub, upstream_server(stub.url) as server:
        assert server.upstream_problem is not None  # said so at start
        api = client_for(server)
        batch_id = submit(api, [chat("a", "secret")])
        assert api.get(f"/batches/{batch_id}").json()["state"]["num_error"] == 0
        assert stub.bodies == []  # nothing went over an unverified connection
        api.post(f"/batches/{batch_id}:cancel")
        assert wait_done(api, batch_id)["num_cancelled"] == 1
