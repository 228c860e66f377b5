"""Cancel, pause and outages with a slow or absent upstream: nothing waits for the model, the
requests in flight keep their answer, the rest are cancelled or wait."""

from __future__ import annotations

import time

from stub import StubUpstream
from upstream_helpers import (
    answer,
    chat,
    client_for,
    results,
    state,
    submit,
    upstream_server,
    wait_done,
    wait_for,
)

from batchframe.testing import free_port


def test_cancel_mid_run_keeps_in_flight_answers_and_cancels_the_rest() -> None:
    with (
        StubUpstream(slow_seconds=1.0) as stub,
        upstream_server(stub.url, upstream_concurrency=2, upstream_timeout=30.0) as server,
    ):
        api = client_for(server)
        batch_id = submit(api, [chat(f"r{i}", "slow") for i in range(10)])
        wait_for(lambda: stub.in_flight == 2, "two calls in flight")
        cancelled = api.post(f"/batches/{batch_id}:cancel").json()
        # The cancel came back while both calls were still at the upstream: it did not wait.
        assert stub.in_flight == 2
        assert cancelled["cancel_time"] is not None
        assert cancelled["state"]["num_cancelled"] == 8
        assert cancelled["state"]["num_pending"] == 2  # in flight, shown live
        final = wait_done(api, batch_id)
        got = results(api, batch_id)
    assert (final["num_success"], final["num_cancelled"], final["num_error"]) == (2, 8, 0)
    assert len(got) == 10
    answered = [rid for rid, result in got.items() if "response" in result]
    for rid in answered:
        assert answer(got[rid])["choices"][0]["message"]["content"] == "echo: slow"
    assert {got[rid]["error"] for rid in set(got) - set(answered)} == {"Batch cancelled"}
    assert len(stub.bodies) == 2  # nothing was sent after the cancel


def test_pause_does_not_wait_for_a_hanging_model() -> None:
    with (
        StubUpstream() as stub,
        upstream_server(stub.url, upstream_timeout=30.0, upstream_concurrency=1) as server,
    ):
        api = client_for(server)
        batch_id = submit(api, [chat("stuck", "hang"), chat("next", "plain")])
        wait_for(lambda: stub.in_flight == 1, "the call in flight")
        server.engine.pause()
        assert stub.in_flight == 1  # pause returned with the model still working
        later = submit(api, [chat("later", "plain")], name="after pause")
        time.sleep(0.3)  # a wrongly running engine would send it meanwhile
        assert state(api, later)["num_pending"] == 1
        assert stub.texts() == ["hang"]
        stub.stopping.set()  # the hanging call ends (no reply: it is retried, then fails)
        server.engine.resume()
        assert wait_done(api, later)["num_success"] == 1
        assert wait_done(api, batch_id)["num_success"] == 1


def test_an_upstream_down_at_start_makes_requests_wait_then_run() -> None:
    port = free_port()
    with upstream_server(f"http://127.0.0.1:{port}/v1") as server:
        assert server.upstream_problem is not None
        assert "Connect" in server.upstream_problem
        api = client_for(server)
        batch_id = submit(api, [chat(f"r{i}", f"text {i}") for i in range(5)])
        time.sleep(0.5)  # the engine tries, and backs off, meanwhile
        assert state(api, batch_id)["num_pending"] == 5  # waiting, not failed
        with StubUpstream(port) as stub:
            final = wait_done(api, batch_id)
            got = results(api, batch_id)
    assert final["num_success"] == 5
    assert sorted(stub.texts()) == [f"text {i}" for i in range(5)]
    assert {answer(r)["choices"][0]["message"]["content"] for r in got.values()} == {
        f"echo: text {i}" for i in range(5)
    }


def test_a_cancel_during_an_outage_cancels_the_waiting_requests() -> None:
    with upstream_server(f"http://127.0.0.1:{free_port()}/v1") as server:
        api = client_for(server)
        batch_id = submit(api, [chat(f"r{i}", "x") for i in range(4)])
        wait_for(lambda: server.engine.processed == 0 and server.engine.in_flight == 0, "idle")
        time.sleep(0.3)  # claimed, refused, given back at least once
        after = api.post(f"/batches/{batch_id}:cancel").json()["state"]
        final = wait_done(api, batch_id)
        got = results(api, batch_id)
    assert after["num_cancelled"] + after["num_pending"] == 4
    assert final["num_cancelled"] == 4
    assert {result["error"] for result in got.values()} == {"Batch cancelled"}
