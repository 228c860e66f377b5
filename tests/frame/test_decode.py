"""The page decoder against a slow, obviously correct reference: a walk over plain dicts."""

from __future__ import annotations

from typing import Any

import orjson
import pandas as pd
import pyarrow as pa
import pytest
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
CHAT = merged(
    maybe("model", TEXT),
    maybe("choices", st.lists(CHOICE, max_size=2)),
    maybe("usage", USAGE),
    maybe("cost_in_usd_ticks", INT),
    maybe("unknown", TEXT),
)
IMAGE = merged(
    maybe("model", TEXT),
    maybe("data", st.lists(merged(maybe("url", TEXT)), max_size=2)),
    maybe("usage", USAGE),
)
VIDEO = merged(
    maybe("model", TEXT), maybe("video", merged(maybe("url", TEXT))), maybe("usage", USAGE)
)
SUCCESS = st.one_of(
    CHAT.map(lambda b: ("chat_get_completion", b)),
    st.tuples(st.sampled_from(["image_generation", "image_edit"]), IMAGE),
    st.tuples(st.sampled_from(["video_generation", "video_extension"]), VIDEO),
).map(lambda kb: {"batch_result": {"response": {kb[0]: kb[1]}}})
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


def _error(item: dict[str, Any]) -> str | None:
    result = item.get("batch_result") or {}
    for value in (result.get("error"), result.get("error_message"), item.get("error_message")):
        if isinstance(value, dict):
            code, message = value.get("code"), value.get("message")
            return f"{code}: {message}" if code not in (None, "", 0) else str(message)
        if value:
            return str(value)
    return None


def _usage(row: dict[str, Any], usage: dict[str, Any], body: dict[str, Any]) -> None:
    reasoning = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens")
    ticks = usage.get("cost_in_usd_ticks")
    if ticks is None:
        ticks = body.get("cost_in_usd_ticks")
    row.update(
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        reasoning_tokens=reasoning if reasoning is not None else usage.get("reasoning_tokens"),
        cached_tokens=(usage.get("prompt_tokens_details") or {}).get("cached_tokens"),
        total_tokens=usage.get("total_tokens"),
        cost_usd=None if ticks is None else ticks * 1e-10,
    )


def reference(item: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(RESULT_COLUMNS)
    row["batch_request_id"] = item["batch_request_id"]
    row["origin"] = "batch"
    error = _error(item)
    if error is not None:
        row["state"] = "cancelled" if error == "Batch cancelled" else "failed"
        row["error"] = error
        return row
    row["state"] = "succeeded"
    ((kind, body),) = item["batch_result"]["response"].items()
    row["model"] = body.get("model")
    _usage(row, body.get("usage") or {}, body)
    if kind == "chat_get_completion":
        choice = (body.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        row.update(
            content=message.get("content"),
            reasoning_content=message.get("reasoning_content"),
            finish_reason=choice.get("finish_reason"),
        )
    elif kind.startswith("image"):
        row["content"] = ((body.get("data") or [{}])[0]).get("url")
    else:
        row["content"] = (body.get("video") or {}).get("url")
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


def test_results_of_the_wrong_type_are_rows_that_say_so():
    body = {
        "model": 5,
        "choices": [{"message": {"content": ["part"]}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1.5, "cost_in_usd_ticks": 10},
    }
    page = {
        "results": [
            {"batch_request_id": "a", "batch_result": {"response": {"chat_get_completion": body}}},
            {"batch_request_id": "b", "batch_result": "plain failure"},
            {"batch_request_id": "c", "batch_result": {"response": {"chat_get_completion": None}}},
            {"batch_request_id": "d", "batch_result": {"response": {"chat_get_completion": {}}}},
        ],
        "pagination_token": 7,
    }
    batch, token = decode_results_page(orjson.dumps(page))
    rows = batch.to_pylist()
    assert token == "7"  # an integer token is kept (as text), not taken for the last page
    assert rows[0]["state"] == "failed" and "cannot read" in rows[0]["error"]
    assert rows[0]["content"] is None and rows[0]["batch_request_id"] == "a"
    assert (rows[1]["state"], rows[1]["error"]) == ("failed", "plain failure")
    assert rows[2]["state"] == "failed" and "no known result kind" in rows[2]["error"]
    assert rows[3]["state"] == "succeeded" and rows[3]["content"] is None


def _chat(rid: str, **usage: Any) -> dict[str, Any]:
    body = {"model": "m", "choices": [{"message": {"content": rid}}], "usage": usage}
    return {"batch_request_id": rid, "batch_result": {"response": {"chat_get_completion": body}}}


def test_an_unknown_kind_or_a_huge_count_fails_its_row_only():
    # issue 11 item 4 / issue 13 item 13: never a silent null, never a crash of the page
    page = {
        "results": [
            _chat("a", total_tokens=5),
            {"batch_request_id": "b", "batch_result": {"response": {"audio_speech": {"x": 1}}}},
            _chat("c", total_tokens=2**63),
            _chat("d", prompt_tokens=2**63 - 1),
        ]
    }
    rows = decode_results_page(orjson.dumps(page))[0].to_pylist()
    assert [r["state"] for r in rows] == ["succeeded", "failed", "failed", "succeeded"]
    assert "unknown result kind 'audio_speech'" in rows[1]["error"]
    assert "9223372036854775807" in rows[2]["error"] and rows[2]["batch_request_id"] == "c"
    assert rows[0]["content"] == "a" and rows[3]["prompt_tokens"] == 2**63 - 1


def test_media_results_put_their_url_in_content():
    page = {
        "results": [
            {
                "batch_request_id": "img",
                "batch_result": {
                    "response": {
                        "image_generation": {
                            "model": "grok-imagine-image",
                            "data": [{"url": "https://x/i.png"}],
                            "usage": {"cost_in_usd_ticks": 700},
                        }
                    }
                },
            },
            {
                "batch_request_id": "vid",
                "batch_result": {
                    "response": {"video_generation": {"video": {"url": "https://x/v"}}}
                },
            },
        ]
    }
    rows = decode_results_page(orjson.dumps(page))[0].to_pylist()
    assert [r["content"] for r in rows] == ["https://x/i.png", "https://x/v"]
    assert rows[0]["model"] == "grok-imagine-image" and rows[0]["cost_usd"] == pytest.approx(7e-8)
    assert [r["state"] for r in rows] == ["succeeded", "succeeded"]


def test_the_object_api_reads_with_the_same_parser():
    item = _chat("z", total_tokens=2**63)
    assert BatchResult.model_validate(item).error is not None
    assert BatchResult.model_validate(_chat("ok")).content == "ok"


def test_a_page_that_is_not_a_results_page_is_an_api_error():
    from batchframe.errors import APIError

    with pytest.raises(APIError, match="cannot read"):
        decode_results_page(b'{"results": 5}')
    with pytest.raises(APIError, match="cannot read"):
        decode_requests_page(b"[1, 2]")
