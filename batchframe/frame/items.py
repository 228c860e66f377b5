"""One result item: the typed structs every result is parsed with, and how one is read.

These structs are the one result parser (``decode`` builds Arrow columns from them,
``models.BatchResult`` reads its ``content`` and ``error`` with them). Unknown fields are skipped
in C; ``gc=False`` because decoded JSON cannot form reference cycles. Failures are read in every
form the API has been seen to use (``batch_result.error`` as a string or as ``{code, message}``,
a top-level ``error_message``); image and video results give their URL as the content. An item
the structs cannot hold (a token count of 2**63 or more, a value of the wrong type, an unknown
result kind) is a ``failed`` row whose ``error`` says why.

>>> read_result({"batch_request_id": "a", "batch_result": {"error": "Batch cancelled"}}).state
'cancelled'
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

__all__ = ["UNREADABLE", "Row", "error_text", "read_item", "read_raw", "read_result"]

#: How every error text for an item batchframe cannot read begins.
UNREADABLE = "batchframe cannot read this result"
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
    row.state, row.error = "failed", f"{UNREADABLE}: no known result kind"
    return row


def read_raw(raw: msgspec.Raw) -> Row:
    """An item from its raw bytes; one the structs cannot hold becomes a row saying why."""
    try:
        row = read_item(_ITEM.decode(raw))
    except msgspec.ValidationError as exc:
        rid = _request_id(raw)
        return Row(rid, "failed", error=f"{UNREADABLE}: {exc}")
    if row.error == f"{UNREADABLE}: no known result kind":
        kinds = _kind_names(raw)
        if kinds:
            row.error = f"{UNREADABLE}: unknown result kind {kinds}"
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
    return read_raw(msgspec.Raw(msgspec.json.encode(item)))
