"""The one result parser: result items as typed structs, pages as Arrow columns built by name.

A page is decoded by ``msgspec`` into the small typed structs below (unknown fields skipped in
C; ``gc=False``, since decoded JSON cannot form reference cycles). A page whose every item is a
chat completion without error (the usual page) becomes columns through one list comprehension
per column, with no Python call per row. Any other page is read item by item
(:func:`read_item`): failures in every form the API has been seen to use (``batch_result.error``
as a string or as ``{code, message}``, a top-level ``error_message``), "Batch cancelled" as the
state ``cancelled``, image and video results (their URL in ``content``). An item the client
cannot read (an unknown result kind, a token count of 2**63 or more, a value of the wrong type)
is a ``failed`` row whose ``error`` says why; the other rows of the page still read.

``models.BatchResult`` reads its ``content`` and ``error`` with the same structs.

>>> page = b'{"results":[{"batch_request_id":"a","batch_result":{"error":"boom"}}]}'
>>> batch, token = decode_results_page(page)
>>> batch.column("state").to_pylist(), batch.column("error").to_pylist(), token
(['failed'], ['boom'], None)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import msgspec
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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
_CANCELLED = "batch cancelled"
#: A count the Int64 columns can hold; anything else fails the item, not the page.
Count = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]


class _ErrorObject(msgspec.Struct, gc=False):
    code: int | str | None = None
    message: str | None = None
    error: str | None = None
    error_message: str | None = None


_Error = str | _ErrorObject | None


class _Details(msgspec.Struct, gc=False):
    cached_tokens: Count | None = None
    reasoning_tokens: Count | None = None


class _Usage(msgspec.Struct, gc=False):
    prompt_tokens: Count | None = None
    completion_tokens: Count | None = None
    total_tokens: Count | None = None
    reasoning_tokens: Count | None = None
    cost_in_usd_ticks: Count | None = None
    prompt_tokens_details: _Details | None = None
    completion_tokens_details: _Details | None = None


class _Message(msgspec.Struct, gc=False):
    content: str | None = None
    reasoning_content: str | None = None


class _Choice(msgspec.Struct, gc=False):
    message: _Message | None = None
    finish_reason: str | None = None


class _Chat(msgspec.Struct, gc=False):
    model: str | None = None
    choices: list[_Choice] | None = None
    usage: _Usage | None = None
    cost_in_usd_ticks: Count | None = None


class _Url(msgspec.Struct, gc=False):
    url: str | None = None


class _Image(msgspec.Struct, gc=False):
    model: str | None = None
    data: list[_Url] | None = None
    usage: _Usage | None = None
    cost_in_usd_ticks: Count | None = None


class _Video(msgspec.Struct, gc=False):
    model: str | None = None
    video: _Url | None = None
    usage: _Usage | None = None
    cost_in_usd_ticks: Count | None = None


class _Response(msgspec.Struct, gc=False):
    chat_get_completion: _Chat | None = None
    image_generation: _Image | None = None
    image_edit: _Image | None = None
    video_generation: _Video | None = None
    video_extension: _Video | None = None


class _Result(msgspec.Struct, gc=False):
    response: _Response | None = None
    error: _Error = None
    error_message: str | None = None


class _Item(msgspec.Struct, gc=False):
    batch_request_id: str | None = None
    batch_result: _Result | str | None = None
    error_message: str | None = None
    error: _Error = None


class _Page(msgspec.Struct, gc=False):
    results: list[_Item] | None = None
    pagination_token: str | int | None = None


class _RawPage(msgspec.Struct, gc=False):
    results: list[msgspec.Raw] | None = None
    pagination_token: str | int | None = None


class _Kinds(msgspec.Struct, gc=False):
    """Just enough of an item to name the result kind it carries."""

    batch_request_id: Any = None
    batch_result: Any = None


_PAGE = msgspec.json.Decoder(_Page)
_RAW_PAGE = msgspec.json.Decoder(_RawPage)
_ITEM = msgspec.json.Decoder(_Item)
_KINDS = msgspec.json.Decoder(_Kinds)
_NO_USAGE = _Usage()
_NO_DETAILS = _Details()


class Row(msgspec.Struct, gc=False):
    """One result as the columns of ``RESULT_SCHEMA`` (``cost_usd`` still in ticks)."""

    batch_request_id: str | None = None
    state: str = "succeeded"
    content: str | None = None
    reasoning_content: str | None = None
    finish_reason: str | None = None
    model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_tokens: int | None = None
    cached_tokens: int | None = None
    total_tokens: int | None = None
    ticks: int | None = None
    error: str | None = None


def error_text(value: Any) -> str:
    """A failure as one string, whichever form it came in: a string, ``{code, message}``, ...

    >>> error_text({"code": 3, "message": "bad"}), error_text("boom")
    ('3: bad', 'boom')
    """
    if isinstance(value, str):
        return value
    if isinstance(value, _ErrorObject):
        value = {"code": value.code, "message": value.message or value.error or value.error_message}
    if isinstance(value, dict):
        message = value.get("message") or value.get("error") or value.get("error_message")
        code = value.get("code")
        if message and code not in (None, "", 0):
            return f"{code}: {message}"
        if message:
            return str(message)
    return str(value)


def _failure(item: _Item) -> str | None:
    result = item.batch_result
    if isinstance(result, str):
        return result or None
    for value in (
        result.error if result is not None else None,
        result.error_message if result is not None else None,
        item.error_message,
        item.error,
    ):
        if value not in (None, ""):
            return error_text(value)
    return None


def _usage_row(row: Row, usage: _Usage | None, body_ticks: int | None) -> Row:
    usage = usage if usage is not None else _NO_USAGE
    done = usage.completion_tokens_details or _NO_DETAILS
    cached = usage.prompt_tokens_details or _NO_DETAILS
    row.prompt_tokens, row.completion_tokens = usage.prompt_tokens, usage.completion_tokens
    row.total_tokens, row.cached_tokens = usage.total_tokens, cached.cached_tokens
    reasoning = done.reasoning_tokens
    row.reasoning_tokens = usage.reasoning_tokens if reasoning is None else reasoning
    row.ticks = usage.cost_in_usd_ticks if usage.cost_in_usd_ticks is not None else body_ticks
    return row


def read_item(item: _Item) -> Row:
    """One decoded result item as a :class:`Row` (never raises on what the API may send)."""
    row = Row(batch_request_id=item.batch_request_id)
    failure = _failure(item)
    if failure is not None:
        row.state = "cancelled" if failure.strip().lower() == _CANCELLED else "failed"
        row.error = failure
        return row
    result = item.batch_result
    response = result.response if isinstance(result, _Result) else None
    if response is None:
        return row  # a success without a body (never seen): nulls
    chat = response.chat_get_completion
    if chat is not None:
        choice = chat.choices[0] if chat.choices else None
        message = choice.message if choice is not None else None
        if message is not None:
            row.content, row.reasoning_content = message.content, message.reasoning_content
        row.finish_reason = choice.finish_reason if choice is not None else None
        row.model = chat.model
        return _usage_row(row, chat.usage, chat.cost_in_usd_ticks)
    image = response.image_generation or response.image_edit
    if image is not None:
        row.content = image.data[0].url if image.data else None
        row.model = image.model
        return _usage_row(row, image.usage, image.cost_in_usd_ticks)
    video = response.video_generation or response.video_extension
    if video is not None:
        row.content = video.video.url if video.video is not None else None
        row.model = video.model
        return _usage_row(row, video.usage, video.cost_in_usd_ticks)
    row.state, row.error = "failed", "batchframe cannot read this result: no known result kind"
    return row


def _read_raw(raw: msgspec.Raw) -> Row:
    """An item from its raw bytes; one the structs cannot hold becomes a row saying why."""
    try:
        row = read_item(_ITEM.decode(raw))
    except msgspec.ValidationError as exc:
        rid = _request_id(raw)
        return Row(rid, "failed", error=f"batchframe cannot read this result: {exc}")
    if row.error == "batchframe cannot read this result: no known result kind":
        kinds = _kind_names(raw)
        if kinds:
            row.error = f"batchframe cannot read this result: unknown result kind {kinds}"
    return row


def _request_id(raw: msgspec.Raw) -> str | None:
    try:
        rid = _KINDS.decode(raw).batch_request_id
    except msgspec.DecodeError:
        return None
    return rid if isinstance(rid, str) else None


def _kind_names(raw: msgspec.Raw) -> str:
    result = _KINDS.decode(raw).batch_result
    response = result.get("response") if isinstance(result, dict) else None
    if not isinstance(response, dict):
        return ""
    return ", ".join(repr(k) for k in response if k not in _Response.__struct_fields__)


def read_result(item: dict[str, Any]) -> Row:
    """A result item given as plain Python (``models.BatchResult``) as a :class:`Row`."""
    return _read_raw(msgspec.Raw(msgspec.json.encode(item)))


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
        rows = [_read_raw(item) for item in loose.results or ()]
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
