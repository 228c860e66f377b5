"""Small helpers shared by the proto <-> REST mappings: enums by name, float32, timestamps.

>>> f32(0.699999988079071)
0.7
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from batchframe.server.errors import InvalidArgument

__all__ = [
    "EnumMap",
    "f32",
    "generic_from_json",
    "generic_to_json",
    "timestamp",
    "timestamp_date",
]


class EnumMap:
    """A proto enum <-> REST string table; an unknown value either way is a 400."""

    def __init__(self, field: str, pairs: Mapping[int, str]) -> None:
        self.field = field
        self.to_text = dict(pairs)
        self.to_number = {text: number for number, text in pairs.items()}

    def text(self, number: int) -> str:
        try:
            return self.to_text[number]
        except KeyError:
            raise InvalidArgument(f"{self.field}: unknown enum value {number}") from None

    def number(self, text: Any) -> int:
        if isinstance(text, str) and text in self.to_number:
            return self.to_number[text]
        raise InvalidArgument(f"{self.field}: unknown value {str(text)[:50]!r}")


def f32(value: float) -> float:
    """A float32 field's value as the shortest decimal that reads back to the same float32."""
    packed = struct.pack("<f", value)
    for digits in range(6, 10):
        short = float(f"{value:.{digits}g}")
        if struct.pack("<f", short) == packed:
            return short
    return value


def timestamp(seconds: float) -> Timestamp:
    whole = int(seconds // 1)
    return Timestamp(seconds=whole, nanos=int((seconds - whole) * 1e9))


def timestamp_date(stamp: Timestamp) -> str:
    """A Timestamp as the ``YYYY-MM-DD`` UTC date REST search parameters use."""
    return dt.datetime.fromtimestamp(stamp.seconds, dt.UTC).strftime("%Y-%m-%d")


def date_timestamp(text: Any, field: str) -> Timestamp:
    """``YYYY-MM-DD`` or RFC 3339 text as a Timestamp; anything else is a 400."""
    if isinstance(text, str):
        try:
            parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            aware = parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
            return timestamp(aware.timestamp())
    raise InvalidArgument(f"{field}: expected a date, got {str(text)[:50]!r}")


def generic_to_json(message: Message) -> dict[str, Any]:
    """A rarely used sub-message as JSON under its proto field names (enum values by name)."""
    return dict(json_format.MessageToDict(message, preserving_proto_field_name=True))


def generic_from_json(value: Any, message: Message, field: str) -> None:
    """Fill ``message`` from :func:`generic_to_json` output; a mismatch is a 400."""
    if not isinstance(value, dict):
        raise InvalidArgument(f"{field}: expected an object")
    try:
        json_format.ParseDict(value, message, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError) as exc:
        raise InvalidArgument(f"{field}: {exc}") from None
