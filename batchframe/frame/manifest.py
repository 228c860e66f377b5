"""Job manifests: the small JSON file that lets a rerun of ``submit``, from any directory or
process, find its job again, and ``attach`` check a frame against what was sent.

One file per job, keyed by its name and its canonical server URL, in the manifest directory:
``manifest_dir=``, else ``$BATCHFRAME_HOME/manifests``, else the user's data directory
(``platformdirs``), never the working directory. It holds the name, the server, the request spec
as JSON, and per shard: the batch name and ID, the input rows it covers, its request count, the
fingerprint of its requests, how far its upload got, and a note written *before* its batch is
created (so a crash between create and the next write is adopted on rerun, not orphaned). Never
the API key. Writes are atomic (temp file, fsync, replace).

>>> import tempfile
>>> store = ManifestStore(tempfile.mkdtemp())
>>> m = Manifest(name="reviews", server="http://127.0.0.1:8000/v1", base_url="http://localhost:8000/v1")
>>> path = store.write(m)
>>> store.load("reviews", "http://127.0.0.1:8000/v1").name
'reviews'
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import logging
import os
import pathlib
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from batchframe import __version__
from batchframe._config import DEFAULT_MAX_BATCH_REQUESTS, read_env
from batchframe._hints import NEW_NAME, Term, say
from batchframe.errors import ManifestConflictError
from batchframe.frame.atomic import replaced_atomically

__all__ = ["Manifest", "ManifestStore", "ShardRecord", "manifest_dir"]

logger = logging.getLogger("batchframe")

_SLUG = re.compile(r"[^A-Za-z0-9._-]+")
_FORMAT = 2


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass
class ShardRecord:
    """One shard of a job: a batch and the consecutive input rows it answers."""

    index: int
    name: str
    first_row: int
    stop_row: int
    requests: int
    fingerprint: str
    batch_id: str | None = None
    upload_complete: bool = False
    rows_confirmed: int = 0
    #: Set just before the batch is created: the IDs of the batches of this name seen then.
    creating: list[str] | None = None


@dataclass
class Manifest:
    """What ``submit`` remembers about one job (no secrets)."""

    name: str
    server: str
    base_url: str
    spec: dict[str, Any] | None = None
    source: str = ""
    max_batch_requests: int = DEFAULT_MAX_BATCH_REQUESTS
    shards: list[ShardRecord] = field(default_factory=list)
    #: The number of input rows, once every row has been read (None while a submit runs).
    input_rows: int | None = None
    #: Whether shards were planned (dedup and cache: plan files beside this manifest), and the
    #: result cache file used (None: off). See frame/dedup.py.
    planned: bool = False
    cache: str | None = None
    created: str = field(default_factory=_now)
    batchframe_version: str = __version__
    format: int = _FORMAT

    def to_json(self) -> bytes:
        return orjson.dumps(dataclasses.asdict(self), option=orjson.OPT_INDENT_2)

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        data = orjson.loads(raw)
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise ValueError("not a batchframe job manifest (format 2)")
        known = {f.name for f in dataclasses.fields(cls)}
        shard_fields = {f.name for f in dataclasses.fields(ShardRecord)}
        data = {k: v for k, v in data.items() if k in known}
        data["shards"] = [
            ShardRecord(**{k: v for k, v in s.items() if k in shard_fields})
            for s in data.get("shards") or []
        ]
        return cls(**data)

    def shard(self, index: int) -> ShardRecord | None:
        """The record of shard ``index`` (1-based), if any."""
        for record in self.shards:
            if record.index == index:
                return record
        return None

    @property
    def batch_ids(self) -> list[str]:
        return [s.batch_id for s in self.shards if s.batch_id is not None]


def manifest_dir(directory: str | os.PathLike[str] | None = None) -> pathlib.Path:
    """Where manifests live: ``directory``, else ``$BATCHFRAME_HOME/manifests``, else the user's
    data directory.

    >>> manifest_dir("/tmp/m").as_posix()
    '/tmp/m'
    """
    if directory is not None:
        return pathlib.Path(directory)
    home = read_env().home
    if home:
        return pathlib.Path(home) / "manifests"
    import platformdirs

    return platformdirs.user_data_path("batchframe", appauthor=False) / "manifests"


class ManifestStore:
    """The manifests of one directory: paths, atomic reads and writes, locks, lookup by ID."""

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = manifest_dir(directory)

    def path(self, name: str, server: str) -> pathlib.Path:
        """The manifest file of ``name`` on ``server``: a safe slug plus a short hash.

        >>> ManifestStore("/m").path("my run/1", "http://127.0.0.1/v1").name[:9]
        'my-run-1-'
        """
        slug = _SLUG.sub("-", name).strip("-.")[:60] or "job"
        digest = hashlib.sha256(f"{name}\n{server}".encode()).hexdigest()[:16]
        return self.directory / f"{slug}-{digest}.json"

    def load(self, name: str, server: str) -> Manifest | None:
        """The manifest of ``name`` on ``server``, or ``None`` when there is none."""
        path = self.path(name, server)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            manifest = Manifest.from_json(raw)
        except (ValueError, TypeError, KeyError) as exc:
            raise ManifestConflictError(
                say(
                    f"The manifest {path} for name {name!r} cannot be read ({exc}). Delete it "
                    "to start over (the server's batches of that name are still looked up), or "
                    "pass a different ",
                    NEW_NAME,
                    ".",
                )
            ) from exc
        if manifest.name != name or manifest.server != server:
            logger.warning("ignoring %s: it records %r on %s", path, manifest.name, manifest.server)
            return None  # edited, or a hash collision: the server lookup decides instead
        return manifest

    def write(self, manifest: Manifest) -> pathlib.Path:
        """Write ``manifest`` atomically (a temp file in the same folder, fsync, replace)."""
        path = self.path(manifest.name, manifest.server)
        with replaced_atomically(path) as tmp, open(tmp, "wb") as handle:
            handle.write(manifest.to_json())
            handle.flush()
            os.fsync(handle.fileno())
        return path

    @contextlib.contextmanager
    def lock(self, name: str, server: str) -> Iterator[pathlib.Path]:
        """Hold the job's lock: submits of one job on this machine run one at a time.

        The directory is created and checked writable first, before anything is sent.
        """
        import filelock

        path = self.path(name, server)
        self.check_writable()
        lock = filelock.FileLock(str(path) + ".lock")
        try:
            lock.acquire(timeout=1)
        except filelock.Timeout:
            logger.warning("waiting for another submit of job %r (lock %s.lock)", name, path)
            lock.acquire()
        try:
            yield path
        finally:
            lock.release()

    def check_writable(self) -> None:
        """Raise PermissionError, saying what to do, when manifests cannot be written here."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.directory) as probe:
                probe.write(b"ok")
        except OSError as exc:
            raise PermissionError(
                say(
                    f"batchframe cannot write its job manifests in {self.directory} ({exc}); "
                    "nothing was sent. ",
                    Term("Pass manifest_dir= or set", "Set"),
                    " BATCHFRAME_HOME to a writable folder.",
                )
            ) from exc

    def manifests(self) -> Iterator[tuple[pathlib.Path, Manifest]]:
        """Every readable manifest in the directory."""
        if not self.directory.is_dir():
            return
        for path in sorted(self.directory.glob("*.json")):
            try:
                yield path, Manifest.from_json(path.read_bytes())
            except (OSError, ValueError, TypeError, KeyError):
                logger.debug("skipping unreadable manifest %s", path)

    def find_batch(self, batch_id: str) -> Manifest | None:
        """The manifest of the job one of whose shards is ``batch_id``, or ``None``.

        >>> ManifestStore("/nonexistent").find_batch("batch_nope") is None
        True
        """
        for _, manifest in self.manifests():
            if batch_id in manifest.batch_ids:
                return manifest
        return None
