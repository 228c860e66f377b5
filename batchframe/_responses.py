"""What the client makes of a reply, as plain functions over ``httpx.Response`` (no sending).

A 2xx must carry JSON (:func:`usable_response`) of the endpoint's shape (:func:`parse_response`);
a 3xx is never a success; a 4xx/5xx becomes the exception of its status (:func:`status_error`).
Anything that is not usable is an :class:`~batchframe.UnexpectedResponseError` with the status
and the first bytes, never a bare JSON decoder error.
"""

from __future__ import annotations

from typing import Any, TypeVar

import httpx
import orjson
import pydantic

from batchframe._retry import parse_retry_after
from batchframe.errors import (
    APIStatusError,
    RateLimitError,
    UnexpectedResponseError,
    redact,
    status_error_class,
)

__all__ = ["parse_response", "status_error", "usable_response"]

_Model = TypeVar("_Model", bound=pydantic.BaseModel)

#: How much of an unusable body an UnexpectedResponseError keeps and shows.
_BODY_START = 200


def status_error(method: str, path: str, response: httpx.Response, secret: str) -> APIStatusError:
    """The exception for a 4xx/5xx reply: the server's ``code``, ``error`` and parsed ``body``."""
    code: str | None = None
    text: str | None = None
    body: Any = None
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        text = response.text[:500] or None
    if isinstance(body, dict):
        code = str(body["code"]) if body.get("code") is not None else None
        raw = body.get("error") if body.get("error") is not None else body.get("message")
        text = raw if isinstance(raw, str) else (None if raw is None else str(raw))
    cls = status_error_class(response.status_code)
    error = cls(
        status_code=response.status_code,
        code=redact(code, secret) if code else None,
        error=redact(text, secret) if text else None,
        method=method,
        path=path,
        body=_redacted(body, secret),
    )
    if isinstance(error, RateLimitError):
        error.retry_after = parse_retry_after(response.headers.get("retry-after"))
    return error


def usable_response(
    response: httpx.Response, method: str, path: str, secret: str, *, empty_ok: bool = False
) -> httpx.Response:
    """``response`` if it is a 2xx whose body is a JSON object or array (or empty, if allowed).

    A 3xx, or a body that is plainly not JSON (an HTML page, text, a body cut short), is an
    :class:`~batchframe.UnexpectedResponseError`, never a success: an ``add_requests`` answered
    by a proxy's login page has not been added. Only the ends of the body are looked at, so a
    large page costs nothing here; JSON of the wrong shape fails in :func:`parse_response`.
    """
    status = response.status_code
    body = response.content
    if 300 <= status < 400 or status < 200:
        where = response.headers.get("location")
        raise UnexpectedResponseError(
            f"{method} {path} was answered {status}"
            + (f", a redirect to {where}" if where else "")
            + ": batchframe does not follow redirects (the API key would go along); "
            "set base_url to the API's own address",
            status_code=status,
            body_start=_start(body, secret),
            method=method,
            path=path,
        )
    head, tail = body[:64].lstrip()[:1], body[-64:].rstrip()[-1:]
    if (head, tail) in ((b"{", b"}"), (b"[", b"]")) or (empty_ok and not body.strip()):
        return response
    raise _not_json(response, method, path, secret, "a body that is not a JSON object")


def _start(body: bytes, secret: str) -> str:
    return redact(body[:_BODY_START].decode("utf-8", "replace"), secret)


def _not_json(
    response: httpx.Response, method: str, path: str, secret: str, what: str
) -> UnexpectedResponseError:
    kind = response.headers.get("content-type") or "no content type"
    start = _start(response.content, secret)
    url = response.request.url
    return UnexpectedResponseError(
        f"{method} {path} was answered {response.status_code} with {what} ({kind}); "
        f"it starts {start[:120]!r}. Is {url.scheme}://{url.netloc.decode('ascii', 'replace')} "
        "the Batch API, and not a proxy or a login page?",
        status_code=response.status_code,
        body_start=start,
        method=method,
        path=path,
    )


def parse_response(model: type[_Model], response: httpx.Response, secret: str) -> _Model:
    """The body as ``model``; JSON of another shape is an UnexpectedResponseError, not pydantic's."""
    try:
        return model.model_validate_json(response.content)
    except pydantic.ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False)
        place, why = (
            (".".join(map(str, errors[0]["loc"])), errors[0]["msg"]) if errors else ("", "")
        )
        what = f"JSON that is not a {model.__name__} ({place or 'the body'}: {why or 'invalid'})"
        request = response.request
        raise _not_json(response, request.method, request.url.path, secret, what) from None


def _redacted(value: Any, secret: str) -> Any:
    """A parsed error body with every text in it scrubbed of the key."""
    if isinstance(value, str):
        return redact(value, secret)
    if isinstance(value, dict):
        return {k: _redacted(v, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v, secret) for v in value]
    return value
