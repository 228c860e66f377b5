"""Wire models: tolerant parsing of everything the reference says the API may send."""

from __future__ import annotations

import datetime as dt

import pytest

from batchframe.models import Batch, BatchPage, BatchResult, RequestPage, ResultPage, parse_time

UTC = dt.UTC


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2025-11-11", dt.datetime(2025, 11, 11, tzinfo=UTC)),
        ("2025-11-11T10:20:30Z", dt.datetime(2025, 11, 11, 10, 20, 30, tzinfo=UTC)),
        ("2025-11-11T10:20:30.5+00:00", dt.datetime(2025, 11, 11, 10, 20, 30, 500000, tzinfo=UTC)),
        ("2025-11-11T12:00:00+02:00", dt.datetime(2025, 11, 11, 10, 0, tzinfo=UTC)),
        (None, None),
        ("", None),
        ({"seconds": 0, "nanos": 0}, dt.datetime(1970, 1, 1, tzinfo=UTC)),
    ],
)
def test_parse_time_accepts_dates_and_rfc3339(raw: object, expected: dt.datetime | None) -> None:
    assert parse_time(raw) == expected


def test_batch_parses_reference_example_and_keeps_unknown_fields() -> None:
    batch = Batch.model_validate(
        {
            "batch_id": "batch_1934e8b5-f3dc-45f1-8329-9841b0aee9d8",
            "name": "My New Batch",
            "create_time": "2025-11-11",
            "expire_time": "2025-11-12",
            "create_api_key_id": "********-****",
            "cancel_time": None,
            "cancel_by_xai_message": None,
            "state": {
                "num_requests": 3,
                "num_pending": 1,
                "num_success": 1,
                "num_error": 1,
                "num_cancelled": 0,
            },
            "cost_breakdown": {"total_cost_usd_ticks": 5},
        }
    )
    assert batch.num_requests == 3 and batch.num_finished == 2
    assert not batch.is_done and not batch.is_cancelled
    assert batch.model_extra == {"cost_breakdown": {"total_cost_usd_ticks": 5}}
    assert batch.create_time == dt.datetime(2025, 11, 11, tzinfo=UTC)


def test_batch_is_done_needs_requests_and_none_pending() -> None:
    empty = Batch(batch_id="b", state={"num_requests": 0})
    assert not empty.is_done
    done = Batch(batch_id="b", state={"num_requests": 2, "num_success": 2})
    assert done.is_done


@pytest.mark.parametrize(
    ("item", "error"),
    [
        ({"batch_request_id": "a", "batch_result": {"error": "boom"}}, "boom"),
        (
            {"batch_request_id": "a", "batch_result": {"error": {"code": 3, "message": "bad"}}},
            "3: bad",
        ),
        ({"batch_request_id": "a", "batch_result": {"error": {"message": "bad"}}}, "bad"),
        ({"batch_request_id": "a", "error_message": "top level"}, "top level"),
        ({"batch_request_id": "a", "batch_result": {"error_message": "inner"}}, "inner"),
    ],
)
def test_result_failure_parses_every_known_form(item: dict[str, object], error: str) -> None:
    result = BatchResult.model_validate(item)
    assert result.error == error
    assert not result.succeeded
    assert result.content is None


def test_result_success_exposes_content_and_usage() -> None:
    result = BatchResult.model_validate(
        {
            "batch_request_id": "test_request_0",
            "batch_result": {
                "response": {
                    "chat_get_completion": {
                        "model": "grok-4",
                        "choices": [
                            {"index": 0, "message": {"role": "assistant", "content": "303"}}
                        ],
                        "usage": {"prompt_tokens": 706, "completion_tokens": 22},
                    }
                }
            },
        }
    )
    assert result.succeeded and result.error is None
    assert result.content == "303"
    assert result.usage["prompt_tokens"] == 706


def test_result_other_union_key_is_read() -> None:
    result = BatchResult.model_validate(
        {
            "batch_request_id": "x",
            "batch_result": {"response": {"image_generation": {"data": [{"url": "u"}]}}},
        }
    )
    assert result.succeeded
    assert result.response == {"data": [{"url": "u"}]}
    assert result.content == "u"  # a media result's URL is its content (the one parser)


@pytest.mark.parametrize("token", [None, "", "absent"])
def test_pages_treat_absent_null_and_empty_token_as_last(token: str | None) -> None:
    raw: dict[str, object] = {"results": []}
    if token != "absent":
        raw["pagination_token"] = token
    assert ResultPage.model_validate(raw).pagination_token is None
    assert (
        BatchPage.model_validate({"batches": [], "pagination_token": "t"}).pagination_token == "t"
    )
    assert RequestPage.model_validate({"batch_request_metadata": []}).pagination_token is None
