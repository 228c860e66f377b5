"""The upstream model (issue 12) behind what issue 11 built: file batches, the gRPC front with
xAI's SDK, ``cost_breakdown`` and the model list with ``--upstream-price``, and ``--models``
with ``--model-map``."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from typing import Any

import httpx
import orjson
from stub import StubUpstream
from upstream_helpers import (
    AUTH,
    FAST,
    answer,
    chat,
    client_for,
    results,
    submit,
    upstream_server,
    wait_done,
    wait_for,
)
from upstream_helpers import state as batch_state
from xai_sdk import Client
from xai_sdk.chat import user

from batchframe.server import serve
from batchframe.testing import free_port

#: 11 prompt tokens at $1/M and 5 + 2 output tokens at $2/M (the stub's usage), in ticks.
STUB_TICKS = 11 * 10_000 + 7 * 20_000


def jsonl(texts: list[str], model: str = "grok-4.3") -> bytes:
    return b"".join(
        orjson.dumps(
            {
                "custom_id": f"f{i:02d}",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {"model": model, "messages": [{"role": "user", "content": text}]},
            }
        )
        + b"\n"
        for i, text in enumerate(texts)
    )


def test_cancel_of_a_file_batch_keeps_the_answers_in_flight() -> None:
    with (
        StubUpstream(slow_seconds=1.0) as stub,
        upstream_server(stub.url, upstream_concurrency=2, upstream_timeout=30.0) as server,
    ):
        api = client_for(server)
        file_id = api.post("/files", files={"file": ("a.jsonl", jsonl(["slow"] * 10))}).json()["id"]
        created = api.post("/batches", json={"name": "file", "input_file_id": file_id}).json()
        batch_id = created["batch_id"]
        wait_for(lambda: stub.in_flight == 2, "two calls in flight")
        cancelled = api.post(f"/batches/{batch_id}:cancel").json()
        assert stub.in_flight == 2  # the cancel did not wait for the upstream
        final = wait_done(api, batch_id)
        got = results(api, batch_id)
    assert (cancelled["state"]["num_pending"], cancelled["state"]["num_cancelled"]) == (2, 8)
    assert cancelled["cancel_by_xai_message"] is None  # the owner's cancel, not xAI's
    assert (final["num_success"], final["num_cancelled"]) == (2, 8)
    answered = {rid for rid, result in got.items() if "response" in result}
    assert len(answered) == 2 and len(got) == 10
    assert {answer(got[rid])["choices"][0]["message"]["content"] for rid in answered} == {
        "echo: slow"
    }
    assert len(stub.bodies) == 2  # nothing was sent after the cancel


def test_the_sdk_over_grpc_with_an_upstream_behind_it(stub: StubUpstream) -> None:
    options = {**FAST, "upstream_prices": "grok-4.3=1.00/2.00"}
    with serve(grpc_port=0, upstream=stub.url, **options) as handle:
        sdk = Client(api_key="local-key", api_host=handle.grpc_address)
        batch = sdk.batch.create(batch_name="upstream over grpc")
        chats = []
        for rid, text in (("a", "first"), ("b", "second"), ("c", "fail-400")):
            chat_ = sdk.chat.create(model="grok-4.3", batch_request_id=rid)
            chat_.append(user(text))
            chats.append(chat_)
        sdk.batch.add(batch_id=batch.batch_id, batch_requests=chats)
        wait_for(lambda: sdk.batch.get(batch_id=batch.batch_id).state.num_pending == 0, "answers")
        done = sdk.batch.get(batch_id=batch.batch_id)
        page = sdk.batch.list_batch_results(batch_id=batch.batch_id)
        rest = httpx.get(
            f"{handle.base_url}/batches/{batch.batch_id}/results", headers=AUTH
        ).json()["results"]
        sdk.close()
    assert {r.batch_request_id: r.response.content for r in page.succeeded} == {
        "a": "echo: first",
        "b": "echo: second",
    }
    assert [r.batch_request_id for r in page.failed] == ["c"]
    assert "Upstream error 400: temperature is out of range" in (page.failed[0].error_message or "")
    usage = page.succeeded[0].response.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.reasoning_tokens) == (11, 5, 2)
    assert usage.cost_in_usd_ticks == STUB_TICKS
    breakdown = done.cost_breakdown
    rest_ticks = sum(
        r["batch_result"]["response"]["chat_get_completion"]["usage"]["cost_in_usd_ticks"]
        for r in rest
        if "response" in r["batch_result"]
    )
    assert breakdown.total_cost_usd_ticks == rest_ticks == 2 * STUB_TICKS
    assert [(e.endpoint, e.request_count, e.cost_usd_ticks) for e in breakdown.endpoint_costs] == [
        ("xai_api.Chat/GetCompletion", 2, 2 * STUB_TICKS)
    ]


def test_the_model_list_shows_the_prices_an_upstream_charges(stub: StubUpstream) -> None:
    """With an upstream, a result's cost is tokens x list price (no batch discount): the model
    list serves the ``--upstream-price`` prices (0 for a model without one), not the simulator's."""
    prices = "grok-4.3=1.00/2.00"
    with serve(grpc_port=0, upstream=stub.url, upstream_prices=prices, **FAST) as handle:
        with httpx.Client(base_url=handle.base_url, headers=AUTH) as http:
            listed = {m["id"]: m for m in http.get("/language-models").json()["models"]}
            batch_id = submit(
                http,
                [
                    chat("a", "x"),
                    chat("alias", "x", model="grok-4.3-latest"),
                    chat("free", "x", model="grok-4.20-0309-reasoning"),
                ],
            )
            wait_done(http, batch_id)
            got = results(http, batch_id)
        sdk = Client(api_key="local-key", api_host=handle.grpc_address)
        over_grpc = sdk.models.get_language_model("grok-4.3")
        sdk.close()
    priced = listed["grok-4.3"]
    assert (priced["prompt_text_token_price"], priced["completion_text_token_price"]) == (
        10_000, 20_000)  # fmt: skip
    assert over_grpc.prompt_text_token_price == 10_000
    assert over_grpc.completion_text_token_price == 20_000
    free = listed["grok-4.20-0309-reasoning"]
    assert (free["prompt_text_token_price"], free["completion_text_token_price"]) == (0, 0)
    assert "grok-4.3-latest" in priced["aliases"]
    ticks = {rid: answer(r)["usage"]["cost_in_usd_ticks"] for rid, r in got.items()}
    # 11 prompt and 5 + 2 output tokens from the stub, at the listed prices.
    assert ticks == {"a": STUB_TICKS, "alias": STUB_TICKS, "free": 0}


def _serve_command(args: list[str], port: int, log: Any) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "batchframe", "serve", "--port", str(port), *args]
    proc = subprocess.Popen(command, stdout=log, stderr=log)
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, "the server exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)


def test_models_and_model_map_together(stub: StubUpstream, tmp_path: Any) -> None:
    """``--models`` replaces the admitted list, ``--model-map`` adds the names it maps: a
    request of either is admitted (inline and in a file) and sent as its upstream model; a model
    of neither is refused."""
    args = [
        "--upstream", stub.url, "--upstream-timeout", "5", "--upstream-retries", "0",
        "--models", "grok-4.3,house-model", "--model-map", "house-model=gemma,lab-model=qwen",
    ]  # fmt: skip
    port = free_port()
    with (tmp_path / "serve.log").open("wb") as log:
        proc = _serve_command(args, port, log)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}/v1", headers=AUTH) as http:
            names = {m["id"] for m in http.get("/language-models").json()["models"]}
            inline = submit(http, [chat("g", "x"), chat("h", "x", model="house-model"),
                                   chat("l", "x", model="lab-model")])  # fmt: skip
            refused = http.post(
                f"/batches/{inline}/requests",
                json={"batch_requests": [chat("d", "x", model="grok-4.20-0309-reasoning")]},
            )
            file_id = http.post(
                "/files", files={"file": ("f.jsonl", jsonl(["y"], model="lab-model"))}
            ).json()["id"]
            from_file = http.post("/batches", json={"name": "f", "input_file_id": file_id}).json()
            wait_for(lambda: batch_state(http, from_file["batch_id"])["num_requests"] == 1, "parse")
            wait_done(http, inline)
            wait_done(http, from_file["batch_id"])
            got = results(http, inline)
    finally:
        proc.terminate()
        proc.wait(10)
    assert names == {"grok-4.3", "house-model", "lab-model"}
    assert refused.status_code == 400
    assert "grok-4.20-0309-reasoning is not supported" in refused.json()["error"]
    assert {rid: answer(r)["model"] for rid, r in got.items()} == {
        "g": "grok-4.3", "h": "gemma", "l": "qwen"}  # fmt: skip
    assert sorted(body["model"] for body in stub.bodies) == ["gemma", "grok-4.3", "qwen", "qwen"]
