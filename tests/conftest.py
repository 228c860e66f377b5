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


@pytest.fixture(autouse=True)
def _private_manifest_dir(
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every test keeps its manifests to itself, never in the repo's working directory.

    In-process servers all share the base URL ``http://localhost/v1``, so a manifest left by
    one test could make another reattach to a batch its fresh server never had.
    """
    if "tmp_path" in request.fixturenames:
        home = request.getfixturevalue("tmp_path") / ".batchframe"
    else:
        home = tmp_path_factory.mktemp("manifests") / ".batchframe"
    monkeypatch.setenv("BATCHFRAME_HOME", str(home))
