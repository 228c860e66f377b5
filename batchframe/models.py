"""Wire models for the xAI Batch API (pydantic v2).

They mirror the API's own field names and keep unknown fields (``extra="allow"``), so a new API
field never breaks a user. Times parse from ``YYYY-MM-DD`` (what REST sends) and from RFC 3339.
A failed result parses whether the API sends ``batch_result.error`` as a string, as an object
``{code, message}``, or a top-level ``error_message``.

These models serve the :class:`~batchframe.Client` API. The DataFrame hot paths decode raw page
bytes straight into Arrow columns (``batchframe.frame.decode``) and never build these per row.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "Batch",
    "BatchPage",
    "BatchResult",
    "BatchState",
    "FileObject",
    "LanguageModel",
    "RequestMetadata",
    "RequestPage",
    "RequestState",
    "ResultPage",
    "Token",
    "error_text",
    "parse_time",
]

RequestState = Literal["unknown", "pending", "succeeded", "cancelled", "failed"]


def parse_time(value: Any) -> dt.datetime | None:
    """Parse an API time: ``None``, ``"YYYY-MM-DD"`` (midnight UTC), or RFC 3339.

    >>> parse_time("2025-11-11")
    datetime.datetime(2025, 11, 11, 0, 0, tzinfo=datetime.timezone.utc)
    >>> parse_time("2025-11-11T10:20:30Z").hour
    10
    """
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, tz=dt.UTC)
    if isinstance(value, dict) and "seconds" in value:  # protobuf Timestamp as JSON object
        return dt.datetime.fromtimestamp(
            int(value["seconds"]) + int(value.get("nanos", 0)) / 1e9, tz=dt.UTC
        )
    text = str(value).strip()
    if len(text) == 10:
        d = dt.date.fromisoformat(text)
        return dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = dt.datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class _Timed(_Wire):
    @field_validator(
        "create_time",
        "expire_time",
        "cancel_time",
        "finish_time",
        mode="before",
        check_fields=False,
    )
    @classmethod
    def _time(cls, value: Any) -> dt.datetime | None:
        return parse_time(value)


class BatchState(_Wire):
    """The request counters of a batch."""

    num_requests: int = 0
    num_pending: int = 0
    num_success: int = 0
    num_error: int = 0
    num_cancelled: int = 0


class Batch(_Timed):
    """A batch as the API returns it from create, get, list and cancel.

    >>> b = Batch(batch_id="batch_1", name="n", create_time="2025-11-11",
    ...           state={"num_requests": 2, "num_pending": 0, "num_success": 2})
    >>> b.is_done, b.num_finished
    (True, 2)
    """

    batch_id: str
    name: str = ""
    create_time: dt.datetime | None = None
    expire_time: dt.datetime | None = None
    create_api_key_id: str | None = None
    cancel_time: dt.datetime | None = None
    cancel_by_xai_message: str | None = None
    state: BatchState = Field(default_factory=BatchState)
    input_file_id: str | None = None

    @property
    def num_requests(self) -> int:
        return self.state.num_requests

    @property
    def num_pending(self) -> int:
        return self.state.num_pending

    @property
    def num_success(self) -> int:
        return self.state.num_success

    @property
    def num_error(self) -> int:
        return self.state.num_error

    @property
    def num_cancelled(self) -> int:
        return self.state.num_cancelled

    @property
    def num_finished(self) -> int:
        """Requests that are no longer pending (succeeded, failed or cancelled)."""
        s = self.state
        return s.num_success + s.num_error + s.num_cancelled

    @property
    def is_done(self) -> bool:
        """True once the batch has requests and none of them is pending."""
        return self.state.num_requests > 0 and self.state.num_pending == 0

    @property
    def is_cancelled(self) -> bool:
        return self.cancel_time is not None


class RequestMetadata(_Timed):
    """One row of ``GET /v1/batches/{id}/requests``."""

    batch_request_id: str
    endpoint: str | None = None
    model: str | None = None
    state: str = "unknown"
    create_time: dt.datetime | None = None
    finish_time: dt.datetime | None = None


def error_text(value: Any) -> str:
    """A failure as one string, whichever form it came in: a string, ``{code, message}``, ...

    >>> error_text({"code": 3, "message": "bad"}), error_text("boom")
    ('3: bad', 'boom')
    """
    from batchframe.frame.items import error_text as text  # the one result parser

    return text(value)


class BatchResult(_Wire):
    """One row of ``GET /v1/batches/{id}/results``: a response or an error.

    ``batch_result`` is kept as the API sent it (``{"response": {...}}`` or ``{"error": ...}``);
    ``error`` is normalised to a string whichever form the failure came in.

    >>> r = BatchResult.model_validate({"batch_request_id": "a", "batch_result": {"error": "boom"}})
    >>> r.succeeded, r.error
    (False, 'boom')
    """

    batch_request_id: str
    batch_result: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _normalise_error(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        result = data.get("batch_result") or {}
        if not isinstance(result, dict):
            data["batch_result"] = {"error": result}
        from batchframe.frame.items import read_result  # the one result parser

        data["error"] = read_result(data).error
        return data

    @property
    def succeeded(self) -> bool:
        return self.error is None and self.response is not None

    @property
    def response(self) -> dict[str, Any] | None:
        """The response body under its union key (``chat_get_completion``, ...), if any."""
        resp = self.batch_result.get("response")
        if not isinstance(resp, dict) or not resp:
            return None
        if "chat_get_completion" in resp:
            inner = resp["chat_get_completion"]
        else:
            inner = next(iter(resp.values()))
        return inner if isinstance(inner, dict) else None

    @property
    def content(self) -> str | None:
        """The answer: the first choice's message text, or a media result's URL."""
        from batchframe.frame.items import read_result  # the one result parser

        return read_result(self.model_dump(include={"batch_request_id", "batch_result"})).content

    @property
    def usage(self) -> dict[str, Any]:
        resp = self.response or {}
        usage = resp.get("usage")
        return usage if isinstance(usage, dict) else {}


class _Page(_Wire):
    pagination_token: str | None = None

    @field_validator("pagination_token", mode="before")
    @classmethod
    def _empty_is_last(cls, value: Any) -> str | None:
        return value or None


class BatchPage(_Page):
    """A page of ``GET /v1/batches``."""

    batches: list[Batch] = Field(default_factory=list)


class RequestPage(_Page):
    """A page of ``GET /v1/batches/{id}/requests``."""

    batch_request_metadata: list[RequestMetadata] = Field(default_factory=list)


class ResultPage(_Page):
    """A page of ``GET /v1/batches/{id}/results``."""

    results: list[BatchResult] = Field(default_factory=list)


# -- the file flow, the tokenizer and the model list ------------------------------------------------


class FileObject(_Wire):
    """An uploaded file (``POST /v1/files``), e.g. the JSONL input of a file-based batch.

    Times are Unix seconds, as the Files API sends them.

    >>> FileObject(id="file_1", bytes=12, created_at=1762345678, filename="in.jsonl").bytes
    12
    """

    id: str
    object: str = "file"
    bytes: int = 0
    created_at: int | None = None
    expires_at: int | None = None
    filename: str = ""
    purpose: str = ""


class Token(_Wire):
    """One token from ``POST /v1/tokenize-text``; ``token_bytes`` arrives as a list of ints.

    >>> Token(token_id=7, string_token="hi", token_bytes=[104, 105]).token_bytes
    b'hi'
    """

    token_id: int
    string_token: str = ""
    token_bytes: bytes = b""

    @field_validator("token_bytes", mode="before")
    @classmethod
    def _bytes(cls, value: Any) -> Any:
        if isinstance(value, list):
            return bytes(value)
        return value


class LanguageModel(_Wire):
    """A model of ``GET /v1/language-models`` with its prices.

    Prices are integers in 1/100 US cents per million tokens, as xAI sends them (12500 is
    $1.25 per 1M tokens); :meth:`usd_per_token` converts.

    >>> m = LanguageModel(id="grok-4.3", prompt_text_token_price=12500)
    >>> m.usd_per_token(m.prompt_text_token_price)
    1.25e-06
    """

    id: str
    created: int | None = None
    object: str = "model"
    owned_by: str | None = None
    version: str | None = None
    input_modalities: list[str] = Field(default_factory=list)
    output_modalities: list[str] = Field(default_factory=list)
    prompt_text_token_price: int = 0
    cached_prompt_text_token_price: int = 0
    prompt_image_token_price: int = 0
    completion_text_token_price: int = 0
    search_price: int = 0
    aliases: list[str] = Field(default_factory=list)

    @staticmethod
    def usd_per_token(price: int) -> float:
        """A price field (1/100 US cents per 1M tokens) in US dollars per token."""
        return price * 1e-10
