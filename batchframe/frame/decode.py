"""Result and request pages as Arrow columns, built by name from the one result parser.

A page is decoded by ``msgspec`` into the typed structs of :mod:`batchframe.frame.items`. A page
whose every item is a chat completion without error (the usual page) becomes columns through one
list comprehension per column, with no Python call per row. Any other page is read item by item
(:func:`~batchframe.frame.items.read_item`); an item the client cannot read is a ``failed`` row
whose ``error`` says why, and the other rows of the page still read.

>>> page = b'{"results":[{"batch_request_id":"a","batch_result":{"error":"boom"}}]}'
>>> batch, token = decode_results_page(page)
>>> batch.column("state").to_pylist(), batch.column("error").to_pylist(), token
(['failed'], ['boom'], None)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from batchframe.frame.items import (
    _NO_DETAILS,
    _NO_USAGE,
    _PAGE,
    _RAW_PAGE,
    Row,
    _Item,
    error_text,
    read_item,
    read_raw,
    read_result,
)

__all__ = [
    "REQUEST_SCHEMA",
    "RESULT_COLUMNS",
    "RESULT_SCHEMA",
    "TOKEN_COLUMNS",
    "Row",
    "decode_requests_page",
    "decode_results_page",
    "error_text",
    "read_item",
    "read_result",
    "to_pandas",
]

_STRINGS = ("batch_request_id", "state", "content", "reasoning_content", "finish_reason", "model")
TOKEN_COLUMNS: tuple[str, ...] = (
    "prompt_tokens",
    "completion_tokens",
    "reasoning_tokens",
    "cached_tokens",
    "total_tokens",
)
RESULT_COLUMNS: tuple[str, ...] = (*_STRINGS, *TOKEN_COLUMNS, "cost_usd", "error", "origin")
_TEXT = pa.large_string()
RESULT_SCHEMA = pa.schema(
    [(name, _TEXT) for name in _STRINGS]
    + [(name, pa.int64()) for name in TOKEN_COLUMNS]
    + [("cost_usd", pa.float64()), ("error", _TEXT), ("origin", _TEXT)]
)
REQUEST_SCHEMA = pa.schema([("batch_request_id", _TEXT), ("state", _TEXT)])
_TICK_USD = 1e-10
_BATCH = pa.scalar("batch", _TEXT)
_SUCCEEDED = pa.scalar("succeeded", _TEXT)
# -- pages -> Arrow ---------------------------------------------------------------------------


def _token(value: str | int | None) -> str | None:
    return str(value) if value not in (None, "") else None


def decode_results_page(raw: bytes) -> tuple[pa.RecordBatch, str | None]:
    """A raw ``GET .../results`` page as a ``RESULT_SCHEMA`` batch, and the next page token.

    The token is ``None`` on the last page (absent, null or ``""``).
    """
    try:
        page = _PAGE.decode(raw)
    except msgspec.ValidationError:
        try:
            loose = _RAW_PAGE.decode(raw)
        except msgspec.DecodeError as exc:
            raise _unreadable_page("results", exc) from None
        rows = [read_raw(item) for item in loose.results or ()]
        return _from_rows(rows), _token(loose.pagination_token)
    except msgspec.DecodeError as exc:
        raise _unreadable_page("results", exc) from None
    items = page.results or []
    columns = _plain_columns(items)
    if columns is None:
        return _from_rows([read_item(item) for item in items]), _token(page.pagination_token)
    return _record_batch(columns), _token(page.pagination_token)


def _unreadable_page(what: str, exc: Exception) -> Exception:
    from batchframe.errors import APIError

    return APIError(f"the server sent a {what} page batchframe cannot read: {exc}")


def _plain_columns(items: list[_Item]) -> dict[str, list[Any] | None] | None:
    """Columns of a page of successful chat completions, one comprehension each; else None.

    Anything else on the page (a failure, a media result, a missing part) raises in some
    comprehension, and the page is then read item by item.
    """
    try:
        results: list[Any] = [it.batch_result for it in items]
        if any(it.error or it.error_message for it in items) or any(
            r.error or r.error_message for r in results
        ):
            return None
        bodies: list[Any] = [r.response.chat_get_completion for r in results]
        choices: list[Any] = [b.choices[0] for b in bodies]
        messages: list[Any] = [c.message for c in choices]
        usage: list[Any] = [b.usage or _NO_USAGE for b in bodies]
        done: list[Any] = [u.completion_tokens_details or _NO_DETAILS for u in usage]
        return {
            "batch_request_id": [it.batch_request_id for it in items],
            "state": None,
            "content": [m.content for m in messages],
            "reasoning_content": [m.reasoning_content for m in messages],
            "finish_reason": [c.finish_reason for c in choices],
            "model": [b.model for b in bodies],
            "prompt_tokens": [u.prompt_tokens for u in usage],
            "completion_tokens": [u.completion_tokens for u in usage],
            "reasoning_tokens": [
                u.reasoning_tokens if d.reasoning_tokens is None else d.reasoning_tokens
                for u, d in zip(usage, done, strict=True)
            ],
            "cached_tokens": [
                (u.prompt_tokens_details or _NO_DETAILS).cached_tokens for u in usage
            ],
            "total_tokens": [u.total_tokens for u in usage],
            "ticks": [
                u.cost_in_usd_ticks if u.cost_in_usd_ticks is not None else b.cost_in_usd_ticks
                for u, b in zip(usage, bodies, strict=True)
            ],
            "error": None,
        }
    except (AttributeError, IndexError, TypeError):
        return None


def _from_rows(rows: Sequence[Row]) -> pa.RecordBatch:
    columns: dict[str, list[Any] | None] = {
        name: [getattr(r, name) for r in rows] for name in Row.__struct_fields__
    }
    return _record_batch(columns)


def _record_batch(columns: dict[str, list[Any] | None]) -> pa.RecordBatch:
    """Arrow arrays by column name; ``None`` for a column means constant (state, error)."""
    n = len(columns["batch_request_id"] or ())
    arrays: dict[str, pa.Array] = {}
    for field in RESULT_SCHEMA:
        name = field.name
        if name == "cost_usd":
            ticks = pa.array(columns["ticks"], pa.int64())
            arrays[name] = pc.multiply(ticks.cast(pa.float64()), _TICK_USD)
        elif name == "origin":
            arrays[name] = pa.repeat(_BATCH, n)
        elif columns[name] is None:  # the plain page: every row succeeded, none has an error
            arrays[name] = pa.repeat(_SUCCEEDED, n) if name == "state" else pa.nulls(n, _TEXT)
        else:
            arrays[name] = pa.array(columns[name], field.type)
    return pa.RecordBatch.from_pydict(arrays, schema=RESULT_SCHEMA)


def decode_requests_page(raw: bytes) -> tuple[pa.RecordBatch, str | None]:
    """A raw ``GET .../requests`` page as a batch of ``batch_request_id``, ``state``.

    >>> batch, _ = decode_requests_page(b'{"batch_request_metadata":'
    ...     b'[{"batch_request_id":"a","state":"pending"}],"pagination_token":""}')
    >>> batch.to_pylist()
    [{'batch_request_id': 'a', 'state': 'pending'}]
    """
    try:
        page = _REQUESTS.decode(raw)
    except msgspec.DecodeError as exc:
        raise _unreadable_page("requests", exc) from None
    items = page.batch_request_metadata or []
    ids = pa.array([m.batch_request_id for m in items], _TEXT)
    states = pa.array([m.state for m in items], _TEXT)
    return pa.RecordBatch.from_arrays([ids, states], schema=REQUEST_SCHEMA), _token(
        page.pagination_token
    )


class _Meta(msgspec.Struct, gc=False):
    batch_request_id: str | None = None
    state: str | None = None


class _RequestPage(msgspec.Struct, gc=False):
    batch_request_metadata: list[_Meta] | None = None
    pagination_token: str | int | None = None


_REQUESTS = msgspec.json.Decoder(_RequestPage)


def to_pandas(data: pa.Table | pa.RecordBatch) -> pd.DataFrame:
    """Arrow results as pandas with fixed dtypes: ``string``, ``Int64`` and ``Float64``.

    Text columns stay Arrow memory (pandas' ``string`` dtype wraps it, no copy).

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
