"""Fixtures for the server tests: an authenticated httpx client over the in-process transport."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from srv_helpers import client_for

from batchframe.server import BatchServer


@pytest.fixture
def api(batch_server: BatchServer) -> Iterator[httpx.Client]:
    with client_for(batch_server) as client:
        yield client
    assert batch_server.internal_errors == 0


@pytest.fixture
def paused_api(batch_server: BatchServer, api: httpx.Client) -> httpx.Client:
    batch_server.engine.pause()
    return api
