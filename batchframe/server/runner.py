"""Run the local batch server on a real socket with uvicorn (``bf.serve`` and the CLI).

>>> import batchframe as bf
>>> with bf.serve() as handle:                      # doctest: +SKIP
...     client = bf.Client(api_key="any", base_url=handle.base_url)
"""

from __future__ import annotations

import dataclasses
import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import uvicorn

from batchframe.server.app import BatchServer, DroppedConnection
from batchframe.server.config import ServerConfig

__all__ = ["ServerHandle", "run_forever", "serve"]


def _not_a_drop(record: logging.LogRecord) -> bool:
    """Hide uvicorn's traceback for connections the server drops on purpose."""
    exc = record.exc_info[1] if record.exc_info else None
    return not isinstance(exc, DroppedConnection)


logging.getLogger("uvicorn.error").addFilter(_not_a_drop)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted sockets inherit this: small replies go out at once instead of waiting ~40 ms
        # on Nagle + delayed ACK (seen as stalls in chunked uploads over loopback).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sock.setblocking(False)
    except BaseException:
        sock.close()  # a taken port left an unclosed socket (ResourceWarning)
        raise
    return sock


def _uvicorn(server: BatchServer, host: str, port: int) -> uvicorn.Server:
    config = uvicorn.Config(
        server.asgi,
        host=host,
        port=port,
        http="httptools",
        log_level="warning",
        access_log=False,
        lifespan="off",
        interface="asgi3",
        proxy_headers=False,
        timeout_keep_alive=30,
    )
    return uvicorn.Server(config)


def _config(db: str, config: ServerConfig | None, options: dict[str, Any]) -> ServerConfig:
    if config is None:
        return ServerConfig(db=db, **options)
    return dataclasses.replace(config, **options)


def _grpc_front(server: BatchServer, host: str) -> Any:
    """The gRPC front when ``config.grpc_port`` asks for one (imported only then: it needs the
    ``batchframe[grpc]`` extra), else None."""
    if server.config.grpc_port is None:
        return None
    try:
        from batchframe.server.grpc_front import GrpcFront
    except ImportError as exc:
        raise RuntimeError(
            "the gRPC front needs grpcio and xai-sdk: pip install 'batchframe[grpc]'"
        ) from exc
    return GrpcFront(server, host, server.config.grpc_port)


class ServerHandle:
    """A running server: ``base_url`` (``http://127.0.0.1:PORT/v1``), ``stop()``; with a gRPC
    port, ``grpc_address`` (``localhost:PORT``, what ``xai_sdk.Client(api_host=...)`` takes)."""

    def __init__(self, server: BatchServer, host: str, port: int) -> None:
        self.server = server
        self.host = host
        self.port = port
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{port}"
        self.base_url = f"{self.url}/v1"
        self._sock = _bind(host, port)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://{shown}:{self.port}"
        self.base_url = f"{self.url}/v1"
        self._uvicorn = _uvicorn(server, host, self.port)
        try:
            self._grpc = _grpc_front(server, host)
        except BaseException:
            self._sock.close()
            raise
        self.grpc_port: int | None = None if self._grpc is None else self._grpc.port
        self.grpc_address: str | None = None if self._grpc is None else self._grpc.address
        self._thread = threading.Thread(
            target=self._uvicorn.run,
            kwargs={"sockets": [self._sock]},
            daemon=True,
            name=f"batchframe-serve-{self.port}",
        )

    def _start(self, timeout: float = 10.0) -> None:
        if self._grpc is not None:
            self._grpc.start()
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._uvicorn.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the local batch server did not start on {self.url}")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop serving, stop the engine, close the database (idempotent)."""
        self._uvicorn.should_exit = True
        if self._thread.is_alive():
            self._thread.join(10.0)
        if self._grpc is not None:
            self._grpc.stop()
        self._sock.close()
        self.server.close()

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        grpc = f", grpc_address={self.grpc_address!r}" if self.grpc_address else ""
        return f"ServerHandle(base_url={self.base_url!r}{grpc})"


def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    db: str = ":memory:",
    config: ServerConfig | None = None,
    grpc_port: int | None = None,
    models: str | Sequence[str] | None = None,
    **options: Any,
) -> ServerHandle:
    """Start the local batch server in a daemon thread; return once it accepts connections.

    ``port=0`` picks a free port. ``grpc_port`` also serves the gRPC front for ``xai-sdk``
    (0 = a free port; the handle's ``grpc_address`` is what ``api_host`` takes). ``models`` are
    the batch-enabled models (default: the reference's, see ``batchframe serve --help``).
    ``options`` are the other :class:`ServerConfig` fields (``speed``, ``fail_rate``, ``keys``,
    ``expire_after``, and ``upstream``, ``model_map``, ``upstream_concurrency``, ... to answer
    with an OpenAI-compatible model).

    >>> with serve(speed=1000) as handle:          # doctest: +SKIP
    ...     print(handle.base_url)
    http://127.0.0.1:54321/v1
    """
    if grpc_port is not None:
        options["grpc_port"] = grpc_port
    if models is not None:
        options["models"] = models
    server = BatchServer(_config(db, config, options))
    try:
        handle = ServerHandle(server, host, port)
    except BaseException:
        # e.g. the port is taken: without this the engine thread and the database connection
        # lived on, and a second server on the same file raced that orphan engine.
        server.close()
        raise
    handle._start()
    return handle


def run_forever(
    host: str,
    port: int,
    config: ServerConfig,
    on_grpc: Callable[[str], None] = lambda address: None,
) -> None:
    """Serve in the foreground until Ctrl-C or SIGTERM (used by ``batchframe serve``);
    ``on_grpc`` is told the gRPC front's address once it listens."""
    server = BatchServer(config)
    grpc_front = None
    try:
        grpc_front = _grpc_front(server, host)
        if grpc_front is not None:
            grpc_front.start()
            on_grpc(grpc_front.address)
        _uvicorn(server, host, port).run(sockets=[_bind(host, port)])
    finally:
        if grpc_front is not None:
            grpc_front.stop()
        server.close()
