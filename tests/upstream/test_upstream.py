"""The upstream model against a stub OpenAI-compatible server on loopback: what is sent, what is
stored, and every bad answer a failed row (or a retry), never a stuck engine or a lost request."""

from __future__ import annotations

import pytest
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
)

from batchframe.server import ServerConfig


def test_answer_and_usage_are_stored_as_a_chat_completion(stub: StubUpstream) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "v", "schema": {"type": "object"}}}
    item = chat(
        "a",
        "hello",
        max_completion_tokens=12,
        temperature=0.5,
        stream=True,
        stream_options={"include_usage": True},
        search_parameters={"mode": "on"},
        web_search_options={},
        reasoning_effort="low",
        deferred=False,
        response_format=fmt,
    )
    with upstream_server(stub.url, model_map="grok-4.3=gemma-3-270m") as server:
        api = client_for(server)
        batch_id = submit(api, [item])
        assert wait_done(api, batch_id)["num_success"] == 1
        body = answer(results(api, batch_id)["a"])
    (sent,) = stub.bodies
    assert sent == {
        "model": "gemma-3-270m",
        "messages": [{"role": "user", "content": "hello"}],
        "temperature": 0.5,
        "response_format": fmt,
        "max_tokens": 12,
    }
    assert body["object"] == "chat.completion" and body["model"] == "gemma-3-270m"
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "echo: hello", "refusal": None},
            "finish_reason": "stop",
        }
    ]
    usage = body["usage"]
    # The stub's own counts; completion_tokens in xAI's sense leaves the reasoning tokens out.
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (11, 5)
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 2
    assert usage["total_tokens"] == 18
    assert usage["cost_in_usd_ticks"] == 0  # a self-hosted model costs nothing unless priced


def test_price_key_and_model_map_wildcard(
    stub: StubUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STUB_UPSTREAM_KEY", "sk-stub-123")
    options = {
        "model_map": {"*": "any-model"},
        "upstream_prices": "grok-4.3=1.00/2.00",
        "upstream_api_key_env": "STUB_UPSTREAM_KEY",
    }
    with upstream_server(stub.url, **options) as server:
        api = client_for(server)
        batch_id = submit(api, [chat("a", "priced"), chat("b", "free", model="grok-other")])
        wait_done(api, batch_id)
        got = results(api, batch_id)
    assert {body["model"] for body in stub.bodies} == {"any-model"}
    assert {h.get("authorization") for h in stub.headers} == {"Bearer sk-stub-123"}
    # 11 prompt tokens at $1/M and 5 + 2 output tokens at $2/M, in 1e-10 USD ticks.
    assert answer(got["a"])["usage"]["cost_in_usd_ticks"] == 11 * 10_000 + 7 * 20_000
    assert answer(got["b"])["usage"]["cost_in_usd_ticks"] == 0
    assert "sk-stub-123" not in repr(server.model.settings)  # type: ignore[attr-defined]


def test_every_bad_answer_fails_its_row_and_the_rest_finish(stub: StubUpstream) -> None:
    expected_errors = {
        "html": "not JSON (text/html): <html><body><h1>Welcome to nginx!",
        "nochoices": "has no choices",
        "stream": "streamed its answer (text/event-stream)",
        "huge": "larger than 16 MB",
        "fail-400": "Upstream error 400: temperature is out of range",
        "fail-500": "Upstream error 500: the model crashed",
        "drop": "The upstream connection failed",
        "hang": "did not answer within 1 s (2 attempts)",
    }
    good = ["plain", "flaky", "busy"]
    items = [chat(text, text) for text in [*expected_errors, *good]]
    with upstream_server(stub.url, upstream_concurrency=4) as server:
        api = client_for(server)
        batch_id = submit(api, items)
        counts = wait_done(api, batch_id)
        got = results(api, batch_id)
        # The engine is not stuck: a new batch after all that is answered.
        after = submit(api, [chat("later", "plain")], name="after")
        assert wait_done(api, after)["num_success"] == 1
        assert server.internal_errors == 0
    assert (counts["num_success"], counts["num_error"]) == (len(good), len(expected_errors))
    assert set(got) == {item["batch_request_id"] for item in items}
    for rid, fragment in expected_errors.items():
        assert fragment in got[rid]["error"], (rid, got[rid])
    for rid in good:
        assert answer(got[rid])["choices"][0]["message"]["content"] == f"echo: {rid}"
    # 5xx, 429, timeouts and dropped connections were retried (once each here); others were not.
    assert stub.seen["fail-500"] == stub.seen["hang"] == 2
    # A dropped kept-alive connection is also replaced once silently (it may just have aged out).
    assert 2 <= stub.seen["drop"] <= 4
    assert stub.seen["flaky"] == stub.seen["busy"] == 2
    assert stub.seen["fail-400"] == stub.seen["html"] == stub.seen["nochoices"] == 1


def test_json_schema_falls_back_to_the_llama_cpp_python_form() -> None:
    fmt = {
        "type": "json_schema",
        "json_schema": {"name": "v", "schema": {"type": "object", "required": ["sentiment"]}},
    }
    with StubUpstream(json_object_only=True) as stub, upstream_server(stub.url) as server:
        api = client_for(server)
        first = submit(api, [chat("a", "one", response_format=fmt)])
        wait_done(api, first)
        second = submit(api, [chat("b", "two", response_format=fmt)], name="second")
        wait_done(api, second)
        got = {**results(api, first), **results(api, second)}
    for rid in "ab":
        assert answer(got[rid])["choices"][0]["message"]["content"] == '{"sentiment": "positive"}'
    kinds = [body["response_format"]["type"] for body in stub.bodies]
    # Refused once in OpenAI's form, then the json_object + schema form from then on.
    assert kinds == ["json_schema", "json_object", "json_object"]
    assert stub.bodies[1]["response_format"]["schema"] == fmt["json_schema"]["schema"]  # type: ignore[index]


def test_responses_requests_become_chat_and_media_requests_fail(stub: StubUpstream) -> None:
    responses = {
        "model": "grok-4.3",
        "instructions": "Be brief.",
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "hi there"}]}],
        "max_output_tokens": 9,
    }
    items = [
        {"batch_request_id": "r", "batch_request": {"responses": responses}},
        {
            "batch_request_id": "img",
            "batch_request": {"image_generation": {"model": "grok-imagine-image", "prompt": "x"}},
        },
    ]
    with upstream_server(stub.url) as server:
        api = client_for(server)
        batch_id = submit(api, items)
        wait_done(api, batch_id)
        got = results(api, batch_id)
    (sent,) = stub.bodies
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "hi there"}]},
    ]
    assert sent["max_tokens"] == 9
    assert "choices" in answer(got["r"])
    assert "not supported by an OpenAI-compatible upstream" in got["img"]["error"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"upstream": "ftp://models.example/v1"}, "http:// or https://"),
        ({"upstream": "localhost:8080"}, "http:// or https://"),
        ({"upstream": "http://127.0.0.1:9/v1", "model_map": ""}, "names nothing"),
        ({"upstream": "http://127.0.0.1:9/v1", "model_map": "grok-4.3="}, "not NAME=VALUE"),
        ({"upstream": "http://127.0.0.1:9/v1", "model_map": {}}, "names nothing"),
        ({"upstream": "http://127.0.0.1:9/v1", "upstream_prices": "m=cheap"}, "USD per million"),
        ({"model_map": "a=b"}, "need upstream"),
        ({"upstream": "http://127.0.0.1:9/v1", "upstream_concurrency": 0}, ">= 1"),
    ],
)
def test_bad_upstream_settings_are_clear_errors(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ServerConfig(**options)  # type: ignore[arg-type]


def test_a_missing_key_variable_is_an_error_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_UPSTREAM_KEY", raising=False)
    with pytest.raises(ValueError, match="NO_SUCH_UPSTREAM_KEY is not set"):
        upstream_server("http://127.0.0.1:9/v1", upstream_api_key_env="NO_SUCH_UPSTREAM_KEY")


def test_state_counts_stay_consistent(stub: StubUpstream) -> None:
    with upstream_server(stub.url, upstream_concurrency=3) as server:
        api = client_for(server)
        batch_id = submit(api, [chat(f"r{i}", f"text {i}") for i in range(30)])
        counts = wait_done(api, batch_id)
        assert len(results(api, batch_id)) == 30
        assert state(api, batch_id) == counts
    assert counts["num_success"] == counts["num_requests"] == 30
    assert sorted(stub.texts()) == sorted(f"text {i}" for i in range(30))  # each sent once


def test_models_a_model_map_names_are_admitted_and_others_still_refused(stub: StubUpstream) -> None:
    with upstream_server(stub.url, model_map="gemma-local=gemma-3-270m") as server:
        api = client_for(server)
        batch_id = submit(api, [chat("a", "hi", model="gemma-local")])
        assert wait_done(api, batch_id)["num_success"] == 1
        refused = api.post(
            f"/batches/{batch_id}/requests",
            json={"batch_requests": [chat("b", "hi", model="grok-nonexistent")]},
        )
    assert {body["model"] for body in stub.bodies} == {"gemma-3-270m"}
    assert refused.status_code == 400
    assert "Model grok-nonexistent is not supported" in refused.json()["error"]
