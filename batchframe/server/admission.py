"""Admission of an add-requests body: validate every item, then hand the store plain tuples.

The hot path of ingest. The body is decoded twice with msgspec: once into small typed structs
that check the shape (in C, without building the request bodies as Python objects), and once
to slice out each ``batch_request`` as the raw bytes the client sent, which is what is stored.
Anything malformed is a 422; an empty or absent model or a bad ID is a 400.

>>> items = parse_add_body(b'{"batch_requests": [{"batch_request_id": "a", "batch_request":'
...     b' {"chat_get_completion": {"model": "m", "messages": []}}}]}')
>>> items[0][:3]
('a', 'chat_get_completion', 'm')
"""

from __future__ import annotations

import re
import uuid

import msgspec
import orjson

from batchframe.server.errors import InvalidArgument, Unprocessable
from batchframe.server.store_protocol import NewRequest

__all__ = ["MAX_REQUEST_ID", "parse_add_body"]

MAX_REQUEST_ID = 1024
_DESERIALIZE = "Failed to deserialize the JSON body into the target type"
# A \uD800-\uDFFF escape may be a lone surrogate, which msgspec does not check in skipped
# values: such bodies get a full orjson parse, which rejects them.
_SURROGATE_ESCAPE = re.compile(rb"\\[uU][dD][89abAB]")


class _Chat(msgspec.Struct, gc=False):
    model: str | None = None
    messages: list[msgspec.Raw] | None = None


class _Responses(msgspec.Struct, gc=False):
    model: str | None = None
    input: str | list[msgspec.Raw] | None = None


class _Media(msgspec.Struct, gc=False):
    model: str | None = None


class _Request(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    chat_get_completion: _Chat | None = None
    responses: _Responses | None = None
    image_generation: _Media | None = None
    image_edit: _Media | None = None
    video_generation: _Media | None = None
    video_extension: _Media | None = None


class _Item(msgspec.Struct, gc=False):
    batch_request: _Request
    batch_request_id: str | None = None


class _Body(msgspec.Struct):
    batch_requests: list[_Item]


class _RawItem(msgspec.Struct, gc=False):
    batch_request: msgspec.Raw


class _RawBody(msgspec.Struct):
    batch_requests: list[_RawItem]


_CHECK = msgspec.json.Decoder(_Body)
_RAW = msgspec.json.Decoder(_RawBody)
_KINDS = tuple(_Request.__struct_fields__)  # chat_get_completion first: the fast path
_LAST = len(_KINDS) - 1


def parse_add_body(body: bytes) -> list[NewRequest]:
    """(id, kind, model, request JSON bytes) for each item, or a 400/422 problem."""
    try:
        body.decode("utf-8")
        if _SURROGATE_ESCAPE.search(body):
            orjson.loads(body)
        checked = _CHECK.decode(body).batch_requests
        raws = _RAW.decode(body).batch_requests
    except (UnicodeDecodeError, orjson.JSONDecodeError, msgspec.DecodeError) as exc:
        raise Unprocessable(f"{_DESERIALIZE}: {exc}") from None
    except RecursionError:
        raise Unprocessable(f"{_DESERIALIZE}: the JSON is nested too deeply") from None
    out: list[NewRequest] = []
    append = out.append
    astuple = msgspec.structs.astuple
    for index, (item, raw) in enumerate(zip(checked, raws, strict=True)):
        rid = item.batch_request_id
        if rid is None:
            rid = f"batch_request_{uuid.uuid4()}"
        elif not rid or len(rid) > MAX_REQUEST_ID or "\x00" in rid:
            raise InvalidArgument(
                f"batch_requests[{index}]: batch_request_id must be 1 to {MAX_REQUEST_ID}"
                " characters, without NUL"
            )
        bodies = astuple(item.batch_request)
        if bodies.count(None) != _LAST:
            raise Unprocessable(
                f"{_DESERIALIZE}: batch_requests[{index}].batch_request: expected exactly one of "
                f"{', '.join(_KINDS)}"
            )
        position = 0 if bodies[0] is not None else _first_set(bodies)
        inner = bodies[position]
        model = inner.model
        if not model or (model[0].isspace() and not model.strip()):
            raise InvalidArgument(f"batch_requests[{index}]: model must be given and not empty")
        if position < 2:
            _check_text(index, inner)
        append((rid, _KINDS[position], model, bytes(raw.batch_request)))
    return out


def _first_set(values: tuple[object, ...]) -> int:
    return next(i for i, value in enumerate(values) if value is not None)


def _check_text(index: int, inner: _Chat | _Responses) -> None:
    if isinstance(inner, _Chat) and inner.messages is None:
        raise Unprocessable(f"{_DESERIALIZE}: batch_requests[{index}]: missing field `messages`")
    if isinstance(inner, _Responses) and inner.input is None:
        raise Unprocessable(f"{_DESERIALIZE}: batch_requests[{index}]: missing field `input`")
