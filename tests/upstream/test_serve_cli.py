"""``batchframe serve`` with the upstream and expiry flags: bad settings are clear errors at start;
an upstream that is down is reported and the server serves anyway."""

from __future__ import annotations

import pathlib
import socket
import subprocess
import sys
import time

import httpx
import pytest
from click.testing import CliRunner
from upstream_helpers import AUTH, chat, results, state, submit, wait_done, wait_for

from batchframe.cli import main
from batchframe.testing import free_port


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--upstream", "ftp://models.example/v1"], "http:// or https://"),
        (["--upstream", "http://127.0.0.1:9/v1", "--model-map", ""], "names nothing"),
        (["--upstream", "http://127.0.0.1:9/v1", "--model-map", "=gemma"], "not NAME=VALUE"),
        (["--model-map", "grok-4.3=gemma"], "need upstream"),
        (["--upstream", "http://127.0.0.1:9/v1", "--upstream-api-key-env", "NOPE_UNSET_KEY"],
         "NOPE_UNSET_KEY is not set"),
        (["--expire-after", "0"], "expire_after must be > 0"),
    ],
)  # fmt: skip
def test_bad_settings_are_errors_at_start(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["serve", "--port", "0", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_an_upstream_down_at_start_is_reported_and_requests_expire_pending(
    tmp_path: pathlib.Path,
) -> None:
    port, dead = free_port(), free_port()
    log = tmp_path / "serve.log"
    command = [
        sys.executable, "-m", "batchframe", "serve", "--port", str(port),
        "--upstream", f"http://127.0.0.1:{dead}/v1", "--expire-after", "1.5",
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.02)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}/v1", headers=AUTH) as api:
            batch_id = submit(api, [chat(f"r{i}", "hello") for i in range(3)])
            assert state(api, batch_id)["num_error"] == 0
            wait_for(lambda: "not reachable" in log.read_text(), "the start-up message")
            final = wait_done(api, batch_id)  # nothing fails: they wait, then expire
            got = results(api, batch_id)
    finally:
        proc.terminate()
        proc.wait(10)
    text = log.read_text()
    assert f"answering with the upstream http://127.0.0.1:{dead}/v1" in text
    assert "requests wait" in text
    assert (final["num_cancelled"], final["num_error"]) == (3, 0)
    assert {result["error"] for result in got.values()} == {"Batch expired"}
