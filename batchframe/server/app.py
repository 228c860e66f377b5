"""``BatchServer``: auth, routing, faults and the two front doors (ASGI and an httpx transport).

>>> import httpx
>>> server = BatchServer()
>>> with httpx.Client(transport=server.transport(), base_url="http://local/v1") as http:
...     http.post("/batches", json={"name": "demo"},
...               headers={"Authorization": "Bearer k"}).status_code
200
>>> server.close()
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any
from urllib.parse import unquote

import httpx
import orjson

from batchframe.server import control
from batchframe.server.config import DEFAULT_TEAM, ServerConfig
from batchframe.server.engine import Engine
from batchframe.server.errors import (
    Internal,
    InvalidArgument,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ResourceExhausted,
    ServerProblem,
    Unauthenticated,
    Unavailable,
)
from batchframe.server.faults import Faults, RollingLimit
from batchframe.server.file_ingest import FileIngest
from batchframe.server.files import FileRoutes, RawContent
from batchframe.server.model_protocol import Model
from batchframe.server.openapi import OPENAPI_JSON
from batchframe.server.other_routes import other_route
from batchframe.server.prices import price_of
from batchframe.server.routes import (
    Routes,
    check_json_type,
    parse_query,
    read_json,
)
from batchframe.server.service import BATCH_ID_RE, BatchService
from batchframe.server.simulated import SimulatedModel
from batchframe.server.store import Store
from batchframe.server.upstream import UpstreamModel, UpstreamSettings

__all__ = ["BatchServer", "DroppedConnection", "build_model"]

log = logging.getLogger("batchframe")

Reply = tuple[int, list[tuple[str, str]], bytes]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_JSON = ("content-type", "application/json")
_API_HEADERS = [_JSON, ("x-zero-data-retention", "false"), ("x-data-retention", "general")]
_RAW_HEADERS = [("content-type", "application/octet-stream"), *_API_HEADERS[1:]]
_PREFIX = "/v1/batches"
_FILES = "/v1/files"
# A multipart upload carries its file plus a few headers and form fields.
_MULTIPART_SLACK = 1024 * 1024
_DRAIN_BYTES = 256 * 1024 * 1024


class DroppedConnection(Exception):
    """Raised inside the ASGI app to make the server close a connection with no reply."""


class BatchServer:
    """The local batch server: a store, an engine and the fault settings, behind ``handle``."""

    def __init__(
        self, config: ServerConfig | None = None, *, paused: bool = False, **options: Any
    ) -> None:
        if config is None:
            config = ServerConfig(**options)
        elif options:
            config = ServerConfig(**{**config.__dict__, **options})
        self.config = config
        self.faults = Faults.from_config(config)
        # Built first: a bad upstream setting is an error before any file is opened.
        self.model = build_model(config, fail_rate=lambda: self.faults.fail_rate)
        self.store = Store(config.db, expire_after=config.expire_after)
        self.ingest = FileIngest(
            self.store,
            lambda: self.service.admitted,
            on_requests=lambda: self.engine.notify(),
            max_lines=config.max_file_lines,
        )
        self.service = BatchService(
            self.store,
            admitted_models(config),
            on_file_batch=self.ingest.notify,
            prices=self.model.settings.price_of
            if isinstance(self.model, UpstreamModel)
            else price_of,
        )
        self.routes = Routes(self.service, config.time_format)
        self.files = FileRoutes(self.store, config.max_file_bytes)
        self.engine = Engine(
            self.store,
            model=self.model,
            speed=config.speed,
            sweep_every=min(1.0, max(0.05, config.expire_after / 4)),
        )
        #: Why the upstream could not be reached at start (None: reached, or no upstream).
        self.upstream_problem = _probe(self.model)
        self._limits = RollingLimit()
        self.internal_errors = 0
        if paused:
            self.engine.pause()
        self.engine.start()
        self.ingest.start()

    def close(self) -> None:
        """Stop the engine and close the database."""
        self.ingest.stop()
        self.engine.stop()
        self.store.close()

    def __enter__(self) -> BatchServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the one entry point -------------------------------------------------------------------

    def handle(
        self,
        method: str,
        raw_path: str,
        query_string: bytes,
        headers: Mapping[str, str],
        body: bytes,
    ) -> Reply:
        """Answer one HTTP call (header names lower-case): (status, headers, body)."""
        try:
            if raw_path.startswith("/_control/"):
                return control.handle(self, method, raw_path, query_string, body)
            if raw_path == "/openapi.json":
                if method != "GET":
                    raise MethodNotAllowed("Method not allowed", headers=[("allow", "GET")])
                return 200, [_JSON], OPENAPI_JSON
            error = self.faults.pick_http_error()
            if error == 500:
                raise Internal("Injected server error (http_error_rate)")
            if error == 503:
                raise Unavailable("Injected unavailability (http_error_rate)")
            if len(body) > self.body_limit(method, raw_path):
                raise PayloadTooLarge(self._too_large(method, raw_path))
            team = self.authenticate(headers)
            status, out = self._route(
                team, method, raw_path, parse_query(query_string), headers, body
            )
            return status, list(_RAW_HEADERS if isinstance(out, RawContent) else _API_HEADERS), out
        except ServerProblem as problem:
            return self._problem(problem)
        except Exception:
            self.internal_errors += 1
            log.exception("local batch server: unhandled error on %s %s", method, raw_path[:200])
            return self._problem(Internal("Internal server error"))

    @staticmethod
    def _problem(problem: ServerProblem) -> Reply:
        body = orjson.dumps({"code": problem.code, "error": problem.message})
        return problem.status, [*_API_HEADERS, *problem.headers], body

    def body_limit(self, method: str, path: str) -> int:
        """The largest body a call may carry: ``max_body_mb``, or ``max_file_mb`` for uploads."""
        if method == "POST" and path == _FILES:
            return self.config.max_file_bytes + _MULTIPART_SLACK
        return int(self.faults.max_body_mb * 1024 * 1024)

    def _too_large(self, method: str, path: str) -> str:
        if method == "POST" and path == _FILES:
            return f"File is larger than {self.config.max_file_mb:g} MB"
        return f"Request body is larger than {self.faults.max_body_mb:g} MB"

    def authenticate(self, headers: Mapping[str, str]) -> str:
        """The team of the call's ``authorization`` header (401 missing, 400 unknown key)."""
        value = headers.get("authorization", "")
        scheme, _, key = value.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            raise Unauthenticated(
                "No credentials presented. Please provide your API key in the Authorization "
                "header as 'Bearer <key>'."
            )
        keys = self.config.keys
        if keys is None:
            return DEFAULT_TEAM
        team = keys.get(key)
        if team is None:
            shown = f"{key[:4]}***{key[-2:]}" if len(key) >= 12 else "***"
            raise InvalidArgument(
                f"Incorrect API key provided: {shown}. You can obtain an API key from "
                "https://console.x.ai."
            )
        return team

    def _route(
        self,
        team: str,
        method: str,
        path: str,
        query: dict[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> tuple[int, bytes]:
        now = time.time()
        if not path.startswith(_PREFIX):
            return other_route(self, team, method, path, query, headers, body, now)
        if path == _PREFIX:
            if method == "GET":
                return 200, self.routes.list_batches(team, query)
            if method == "POST":
                self.limit(team, "create")
                return 200, self.routes.create_batch(team, read_json(body, headers), now)
            raise MethodNotAllowed("Method not allowed", headers=[("allow", "GET, POST")])
        if not path.startswith(_PREFIX + "/"):
            raise NotFound(f"No route for {path[:200]}")
        segment, _, sub = path[len(_PREFIX) + 1 :].partition("/")
        try:
            batch_id = unquote(segment, errors="strict")
        except UnicodeDecodeError:
            raise NotFound("Cannot find batch: the ID is not valid UTF-8") from None
        action = sub
        if not sub and batch_id.endswith(":cancel"):
            batch_id, action = batch_id[: -len(":cancel")], ":cancel"
        if action not in ("", ":cancel", "requests", "results"):
            raise NotFound(f"No route for {path[:200]}")
        if not BATCH_ID_RE.fullmatch(batch_id):
            raise NotFound(f"Cannot find batch with ID {batch_id[:200]!r}")
        return self._batch_route(team, method, batch_id, action, query, headers, body, now)

    def _batch_route(
        self,
        team: str,
        method: str,
        batch_id: str,
        action: str,
        query: dict[str, str],
        headers: Mapping[str, str],
        body: bytes,
        now: float,
    ) -> tuple[int, bytes]:
        routes = self.routes
        if action == "" and method == "GET":
            return 200, routes.get_batch(team, batch_id)
        if action == ":cancel" and method == "POST":
            return 200, routes.cancel_batch(team, batch_id, now)
        if action == "results" and method == "GET":
            return 200, routes.list_results(team, batch_id, query)
        if action == "requests" and method == "GET":
            return 200, routes.list_requests(team, batch_id, query)
        if action == "requests" and method == "POST":
            self.service.require_batch(team, batch_id)  # a 404 spends no add-call budget
            self.limit(team, "add")
            check_json_type(body, headers)
            if routes.add_requests(team, batch_id, body, now):
                self.engine.notify()
            return 200, b"{}"
        allowed = {"": "GET", ":cancel": "POST", "results": "GET", "requests": "GET, POST"}[action]
        raise MethodNotAllowed("Method not allowed", headers=[("allow", allowed)])

    def limit(self, team: str, what: str) -> None:
        """Count one batch creation (``"create"``) or add call (``"add"``) against its budget;
        429 with ``Retry-After`` past it. Shared by the REST and gRPC fronts."""
        if what == "create":
            self._limit(team, what, self.faults.creates_per_second, 1.0)
        else:
            self._limit(team, what, self.faults.add_calls_per_30s, 30.0)

    def _limit(self, team: str, what: str, limit: float | None, window: float) -> None:
        if not limit:
            return
        wait = self._limits.check(f"{what}:{team}", limit, window)
        if wait is not None:
            raise ResourceExhausted(
                f"Too many {'batch creations' if what == 'create' else 'add-requests calls'}: "
                f"limit is {limit:g} per {window:g} s; retry after {wait} s",
                headers=[("retry-after", str(wait))],
            )

    # -- front doors ---------------------------------------------------------------------------

    def transport(self) -> httpx.BaseTransport:
        """A sync httpx transport over :meth:`handle`, with the same latency and drop faults."""

        def respond(request: httpx.Request) -> httpx.Response:
            path, _, query = request.url.raw_path.partition(b"?")
            raw_path = path.decode("latin-1")
            faulty = raw_path.startswith("/v1/")
            drop = self.faults.pick_drop() if faulty else None
            if faulty and self.faults.latency > 0:
                time.sleep(self.faults.latency)
            if drop == "before":
                raise httpx.RemoteProtocolError(
                    "Server disconnected without sending a response.", request=request
                )
            headers = {
                k.decode("latin-1").lower(): v.decode("latin-1") for k, v in request.headers.raw
            }
            status, out_headers, body = self.handle(
                request.method, raw_path, query, headers, request.read()
            )
            if drop == "after":
                raise httpx.RemoteProtocolError(
                    "Server disconnected without sending a response.", request=request
                )
            return httpx.Response(status, headers=out_headers, content=body)

        return httpx.MockTransport(respond)

    async def asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A raw ASGI 3 application over :meth:`handle`."""
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        raw = scope.get("raw_path") or scope["path"].encode("utf-8")
        raw_path = raw.partition(b"?")[0].decode("latin-1")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        limit = self.body_limit(scope["method"], raw_path)
        body, complete = await _read_body(receive, headers, limit)
        if body is None:
            status, out_headers, out = self._problem(
                PayloadTooLarge(self._too_large(scope["method"], raw_path))
            )
            closing = [] if complete else [("connection", "close")]
            await _reply(send, status, [*out_headers, *closing], out)
            return
        faulty = raw_path.startswith("/v1/")
        drop = self.faults.pick_drop() if faulty else None
        if faulty and self.faults.latency > 0:
            await asyncio.sleep(self.faults.latency)
        if drop == "before":
            await _drop(send)
        status, out_headers, out = await asyncio.to_thread(
            self.handle, scope["method"], raw_path, scope.get("query_string", b""), headers, body
        )
        if drop == "after":
            await _drop(send)
        await _reply(send, status, out_headers, out)


def build_model(config: ServerConfig, *, fail_rate: Callable[[], float]) -> Model:
    """The model ``config`` asks for: its upstream, else the simulator."""
    if config.upstream is None:
        return SimulatedModel(fail_rate, config.seed)
    return UpstreamModel(UpstreamSettings.from_config(config))


def _probe(model: Model) -> str | None:
    if not isinstance(model, UpstreamModel):
        return None
    problem = model.probe()
    url = model.settings.url
    if problem is None:
        log.info("answering with the upstream %s", url)
    else:
        log.warning(
            "the upstream %s is not reachable (%s): requests wait, pending, until it answers",
            url,
            problem,
        )
    return problem


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _read_body(
    receive: Receive, headers: Mapping[str, str], limit: int
) -> tuple[bytes | None, bool]:
    """(the request body or None when over ``limit`` bytes, whether it was read to the end)."""
    declared = headers.get("content-length", "")
    too_big = declared.isdigit() and int(declared) > limit
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            too_big = True
        if size > limit + _DRAIN_BYTES:
            return None, False  # stop reading; the reply goes out with "connection: close"
        if not too_big:
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    # An oversized body is read and thrown away (up to a cap) so the client sees the 413
    # instead of a connection reset while it is still sending.
    return (None if too_big else b"".join(chunks)), True


async def _reply(send: Send, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def _drop(send: Send) -> None:
    """Promise a body, then fail: the server closes the connection and the client gets no reply."""
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"64")]}
    )
    raise DroppedConnection("dropped connection (drop_rate)")


def admitted_models(config: ServerConfig) -> tuple[str, ...]:
    """The batch-enabled models: ``config.models``, plus the models a ``model_map`` names for an
    upstream (its ``*`` admits any model), since those are the names its users send."""
    mapped = tuple(config.model_map) if isinstance(config.model_map, Mapping) else ()
    return (*config.models, *(m for m in mapped if m not in config.models))
