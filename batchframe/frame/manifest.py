"""Submit manifests: the small JSON file that lets a rerun of ``submit`` reattach and resume.

One file per (name, base URL) under ``.batchframe/`` in the working directory, or under
``manifest_dir`` / ``BATCHFRAME_HOME``. It holds the batch ID, the name, the base URL, the model,
the row count, the ID column, the fingerprint of IDs and bodies, the creation time, how far the
upload got, and the batchframe version. Never the API key. Writes are atomic (temp + replace).

>>> import tempfile
>>> d = tempfile.mkdtemp()
>>> m = Manifest(batch_id="batch_1", name="reviews", base_url="http://localhost/v1",
...              model="grok-4", num_rows=3, id_column=None, fingerprint="ab12")
>>> path = write_manifest(m, d)
>>> load_manifest("reviews", "http://localhost/v1", d).batch_id
'batch_1'
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import os
import pathlib
import re
from dataclasses import dataclass
from typing import Any

import orjson

from batchframe import __version__
from batchframe._config import read_env
from batchframe.errors import ManifestConflictError
from batchframe.frame.atomic import replaced_atomically

__all__ = [
    "MANIFEST_DIRNAME",
    "Manifest",
    "check_fingerprint",
    "find_manifest",
    "jsonable_kwargs",
    "load_manifest",
    "manifest_dir",
    "manifest_path",
    "write_manifest",
]

logger = logging.getLogger("batchframe")

MANIFEST_DIRNAME = ".batchframe"
_SLUG = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Manifest:
    """What ``submit`` remembers about one batch (no secrets)."""

    batch_id: str
    name: str
    base_url: str
    model: str
    num_rows: int
    id_column: str | None
    fingerprint: str
    created: str = dataclasses.field(
        default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    )
    upload_complete: bool = False
    rows_confirmed: int = 0
    chunks_confirmed: int = 0
    chunks_total: int = 0
    batchframe_version: str = __version__
    #: The encoding arguments when they are plain JSON (lets ``bf.attach(...).retry_failed()``
    #: resubmit); ``None`` when they hold something JSON cannot carry, such as a response_model.
    submit_kwargs: dict[str, Any] | None = None
    #: Rows left out for a null prompt (``on_null="skip"``), so ``bf.attach`` can say ``skipped``.
    skipped_ids: list[str] = dataclasses.field(default_factory=list)

    def to_json(self) -> bytes:
        return orjson.dumps(dataclasses.asdict(self), option=orjson.OPT_INDENT_2)

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        data = orjson.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("a manifest must be a JSON object")
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def replace(self, **changes: Any) -> Manifest:
        return dataclasses.replace(self, **changes)


def manifest_dir(directory: str | os.PathLike[str] | None = None) -> pathlib.Path:
    """Where manifests live: ``directory``, else ``BATCHFRAME_HOME``, else ``./.batchframe``.

    >>> manifest_dir("/tmp/m").as_posix()
    '/tmp/m'
    """
    if directory is not None:
        return pathlib.Path(directory)
    env = read_env().manifest_dir
    return pathlib.Path(env) if env else pathlib.Path.cwd() / MANIFEST_DIRNAME


def manifest_path(
    name: str, base_url: str, directory: str | os.PathLike[str] | None = None
) -> pathlib.Path:
    """The manifest file of ``name`` on ``base_url``: a safe slug plus a short hash.

    >>> manifest_path("my run/1", "http://localhost/v1", "/m").name[:9]
    'my-run-1-'
    """
    slug = _SLUG.sub("-", name).strip("-.")[:60] or "batch"
    digest = hashlib.sha256(f"{name}\n{base_url.rstrip('/')}".encode()).hexdigest()[:12]
    return manifest_dir(directory) / f"{slug}-{digest}.json"


def load_manifest(
    name: str, base_url: str, directory: str | os.PathLike[str] | None = None
) -> Manifest | None:
    """The manifest of ``name`` on ``base_url``, or ``None`` when there is none."""
    path = manifest_path(name, base_url, directory)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        manifest = Manifest.from_json(raw)
    except (ValueError, TypeError) as exc:
        raise ManifestConflictError(
            f"The manifest {path} for name {name!r} cannot be read ({exc}). Delete it to start "
            "a fresh batch, or pass a different name=."
        ) from exc
    if manifest.name != name or manifest.base_url.rstrip("/") != base_url.rstrip("/"):
        return None  # a hash collision of two names: treat as absent rather than misattach
    return manifest


def write_manifest(
    manifest: Manifest, directory: str | os.PathLike[str] | None = None
) -> pathlib.Path:
    """Write ``manifest`` atomically (a temp file in the same folder, then ``os.replace``)."""
    path = manifest_path(manifest.name, manifest.base_url, directory)
    with replaced_atomically(path) as tmp, open(tmp, "wb") as handle:
        handle.write(manifest.to_json())
        handle.flush()
        os.fsync(handle.fileno())
    return path


def find_manifest(
    batch_id: str, directory: str | os.PathLike[str] | None = None
) -> Manifest | None:
    """The manifest that recorded ``batch_id`` (used by ``bf.attach``), or ``None``.

    >>> find_manifest("batch_nope", "/nonexistent") is None
    True
    """
    folder = manifest_dir(directory)
    if not folder.is_dir():
        return None
    for path in sorted(folder.glob("*.json")):
        try:
            manifest = Manifest.from_json(path.read_bytes())
        except (OSError, ValueError, TypeError):
            logger.debug("skipping unreadable manifest %s", path)
            continue
        if manifest.batch_id == batch_id:
            return manifest
    return None


def jsonable_kwargs(kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """``kwargs`` if they survive a JSON round trip unchanged, else ``None``.

    >>> jsonable_kwargs({"prompt": "q", "temperature": 0.2}), jsonable_kwargs({"x": object()})
    ({'prompt': 'q', 'temperature': 0.2}, None)
    """
    try:
        back = orjson.loads(orjson.dumps(kwargs))
    except (TypeError, orjson.JSONEncodeError):
        return None
    return back if back == kwargs else None


def check_fingerprint(manifest: Manifest, fingerprint: str, path: pathlib.Path) -> None:
    """Raise :class:`~batchframe.ManifestConflictError` when the frame or settings changed."""
    if manifest.fingerprint == fingerprint:
        return
    raise ManifestConflictError(
        f"A batch named {manifest.name!r} ({manifest.batch_id}, {manifest.num_rows} rows) was "
        "already submitted from a different frame or different settings. Pass a new name= to "
        f"submit this one as a new batch, or delete {path} to forget the old one."
    )
