"""pytest fixtures for the local batch server (``pytest_plugins = ["batchframe.testing"]``).

- ``batch_server``: a fresh in-process :class:`~batchframe.server.BatchServer` (in-memory
  database, engine flat out); use ``batch_server.transport()`` as an httpx transport.
- ``loopback_server``: a real uvicorn server on 127.0.0.1 (a :class:`ServerHandle`);
  ``loopback_server.base_url`` is ``http://127.0.0.1:PORT/v1``.
- :class:`ServeProcess`: ``python -m batchframe serve`` in a subprocess that a crash test can
  kill with SIGKILL and start again on the same port and database.

>>> def test_it(batch_server):                     # doctest: +SKIP
...     http = httpx.Client(transport=batch_server.transport(), base_url="http://t/v1")
"""

from __future__ import annotations

import pathlib
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from batchframe.server.app import BatchServer
from batchframe.server.runner import ServerHandle, serve

__all__ = ["ServeProcess", "batch_server", "free_port", "loopback_server"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class ServeProcess:
    """``python -m batchframe serve --port PORT ARGS`` in a subprocess, on a port that stays the
    same across :meth:`kill` and :meth:`start` (pass ``--db FILE`` to keep the batches too).

    >>> server = ServeProcess("--db", "b.sqlite", log=tmp_path / "serve.log")  # doctest: +SKIP
    >>> server.start(); server.kill(); server.start(); server.stop()           # doctest: +SKIP
    """

    def __init__(self, *args: str, log: pathlib.Path) -> None:
        self.port = free_port()
        self.args = ["--port", str(self.port), *args]
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server (its output appended to ``log``) and wait until it accepts."""
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "batchframe", "serve", *self.args], stdout=out, stderr=out
            )
        deadline = time.monotonic() + 30
        while True:
            assert self.proc.poll() is None, self.log.read_text()[-2000:]
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


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
