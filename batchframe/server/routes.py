"""Thin REST handlers: parse the call, ask :class:`~batchframe.server.service.BatchService`,
serialise with orjson.

Everything here is I/O-free apart from the service; problems are raised as
:mod:`batchframe.server.errors` classes and turned into the error envelope by the app. Query
parameters the reference does not define (``status``, ``order``, ...) are ignored, as api.x.ai
is not known to reject them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

import orjson

from batchframe.server.admission import parse_add_body
from batchframe.server.errors import InvalidArgument, Unprocessable, UnsupportedMediaType
from batchframe.server.prices import language_model_json
from batchframe.server.service import (
    BATCH_ID_RE,
    ENDPOINTS,
    MAX_LIMIT,
    BatchService,
    decode_token,
    encode_token,
)
from batchframe.server.store_protocol import STATE_NAMES, BatchRow

__all__ = [
    "BATCH_ID_RE",
    "ENDPOINTS",
    "Routes",
    "check_json_type",
    "decode_token",
    "encode_token",
    "parse_limit",
    "parse_query",
    "read_json",
]

_DESERIALIZE = "Failed to deserialize the JSON body into the target type"


def parse_limit(query: Mapping[str, str]) -> int | None:
    """``limit`` from the query: None when absent, an integer in 1..1000, else a 400."""
    raw = query.get("limit")
    if raw is None or raw == "":
        return None
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


def _string_field(body: Any, name: str, *, required: bool = True) -> str | None:
    if not isinstance(body, dict):
        raise Unprocessable(f"{_DESERIALIZE}: expected a JSON object")
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise Unprocessable(f"{_DESERIALIZE}: missing or invalid field `{name}` (a string)")
    return value


class Routes:
    """The REST routes of the batch API, the tokenizer and the model list."""

    def __init__(self, service: BatchService, time_format: str = "date") -> None:
        self.service = service
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
        out: dict[str, Any] = {
            "batch_id": b.batch_id,
            "name": b.name,
            "create_time": self.time(b.create_ts),
            "expire_time": self.time(b.expire_ts),
            "create_api_key_id": b.key_id,
            "cancel_time": self.time(b.cancel_ts),
            "cancel_by_xai_message": b.cancel_by_xai_message,
            "state": {
                "num_requests": b.num_requests,
                "num_pending": b.num_pending,
                "num_success": b.num_success,
                "num_error": b.num_error,
                "num_cancelled": b.num_cancelled,
            },
        }
        if b.input_file_id is not None:
            out["input_file_id"] = b.input_file_id
        return out

    def create_batch(self, team: str, body: Any, now: float) -> bytes:
        name = _string_field(body, "name")
        # "" is no file, as over gRPC (where proto3 cannot tell "" from absent).
        file_id = _string_field(body, "input_file_id", required=False) or None
        assert name is not None
        return orjson.dumps(
            self.batch_json(self.service.create_batch(team, name, file_id, now=now))
        )

    def get_batch(self, team: str, batch_id: str) -> bytes:
        return orjson.dumps(self.batch_json(self.service.get_batch(team, batch_id)))

    def list_batches(self, team: str, query: Mapping[str, str]) -> bytes:
        rows, token = self.service.list_batches(
            team, parse_limit(query), query.get("pagination_token")
        )
        return orjson.dumps(
            {"batches": [self.batch_json(b) for b in rows], "pagination_token": token}
        )

    def cancel_batch(self, team: str, batch_id: str, now: float) -> bytes:
        return orjson.dumps(self.batch_json(self.service.cancel_batch(team, batch_id, now=now)))

    def add_requests(self, team: str, batch_id: str, body: bytes, now: float) -> int:
        """Admit a raw add-requests body (validated whole, then stored in one transaction)."""
        return self.service.add_requests(team, batch_id, parse_add_body(body), now=now)

    def list_requests(self, team: str, batch_id: str, query: Mapping[str, str]) -> bytes:
        rows, token = self.service.list_requests(
            team, batch_id, parse_limit(query), query.get("pagination_token")
        )
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
            for rid, kind, model, state, created, finished in rows
        ]
        return orjson.dumps({"batch_request_metadata": meta, "pagination_token": token})

    def list_results(self, team: str, batch_id: str, query: Mapping[str, str]) -> bytes:
        rows, token = self.service.list_results(
            team, batch_id, parse_limit(query), query.get("pagination_token")
        )
        return b"".join(
            (
                b'{"results":[',
                b",".join(r[1] for r in rows),
                b'],"pagination_token":',
                orjson.dumps(token),
                b"}",
            )
        )

    # -- the tokenizer and the model list ------------------------------------------------------

    def tokenize_text(self, body: Any) -> bytes:
        text = _string_field(body, "text")
        model = _string_field(body, "model")
        assert text is not None and model is not None
        tokens = self.service.tokenize(text, model)
        return orjson.dumps(
            {
                "token_ids": [
                    {
                        "token_id": t.token_id,
                        "string_token": t.string_token,
                        "token_bytes": list(t.token_bytes),
                    }
                    for t in tokens
                ]
            }
        )

    def language_models(self) -> bytes:
        models = [language_model_json(m) for m in self.service.language_models()]
        return orjson.dumps({"models": models})

    def language_model(self, name: str) -> bytes:
        return orjson.dumps(language_model_json(self.service.language_model(name)))
