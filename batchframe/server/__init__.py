"""The local batch server: the xAI Batch API (REST, and gRPC for xai-sdk) over SQLite, with a
simulated model.

>>> from batchframe.server import BatchServer, ServerConfig, serve
"""

from __future__ import annotations

from batchframe.server.app import BatchServer
from batchframe.server.config import ServerConfig, load_keys
from batchframe.server.runner import ServerHandle, run_forever, serve

__all__ = ["BatchServer", "ServerConfig", "ServerHandle", "load_keys", "run_forever", "serve"]
