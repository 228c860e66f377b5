"""The Files routes of the file flow: upload (multipart), list, get, delete, content.

``POST /v1/files`` takes ``multipart/form-data`` with a ``file`` part (the JSONL input of a
batch, up to ``max_file_mb``, 200 MB by default), an optional ``purpose`` (accepted and ignored:
xAI stores ``""``) and an optional ``expires_after[seconds]`` (3600 to 2592000; ``expires_at`` is
then set, otherwise null). The reply is xAI's file object::

    {"id": "file_<uuid>", "object": "file", "bytes": 123, "created_at": 1762345678,
     "expires_at": null, "filename": "requests.jsonl", "purpose": ""}

A team only ever sees its own files (another team's file is a 404, on every route and as an
``input_file_id``). The content of a file is checked when a batch is created from it
(:mod:`batchframe.server.file_ingest`), not at upload: the Files API takes any file.

>>> parts = parse_multipart(b'--b\\r\\nContent-Disposition: form-data; name="purpose"\\r\\n\\r\\n'
...     b'batch\\r\\n--b--\\r\\n', "multipart/form-data; boundary=b")
>>> parts[0].name, parts[0].data
('purpose', b'batch')
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import orjson

from batchframe.server.errors import (
    InvalidArgument,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from batchframe.server.service import FILE_ID_RE, check_limit, decode_position, encode_token
from batchframe.server.store_protocol import BatchStore, FileRow, NewFile

__all__ = ["FileRoutes", "Part", "RawContent", "parse_multipart"]

MAX_PARTS = 64
MAX_FILENAME = 1024
MIN_EXPIRY, MAX_EXPIRY = 3600, 2_592_000
_PARAM = re.compile(r';\s*([^=;\s]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


class RawContent(bytes):
    """A reply body that is not JSON (a file's content): sent as ``application/octet-stream``."""


@dataclass(frozen=True)
class Part:
    """One part of a multipart body."""

    name: str
    filename: str | None
    data: bytes


def parse_multipart(body: bytes, content_type: str) -> list[Part]:
    """The parts of a ``multipart/form-data`` body; a malformed one is a 400 (415 if not multipart)."""
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "multipart/form-data":
        raise UnsupportedMediaType("Expected request with `Content-Type: multipart/form-data`")
    boundary = _params(";" + params).get("boundary", "")
    if not boundary or len(boundary) > 200:
        raise InvalidArgument("multipart/form-data needs a boundary of 1 to 200 characters")
    delim = b"--" + boundary.encode("latin-1", "replace")
    pos = body.find(delim)
    if pos < 0:
        raise InvalidArgument("Malformed multipart body: no boundary line")
    parts: list[Part] = []
    pos += len(delim)
    while body[pos : pos + 2] != b"--":
        if len(parts) >= MAX_PARTS:
            raise InvalidArgument(f"Malformed multipart body: more than {MAX_PARTS} parts")
        eol = body.find(b"\r\n", pos)
        end = body.find(b"\r\n" + delim, eol)
        heads = body.find(b"\r\n\r\n", eol, end) if eol >= 0 and end >= 0 else -1
        if heads < 0:
            raise InvalidArgument("Malformed multipart body: a part is not terminated")
        parts.append(_part(body[eol + 2 : heads], body[heads + 4 : end]))
        pos = end + 2 + len(delim)
    return parts


def _part(raw_headers: bytes, data: bytes) -> Part:
    headers: dict[str, str] = {}
    for line in raw_headers.decode("utf-8", "replace").split("\r\n"):
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    disposition = headers.get("content-disposition", "")
    if not disposition.lower().startswith("form-data"):
        raise InvalidArgument("Malformed multipart body: a part has no form-data disposition")
    params = _params(disposition[len("form-data") :])
    filename = params.get("filename")
    if "filename*" in params:  # RFC 5987: charset'lang'percent-encoded
        filename = unquote(params["filename*"].split("'", 2)[-1], errors="replace")
    return Part(params.get("name", ""), filename, data)


def _params(text: str) -> dict[str, str]:
    out = {}
    for key, value in _PARAM.findall(text):
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        out[key.lower()] = value.strip()
    return out


class FileRoutes:
    """``/v1/files`` over the store, for one server's limits."""

    def __init__(self, store: BatchStore, max_file_bytes: int) -> None:
        self.store = store
        self.max_file_bytes = max_file_bytes

    def upload(self, team: str, body: bytes, headers: Mapping[str, str], now: float) -> bytes:
        parts = parse_multipart(body, headers.get("content-type", ""))
        files = [p for p in parts if p.name == "file"]
        if len(files) != 1:
            raise InvalidArgument("Expected exactly one `file` part in the multipart body")
        upload = files[0]
        if len(upload.data) > self.max_file_bytes:
            raise PayloadTooLarge(f"File is larger than {self.max_file_bytes:,} bytes")
        if not upload.data:
            raise InvalidArgument("The uploaded file is empty")
        filename = (upload.filename or "file").replace("\x00", "")[:MAX_FILENAME] or "file"
        created = int(now)
        row = self.store.add_file(
            team,
            NewFile(
                file_id=f"file_{uuid.uuid4()}",
                filename=filename,
                purpose="",
                created_at=created,
                expires_at=_expiry(parts, created),
                content=upload.data,
            ),
        )
        return orjson.dumps(file_json(row))

    def list(self, team: str, limit: int | None, token: str | None) -> bytes:
        limit = check_limit(limit)
        rows = self.store.list_files(team, limit + 1, decode_position("f", token))
        next_token = encode_token("f", str(rows[limit - 1].pk)) if len(rows) > limit else None
        return orjson.dumps(
            {"data": [file_json(r) for r in rows[:limit]], "pagination_token": next_token}
        )

    def get(self, team: str, file_id: str) -> bytes:
        return orjson.dumps(file_json(self._require(team, file_id)))

    def delete(self, team: str, file_id: str) -> bytes:
        self._require(team, file_id)
        self.store.delete_file(team, file_id)
        return orjson.dumps({"id": file_id, "object": "file", "deleted": True})

    def content(self, team: str, file_id: str) -> RawContent:
        self._require(team, file_id)
        content = self.store.file_content(team, file_id)
        if content is None:  # deleted between the two reads
            raise NotFound(f"Cannot find file with ID {file_id[:200]!r}")
        return RawContent(content)

    def _require(self, team: str, file_id: str) -> FileRow:
        row = self.store.get_file(team, file_id) if FILE_ID_RE.fullmatch(file_id) else None
        if row is None:
            raise NotFound(f"Cannot find file with ID {file_id[:200]!r}")
        return row


def _expiry(parts: list[Part], created: int) -> int | None:
    for part in parts:
        if part.name in ("expires_after[seconds]", "expires_after"):
            raw = part.data.decode("utf-8", "replace").strip()
            if not (raw.isascii() and raw.isdigit() and len(raw) < 10) or not (
                MIN_EXPIRY <= int(raw) <= MAX_EXPIRY
            ):
                raise InvalidArgument(
                    f"expires_after seconds must be an integer from {MIN_EXPIRY} to {MAX_EXPIRY}"
                )
            return created + int(raw)
    return None


def file_json(row: FileRow) -> dict[str, Any]:
    """A file as the Files API returns it."""
    return {
        "id": row.file_id,
        "object": "file",
        "bytes": row.bytes,
        "created_at": row.created_at,
        "expires_at": row.expires_at,
        "filename": row.filename,
        "purpose": row.purpose,
    }
