"""The Batch API client: seven endpoints, retries with backoff, page iterators.

>>> client = bf.Client(api_key="xai-...")                 # doctest: +SKIP
>>> batch = client.create_batch("reviews-v1")             # doctest: +SKIP
>>> client.add_requests(batch.batch_id, [item, ...])      # doctest: +SKIP
>>> for result in client.iter_results(batch.batch_id):    # doctest: +SKIP
...     print(result.batch_request_id, result.content)
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import orjson

from batchframe import __version__
from batchframe._config import DEFAULT_BASE_URL, DEFAULT_TIMEOUT, PAGE_LIMIT, RetryPolicy, read_env
from batchframe._retry import backoff_delay, parse_retry_after, should_retry
from batchframe.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    PaginationError,
    RateLimitError,
    redact,
    status_error_class,
)
from batchframe.models import (
    Batch,
    BatchPage,
    BatchResult,
    RequestMetadata,
    RequestPage,
    ResultPage,
)

__all__ = ["Client", "is_loopback_url"]

logger = logging.getLogger("batchframe")

# Transport failures after which the request may have reached the server (its effect may have
# happened); a ConnectError means it never left, so it is not ambiguous.
_AMBIGUOUS = (httpx.ReadError, httpx.RemoteProtocolError, httpx.ReadTimeout, httpx.WriteError)


def is_loopback_url(url: str) -> bool:
    """True when ``url`` points at this machine (localhost, 127.0.0.0/8, ::1).

    >>> is_loopback_url("http://127.0.0.1:8000/v1"), is_loopback_url("http://example.com/v1")
    (True, False)
    """
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Client:
    """A synchronous client for xAI's Batch API (or any server that speaks it).

    ``api_key`` defaults to ``XAI_API_KEY``, ``base_url`` to ``XAI_BASE_URL`` and then
    ``https://api.x.ai/v1``. Connection errors, timeouts, 429 (honouring ``Retry-After``) and 5xx
    are retried up to ``max_retries`` times with capped, jittered exponential backoff. A key is
    never sent over plain HTTP to a host that is not loopback unless ``allow_insecure=True`` (or
    ``BATCHFRAME_ALLOW_INSECURE=1``). ``transport`` plugs in any ``httpx`` transport, such as the
    local server's in-process one (``bf.serve`` / ``batchframe.testing``).
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = RetryPolicy.max_retries,
        *,
        transport: httpx.BaseTransport | None = None,
        allow_insecure: bool | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        env = read_env()
        key = api_key if api_key is not None else env.api_key
        if not key:
            raise ValueError(
                "No API key: pass Client(api_key=...) or set XAI_API_KEY "
                "(for the local batch server any key will do)."
            )
        self._api_key = key
        self.base_url = (base_url or env.base_url or DEFAULT_BASE_URL).rstrip("/")
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {self.base_url!r}")
        insecure_ok = env.allow_insecure if allow_insecure is None else allow_insecure
        if (
            self.base_url.startswith("http://")
            and not insecure_ok
            and not is_loopback_url(self.base_url)
        ):
            raise ValueError(
                f"Refusing to send an API key over plain HTTP to {urlsplit(self.base_url).hostname}: "
                "use https, a loopback address, or allow_insecure=True "
                "(BATCHFRAME_ALLOW_INSECURE=1) if you really mean it."
            )
        self.timeout = timeout
        self.retry = retry or RetryPolicy(max_retries=max_retries)
        self.max_retries = self.retry.max_retries
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            headers={
                "Authorization": f"Bearer {key}",
                "User-Agent": f"batchframe/{__version__}",
                "Accept": "application/json",
            },
        )

    # -- lifecycle -------------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"Client(base_url={self.base_url!r}, max_retries={self.max_retries})"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- the seven endpoints ---------------------------------------------------------------

    def create_batch(
        self, name: str, *, recover: Callable[[], Batch | None] | None = None
    ) -> Batch:
        """Create an empty batch (``POST /batches``).

        Creating is not idempotent. If the reply is lost after the request may have reached the
        server, ``recover()`` (when given) runs before the retry and may return the batch that
        call created. Without it the create is retried, which may leave an empty batch behind
        but never adopts another caller's batch of the same name (that mixed two jobs).
        ``bf.submit`` passes a recovery that knows which batches of the name existed before its
        call (``batchframe.frame.identity``).
        """
        body = orjson.dumps({"name": name})
        response = self._request("POST", "/batches", content=body, recover=recover)
        if isinstance(response, Batch):
            return response
        return Batch.model_validate_json(response.content)

    def get_batch(self, batch_id: str) -> Batch:
        """The batch and its request counters (``GET /batches/{id}``)."""
        return Batch.model_validate_json(self._get_raw(f"/batches/{_seg(batch_id)}"))

    def list_batches(
        self, limit: int | None = None, pagination_token: str | None = None
    ) -> BatchPage:
        """One page of the team's batches; ``.batches``, ``.pagination_token``."""
        raw = self._get_raw("/batches", _page_params(limit, pagination_token))
        return BatchPage.model_validate_json(raw)

    def iter_batches(self, limit: int | None = None) -> Iterator[Batch]:
        """Every batch of the team, following every page."""
        for page in _pages(lambda token: self.list_batches(limit, token)):
            yield from page.batches

    def add_requests(self, batch_id: str, batch_requests: Sequence[dict[str, Any]] | bytes) -> None:
        """Add requests to a batch (``POST /batches/{id}/requests``).

        ``batch_requests`` is a list of request items, or already-encoded JSON bytes: either the
        whole body ``{"batch_requests": [...]}`` or a JSON array of items. Retrying is safe: the
        server accepts an identical request under the same ID once; the same ID with different
        content raises :class:`~batchframe.ConflictError` (412) and is not retried.
        """
        if isinstance(batch_requests, bytes | bytearray | memoryview):
            body = bytes(batch_requests)
            head = body.lstrip()[:1]
            if head == b"[":
                body = b'{"batch_requests":' + body + b"}"
            elif head != b"{":
                raise ValueError("encoded batch_requests must be a JSON object or array")
        else:
            body = orjson.dumps({"batch_requests": list(batch_requests)})
        self._request("POST", f"/batches/{_seg(batch_id)}/requests", content=body)

    def list_requests(
        self, batch_id: str, limit: int | None = None, pagination_token: str | None = None
    ) -> RequestPage:
        """One page of request metadata; ``.batch_request_metadata``, ``.pagination_token``."""
        return RequestPage.model_validate_json(
            self.fetch_requests_page(batch_id, limit, pagination_token)
        )

    def iter_requests(
        self, batch_id: str, limit: int | None = PAGE_LIMIT
    ) -> Iterator[RequestMetadata]:
        """Metadata of every request in the batch, following every page."""
        for page in _pages(lambda token: self.list_requests(batch_id, limit, token)):
            yield from page.batch_request_metadata

    def list_results(
        self, batch_id: str, limit: int | None = None, pagination_token: str | None = None
    ) -> ResultPage:
        """One page of finished results; ``.results``, ``.pagination_token``."""
        return ResultPage.model_validate_json(
            self.fetch_results_page(batch_id, limit, pagination_token)
        )

    def iter_results(self, batch_id: str, limit: int | None = PAGE_LIMIT) -> Iterator[BatchResult]:
        """Every finished result of the batch, following every page."""
        for page in _pages(lambda token: self.list_results(batch_id, limit, token)):
            yield from page.results

    def cancel_batch(self, batch_id: str) -> Batch:
        """Cancel a batch (``POST /batches/{id}:cancel``): pending requests become cancelled."""
        response = self._request("POST", f"/batches/{_seg(batch_id)}:cancel")
        assert isinstance(response, httpx.Response)
        return Batch.model_validate_json(response.content)

    # -- raw pages for the columnar fast paths --------------------------------------------

    def fetch_results_page(
        self, batch_id: str, limit: int | None = PAGE_LIMIT, pagination_token: str | None = None
    ) -> bytes:
        """The raw JSON bytes of one results page (decoded in bulk by ``batchframe.frame``)."""
        return self._get_raw(
            f"/batches/{_seg(batch_id)}/results", _page_params(limit, pagination_token)
        )

    def fetch_requests_page(
        self, batch_id: str, limit: int | None = PAGE_LIMIT, pagination_token: str | None = None
    ) -> bytes:
        """The raw JSON bytes of one request-metadata page."""
        return self._get_raw(
            f"/batches/{_seg(batch_id)}/requests", _page_params(limit, pagination_token)
        )

    # -- the one place that talks HTTP -----------------------------------------------------

    def _get_raw(self, path: str, params: dict[str, Any] | None = None) -> bytes:
        response = self._request("GET", path, params=params)
        assert isinstance(response, httpx.Response)
        return response.content

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        content: bytes | None = None,
        recover: Callable[[], Batch | None] | None = None,
    ) -> httpx.Response | Batch:
        headers = {"Content-Type": "application/json"} if content is not None else None
        ambiguous = False
        attempt = 0
        while True:
            if ambiguous and recover is not None:
                found = recover()
                if found is not None:
                    logger.info(
                        "%s %s: adopted %s after a lost reply", method, path, found.batch_id
                    )
                    return found
            try:
                response = self._http.request(
                    method, path, params=params, content=content, headers=headers
                )
            except httpx.TransportError as exc:
                ambiguous = ambiguous or isinstance(exc, _AMBIGUOUS)
                error: APIConnectionError = (
                    APITimeoutError(f"{method} {path} timed out", method=method, path=path)
                    if isinstance(exc, httpx.TimeoutException)
                    else APIConnectionError(
                        f"{method} {path} failed: {type(exc).__name__}: {redact(str(exc), self._api_key)}",
                        method=method,
                        path=path,
                    )
                )
                if not should_retry(self.retry, attempt=attempt, connection_error=True):
                    raise error from exc
                delay = backoff_delay(self.retry, attempt)
                logger.warning("%s; retry %d in %.2fs", error.message, attempt + 1, delay)
            else:
                if response.status_code < 400:
                    return response
                error_status = self._status_error(method, path, response)
                ambiguous = ambiguous or response.status_code >= 500
                if not should_retry(self.retry, attempt=attempt, status_code=response.status_code):
                    raise error_status
                retry_after = getattr(error_status, "retry_after", None)
                delay = backoff_delay(self.retry, attempt, retry_after=retry_after)
                logger.warning(
                    "%s %s -> %d; retry %d in %.2fs",
                    method,
                    path,
                    response.status_code,
                    attempt + 1,
                    delay,
                )
            self._sleep(delay)
            attempt += 1

    def _status_error(self, method: str, path: str, response: httpx.Response) -> APIStatusError:
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
            code=redact(code, self._api_key) if code else None,
            error=redact(text, self._api_key) if text else None,
            method=method,
            path=path,
            body=None,
        )
        if isinstance(error, RateLimitError):
            error.retry_after = parse_retry_after(response.headers.get("retry-after"))
        return error


def _seg(batch_id: str) -> str:
    """A batch ID as one safe path segment (no slash or dot-segment can escape it)."""
    if not isinstance(batch_id, str) or not batch_id:
        raise ValueError(f"batch_id must be a non-empty string, got {batch_id!r}")
    segment = quote(batch_id, safe="")
    # "." and ".." would be resolved away as dot-segments by URL handling; spell them out.
    return segment.replace(".", "%2E") if set(segment) == {"."} else segment


def _page_params(limit: int | None, token: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if limit is not None:
        params["limit"] = limit
    if token:
        params["pagination_token"] = token
    return params


def _pages(fetch: Callable[[str | None], Any]) -> Iterator[Any]:
    token: str | None = None
    seen: set[str] = set()
    while True:
        page = fetch(token)
        yield page
        token = page.pagination_token or None
        if token is None:
            return
        if token in seen:  # a server that repeats a token would loop forever
            raise PaginationError(f"the server repeated pagination token {token!r}")
        seen.add(token)
