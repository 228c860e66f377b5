"""Fixtures for the upstream tests: a stub upstream on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from stub import StubUpstream


@pytest.fixture
def stub() -> Iterator[StubUpstream]:
    with StubUpstream() as upstream:
        yield upstream
