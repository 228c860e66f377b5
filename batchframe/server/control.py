"""Control routes under ``/_control/`` (no auth), moto-style, for tests and demos.

- ``POST /_control/pause`` / ``POST /_control/resume``: stop or restart the engine.
- ``POST /_control/step?n=N``: process up to N pending requests now (all when N is absent),
  after parsing the input files of the file batches created before it.
- ``GET|POST /_control/faults``: read, or override with a JSON object, the fault settings
  (``fail_rate``, ``http_error_rate``, ``drop_rate``, ``latency``, ``add_calls_per_30s``,
  ``creates_per_second``, ``max_body_mb``, and the engine's ``speed``).
- ``GET /_control/stats``: request counters, engine state, faults.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import orjson

from batchframe.server.errors import InvalidArgument, MethodNotAllowed, NotFound, Unprocessable

if TYPE_CHECKING:
    from batchframe.server.app import BatchServer

__all__ = ["handle"]

_JSON = [("content-type", "application/json")]


def handle(
    server: BatchServer, method: str, path: str, query_string: bytes, body: bytes
) -> tuple[int, list[tuple[str, str]], bytes]:
    """Answer one control call."""
    name = path[len("/_control/") :]
    allowed = {
        "pause": "POST",
        "resume": "POST",
        "step": "POST",
        "faults": "GET, POST",
        "stats": "GET",
    }
    if name not in allowed:
        raise NotFound(f"No control route {name[:100]!r}")
    if method not in allowed[name].split(", "):
        raise MethodNotAllowed("Method not allowed", headers=[("allow", allowed[name])])
    engine = server.engine
    result: dict[str, Any]
    if name == "pause":
        engine.pause()
        result = {"paused": True}
    elif name == "resume":
        engine.resume()
        result = {"paused": False}
    elif name == "step":
        query = dict(parse_qsl(query_string.decode("utf-8", "replace")))
        raw = query.get("n")
        if raw is not None and not (raw.isascii() and raw.isdigit() and len(raw) < 19):
            raise InvalidArgument("n must be a non-negative integer")
        # A file batch's parse is asynchronous: the ones created before this call first.
        server.ingest.wait_idle()
        result = {"processed": engine.step(None if raw is None else int(raw))}
    elif name == "faults":
        if method == "POST":
            _update_faults(server, body)
        result = {**server.faults.as_dict(), "speed": engine.speed}
    else:
        result = {
            **server.store.stats(),
            "processed": engine.processed,
            "in_flight": engine.in_flight,
            "paused": engine.paused,
            "internal_errors": server.internal_errors,
            "faults": {**server.faults.as_dict(), "speed": engine.speed},
        }
    return 200, list(_JSON), orjson.dumps(result)


def _update_faults(server: BatchServer, body: bytes) -> None:
    try:
        values = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError as exc:
        raise Unprocessable(f"Invalid JSON: {exc}") from None
    if not isinstance(values, dict):
        raise Unprocessable("Expected a JSON object of fault settings")
    speed = values.pop("speed", None)
    try:
        server.faults.update(values)
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from None
    if speed is not None:
        if isinstance(speed, bool) or not isinstance(speed, int | float) or speed < 0:
            raise InvalidArgument("speed must be a number >= 0")
        server.engine.speed = float(speed)
