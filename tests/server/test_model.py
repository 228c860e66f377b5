"""The simulated model, seen through the API: echo, structured output, usage, run-time errors."""

from __future__ import annotations

from typing import Any, Literal

import httpx
import jsonschema
import orjson
import pydantic
from srv_helpers import add, chat_item, new_batch

from batchframe.server import BatchServer
from batchframe.server.schema_instance import instance_for


def run(
    api: httpx.Client, server: BatchServer, items: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    batch_id = new_batch(api)
    assert add(api, batch_id, items).status_code == 200
    server.engine.step()
    results = api.get(f"/batches/{batch_id}/results", params={"limit": 1000}).json()["results"]
    return {r["batch_request_id"]: r["batch_result"] for r in results}


def completion(result: dict[str, Any]) -> dict[str, Any]:
    return dict(result["response"]["chat_get_completion"])


def test_echoes_last_user_message_with_usage_and_cost(
    api: httpx.Client, batch_server: BatchServer
) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "an answer"},
        {
            "role": "user",
            "content": [{"type": "text", "text": "Naïve "}, {"type": "text", "text": "café ☕"}],
        },
    ]
    item = {
        "batch_request_id": "a",
        "batch_request": {"chat_get_completion": {"model": "grok-4.3", "messages": messages}},
    }
    body = completion(run(api, batch_server, [item])["a"])
    assert body["object"] == "chat.completion" and body["model"] == "grok-4.3"
    choice = body["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "Naïve café ☕", "refusal": None}
    assert choice["finish_reason"] == "stop" and choice["index"] == 0
    usage = body["usage"]
    assert usage["prompt_tokens"] > usage["completion_tokens"] > 0
    details = usage["completion_tokens_details"]
    assert details["reasoning_tokens"] == 0
    assert (
        usage["total_tokens"]
        == usage["prompt_tokens"] + usage["completion_tokens"] + details["reasoning_tokens"]
    )
    assert usage["prompt_tokens_details"]["cached_tokens"] == 0
    assert isinstance(usage["cost_in_usd_ticks"], int) and usage["cost_in_usd_ticks"] > 0
    assert isinstance(body["created"], int) and body["system_fingerprint"]


def test_responses_kind_comes_back_as_chat_completion(
    api: httpx.Client, batch_server: BatchServer
) -> None:
    item = {
        "batch_request_id": "r",
        "batch_request": {"responses": {"model": "grok-4.3", "input": "plain input"}},
    }
    result = run(api, batch_server, [item])["r"]
    assert completion(result)["choices"][0]["message"]["content"] == "plain input"


def test_reasoning_effort_adds_reasoning_tokens(
    api: httpx.Client, batch_server: BatchServer
) -> None:
    usage = completion(run(api, batch_server, [chat_item("a", reasoning_effort="high")])["a"])[
        "usage"
    ]
    reasoning = usage["completion_tokens_details"]["reasoning_tokens"]
    assert reasoning > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] + reasoning


class Address(pydantic.BaseModel):
    city: str
    zip_code: int | None


class Review(pydantic.BaseModel):
    sentiment: Literal["positive", "negative", "neutral"]
    score: float
    stars: int = pydantic.Field(ge=1, le=5)
    recommended: bool
    tags: list[str]
    address: Address
    note: str | None = None


def schema_format(model: type[pydantic.BaseModel]) -> dict[str, Any]:
    return {
        "type": "json_schema",
        "json_schema": {
            "name": model.__name__,
            "schema": model.model_json_schema(),
            "strict": True,
        },
    }


def test_json_schema_answer_validates(api: httpx.Client, batch_server: BatchServer) -> None:
    fmt = schema_format(Review)
    items = [
        chat_item("neg", "Broken on arrival, a negative experience.", response_format=fmt),
        chat_item("pos", "Positive! Love it.", response_format=fmt),
        chat_item("none", "No label words here.", response_format=fmt),
    ]
    results = run(api, batch_server, items)
    schema = Review.model_json_schema()
    parsed = {}
    for rid, result in results.items():
        content = completion(result)["choices"][0]["message"]["content"]
        jsonschema.validate(orjson.loads(content), schema)
        parsed[rid] = Review.model_validate_json(content)
    assert parsed["neg"].sentiment == "negative"
    assert parsed["pos"].sentiment == "positive"
    again = run(api, batch_server, [items[2]])["none"]
    assert (
        completion(again)["choices"][0]["message"]["content"]
        == completion(results["none"])["choices"][0]["message"]["content"]
    )


def test_instance_for_handles_refs_enums_and_ranges() -> None:
    schema = {
        "type": "object",
        "$defs": {"Kind": {"enum": ["a", "b"]}},
        "properties": {
            "kind": {"$ref": "#/$defs/Kind"},
            "items": {"type": "array", "items": {"type": "integer", "minimum": 3}, "minItems": 2},
            "maybe": {"anyOf": [{"type": "null"}, {"type": "string", "minLength": 20}]},
            "fixed": {"const": 7},
            "ratio": {"type": "number", "minimum": 0, "maximum": 1},
        },
        "required": ["kind", "items", "maybe", "fixed", "ratio"],
        "additionalProperties": False,
    }
    value = instance_for(schema, "pick b please")
    jsonschema.validate(value, schema)
    assert value["kind"] == "b"


def test_max_tokens_and_temperature_errors(api: httpx.Client, batch_server: BatchServer) -> None:
    items = [
        chat_item("neg", max_tokens=-5),
        chat_item("short", "a" * 100, max_tokens=2),
        chat_item("hot", temperature=99),
        chat_item("fine", "ok", max_completion_tokens=50, temperature=0.7),
    ]
    results = run(api, batch_server, items)
    assert results["neg"] == {
        "error": "Maximum number of tokens max_tokens must be positive but max_tokens = -5"
    }
    short = completion(results["short"])["choices"][0]
    # The tokenizer cuts a long word every 8 letters: two tokens are 16 letters.
    assert short["finish_reason"] == "length" and short["message"]["content"] == "a" * 16
    assert completion(results["short"])["usage"]["completion_tokens"] == 2
    assert "temperature" in results["hot"]["error"]
    assert completion(results["fine"])["choices"][0]["message"]["content"] == "ok"
    state = api.get("/batches").json()["batches"][0]["state"]
    assert (state["num_success"], state["num_error"]) == (2, 2)


def test_fail_rate_fails_that_share(api: httpx.Client) -> None:
    server = BatchServer(fail_rate=0.5, seed=7)
    try:
        with httpx.Client(
            transport=server.transport(), base_url="http://t/v1", headers=dict(api.headers)
        ) as client:
            results = run(client, server, [chat_item(f"r{i:03d}") for i in range(400)])
    finally:
        server.close()
    failed = sum("error" in r for r in results.values())
    assert 120 < failed < 280
