"""pytest fixtures for the local batch server (``pytest_plugins = ["batchframe.testing"]``).

- ``batch_server``: a fresh in-process :class:`~batchframe.server.BatchServer` (in-memory
  database, engine flat out); use ``batch_server.transport()`` as an httpx transport.
- ``loopback_server``: a real uvicorn server on 127.0.0.1 (a :class:`ServerHandle`);
  ``loopback_server.base_url`` is ``http://127.0.0.1:PORT/v1``.

>>> def test_it(batch_server):                     # doctest: +SKIP
...     http = httpx.Client(transport=batch_server.transport(), base_url="http://t/v1")
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from batchframe.server.app import BatchServer
from batchframe.server.runner import ServerHandle, serve

__all__ = ["batch_server", "free_port", "loopback_server"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def batch_server() -> Iterator[BatchServer]:
    """A fresh in-process server on an in-memory database, closed after the test."""
    server = BatchServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def loopback_server() -> Iterator[ServerHandle]:
    """A real uvicorn server on a free loopback port, stopped after the test."""
    handle = serve()
    try:
        yield handle
    finally:
        handle.stop()
