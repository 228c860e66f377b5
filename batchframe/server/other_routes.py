"""The REST routes outside ``/v1/batches``: the file flow, the tokenizer and the model list.

The app hands every ``/v1/...`` path that is not a batch route here (after auth and the body
limit); the handlers themselves live in :mod:`.files` and :mod:`.routes`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import unquote

from batchframe.server.errors import MethodNotAllowed, NotFound
from batchframe.server.routes import parse_limit, read_json

if TYPE_CHECKING:
    from batchframe.server.app import BatchServer

__all__ = ["other_route"]

_FILES = "/v1/files"
_MODELS = "/v1/language-models"


def other_route(
    server: BatchServer,
    team: str,
    method: str,
    path: str,
    query: dict[str, str],
    headers: Mapping[str, str],
    body: bytes,
    now: float,
) -> tuple[int, bytes]:
    """The file flow, the tokenizer and the model list."""
    if path == _FILES:
        if method == "POST":
            return 200, server.files.upload(team, body, headers, now)
        if method == "GET":
            return 200, server.files.list(team, parse_limit(query), query.get("pagination_token"))
        raise MethodNotAllowed("Method not allowed", headers=[("allow", "GET, POST")])
    if path.startswith(_FILES + "/"):
        raw_id, _, sub = path[len(_FILES) + 1 :].partition("/")
        file_id = _segment(raw_id, "file")
        if sub == "content":
            if method != "GET":
                raise MethodNotAllowed("Method not allowed", headers=[("allow", "GET")])
            return 200, server.files.content(team, file_id)
        if sub:
            raise NotFound(f"No route for {path[:200]}")
        if method == "GET":
            return 200, server.files.get(team, file_id)
        if method == "DELETE":
            return 200, server.files.delete(team, file_id)
        raise MethodNotAllowed("Method not allowed", headers=[("allow", "GET, DELETE")])
    if path == "/v1/tokenize-text":
        if method != "POST":
            raise MethodNotAllowed("Method not allowed", headers=[("allow", "POST")])
        return 200, server.routes.tokenize_text(read_json(body, headers))
    if path == _MODELS or path.startswith(_MODELS + "/"):
        if method != "GET":
            raise MethodNotAllowed("Method not allowed", headers=[("allow", "GET")])
        if path == _MODELS:
            return 200, server.routes.language_models()
        name = _segment(path[len(_MODELS) + 1 :], "model")
        if "/" in name:
            raise NotFound(f"No route for {path[:200]}")
        return 200, server.routes.language_model(name)
    raise NotFound(f"No route for {path[:200]}")


def _segment(raw: str, what: str) -> str:
    try:
        return unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise NotFound(f"Cannot find {what}: the ID is not valid UTF-8") from None
