"""Shared fixtures: the local batch server (``batchframe.testing``) and a client on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from batchframe.client import Client
from batchframe.server.app import BatchServer

pytest_plugins = ["batchframe.testing"]


@pytest.fixture
def client(batch_server: BatchServer) -> Iterator[Client]:
    """A client talking to the in-process ``batch_server`` (no sockets)."""
    with Client(
        api_key="test-key", base_url="http://localhost/v1", transport=batch_server.transport()
    ) as c:
        yield c
