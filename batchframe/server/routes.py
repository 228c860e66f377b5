"""Thin route handlers: parse and validate the call, ask the store, serialise with orjson.

Everything here is I/O-free apart from the store; problems are raised as
:mod:`batchframe.server.errors` classes and turned into the error envelope by the app.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

import orjson

from batchframe.server.admission import parse_add_body
from batchframe.server.errors import InvalidArgument, Unprocessable, UnsupportedMediaType
from batchframe.server.model import SUPPORTED_KINDS
from batchframe.server.store import STATE_NAMES, BatchRow, Store

__all__ = ["ENDPOINTS", "Routes", "decode_token", "encode_token", "parse_limit"]

MAX_NAME = 1024
MAX_REQUEST_ID = 1024
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
EXPIRY_SECONDS = 30 * 86400
ENDPOINTS = {
    "chat_get_completion": "xai_api.Chat/GetCompletion",
    "responses": "xai_api.Chat/GetCompletion",
    "image_generation": "xai_api.Image/GenerateImage",
    "image_edit": "xai_api.Image/GenerateImage",
    "video_generation": "xai_api.Video/GenerateVideo",
    "video_extension": "xai_api.Video/GenerateVideo",
}
_KINDS = frozenset(SUPPORTED_KINDS)
_DESERIALIZE = "Failed to deserialize the JSON body into the target type"
_MASKED_KEY_ID = "********-****-****-****-************"
BATCH_ID_RE = re.compile(r"batch_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def encode_token(prefix: str, key: str) -> str:
    """An opaque page token: urlsafe base64 of ``prefix:key``.

    >>> decode_token("r", encode_token("r", "id-9"))
    'id-9'
    """
    return base64.urlsafe_b64encode(f"{prefix}:{key}".encode()).decode().rstrip("=")


def decode_token(prefix: str, token: str | None) -> str | None:
    """The key inside a token from :func:`encode_token`; a bad token is a 400."""
    if not token:
        return None
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
        text = raw.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidArgument("Invalid pagination token") from None
    if not text.startswith(prefix + ":"):
        raise InvalidArgument("Invalid pagination token")
    return text[len(prefix) + 1 :]


def parse_limit(query: Mapping[str, str]) -> int:
    """``limit`` from the query: default 100, an integer in 1..1000 else a 400."""
    raw = query.get("limit")
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    # Length first: int() of a digit string over 4300 characters raises ValueError (a 500).
    if len(raw) > 9 or not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise InvalidArgument(
            f"limit must be an integer between 1 and {MAX_LIMIT}, got {raw[:50]!r}"
        )
    return int(raw)


def parse_query(query_string: bytes) -> dict[str, str]:
    text = query_string.decode("utf-8", "replace")
    return dict(parse_qsl(text, keep_blank_values=True, errors="replace"))


def check_json_type(body: bytes, headers: Mapping[str, str]) -> None:
    """Empty body or a non-JSON content type -> 415 (a missing Content-Type is accepted)."""
    ctype = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if not body or (ctype and ctype != "application/json" and not ctype.endswith("+json")):
        raise UnsupportedMediaType("Expected request with `Content-Type: application/json`")


def read_json(body: bytes, headers: Mapping[str, str]) -> Any:
    """The JSON body of a POST. Empty -> 415; a non-JSON content type -> 415; bad JSON -> 422.

    A missing Content-Type is accepted (lenient) when the body is JSON.
    """
    check_json_type(body, headers)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Unprocessable(f"{_DESERIALIZE}: {exc}") from None


class Routes:
    """The seven API routes over a :class:`Store`."""

    def __init__(self, store: Store, time_format: str = "date") -> None:
        self.store = store
        self._rfc3339 = time_format == "rfc3339"
        self._dates: dict[int, str] = {}

    def time(self, ts: float | None) -> str | None:
        if ts is None:
            return None
        if self._rfc3339:
            return (
                dt.datetime.fromtimestamp(ts, dt.UTC)
                .isoformat(timespec="seconds")
                .replace("+00:00", "Z")
            )
        day = int(ts // 86400)
        text = self._dates.get(day)
        if text is None:
            text = self._dates[day] = dt.datetime.fromtimestamp(day * 86400, dt.UTC).strftime(
                "%Y-%m-%d"
            )
        return text

    def batch_json(self, b: BatchRow) -> dict[str, Any]:
        return {
            "batch_id": b.batch_id,
            "name": b.name,
            "create_time": self.time(b.create_ts),
            "expire_time": self.time(b.expire_ts),
            "create_api_key_id": b.key_id,
            "cancel_time": self.time(b.cancel_ts),
            "cancel_by_xai_message": None,
            "state": {
                "num_requests": b.num_requests,
                "num_pending": b.num_pending,
                "num_success": b.num_success,
                "num_error": b.num_error,
                "num_cancelled": b.num_cancelled,
            },
        }

    def create_batch(self, team: str, body: Any, now: float) -> bytes:
        if not isinstance(body, dict):
            raise Unprocessable(f"{_DESERIALIZE}: expected a JSON object")
        if "name" not in body or not isinstance(body["name"], str):
            raise Unprocessable(f"{_DESERIALIZE}: missing or invalid field `name` (a string)")
        name = body["name"]
        if not name.strip() or len(name) > MAX_NAME or "\x00" in name:
            raise InvalidArgument(f"Batch name must be 1 to {MAX_NAME} characters, without NUL")
        if body.get("input_file_id") is not None:
            raise InvalidArgument("File-based batches are not supported by the local batch server")
        batch = self.store.create_batch(team, name, key_id=_MASKED_KEY_ID, now=now)
        return orjson.dumps(self.batch_json(batch))

    def get_batch(self, team: str, batch_id: str) -> bytes:
        return orjson.dumps(self.batch_json(self.store.require_batch(team, batch_id)))

    def list_batches(self, team: str, query: Mapping[str, str]) -> bytes:
        limit = parse_limit(query)
        after = decode_token("b", query.get("pagination_token"))
        if after is not None and not (after.isascii() and after.isdigit() and len(after) < 19):
            raise InvalidArgument("Invalid pagination token")  # not a 63-bit position
        rows = self.store.list_batches(team, limit + 1, int(after) if after else None)
        token = encode_token("b", str(rows[limit - 1].pk)) if len(rows) > limit else None
        return orjson.dumps(
            {"batches": [self.batch_json(b) for b in rows[:limit]], "pagination_token": token}
        )

    def cancel_batch(self, team: str, batch_id: str, now: float) -> bytes:
        return orjson.dumps(self.batch_json(self.store.cancel_batch(team, batch_id, now=now)))

    def add_requests(self, team: str, batch_id: str, body: bytes, now: float) -> int:
        """Admit a raw add-requests body (validated whole, then stored in one transaction)."""
        items = parse_add_body(body)
        self.store.require_batch(team, batch_id)
        # No shortcut for an empty list: the store answers 403 for a cancelled batch.
        return self.store.add_requests(team, batch_id, items, now=now)

    def list_requests(self, team: str, batch_id: str, query: Mapping[str, str]) -> bytes:
        batch = self.store.require_batch(team, batch_id)
        limit = parse_limit(query)
        after = decode_token("r", query.get("pagination_token"))
        rows = self.store.list_requests(batch.pk, limit + 1, after)
        token = encode_token("r", rows[limit - 1][0]) if len(rows) > limit else None
        time = self.time
        meta = [
            {
                "batch_request_id": rid,
                "endpoint": ENDPOINTS.get(kind, kind),
                "model": model,
                "state": STATE_NAMES.get(state, "unknown"),
                "create_time": time(created),
                "finish_time": time(finished),
            }
            for rid, kind, model, state, created, finished in rows[:limit]
        ]
        return orjson.dumps({"batch_request_metadata": meta, "pagination_token": token})

    def list_results(self, team: str, batch_id: str, query: Mapping[str, str]) -> bytes:
        batch = self.store.require_batch(team, batch_id)
        limit = parse_limit(query)
        after = decode_token("r", query.get("pagination_token"))
        rows = self.store.list_results(batch.pk, limit + 1, after)
        token = orjson.dumps(encode_token("r", rows[limit - 1][0]) if len(rows) > limit else None)
        return b"".join(
            (
                b'{"results":[',
                b",".join(r[1] for r in rows[:limit]),
                b'],"pagination_token":',
                token,
                b"}",
            )
        )
