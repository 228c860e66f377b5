"""One exception tree for batchframe.

::

    BatchframeError
     +-- APIError                       anything that went wrong talking to the API
     |    +-- APIConnectionError        no response: refused, reset, dropped, DNS ...
     |    |    +-- APITimeoutError      no response in time
     |    +-- APIStatusError            a response with a bad status (.body: the parsed body)
     |    |    +-- BadRequestError         400
     |    |    +-- AuthenticationError     401
     |    |    +-- PermissionDeniedError   403
     |    |    +-- NotFoundError           404
     |    |    +-- ConflictError           412 (same request ID, different content)
     |    |    +-- PayloadTooLargeError    413
     |    |    +-- UnprocessableError      422
     |    |    +-- RateLimitError          429
     |    |    +-- ServerError             5xx
     |    +-- UnexpectedResponseError   a 2xx that is not the JSON expected (an HTML page), a 3xx
     |    +-- PaginationError           the server's pages do not end (a repeated token)
     |    +-- UploadError               submit's upload stopped part-way; rerunning resumes
     +-- WaitTimeoutError               (also a TimeoutError) job.wait(timeout=...) ran out
     +-- NotFinishedError               results() of a batch with requests still pending
     +-- JoinError                      a result whose ID is no input row's ID (never dropped)
     +-- IncompleteResultsError         a finished batch lists fewer results than it counts
     +-- ManifestConflictError          (also a ValueError) a different frame under a known name
     +-- CostLimitError                 submit's estimate is over max_cost_usd (nothing was sent)

Input problems found before anything is sent are plain ``ValueError`` (with a message that
names the offending values), so they read naturally in a notebook. A message that says what to
change names Python arguments and methods (``on_null='skip'``, ``job.wait()``); it keeps those
hints (:mod:`batchframe._hints`), and the ``batchframe`` command words the same message with
its flags and commands (``--on-null skip``, ``batchframe wait ID``).

No error ever carries the API key: messages are built from the method, the path, the status and
the server's own ``code``/``error`` text, and :func:`redact` scrubs anything key-shaped anyway.
"""

from __future__ import annotations

import re
from typing import Any

from batchframe._hints import Message

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "BatchframeError",
    "ConflictError",
    "CostLimitError",
    "IncompleteResultsError",
    "JoinError",
    "ManifestConflictError",
    "NotFinishedError",
    "NotFoundError",
    "PaginationError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
    "UnexpectedResponseError",
    "UnprocessableError",
    "UploadError",
    "WaitTimeoutError",
    "redact",
    "scrub_exception",
    "status_error_class",
]

# xai- keys, Bearer tokens: anything that looks like a credential is cut from error text.
_KEY_PATTERNS = (
    re.compile(r"xai-[A-Za-z0-9_\-]{4,}"),
    re.compile(r"(?i)(bearer\s+)[^\s\"',]+"),
)


def redact(text: str, *secrets: str | None) -> str:
    """Return ``text`` with the given secrets and anything key-shaped replaced by ``***``.

    >>> redact("Incorrect API key provided: xai-abc123456")
    'Incorrect API key provided: ***'
    """
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    text = _KEY_PATTERNS[0].sub("***", text)
    text = _KEY_PATTERNS[1].sub(r"\1***", text)
    return text


class BatchframeError(Exception):
    """The root of every error batchframe raises on purpose."""


class APIError(BatchframeError):
    """A call to the Batch API failed."""

    def __init__(self, message: str, *, method: str | None = None, path: str | None = None) -> None:
        # A hinted message keeps its hints (the CLI words them as flags), its text scrubbed.
        self.message = message.map(redact) if isinstance(message, Message) else redact(message)
        self.method = method
        self.path = path
        super().__init__(self.message)


class APIConnectionError(APIError):
    """No response came back (connection refused, reset, dropped)."""


class APITimeoutError(APIConnectionError):
    """No response came back within the timeout."""


class APIStatusError(APIError):
    """The server answered with a 4xx or 5xx status."""

    status_code: int = 0

    def __init__(
        self,
        message: str | None = None,
        *,
        status_code: int,
        code: str | None = None,
        error: str | None = None,
        method: str | None = None,
        path: str | None = None,
        body: Any = None,
    ) -> None:
        self.status_code = status_code
        self.code = redact(code) if code else code
        self.error = redact(error) if error else error
        self.body = body
        if message is None:
            where = f"{method} {path}" if method and path else (path or "request")
            detail = self.error or self.code or "no message"
            message = f"{where} failed with {status_code}: {detail}"
        super().__init__(message, method=method, path=path)


class BadRequestError(APIStatusError):
    """400: the request was invalid (also: an unknown API key, as xAI answers)."""


class AuthenticationError(APIStatusError):
    """401: no credentials were presented."""


class PermissionDeniedError(APIStatusError):
    """403: not allowed (for example adding to a cancelled batch)."""


class NotFoundError(APIStatusError):
    """404: no such batch (or it belongs to another team)."""


class ConflictError(APIStatusError):
    """412: a request ID is already in the batch with different content."""


class PayloadTooLargeError(APIStatusError):
    """413: the request body is over the size limit."""


class UnprocessableError(APIStatusError):
    """422: the body could not be read as the expected shape."""


class RateLimitError(APIStatusError):
    """429: a rate limit was hit; ``retry_after`` holds the server's hint in seconds."""

    retry_after: float | None = None


class ServerError(APIStatusError):
    """5xx: the server failed."""


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    412: ConflictError,
    413: PayloadTooLargeError,
    422: UnprocessableError,
    429: RateLimitError,
}


def status_error_class(status_code: int) -> type[APIStatusError]:
    """The exception class for an HTTP status (``ServerError`` for any 5xx)."""
    if status_code >= 500:
        return ServerError
    return _STATUS_CLASSES.get(status_code, APIStatusError)


class PaginationError(APIError):
    """The server's pages never end: it sent a pagination token it had already sent."""


class UploadError(APIError):
    """``submit`` could not add every chunk; ``batch_id`` and ``rows_done`` say how far it got.

    The cause (``__cause__``) is the error of the chunk that failed. Rerunning the same
    ``submit`` reattaches to the batch and adds only the missing requests.
    """

    def __init__(self, message: str, *, batch_id: str, rows_done: int) -> None:
        self.batch_id = batch_id
        self.rows_done = rows_done
        super().__init__(message)


class WaitTimeoutError(BatchframeError, TimeoutError):
    """``Job.wait`` ran out of time; ``batch`` is the last state seen."""

    def __init__(self, message: str, batch: Any = None) -> None:
        self.batch = batch
        super().__init__(message)


class ManifestConflictError(BatchframeError, ValueError):
    """``submit`` found a manifest with the same name but a different frame or settings."""


class CostLimitError(BatchframeError):
    """``submit(max_cost_usd=...)`` refused before any batch was created: the estimate's
    ``cost_usd`` is above the cap (or unknown). ``estimate`` is the ``bf.Estimate``, ``cap`` the
    cap."""

    def __init__(self, message: str, *, estimate: Any = None, cap: float | None = None) -> None:
        self.estimate = estimate
        self.cap = cap
        super().__init__(message)


class NotFinishedError(BatchframeError):
    """``results()`` was asked for a batch that still has pending requests; ``batch`` is it."""

    def __init__(self, message: str, batch: Any = None) -> None:
        self.batch = batch
        super().__init__(message)


class JoinError(BatchframeError):
    """A result could not be matched to exactly one input row (its ID is not the frame's)."""


class IncompleteResultsError(BatchframeError):
    """A finished batch lists fewer results than its counters say, even after a re-read."""


class UnexpectedResponseError(APIError):
    """A response batchframe cannot use although its status is not an error.

    A 2xx whose body is not the JSON the endpoint answers (an HTML login page from a proxy, an
    empty or cut-off body), or a 3xx redirect, which batchframe never follows (the key would go
    along). ``status_code`` and ``body_start`` (the body's first 200 bytes, as text) say what
    came back. It is not retried.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body_start: str = "",
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.body_start = body_start
        super().__init__(message, method=method, path=path)


_BEARER_BYTES = re.compile(rb"(?i)(bearer\s+)[^\s\"',]+")


def _scrub_value(value: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        return redact(value, *secrets)
    if isinstance(value, bytes | bytearray):
        data = bytes(value)
        for secret in secrets:
            if secret and len(secret) >= 4:
                data = data.replace(secret.encode("utf-8", "replace"), b"***")
        return _BEARER_BYTES.sub(rb"\1***", data)
    if isinstance(value, tuple | list):
        return type(value)(_scrub_value(v, secrets) for v in value)
    return value


def scrub_exception(exc: BaseException, *secrets: str | None) -> None:
    """Redact ``secrets`` (and anything key-shaped) from ``exc`` and every exception chained to it.

    Walks ``__cause__``, ``__context__`` and exception groups, rewriting each one's ``args``
    (text and bytes), its notes, and a ``UnicodeError``'s ``object``, in place; a traceback printed
    afterwards shows no key.

    >>> try:
    ...     try:
    ...         raise ValueError("Illegal header value b'Bearer sk-12345\\\\n'")
    ...     except ValueError as inner:
    ...         raise RuntimeError("send failed") from inner
    ... except RuntimeError as exc:
    ...     scrub_exception(exc, "sk-12345")
    ...     print(exc.__cause__)
    Illegal header value b'Bearer ***'
    """
    kept = tuple(s for s in secrets if s)
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        current.args = tuple(_scrub_value(a, kept) for a in current.args)
        notes = getattr(current, "__notes__", None)
        if isinstance(notes, list):
            notes[:] = [_scrub_value(n, kept) for n in notes]
        if isinstance(current, UnicodeEncodeError | UnicodeDecodeError | UnicodeTranslateError):
            current.object = _scrub_value(current.object, kept)
        if isinstance(current, BaseExceptionGroup):
            todo.extend(current.exceptions)
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)
