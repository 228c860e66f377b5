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
import os
import pathlib
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, BinaryIO, TypeVar
from urllib.parse import quote, urlsplit

import httpx
import orjson
import pydantic

from batchframe import __version__
from batchframe._config import DEFAULT_BASE_URL, DEFAULT_TIMEOUT, PAGE_LIMIT, RetryPolicy, read_env
from batchframe._hints import Term, say
from batchframe._responses import parse_response, status_error, usable_response
from batchframe._retry import backoff_delay, should_retry
from batchframe.errors import (
    APIConnectionError,
    APITimeoutError,
    PaginationError,
    redact,
    scrub_exception,
)
from batchframe.models import (
    Batch,
    BatchPage,
    BatchResult,
    FileObject,
    LanguageModel,
    RequestMetadata,
    RequestPage,
    ResultPage,
    Token,
)

__all__ = ["Client", "check_api_key", "is_loopback_url"]

logger = logging.getLogger("batchframe")

_Model = TypeVar("_Model", bound=pydantic.BaseModel)

# Transport failures after which the request may have reached the server (its effect may have
# happened); a ConnectError means it never left, so it is not ambiguous.
_AMBIGUOUS = (httpx.ReadError, httpx.RemoteProtocolError, httpx.ReadTimeout, httpx.WriteError)
# Failures of our own request that no retry can cure: it is refused before it is sent.
_FINAL = (httpx.LocalProtocolError, httpx.UnsupportedProtocol)

_WHITESPACE_NAMES = {"\n": "a newline", "\r": "a carriage return", "\t": "a tab", " ": "a space"}


def check_api_key(key: str, source: str = "api_key") -> None:
    """Refuse a key that cannot be sent as it is; the message names ``source``, never the key.

    Whitespace anywhere (a newline kept from a file, a space pasted along) and characters that
    are not printable ASCII cannot go in an HTTP header. batchframe strips nothing silently: a
    key that reaches the server is exactly the key given.

    >>> check_api_key("xai-abc123\\n", "XAI_API_KEY")
    Traceback (most recent call last):
    ...
    ValueError: XAI_API_KEY ends with a newline (a key read from a file keeps it): remove it where the key is read, for example with .strip(); batchframe sends a key exactly as given
    """
    for position, char in enumerate(key):
        if char.isspace():
            name = _WHITESPACE_NAMES.get(char, "whitespace")
            where = (
                "ends with"
                if position == len(key) - 1 or key[position:].isspace()
                else "starts with"
                if position == 0
                else "contains"
            )
            hint = " (a key read from a file keeps it)" if char in "\r\n" else ""
            problem: str = say(
                f"{where} {name}{hint}: remove it where the key is ",
                Term("read, for example with .strip()", "set"),
            )
            break
        if not char.isascii():
            problem = "contains a character that is not ASCII: an API key is printable ASCII"
            break
        if not char.isprintable():
            problem = "contains a control character: an API key is printable ASCII"
            break
    else:
        return
    raise ValueError(say(f"{source} ", problem, "; batchframe sends a key exactly as given"))


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
        check_api_key(key, "api_key" if api_key is not None else "XAI_API_KEY")
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
                say(
                    "Refusing to send an API key over plain HTTP to "
                    f"{urlsplit(self.base_url).hostname}: use https, a loopback address, or ",
                    Term(
                        "allow_insecure=True (BATCHFRAME_ALLOW_INSECURE=1)",
                        "set BATCHFRAME_ALLOW_INSECURE=1",
                    ),
                    " if you really mean it.",
                )
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
        self,
        name: str,
        input_file_id: str | None = None,
        *,
        recover: Callable[[], Batch | None] | None = None,
    ) -> Batch:
        """Create a batch (``POST /batches``): empty, or sealed and filled from an uploaded
        JSONL file when ``input_file_id`` is given (see :meth:`upload_file`).

        Creating is not idempotent. If the reply is lost after the request may have reached the
        server, ``recover()`` (when given) runs before the retry and may return the batch that
        call created. Without it, an empty batch is created again, which may leave an empty
        batch behind but never adopts another caller's batch of the same name (that mixed two
        jobs); ``bf.submit`` passes a recovery that knows which batches of the name existed
        before its call (``batchframe.frame.identity``). A file batch is found again by its
        input file, which only this upload has.
        """
        fields: dict[str, str] = {"name": name}
        if input_file_id is not None:
            fields["input_file_id"] = input_file_id
        body = orjson.dumps(fields)

        if recover is None and input_file_id is not None:

            def recover() -> Batch | None:
                for batch in self.list_batches(limit=20).batches:
                    if (
                        batch.name == name
                        and batch.input_file_id == input_file_id
                        and not batch.is_cancelled
                    ):
                        return batch
                return None

        response = self._request("POST", "/batches", content=body, recover=recover)
        if isinstance(response, Batch):
            return response
        return self._parse(Batch, response)

    def get_batch(self, batch_id: str) -> Batch:
        """The batch and its request counters (``GET /batches/{id}``)."""
        return self._parse(Batch, self._get(f"/batches/{_seg(batch_id)}"))

    def list_batches(
        self, limit: int | None = None, pagination_token: str | None = None
    ) -> BatchPage:
        """One page of the team's batches; ``.batches``, ``.pagination_token``."""
        return self._parse(BatchPage, self._get("/batches", _page_params(limit, pagination_token)))

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
        # The reply is `{}`, or maybe empty (reference 3): only the status counts.
        self._request("POST", f"/batches/{_seg(batch_id)}/requests", content=body, empty_ok=True)

    def list_requests(
        self, batch_id: str, limit: int | None = None, pagination_token: str | None = None
    ) -> RequestPage:
        """One page of request metadata; ``.batch_request_metadata``, ``.pagination_token``."""
        path = f"/batches/{_seg(batch_id)}/requests"
        return self._parse(RequestPage, self._get(path, _page_params(limit, pagination_token)))

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
        path = f"/batches/{_seg(batch_id)}/results"
        return self._parse(ResultPage, self._get(path, _page_params(limit, pagination_token)))

    def iter_results(self, batch_id: str, limit: int | None = PAGE_LIMIT) -> Iterator[BatchResult]:
        """Every finished result of the batch, following every page."""
        for page in _pages(lambda token: self.list_results(batch_id, limit, token)):
            yield from page.results

    def cancel_batch(self, batch_id: str) -> Batch:
        """Cancel a batch (``POST /batches/{id}:cancel``): pending requests become cancelled."""
        response = self._request("POST", f"/batches/{_seg(batch_id)}:cancel")
        assert isinstance(response, httpx.Response)
        return self._parse(Batch, response)

    # -- the file flow, the tokenizer and the model list ------------------------------------

    def upload_file(
        self, file: str | os.PathLike[str] | bytes | BinaryIO, filename: str | None = None
    ) -> FileObject:
        """Upload a file (``POST /files``, multipart), e.g. the JSONL input of a file batch.

        ``file`` is a path, the content as bytes, or a binary file object; ``filename``
        defaults to the path's name (``"batch.jsonl"`` for bytes). Each JSONL line is
        ``{"custom_id", "method": "POST", "url": "/v1/chat/completions", "body": {...}}``.
        Then ``create_batch(name, input_file_id=uploaded.id)``.

        >>> uploaded = client.upload_file("requests.jsonl")     # doctest: +SKIP
        >>> client.create_batch("from-file", input_file_id=uploaded.id)  # doctest: +SKIP
        """
        if isinstance(file, bytes | bytearray | memoryview):
            content, name = bytes(file), filename or "batch.jsonl"
        elif isinstance(file, str | os.PathLike):
            path = pathlib.Path(file)
            content, name = path.read_bytes(), filename or path.name
        else:
            content = file.read()
            name = filename or pathlib.Path(str(getattr(file, "name", "batch.jsonl"))).name
        boundary = f"batchframe-{uuid.uuid4().hex}"
        body = _multipart(boundary, name, content)
        # A retried upload after a lost reply may leave a second, unused file: nothing refers
        # to it, so retrying is safe.
        response = self._request(
            "POST",
            "/files",
            content=body,
            content_type=f"multipart/form-data; boundary={boundary}",
        )
        assert isinstance(response, httpx.Response)
        return self._parse(FileObject, response)

    def tokenize_text(self, text: str, model: str) -> list[Token]:
        """The server's tokens of ``text`` for ``model`` (``POST /tokenize-text``).

        >>> [t.string_token for t in client.tokenize_text("Hello world", "grok-4.3")]  # doctest: +SKIP
        ['Hello', ' world']
        """
        body = orjson.dumps({"text": text, "model": model})
        response = self._request("POST", "/tokenize-text", content=body)
        assert isinstance(response, httpx.Response)
        tokens = orjson.loads(response.content).get("token_ids") or []
        return [Token.model_validate(t) for t in tokens]

    def list_language_models(self) -> list[LanguageModel]:
        """The server's language models with their prices (``GET /language-models``)."""
        models = orjson.loads(self._get_raw("/language-models")).get("models") or []
        return [LanguageModel.model_validate(m) for m in models]

    def get_language_model(self, model: str) -> LanguageModel:
        """One language model with its prices (``GET /language-models/{model}``; 404: unknown)."""
        return LanguageModel.model_validate(
            orjson.loads(self._get_raw(f"/language-models/{_seg(model)}"))
        )

    # -- raw pages for the columnar fast paths --------------------------------------------

    def fetch_batch(self, batch_id: str) -> bytes:
        """The raw JSON bytes of one batch, its fields exactly as sent (times included)."""
        return self._get_raw(f"/batches/{_seg(batch_id)}")

    def fetch_batches_page(
        self, limit: int | None = None, pagination_token: str | None = None
    ) -> bytes:
        """The raw JSON bytes of one page of the team's batches."""
        return self._get_raw("/batches", _page_params(limit, pagination_token))

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

    def _get(self, path: str, params: dict[str, Any] | None = None) -> httpx.Response:
        response = self._request("GET", path, params=params)
        assert isinstance(response, httpx.Response)
        return response

    def _get_raw(self, path: str, params: dict[str, Any] | None = None) -> bytes:
        return self._get(path, params).content

    def _parse(self, model: type[_Model], response: httpx.Response) -> _Model:
        return parse_response(model, response, self._api_key)

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        content: bytes | None = None,
        recover: Callable[[], Batch | None] | None = None,
        empty_ok: bool = False,
        content_type: str = "application/json",
    ) -> httpx.Response | Batch:
        """Send one call with retries; a 2xx with a JSON body (or ``recover``'s Batch) comes back.

        Whatever is raised, and everything chained to it, has the key scrubbed first.
        """
        headers = {"Content-Type": content_type} if content is not None else None
        try:
            return self._send(method, path, params, content, headers, recover, empty_ok)
        except BaseException as exc:
            scrub_exception(exc, self._api_key)
            raise

    def _send(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None,
        content: bytes | None,
        headers: dict[str, str] | None,
        recover: Callable[[], Batch | None] | None,
        empty_ok: bool,
    ) -> httpx.Response | Batch:
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
                _unlink_stream(response)
            except httpx.TransportError as exc:
                ambiguous = ambiguous or isinstance(exc, _AMBIGUOUS)
                error = self._transport_error(method, path, exc)
                if isinstance(exc, _FINAL) or not should_retry(
                    self.retry, attempt=attempt, connection_error=True
                ):
                    raise error from exc
                delay = backoff_delay(self.retry, attempt)
                logger.warning("%s; retry %d in %.2fs", error.message, attempt + 1, delay)
            else:
                if response.status_code < 400:
                    return usable_response(response, method, path, self._api_key, empty_ok=empty_ok)
                ambiguous = ambiguous or response.status_code >= 500
                delay = self._status_retry_delay(method, path, response, attempt)
            self._sleep(delay)
            attempt += 1

    def _status_retry_delay(
        self, method: str, path: str, response: httpx.Response, attempt: int
    ) -> float:
        """How long to wait before retrying a 4xx/5xx reply; raises its error when it is final."""
        error = status_error(method, path, response, self._api_key)
        if not should_retry(self.retry, attempt=attempt, status_code=response.status_code):
            raise error
        retry_after = getattr(error, "retry_after", None)
        delay = backoff_delay(self.retry, attempt, retry_after=retry_after)
        logger.warning(
            "%s %s -> %d; retry %d in %.2fs", method, path, response.status_code, attempt + 1, delay
        )
        return delay

    def _transport_error(
        self, method: str, path: str, exc: httpx.TransportError
    ) -> APIConnectionError:
        if isinstance(exc, httpx.TimeoutException):
            return APITimeoutError(f"{method} {path} timed out", method=method, path=path)
        return APIConnectionError(
            f"{method} {path} failed: {type(exc).__name__}: {redact(str(exc), self._api_key)}",
            method=method,
            path=path,
        )


def _seg(batch_id: str) -> str:
    """A batch ID as one safe path segment (no slash or dot-segment can escape it)."""
    if not isinstance(batch_id, str) or not batch_id:
        raise ValueError(f"batch_id must be a non-empty string, got {batch_id!r}")
    segment = quote(batch_id, safe="")
    # "." and ".." would be resolved away as dot-segments by URL handling; spell them out.
    return segment.replace(".", "%2E") if set(segment) == {"."} else segment


def _multipart(boundary: str, filename: str, content: bytes) -> bytes:
    """A ``multipart/form-data`` body with one ``file`` part (and ``purpose=batch``)."""
    quoted = filename.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "").replace("\n", "")
    return b"".join(
        (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{quoted}"\r\n'
            "Content-Type: application/jsonl\r\n\r\n".encode(),
            content,
            f"\r\n--{boundary}--\r\n".encode(),
        )
    )


def _page_params(limit: int | None, token: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if limit is not None:
        params["limit"] = limit
    if token:
        params["pagination_token"] = token
    return params


def _unlink_stream(response: httpx.Response) -> None:
    """Cut the reference cycle httpx makes between a read response and its stream.

    httpx binds each response's stream to the response itself, so a response, its request and
    the request's body (an add call's, up to 10 MiB) are freed only when the cyclic garbage
    collector runs, which in a long upload can be many calls later: memory grew with the job.
    The body has been read (the client never streams), so the stream is spent; without the
    cycle all of it is freed as soon as the caller drops the response.
    """
    response.stream = httpx.ByteStream(b"")


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
