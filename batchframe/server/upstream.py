"""An OpenAI-compatible upstream as a :class:`~batchframe.server.model_protocol.Model`.

Each claimed request becomes one ``POST {url}/chat/completions`` (the body translated by
:mod:`batchframe.server.upstream_wire`), at most ``concurrency`` at once, on an asyncio loop in a
thread of its own. Per request:

- connection refused (or no connection within the timeout): the upstream is down; the request
  is given back and waits, pending (a cancel still reaches it), while the engine backs off;
- 429 (``Retry-After`` honoured), 408, 5xx, a timeout or a connection lost mid-answer: retried
  with capped, jittered backoff, then the row fails with the last error;
- another 4xx, or a 2xx that is not a chat completion (HTML, no choices, a stream, a body over
  the size limit): the row fails at once with the upstream's message;
- a 2xx chat completion: stored as the result, with the upstream's usage.

A JSON-schema ``response_format`` is sent in OpenAI's form; an upstream that refuses it naming
``response_format`` (llama-cpp-python's server knows only ``{"type": "json_object", "schema":
...}``) gets that form instead, and keeps getting it once it answered in it.

>>> settings = UpstreamSettings(url="http://127.0.0.1:8080/v1")
>>> UpstreamModel(settings).concurrency
8
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import orjson

from batchframe._config import RetryPolicy, env_value
from batchframe._retry import backoff_delay, parse_retry_after
from batchframe.server.model_protocol import RETRY_LATER, Deliver
from batchframe.server.prices import ModelPrice, upstream_price
from batchframe.server.store_protocol import FAILED, SUCCEEDED, Pending
from batchframe.server.upstream_http import HttpPool, Lost, TooLarge, Unreachable
from batchframe.server.upstream_wire import (
    UpstreamError,
    answer_item,
    check_upstream_url,
    error_item,
    error_message,
    parse_model_map,
    parse_prices,
    read_completion,
    upstream_body,
)

if TYPE_CHECKING:
    from batchframe.server.config import ServerConfig

__all__ = ["DEFAULT_RETRY", "MAX_ANSWER_BYTES", "UpstreamModel", "UpstreamSettings"]

log = logging.getLogger("batchframe")

#: The largest upstream answer read; a bigger one fails its row.
MAX_ANSWER_BYTES = 16 * 1024 * 1024
_RETRY_STATUSES = frozenset({408, 429})
#: Retries of one call: 429, 408, 5xx, timeouts and lost connections, 0.5 s to 10 s apart.
DEFAULT_RETRY = RetryPolicy(max_retries=4, initial_delay=0.5, max_delay=10.0)


@dataclass(frozen=True)
class UpstreamSettings:
    """Where the upstream is and how it is called (the API key never shows in a repr)."""

    url: str
    api_key: str | None = field(default=None, repr=False)
    concurrency: int = 8
    timeout: float = 300.0
    model_map: Mapping[str, str] = field(default_factory=dict)
    prices: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    retry: RetryPolicy = DEFAULT_RETRY
    max_answer_bytes: int = MAX_ANSWER_BYTES

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", check_upstream_url(self.url))
        if self.concurrency < 1 or not self.timeout > 0:
            raise ValueError("upstream concurrency must be >= 1 and its timeout > 0")

    def price_of(self, model: str) -> ModelPrice:
        """What a request for ``model`` costs here (the model list serves the same)."""
        return upstream_price(model, self.prices)

    @classmethod
    def from_config(cls, config: ServerConfig) -> UpstreamSettings:
        """The settings of ``config`` (its ``upstream`` set), reading the key's variable now."""
        assert config.upstream is not None
        key = None
        if config.upstream_api_key_env:
            key = env_value(config.upstream_api_key_env)
            if key is None:
                raise ValueError(
                    f"upstream API key: environment variable {config.upstream_api_key_env} "
                    "is not set"
                )
        return cls(
            url=config.upstream,
            api_key=key,
            concurrency=config.upstream_concurrency,
            timeout=config.upstream_timeout,
            model_map=parse_model_map(config.model_map) if config.model_map else {},
            prices=parse_prices(config.upstream_prices) if config.upstream_prices else {},
            retry=dataclasses.replace(DEFAULT_RETRY, max_retries=config.upstream_retries),
        )


@dataclass(frozen=True)
class _Retry:
    """A call that may work if tried again: why it failed, and the upstream's Retry-After."""

    error: str
    retry_after: float | None = None


class UpstreamModel:
    """Answers requests with an OpenAI-compatible ``/chat/completions`` endpoint."""

    claim_size = 1

    def __init__(self, settings: UpstreamSettings) -> None:
        self.settings = settings
        self.concurrency = settings.concurrency
        self.calls = 0  # HTTP calls made (attempts included)
        self._schema_as_json_object = False
        self._headers = [("content-type", "application/json"), ("accept", "application/json")]
        if settings.api_key:
            self._headers.append(("authorization", f"Bearer {settings.api_key}"))
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pool: HttpPool | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def probe(self, timeout: float = 3.0) -> str | None:
        """None if the upstream answers HTTP at all, else why not (for the start-up message)."""
        try:
            httpx.get(f"{self.settings.url}/models", headers=dict(self._headers), timeout=timeout)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return None

    # -- the Model protocol --------------------------------------------------------------------

    def submit(self, work: Sequence[Pending], deliver: Deliver) -> None:
        loop = self._running_loop()
        loop.call_soon_threadsafe(self._spawn, list(work), deliver)

    def close(self) -> None:
        """Stop the loop; requests not answered yet are dropped (the engine gives them back)."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()

    # -- the loop ------------------------------------------------------------------------------

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                self._thread = threading.Thread(
                    target=loop.run_forever, name="batchframe-upstream", daemon=True
                )
                self._thread.start()
                self._loop = loop
            return self._loop

    async def _shutdown(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def _spawn(self, work: list[Pending], deliver: Deliver) -> None:
        if self._pool is None:
            self._pool = HttpPool(
                self.settings.url,
                size=self.concurrency,
                max_body=self.settings.max_answer_bytes,
                connect_timeout=min(10.0, self.settings.timeout),
            )
        for item in work:
            task = asyncio.get_running_loop().create_task(self._answer(item, deliver))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _answer(self, item: Pending, deliver: Deliver) -> None:
        seq, pk, rid, kind, canon = item
        try:
            state, result = await self._run(rid, kind, canon)
        except asyncio.CancelledError:
            raise  # closing: the engine gives the request back
        except Exception as exc:  # a bug here fails the row, never loses it
            log.exception("upstream call for %r failed unexpectedly", rid[:200])
            state, result = FAILED, error_item(rid, f"The upstream call failed: {exc!r}")
        deliver([(seq, pk, rid, state, result)])

    async def _run(self, rid: str, kind: str, canon: bytes) -> tuple[int, bytes]:
        """(state, result item) for one request, after retries."""
        try:
            body = orjson.loads(canon)[kind]
            model = body.get("model") if isinstance(body, dict) else None
            payload = self._payload(kind, body)
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return FAILED, error_item(rid, "The request body could not be read as a JSON object")
        except UpstreamError as exc:
            return FAILED, error_item(rid, str(exc))
        price = self.settings.price_of(model if isinstance(model, str) else "")
        retry = self.settings.retry
        attempt = 0
        while True:
            outcome = await self._attempt(rid, kind, body, payload, price, attempt)
            if not isinstance(outcome, _Retry):
                return outcome
            if attempt >= retry.max_retries:
                return FAILED, error_item(rid, outcome.error)
            await asyncio.sleep(backoff_delay(retry, attempt, retry_after=outcome.retry_after))
            attempt += 1

    async def _attempt(
        self,
        rid: str,
        kind: str,
        body: Any,
        payload: bytes,
        price: ModelPrice,
        attempt: int,
    ) -> tuple[int, bytes] | _Retry:
        """One call: the request's outcome, or what to retry after."""
        try:
            status, content_type, raw, retry_after = await self._call(payload)
        except Unreachable:
            return RETRY_LATER, b""  # down: the request waits, pending
        except TimeoutError:
            timeout = self.settings.timeout
            return _Retry(
                f"The upstream did not answer within {timeout:g} s ({attempt + 1} attempts)"
            )
        except Lost as exc:
            return _Retry(f"The upstream connection failed: {exc}")
        except TooLarge:
            limit = self.settings.max_answer_bytes / 1024 / 1024
            return FAILED, error_item(rid, f"The upstream's answer is larger than {limit:g} MB")
        if 200 <= status < 300:
            try:
                completion = read_completion(status, content_type, raw)
            except UpstreamError as exc:
                return FAILED, error_item(rid, str(exc))
            return SUCCEEDED, answer_item(rid, completion, price)
        if self._schema_refused(status, raw, payload):
            fallback = await self._schema_fallback(kind, body, rid, price)
            if fallback is not None:
                return fallback
        error = error_message(status, raw)
        if status in _RETRY_STATUSES or status >= 500:
            return _Retry(error, retry_after)
        return FAILED, error_item(rid, error)

    def _payload(self, kind: str, body: Any) -> bytes:
        model_map = self.settings.model_map
        return upstream_body(
            kind, body, model_map, schema_as_json_object=self._schema_as_json_object
        )

    async def _call(self, payload: bytes) -> tuple[int, str, bytes, float | None]:
        """One POST: (status, content type, body, Retry-After seconds), within the timeout."""
        assert self._pool is not None
        self.calls += 1
        async with asyncio.timeout(self.settings.timeout):
            answer = await self._pool.post("/chat/completions", payload, self._headers)
        retry_after = parse_retry_after(answer.retry_after)
        return answer.status, answer.content_type, answer.body, retry_after

    def _schema_refused(self, status: int, raw: bytes, payload: bytes) -> bool:
        return (
            status >= 400
            and not self._schema_as_json_object
            and b"response_format" in raw
            and b'"json_schema"' in payload
        )

    async def _schema_fallback(
        self, kind: str, body: Any, rid: str, price: ModelPrice
    ) -> tuple[int, bytes] | None:
        """Try llama-cpp-python's schema form once; adopt it if the upstream answers it."""
        payload = upstream_body(kind, body, self.settings.model_map, schema_as_json_object=True)
        try:
            status, content_type, raw, _ = await self._call(payload)
            completion = read_completion(status, content_type, raw) if status == 200 else None
        except (Unreachable, Lost, TooLarge, TimeoutError, UpstreamError):
            return None
        if completion is None:
            return None
        if not self._schema_as_json_object:
            log.info("the upstream takes a JSON schema as json_object + schema; using that form")
        self._schema_as_json_object = True
        return SUCCEEDED, answer_item(rid, completion, price)
