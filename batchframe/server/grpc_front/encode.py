"""A fast path for result pages: plain chat results written as protobuf bytes directly.

Building a ``BatchResult`` message field by field costs ~10 us in Python; writing its wire
bytes from the parsed JSON costs a third of that, and results pages are the gRPC front's hot
path. Only the shape the simulator (and a plain upstream) produces takes this path: a
``chat_get_completion`` whose choices hold an assistant message with text (and reasoning) content,
known finish reasons and integer usage. Anything else (errors, media, tool calls, citations,
values out of range) goes through :func:`.results.result_proto`, the reference mapping;
the tests check that both give the same message.

>>> item = b'{"batch_request_id":"a","batch_result":{"error":"Batch cancelled"}}'
>>> from xai_sdk.proto.v6 import batch_pb2
>>> batch_pb2.BatchResult.FromString(encode_result(item)).error.code
1
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from xai_sdk.proto.v6 import batch_pb2, chat_pb2, usage_pb2

from batchframe.server.grpc_front.results import FINISH_REASONS, result_proto

__all__ = ["encode_page", "encode_result"]

_MAX_INT32 = 2**31 - 1
_INT64 = (-(2**63), 2**63 - 1)
_ROLE_ASSISTANT = chat_pb2.ROLE_ASSISTANT
_BODY_KEYS = frozenset(
    {"id", "object", "created", "model", "choices", "usage", "system_fingerprint", "service_tier"}
)
_CHOICE_KEYS = frozenset({"index", "message", "finish_reason", "logprobs"})
_MESSAGE_KEYS = frozenset({"role", "content", "refusal", "reasoning_content"})
_USAGE_KEYS = frozenset(
    {
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "prompt_tokens_details",
        "completion_tokens_details",
        "num_sources_used",
        "cost_in_usd_ticks",
    }
)


class _Slow(Exception):
    """This result needs the reference mapping."""


def _varint_of(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


# Lengths and token counts are nearly always small: a table lookup instead of a loop.
_SMALL = 1 << 14
_VARINTS = tuple(_varint_of(n) for n in range(_SMALL))


def _varint(value: int) -> bytes:
    if 0 <= value < _SMALL:
        return _VARINTS[value]
    return _varint_of(value + (1 << 64) if value < 0 else value)  # negatives: two's complement


def _tag(message: Any, name: str) -> bytes:
    field = message.DESCRIPTOR.fields_by_name[name]
    wire = 2 if field.type in (field.TYPE_STRING, field.TYPE_BYTES, field.TYPE_MESSAGE) else 0
    return _varint(field.number << 3 | wire)


def _text(tag: bytes, value: str) -> bytes:
    raw = value.encode("utf-8")
    size = len(raw)
    return tag + (_VARINTS[size] if size < _SMALL else _varint(size)) + raw if raw else b""


def _sub(tag: bytes, payload: bytes) -> bytes:
    size = len(payload)
    return tag + (_VARINTS[size] if size < _SMALL else _varint(size)) + payload


_R = batch_pb2.BatchResult
_T_RID, _T_RESPONSE = _tag(_R, "batch_request_id"), _tag(_R, "response")
_T_COMPLETION = _tag(batch_pb2.BatchResultData, "completion_response")
_C = chat_pb2.GetChatCompletionResponse
_T_ID, _T_OUTPUT, _T_CREATED = _tag(_C, "id"), _tag(_C, "outputs"), _tag(_C, "created")
_T_MODEL, _T_FP, _T_USAGE = _tag(_C, "model"), _tag(_C, "system_fingerprint"), _tag(_C, "usage")
_O = chat_pb2.CompletionOutput
_T_FINISH, _T_INDEX, _T_MESSAGE = _tag(_O, "finish_reason"), _tag(_O, "index"), _tag(_O, "message")
_M = chat_pb2.CompletionMessage
_T_CONTENT, _T_REASONING = _tag(_M, "content"), _tag(_M, "reasoning_content")
_T_ROLE = _tag(_M, "role")
_U = usage_pb2.SamplingUsage
# In the order of the values _usage reads.
_USAGE_TAGS = tuple(
    _tag(_U, name)
    for name in (
        "completion_tokens",
        "reasoning_tokens",
        "prompt_tokens",
        "total_tokens",
        "prompt_text_tokens",
        "cached_prompt_text_tokens",
        "prompt_image_tokens",
        "num_sources_used",
    )
)
_T_COST = _tag(_U, "cost_in_usd_ticks")
_T_RESULTS = _tag(batch_pb2.ListBatchResultsResponse, "results")
_T_TOKEN = _tag(batch_pb2.ListBatchResultsResponse, "pagination_token")


def encode_result(item: bytes) -> bytes:
    """The serialized ``BatchResult`` of one stored result item."""
    data = orjson.loads(item)
    try:
        return _fast(data)
    except (_Slow, KeyError, TypeError, AttributeError, ValueError):
        return bytes(result_proto(item).SerializeToString())


def encode_page(items: Sequence[bytes], token: str | None) -> bytes:
    """A serialized ``ListBatchResultsResponse`` of stored result items and the next token."""
    parts = [_sub(_T_RESULTS, encode_result(item)) for item in items]
    if token:
        parts.append(_sub(_T_TOKEN, token.encode("utf-8")))
    return b"".join(parts)


def _fast(data: dict[str, Any]) -> bytes:
    response = data["batch_result"]["response"]
    if len(response) != 1 or "chat_get_completion" not in response:
        raise _Slow
    body = response["chat_get_completion"]
    if not _BODY_KEYS.issuperset(body):
        raise _Slow
    out = [
        _text(_T_ID, str(body.get("id", ""))),
        *(_output(position, choice) for position, choice in enumerate(body.get("choices") or ())),
        _sub(_T_CREATED, _seconds(body.get("created"))),
        _text(_T_MODEL, str(body.get("model", ""))),
        _text(_T_FP, str(body.get("system_fingerprint") or "")),
    ]
    usage = body.get("usage")
    if isinstance(usage, dict):
        out.append(_sub(_T_USAGE, _usage(usage)))
    completion = b"".join(out)
    rid = str(data.get("batch_request_id", ""))
    return _text(_T_RID, rid) + _sub(_T_RESPONSE, _sub(_T_COMPLETION, completion))


def _output(position: int, choice: dict[str, Any]) -> bytes:
    message = choice.get("message") or {}
    if not _CHOICE_KEYS.issuperset(choice) or not _MESSAGE_KEYS.issuperset(message):
        raise _Slow
    if message.get("role", "assistant") != "assistant" or message.get("refusal") is not None:
        raise _Slow
    finish = FINISH_REASONS.get(choice.get("finish_reason") or "", 0)
    index = choice.get("index", position)
    content, reasoning = message.get("content"), message.get("reasoning_content")
    if type(index) is not int or not 0 <= index <= _MAX_INT32:
        raise _Slow
    msg = [
        _text(_T_CONTENT, content) if isinstance(content, str) else b"",
        _T_ROLE + _varint(_ROLE_ASSISTANT),
        _text(_T_REASONING, reasoning) if isinstance(reasoning, str) else b"",
    ]
    head = (_T_FINISH + _varint(finish) if finish else b"") + (
        _T_INDEX + _varint(index) if index else b""
    )
    return _sub(_T_OUTPUT, head + _sub(_T_MESSAGE, b"".join(msg)))


def _usage(usage: dict[str, Any]) -> bytes:
    if not _USAGE_KEYS.issuperset(usage):
        raise _Slow
    prompt = usage.get("prompt_tokens_details")
    completion = usage.get("completion_tokens_details")
    if not (prompt is None or isinstance(prompt, dict)) or not (
        completion is None or isinstance(completion, dict)
    ):
        raise _Slow  # the reference mapping decides what a malformed usage is
    get = usage.get
    values = (
        get("completion_tokens"),
        completion.get("reasoning_tokens") if completion else None,
        get("prompt_tokens"),
        get("total_tokens"),
        prompt.get("text_tokens") if prompt else None,
        prompt.get("cached_tokens") if prompt else None,
        prompt.get("image_tokens") if prompt else None,
        get("num_sources_used"),
    )
    out = []
    for tag, value in zip(_USAGE_TAGS, values, strict=True):
        if value:
            if type(value) is not int or not 0 < value < _SMALL:
                if type(value) is not int or not 0 <= value <= _MAX_INT32:
                    raise _Slow
                out.append(tag + _varint(value))
            else:
                out.append(tag + _VARINTS[value])
        elif value is not None and type(value) is not int:
            raise _Slow
    ticks = get("cost_in_usd_ticks")
    if ticks is not None:
        if type(ticks) is not int or not _INT64[0] <= ticks <= _INT64[1]:
            raise _Slow
        out.append(_T_COST + _varint(ticks))
    return b"".join(out)


def _seconds(value: Any) -> bytes:
    if value is None or value == 0:
        return b""
    if type(value) is not int or not _INT64[0] <= value <= _INT64[1]:
        raise _Slow
    return b"\x08" + _varint(value)  # Timestamp.seconds is field 1, a varint
