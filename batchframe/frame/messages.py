"""Validate a column of OpenAI-style message lists and serialise each to JSON text."""

from __future__ import annotations

from typing import Any

import orjson
import pyarrow as pa

__all__ = ["check_messages", "messages_array"]


def check_messages(value: Any) -> list[dict[str, Any]]:
    """Return the message list in ``value`` (a list, or its JSON text); raise on a bad shape.

    >>> check_messages('[{"role": "user", "content": "hi"}]')
    [{'role': 'user', 'content': 'hi'}]
    """
    if isinstance(value, str | bytes):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"is not valid JSON ({exc})") from None
    if hasattr(value, "tolist") and not isinstance(value, dict):
        value = value.tolist()  # numpy / Arrow-backed list cells
    if not isinstance(value, list | tuple) or not value:
        raise ValueError(f"must be a non-empty list of messages, got {type(value).__name__}")
    for k, message in enumerate(value):
        if not isinstance(message, dict):
            raise ValueError(f"message {k} must be a dict, got {type(message).__name__}")
        if not isinstance(message.get("role"), str) or not message["role"]:
            raise ValueError(f"message {k} needs a 'role' string")
        content = message.get("content")
        if isinstance(content, list):
            if not all(isinstance(part, dict) and "type" in part for part in content):
                raise ValueError(f"message {k} content parts must be dicts with a 'type'")
        elif not isinstance(content, str) and not (content is None and message.get("tool_calls")):
            raise ValueError(f"message {k} content must be a str or a list of parts")
    return list(value)


def messages_array(
    values: list[Any], ids: pa.LargeStringArray, column: Any, system: str | None
) -> pa.LargeStringArray:
    """The JSON text of each row's message list (``system`` first when given)."""
    first = [{"role": "system", "content": system}] if system else []
    out: list[str] = []
    for i, value in enumerate(values):
        try:
            out.append(orjson.dumps([*first, *check_messages(value)]).decode("utf-8"))
        except (ValueError, TypeError) as exc:
            raise ValueError(
                f"messages column {column!r}, row {ids[i].as_py()!r}: the cell {exc}; expected a "
                'list like [{"role": "user", "content": "..."}]'
            ) from None
    return pa.array(out, pa.large_string())
