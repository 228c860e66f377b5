"""Decode raw result and request pages straight into Arrow record batches.

One ``orjson.loads`` per page and a tight walk over plain dicts and lists: no pydantic object per
row. Every failure form the API has been seen to use is read (``batch_result.error`` as a string
or as ``{code, message}``, a top-level ``error_message``); "Batch cancelled" errors get the state
``cancelled``. Unknown fields are ignored; missing ``choices`` or ``usage`` give nulls.

>>> page = b'{"results":[{"batch_request_id":"a","batch_result":{"error":"boom"}}]}'
>>> batch, token = decode_results_page(page)
>>> batch.column(1).to_pylist(), batch.column(12).to_pylist(), token
(['failed'], ['boom'], None)
"""

from __future__ import annotations

from typing import Any

import orjson
import pandas as pd
import pyarrow as pa

__all__ = [
    "REQUEST_SCHEMA",
    "RESULT_COLUMNS",
    "RESULT_SCHEMA",
    "decode_requests_page",
    "decode_results_page",
    "to_pandas",
]

_STRINGS = ("batch_request_id", "state", "content", "reasoning_content", "finish_reason", "model")
_TOKENS = (
    "prompt_tokens",
    "completion_tokens",
    "reasoning_tokens",
    "cached_tokens",
    "total_tokens",
)
RESULT_COLUMNS: tuple[str, ...] = (*_STRINGS, *_TOKENS, "cost_usd", "error")
RESULT_SCHEMA = pa.schema(
    [(name, pa.string()) for name in _STRINGS]
    + [(name, pa.int64()) for name in _TOKENS]
    + [("cost_usd", pa.float64()), ("error", pa.string())]
)
REQUEST_SCHEMA = pa.schema([("batch_request_id", pa.string()), ("state", pa.string())])
_TICK_USD = 1e-10
_CANCELLED = "batch cancelled"


def _token(page: Any) -> str | None:
    token = page.get("pagination_token") if isinstance(page, dict) else None
    return token if isinstance(token, str) and token else None


def _error_text(value: Any) -> str:
    if isinstance(value, dict):
        message = value.get("message") or value.get("error") or value.get("error_message")
        code = value.get("code")
        if message and code not in (None, "", 0):
            return f"{code}: {message}"
        if message:
            return str(message)
    return value if isinstance(value, str) else str(value)


def _find_error(item: dict[str, Any], result: Any) -> Any:
    if isinstance(result, dict):
        for key in ("error", "error_message"):
            if result.get(key) not in (None, ""):
                return result[key]
    elif result not in (None, ""):
        return result
    for key in ("error_message", "error"):
        value = item.get(key)
        if value not in (None, "") and isinstance(value, str | dict):
            return value
    return None


def _body(result: Any) -> dict[str, Any]:
    response = result.get("response") if isinstance(result, dict) else None
    if not isinstance(response, dict) or not response:
        return {}
    inner = response.get("chat_get_completion")
    if inner is None:
        inner = next(iter(response.values()))
    return inner if isinstance(inner, dict) else {}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _row(item: dict[str, Any]) -> list[Any]:
    result = item.get("batch_result")
    error = _find_error(item, result)
    rid = _str(item.get("batch_request_id"))
    if error is not None:
        text = _error_text(error)
        state = "cancelled" if text.strip().lower() == _CANCELLED else "failed"
        return [rid, state, None, None, None, None, None, None, None, None, None, None, text]
    body = _body(result)
    choices = body.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else {}
    choice = choice if isinstance(choice, dict) else {}
    message = choice.get("message")
    message = message if isinstance(message, dict) else {}
    usage = body.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    details = usage.get("completion_tokens_details")
    reasoning = details.get("reasoning_tokens") if isinstance(details, dict) else None
    if reasoning is None:
        reasoning = usage.get("reasoning_tokens")
    prompt_details = usage.get("prompt_tokens_details")
    cached = prompt_details.get("cached_tokens") if isinstance(prompt_details, dict) else None
    ticks = _int(usage.get("cost_in_usd_ticks"))
    if ticks is None:
        ticks = _int(body.get("cost_in_usd_ticks"))
    return [
        rid,
        "succeeded",
        _str(message.get("content")),
        _str(message.get("reasoning_content")),
        _str(choice.get("finish_reason")),
        _str(body.get("model")),
        _int(usage.get("prompt_tokens")),
        _int(usage.get("completion_tokens")),
        _int(reasoning),
        _int(cached),
        _int(usage.get("total_tokens")),
        None if ticks is None else ticks * _TICK_USD,
        None,
    ]


def decode_results_page(raw: bytes) -> tuple[pa.RecordBatch, str | None]:
    """A raw ``GET .../results`` page as a ``RESULT_SCHEMA`` batch, and the next page token.

    The token is ``None`` on the last page (absent, null or ``""``).
    """
    page = orjson.loads(raw)
    items = page.get("results") if isinstance(page, dict) else None
    rows = [_row(item) for item in items or () if isinstance(item, dict)]
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(RESULT_COLUMNS)
    arrays = [
        pa.array(values, type=fld.type) for values, fld in zip(columns, RESULT_SCHEMA, strict=True)
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=RESULT_SCHEMA), _token(page)


def decode_requests_page(raw: bytes) -> tuple[pa.RecordBatch, str | None]:
    """A raw ``GET .../requests`` page as a batch of ``batch_request_id``, ``state``.

    >>> batch, _ = decode_requests_page(b'{"batch_request_metadata":'
    ...     b'[{"batch_request_id":"a","state":"pending"}],"pagination_token":""}')
    >>> batch.to_pylist()
    [{'batch_request_id': 'a', 'state': 'pending'}]
    """
    page = orjson.loads(raw)
    items = page.get("batch_request_metadata") if isinstance(page, dict) else None
    items = [item for item in items or () if isinstance(item, dict)]
    ids = pa.array([_str(item.get("batch_request_id")) for item in items], pa.string())
    states = pa.array([_str(item.get("state")) for item in items], pa.string())
    return pa.RecordBatch.from_arrays([ids, states], schema=REQUEST_SCHEMA), _token(page)


def to_pandas(data: pa.Table | pa.RecordBatch) -> pd.DataFrame:
    """Arrow results as pandas with fixed dtypes: ``string``, ``Int64`` and ``Float64``.

    >>> to_pandas(RESULT_SCHEMA.empty_table()).dtypes["prompt_tokens"]
    Int64Dtype()
    """

    def mapper(arrow_type: pa.DataType) -> Any:
        if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
            return pd.StringDtype()
        if pa.types.is_integer(arrow_type):
            return pd.Int64Dtype()
        if pa.types.is_floating(arrow_type):
            return pd.Float64Dtype()
        return None

    frame: pd.DataFrame = data.to_pandas(types_mapper=mapper)
    return frame
