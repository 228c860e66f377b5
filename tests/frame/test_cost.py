"""Cost and token totals over results."""

from __future__ import annotations

import orjson

from batchframe.frame.cost import CostSummary, summarize_cost
from batchframe.frame.decode import decode_results_page, to_pandas


def page() -> bytes:
    ok = {
        "model": "m",
        "choices": [{"message": {"content": "x"}}],
        "usage": {
            "prompt_tokens": 10,
            "completion_tokens": 5,
            "total_tokens": 20,
            "prompt_tokens_details": {"cached_tokens": 4},
            "completion_tokens_details": {"reasoning_tokens": 5},
            "cost_in_usd_ticks": 2_000_000_000,
        },
    }
    return orjson.dumps(
        {
            "results": [
                {
                    "batch_request_id": "a",
                    "batch_result": {"response": {"chat_get_completion": ok}},
                },
                {
                    "batch_request_id": "b",
                    "batch_result": {"response": {"chat_get_completion": ok}},
                },
                {"batch_request_id": "c", "batch_result": {"error": "boom"}},
                {"batch_request_id": "d", "batch_result": {"error": "Batch cancelled"}},
            ]
        }
    )


def test_totals_from_arrow_and_pandas_agree():
    batch, _ = decode_results_page(page())
    from_arrow = summarize_cost(batch)
    from_pandas = summarize_cost(to_pandas(batch))
    assert from_arrow == from_pandas
    assert isinstance(from_arrow, CostSummary)
    assert (from_arrow.rows, from_arrow.succeeded, from_arrow.failed, from_arrow.cancelled) == (
        4,
        2,
        1,
        1,
    )
    assert (from_arrow.prompt_tokens, from_arrow.reasoning_tokens, from_arrow.total_tokens) == (
        20,
        10,
        40,
    )
    assert abs(from_arrow.cost_usd - 0.4) < 1e-9
    assert "cost_usd=$0.400000" in repr(from_arrow)
    assert from_arrow.to_series()["cached_tokens"] == 8


def test_pending_rows_are_not_counted_as_finished():
    df = to_pandas(decode_results_page(page())[0])
    df.loc[0, "state"] = "pending"
    summary = summarize_cost(df)
    assert summary.pending == 1 and summary.total_tokens == 20
