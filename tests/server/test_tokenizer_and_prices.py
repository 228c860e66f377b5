"""The tokenizer and the price list: their routes, and that the simulator counts and bills with
exactly them (the contract the client-side estimate relies on)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from srv_helpers import add, assert_error, chat_item, new_batch

import batchframe as bf
from batchframe.server import BatchServer
from batchframe.server.prices import CATALOGUE, DEFAULT_MODELS
from batchframe.server.tokenizer import VOCAB_SIZE, count_tokens, tokenize, truncate


def tokens_of(text: str) -> list[str]:
    return [t.string_token for t in tokenize(text)]


def test_tokenizer_rules() -> None:
    assert tokens_of("Hello, world!") == ["Hello", ",", " world", "!"]
    assert tokens_of("don't stop") == ["don", "'t", " stop"]
    assert tokens_of("internationalization") == ["internat", "ionaliza", "tion"]
    assert tokens_of("12345") == ["123", "45"]
    assert tokens_of("日本語") == ["日本", "語"]
    assert tokens_of("a  b") == ["a", " ", " b"]
    assert tokens_of("x___y") == ["x", "___", "y"]
    assert count_tokens("") == 0 and tokenize("") == []
    assert truncate("one two three", 2) == "one two"


@settings(max_examples=200, deadline=None, database=None)
@given(st.text())
def test_tokens_cover_the_text_and_are_stable(text: str) -> None:
    tokens = tokenize(text)
    assert "".join(t.string_token for t in tokens) == text
    assert len(tokens) == count_tokens(text)
    assert all(0 <= t.token_id < VOCAB_SIZE for t in tokens)
    assert all(t.token_bytes == t.string_token.encode("utf-8", "surrogatepass") for t in tokens)
    assert [t.token_id for t in tokenize(text)] == [t.token_id for t in tokens]


def test_tokenize_text_route(api: httpx.Client) -> None:
    reply = api.post("/tokenize-text", json={"text": "Hello world", "model": "grok-4.3"})
    assert reply.status_code == 200
    body = reply.json()
    assert list(body) == ["token_ids"]
    assert [t["string_token"] for t in body["token_ids"]] == ["Hello", " world"]
    first = body["token_ids"][0]
    assert set(first) == {"token_id", "string_token", "token_bytes"}
    assert (
        first["token_bytes"] == list(b"Hello")
        and first["token_id"] == tokenize("Hello")[0].token_id
    )
    alias = api.post("/tokenize-text", json={"text": "x", "model": "grok-4.20"})
    assert alias.status_code == 200


def test_tokenize_text_bad_input(api: httpx.Client) -> None:
    assert_error(api.post("/tokenize-text", json={"text": "x", "model": "nope"}), 404)
    assert_error(api.post("/tokenize-text", json={"text": "x", "model": "grok-imagine-image"}), 404)
    assert_error(api.post("/tokenize-text", json={"model": "grok-4.3"}), 422)
    assert_error(api.post("/tokenize-text", json={"text": 5, "model": "grok-4.3"}), 422)
    assert_error(api.post("/tokenize-text", json=["x"]), 422)
    assert_error(api.post("/tokenize-text", content=b""), 415)
    huge = {"text": "a " * 500_001, "model": "grok-4.3"}
    assert_error(api.post("/tokenize-text", json=huge), 400)
    assert_error(api.get("/tokenize-text"), 405)


def test_language_models_list_and_get(api: httpx.Client) -> None:
    body = api.get("/language-models").json()
    ids = [m["id"] for m in body["models"]]
    text_models = [m.name for m in CATALOGUE if m.kind == "text"]
    assert ids == text_models
    grok = body["models"][0]
    assert grok["object"] == "model" and grok["owned_by"] == "xai"
    for field in (
        "prompt_text_token_price",
        "cached_prompt_text_token_price",
        "prompt_image_token_price",
        "completion_text_token_price",
        "search_price",
    ):
        assert isinstance(grok[field], int)
    assert grok["prompt_text_token_price"] == 12500  # $1.25 per 1M tokens (SIMULATED)
    one = api.get("/language-models/grok-4.3").json()
    assert one == grok
    by_alias = api.get("/language-models/grok-4.20").json()
    assert by_alias["id"] == "grok-4.20-0309-reasoning" and "grok-4.20" in by_alias["aliases"]
    assert_error(api.get("/language-models/grok-imagine-image"), 404)
    assert_error(api.get("/language-models/nope"), 404)
    assert_error(api.get("/language-models/a/b"), 404)
    assert_error(api.post("/language-models"), 405)


def test_models_option_changes_the_list() -> None:
    with BatchServer(models=("grok-4.3", "my-local-model")) as server:
        client = bf.Client(
            api_key="k", base_url="http://localhost/v1", transport=server.transport()
        )
        models = client.list_language_models()
        assert [m.id for m in models] == ["grok-4.3", "my-local-model"]
        assert models[1].completion_text_token_price == 40_000  # the default price
        assert [t.string_token for t in client.tokenize_text("a b", "my-local-model")] == [
            "a",
            " b",
        ]


def run_one(api: httpx.Client, server: BatchServer, item: dict[str, Any]) -> dict[str, Any]:
    batch_id = new_batch(api)
    assert add(api, batch_id, [item]).status_code == 200
    server.engine.step()
    result = api.get(f"/batches/{batch_id}/results").json()["results"][0]["batch_result"]
    return dict(result["response"]["chat_get_completion"])


@pytest.mark.parametrize(
    ("model", "prompt_price", "completion_price", "discount"),
    [
        ("grok-4.3", 12_500, 50_000, 20),
        ("grok-4.20-0309-non-reasoning", 20_000, 60_000, 20),
        ("grok-4.20-multi-agent-0309", 30_000, 90_000, 20),
    ],
)
def test_usage_is_counted_with_the_tokenizer_and_billed_with_the_table(
    api: httpx.Client,
    batch_server: BatchServer,
    model: str,
    prompt_price: int,
    completion_price: int,
    discount: int,
) -> None:
    system, question, answer = "Be brief and kind.", "An earlier question?", "Naïve café, 12345!"
    messages = [
        {"role": "system", "content": system},
        {"role": "user", "content": question},
        {"role": "assistant", "content": "ok"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Naïve café, "},
                {"type": "text", "text": "12345!"},
            ],
        },
    ]
    item = {
        "batch_request_id": "u",
        "batch_request": {
            "chat_get_completion": {"model": model, "messages": messages, "reasoning_effort": "low"}
        },
    }
    body = run_one(api, batch_server, item)
    usage = body["usage"]
    prompt = sum(count_tokens(t) for t in (system, question, "ok", answer))
    assert usage["prompt_tokens"] == prompt
    assert usage["completion_tokens"] == count_tokens(answer)
    reasoning = usage["completion_tokens_details"]["reasoning_tokens"]
    assert reasoning == 24
    gross = prompt * prompt_price + (count_tokens(answer) + reasoning) * completion_price
    assert usage["cost_in_usd_ticks"] == gross * (100 - discount) // 100
    # the estimate a client makes from the two routes gives the same figure
    tokenized = [
        len(api.post("/tokenize-text", json={"text": t, "model": model}).json()["token_ids"])
        for t in (system, question, "ok", answer)
    ]
    assert sum(tokenized) == usage["prompt_tokens"]
    listed = api.get(f"/language-models/{model}").json()
    assert (listed["prompt_text_token_price"], listed["completion_text_token_price"]) == (
        prompt_price,
        completion_price,
    )


def test_an_unlisted_model_has_no_discount() -> None:
    with (
        BatchServer(models=("my-local-model",)) as server,
        httpx.Client(
            transport=server.transport(),
            base_url="http://t/v1",
            headers={"Authorization": "Bearer k"},
        ) as api,
    ):
        item = chat_item("a", "one two")
        item["batch_request"]["chat_get_completion"]["model"] = "my-local-model"
        usage = run_one(api, server, item)["usage"]
        assert usage["cost_in_usd_ticks"] == 2 * 10_000 + 2 * 40_000


def test_empty_prompt_counts_one_token(api: httpx.Client, batch_server: BatchServer) -> None:
    usage = run_one(api, batch_server, chat_item("e", ""))["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (1, 0)


def test_responses_kind_counts_instructions_as_a_message(
    api: httpx.Client, batch_server: BatchServer
) -> None:
    item = {
        "batch_request_id": "r",
        "batch_request": {
            "responses": {"model": "grok-4.3", "instructions": "Be terse.", "input": "Hi there"}
        },
    }
    usage = run_one(api, batch_server, item)["usage"]
    assert usage["prompt_tokens"] == count_tokens("Be terse.") + count_tokens("Hi there")


def test_max_tokens_cuts_at_a_token_boundary(api: httpx.Client, batch_server: BatchServer) -> None:
    text = "alpha beta gamma delta"
    body = run_one(api, batch_server, chat_item("m", text, max_tokens=3))
    choice = body["choices"][0]
    assert (
        choice["message"]["content"] == "alpha beta gamma" and choice["finish_reason"] == "length"
    )
    assert body["usage"]["completion_tokens"] == 3


def test_default_models_are_the_references() -> None:
    assert DEFAULT_MODELS == (
        "grok-4.3",
        "grok-4.20-0309-reasoning",
        "grok-4.20-0309-non-reasoning",
        "grok-4.20-multi-agent-0309",
        "grok-imagine-image",
        "grok-imagine-image-quality",
        "grok-imagine-video",
    )
