"""The page decoder against a slow reference: one BatchResult pydantic model per row."""

from __future__ import annotations

from typing import Any

import orjson
import pandas as pd
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from batchframe.frame.decode import (
    RESULT_COLUMNS,
    RESULT_SCHEMA,
    decode_requests_page,
    decode_results_page,
    to_pandas,
)
from batchframe.models import BatchResult

INT = st.none() | st.integers(0, 10**9)
TEXT = st.text(max_size=20)


def maybe(key: str, value: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(st.just({}), value.map(lambda v: {key: v}))


def merged(*parts: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.tuples(*parts).map(lambda ds: {k: v for d in ds for k, v in d.items()})


USAGE = merged(
    maybe("prompt_tokens", INT),
    maybe("completion_tokens", INT),
    maybe("total_tokens", INT),
    maybe("cost_in_usd_ticks", INT),
    maybe("reasoning_tokens", INT),
    maybe("prompt_tokens_details", merged(maybe("cached_tokens", INT))),
    maybe("completion_tokens_details", merged(maybe("reasoning_tokens", INT))),
    maybe("future_field", st.just([1, 2])),
)
MESSAGE = merged(
    maybe("content", st.none() | TEXT),
    maybe("reasoning_content", TEXT),
    maybe("role", st.just("assistant")),
)
CHOICE = merged(
    maybe("message", MESSAGE),
    maybe("finish_reason", st.none() | TEXT),
    maybe("logprobs", st.none()),
)
BODY = merged(
    maybe("model", TEXT),
    maybe("choices", st.lists(CHOICE, max_size=2)),
    maybe("usage", USAGE),
    maybe("cost_in_usd_ticks", INT),
    maybe("unknown", TEXT),
)
SUCCESS = st.tuples(st.sampled_from(["chat_get_completion", "image_generation"]), BODY).map(
    lambda kb: {"batch_result": {"response": {kb[0]: kb[1]}}}
)
ERROR_TEXT = st.sampled_from(["Batch cancelled", "boom", "Maximum number of tokens"]) | TEXT.filter(
    bool
)
FAILURE = st.one_of(
    ERROR_TEXT.map(lambda e: {"batch_result": {"error": e}}),
    st.tuples(st.sampled_from(["INVALID", 3, None]), ERROR_TEXT).map(
        lambda ce: {"batch_result": {"error": {"code": ce[0], "message": ce[1]}}}
    ),
    ERROR_TEXT.map(lambda e: {"batch_result": {}, "error_message": e}),
)
ITEM = st.tuples(st.one_of(SUCCESS, FAILURE), TEXT).map(
    lambda it: {"batch_request_id": it[1], **it[0], "extra": {"x": 1}}
)
TOKEN = st.one_of(
    st.just({}), st.sampled_from([None, "", "next-7"]).map(lambda t: {"pagination_token": t})
)


def reference(item: dict[str, Any]) -> dict[str, Any]:
    r = BatchResult.model_validate(item)
    row: dict[str, Any] = dict.fromkeys(RESULT_COLUMNS)
    row["batch_request_id"] = r.batch_request_id
    if r.error is not None:
        row["state"] = "cancelled" if r.error == "Batch cancelled" else "failed"
        row["error"] = r.error
        return row
    body = r.response or {}
    choices = body.get("choices") or [{}]
    message = choices[0].get("message") or {}
    usage = r.usage
    reasoning = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens")
    ticks = usage.get("cost_in_usd_ticks", body.get("cost_in_usd_ticks"))
    if ticks is None:
        ticks = body.get("cost_in_usd_ticks")
    row.update(
        state="succeeded",
        content=message.get("content"),
        reasoning_content=message.get("reasoning_content"),
        finish_reason=choices[0].get("finish_reason"),
        model=body.get("model"),
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        reasoning_tokens=reasoning if reasoning is not None else usage.get("reasoning_tokens"),
        cached_tokens=(usage.get("prompt_tokens_details") or {}).get("cached_tokens"),
        total_tokens=usage.get("total_tokens"),
        cost_usd=None if ticks is None else ticks * 1e-10,
    )
    return row


@settings(max_examples=150)
@given(st.lists(ITEM, max_size=12), TOKEN)
def test_results_page_matches_pydantic_reference(items, token):
    batch, next_token = decode_results_page(orjson.dumps({"results": items, **token}))
    assert batch.schema == RESULT_SCHEMA
    assert batch.to_pylist() == [reference(item) for item in items]
    assert next_token == (token.get("pagination_token") or None)


def test_documented_example_and_failure_forms():
    page = {
        "results": [
            {
                "batch_request_id": "a",
                "batch_result": {
                    "response": {
                        "chat_get_completion": {
                            "model": "grok-4",
                            "choices": [
                                {
                                    "index": 0,
                                    "finish_reason": "stop",
                                    "message": {
                                        "role": "assistant",
                                        "content": "303",
                                        "refusal": None,
                                    },
                                }
                            ],
                            "usage": {
                                "prompt_tokens": 706,
                                "completion_tokens": 22,
                                "total_tokens": 827,
                                "prompt_tokens_details": {"cached_tokens": 679},
                                "completion_tokens_details": {"reasoning_tokens": 99},
                                "cost_in_usd_ticks": 5_000_000,
                            },
                        }
                    }
                },
            },
            {"batch_request_id": "b", "batch_result": {"error": "max_tokens must be positive"}},
            {"batch_request_id": "c", "batch_result": {"error": {"code": 3, "message": "bad"}}},
            {"batch_request_id": "d", "error_message": "gone"},
            {"batch_request_id": "e", "batch_result": {"error": "Batch cancelled"}},
        ],
        "pagination_token": None,
    }
    batch, token = decode_results_page(orjson.dumps(page))
    df = to_pandas(batch)
    assert token is None
    assert df["state"].tolist() == ["succeeded", "failed", "failed", "failed", "cancelled"]
    assert df["error"].tolist()[1:] == [
        "max_tokens must be positive",
        "3: bad",
        "gone",
        "Batch cancelled",
    ]
    first = df.iloc[0]
    assert (first["content"], first["reasoning_tokens"], first["cached_tokens"]) == ("303", 99, 679)
    assert abs(first["cost_usd"] - 0.0005) < 1e-12
    assert df["content"].isna().tolist()[1:] == [True] * 4


def test_empty_page_and_dtypes():
    batch, token = decode_results_page(b'{"results":[],"pagination_token":""}')
    assert batch.num_rows == 0 and token is None
    dtypes = to_pandas(batch).dtypes
    assert str(dtypes["content"]) == "string" and str(dtypes["total_tokens"]) == "Int64"
    assert str(dtypes["cost_usd"]) == "Float64"
    table = pa.Table.from_batches([batch, batch])
    assert isinstance(to_pandas(table), pd.DataFrame)


def test_requests_page():
    raw = orjson.dumps(
        {
            "batch_request_metadata": [
                {"batch_request_id": "a", "state": "pending", "endpoint": "x", "finish_time": None},
                {"batch_request_id": "b", "state": "succeeded", "new": 1},
            ]
        }
    )
    batch, token = decode_requests_page(raw)
    assert batch.to_pylist() == [
        {"batch_request_id": "a", "state": "pending"},
        {"batch_request_id": "b", "state": "succeeded"},
    ]
    assert token is None
    assert decode_requests_page(b'{"batch_request_metadata":[],"pagination_token":"t"}')[1] == "t"


def test_odd_types_fall_back_to_nulls_not_errors():
    body = {
        "model": 5,
        "choices": [{"message": {"content": ["part"]}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": 1.5,
            "completion_tokens": True,
            "total_tokens": "9",
            "cost_in_usd_ticks": 10,
        },
    }
    page = {
        "results": [
            {"batch_request_id": "a", "batch_result": {"response": {"chat_get_completion": body}}},
            {"batch_request_id": "b", "batch_result": "plain failure"},
            {"batch_request_id": "c", "batch_result": {"response": {"chat_get_completion": None}}},
        ],
        "pagination_token": 7,
    }
    batch, token = decode_results_page(orjson.dumps(page))
    rows = batch.to_pylist()
    assert token is None
    assert rows[0]["state"] == "succeeded" and rows[0]["finish_reason"] == "stop"
    assert [
        rows[0][k]
        for k in ("content", "model", "prompt_tokens", "completion_tokens", "total_tokens")
    ] == [None] * 5
    assert rows[0]["cost_usd"] == 10 * 1e-10
    assert (rows[1]["state"], rows[1]["error"]) == ("failed", "plain failure")
    assert rows[2]["state"] == "succeeded" and rows[2]["content"] is None
