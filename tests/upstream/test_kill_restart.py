"""A server SIGKILLed with upstream calls in flight, restarted on its database: the claimed but
unfinished requests run again, and every request is answered exactly once in the results."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import httpx
import pytest
from stub import StubUpstream
from upstream_helpers import AUTH, answer, chat, state, submit, wait_done, wait_for

from batchframe.testing import ServeProcess

ROWS = 40


@pytest.fixture
def stub() -> Iterator[StubUpstream]:
    with StubUpstream(slow_seconds=0.3) as upstream:
        yield upstream


def test_sigkill_mid_run_reruns_claimed_requests_and_answers_each_once(
    stub: StubUpstream, tmp_path: pathlib.Path
) -> None:
    db = tmp_path / "batches.sqlite"
    server = ServeProcess(
        "--db", str(db), "--upstream", stub.url, "--upstream-concurrency", "4",
        log=tmp_path / "serve.log",
    )  # fmt: skip
    server.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}/v1", headers=AUTH) as api:
            batch_id = submit(api, [chat(f"r{i:02d}", f"slow:{i}") for i in range(ROWS)])
            wait_for(lambda: state(api, batch_id)["num_success"] >= 8, "some answers")
            wait_for(lambda: stub.in_flight >= 2, "calls in flight")
            in_flight = set(stub.texts()[-4:])
            done_before = state(api, batch_id)["num_success"]
            server.kill()
            server.start()
            final = wait_done(api, batch_id)
            items = api.get(f"/batches/{batch_id}/results", params={"limit": 1000}).json()
    finally:
        server.stop()
    results = items["results"]
    ids = [item["batch_request_id"] for item in results]
    assert sorted(ids) == [f"r{i:02d}" for i in range(ROWS)]  # every one, each once
    for item in results:
        number = int(item["batch_request_id"][1:])
        content = answer(item["batch_result"])["choices"][0]["message"]["content"]
        assert content == f"echo: slow:{number}"  # its own answer
    assert final["num_success"] == ROWS and final["num_pending"] == 0
    assert 8 <= done_before < ROWS
    # The requests in flight at the kill were sent again after the restart (at least once).
    assert any(stub.seen[text] >= 2 for text in in_flight)
    assert sum(stub.seen.values()) >= ROWS
