"""A job's identity: its name and canonical server, and how a shard finds its batch again.

For each shard of a job, in this order: the manifest's batch (when it names one), then the
server's batches of the shard's name, then a new batch, created after a note in the manifest so
that a crash between create and the next write leaves a batch the rerun adopts. What the server
lists counts as this job's only with evidence:

- a batch of this name that holds requests is a candidate when every request ID it lists is one
  of this shard's; the upload then first re-sends those requests, so the server's own rule (the
  same ID with other content is a 412) proves they are this shard's requests before anything new
  is added. A batch holding other IDs, or other content, is a ``ManifestConflictError``;
- an empty batch of this name is adopted only when this machine's note says it may have created
  it (it appeared since the note was written), or when the name itself binds the content (the
  default name is derived from the first shard's fingerprint). Otherwise it is another
  machine's, possibly about to receive a different frame, and is left alone.

>>> canonical_server_url("HTTP://LocalHost:80/v1/")
'http://127.0.0.1/v1'
>>> shard_name("reviews", 1), shard_name("reviews", 3)
('reviews', 'reviews#3')
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.compute as pc

from batchframe._hints import NEW_NAME, attach_hint, say
from batchframe.errors import ManifestConflictError, NotFoundError
from batchframe.models import Batch

if TYPE_CHECKING:
    from batchframe.client import Client
    from batchframe.frame.manifest import Manifest, ManifestStore, ShardRecord

__all__ = [
    "Claim",
    "ServerBatches",
    "canonical_server_url",
    "claim_batch",
    "default_job_name",
    "listed_request_ids",
    "shard_name",
]

logger = logging.getLogger("batchframe")

_LOOPBACK = {"localhost", "127.0.0.1", "::1"}
_DEFAULT_PORTS = {"http": 80, "https": 443}
_DEFAULT_PREFIX = "batchframe-"


def canonical_server_url(url: str) -> str:
    """The server's identity: scheme and host lower-cased, loopback names as ``127.0.0.1``,
    default ports and trailing or doubled slashes dropped.

    >>> canonical_server_url("http://[::1]:8000//v1") == canonical_server_url("http://localhost:8000/v1")
    True
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if host in _LOOPBACK or host.endswith(".localhost"):
        host = "127.0.0.1"
    netloc = f"[{host}]" if ":" in host else host
    port = parts.port
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        netloc += f":{port}"
    path = re.sub("/+", "/", parts.path).rstrip("/")
    return f"{scheme}://{netloc}{path}"


def default_job_name(fingerprint: str) -> str:
    """The name of a job submitted without ``name=``: bound to its first shard's requests."""
    return f"{_DEFAULT_PREFIX}{fingerprint[:16]}"


def shard_name(name: str, index: int) -> str:
    """The batch name of shard ``index`` (1-based): ``name``, then ``name#2``, ``name#3``..."""
    return name if index == 1 else f"{name}#{index}"


class ServerBatches:
    """The team's batches grouped by name, listed once and again on :meth:`refresh`."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._by_name: dict[str, list[Batch]] | None = None

    def refresh(self) -> None:
        by_name: dict[str, list[Batch]] = {}
        for batch in self.client.iter_batches(limit=100):
            by_name.setdefault(batch.name, []).append(batch)
        self._by_name = by_name

    def named(self, name: str) -> list[Batch]:
        if self._by_name is None:
            self.refresh()
        assert self._by_name is not None
        return list(self._by_name.get(name, []))


def listed_request_ids(client: Client, batch_id: str) -> pa.ChunkedArray:
    """Every request ID the server lists for ``batch_id`` (the raw metadata pages).

    >>> listed_request_ids(client, job.batch_id).to_pylist()  # doctest: +SKIP
    ['0', '1', '2']
    """
    from batchframe.frame.results import fetch_request_states

    return fetch_request_states(client, batch_id)["batch_request_id"]


@dataclass
class Claim:
    """The batch a shard goes to, and what the server already lists in it.

    ``verify``: the listed requests were not sent by this machine's record of the job, so the
    upload re-sends them before anything new (the server's 412 check proves they are the same).
    """

    batch: Batch
    listed: pa.ChunkedArray | None = None
    verify: bool = False


def _conflict(name: str, why: str) -> ManifestConflictError:
    return ManifestConflictError(
        say(
            f"The server already has a batch named {name!r} {why}, so this submit would mix "
            "two jobs. Pass a new ",
            NEW_NAME,
            ", or read the existing job with ",
            attach_hint(name),
            ".",
        )
    )


def _usable(batch: Batch, name: str) -> Batch:
    if batch.is_cancelled:
        raise ManifestConflictError(
            say(
                f"Batch {batch.batch_id} (name {name!r}) was cancelled, so nothing more can be "
                "added to it. Read what it has with ",
                attach_hint(batch.batch_id),
                "; to submit again, pass a new ",
                NEW_NAME,
                ".",
            )
        )
    return batch


def claim_batch(
    client: Client,
    store: ManifestStore,
    manifest: Manifest,
    record: ShardRecord,
    ids: pa.ChunkedArray,
    server: ServerBatches,
) -> Claim:
    """Find or create the batch of shard ``record`` (see the module docstring)."""
    if record.batch_id is not None:
        return _recorded(client, store, manifest, record, ids)
    named = server.named(record.name)
    holding = [b for b in named if b.num_requests > 0]
    if holding:
        return _adopt_holding(client, record, ids, holding)
    empty = sorted((b for b in named if not b.is_cancelled), key=lambda b: b.batch_id)
    if record.creating is not None:
        fresh = [b for b in empty if b.batch_id not in record.creating]
        if len(fresh) > 1:
            raise _conflict(record.name, f"{len(fresh)} times, all empty and all new")
        if fresh:
            logger.info(
                "adopting batch %s: created by an earlier run of this job", fresh[0].batch_id
            )
            return _record_created(store, manifest, record, fresh[0])
    elif empty and record.index == 1 and manifest.name == default_job_name(record.fingerprint):
        logger.info("adopting empty batch %s: its name binds the same requests", empty[0].batch_id)
        return _record_created(store, manifest, record, empty[0])
    return _create(client, store, manifest, record, server)


def _recorded(
    client: Client,
    store: ManifestStore,
    manifest: Manifest,
    record: ShardRecord,
    ids: pa.ChunkedArray,
) -> Claim:
    path = store.path(manifest.name, manifest.server)
    try:
        batch = client.get_batch(str(record.batch_id))
    except NotFoundError as exc:
        raise ManifestConflictError(
            say(
                f"The manifest {path} points at batch {record.batch_id}, which "
                f"{manifest.base_url} no longer has (404). Delete {path} or pass a new ",
                NEW_NAME,
                " to start a fresh job.",
            )
        ) from exc
    complete = record.upload_complete and batch.num_requests == record.requests
    if complete and not batch.num_cancelled:
        return Claim(batch)  # nothing to add: a batch cancelled once it had finished is still it
    _usable(batch, record.name)
    if complete:
        return Claim(batch)
    listed = listed_request_ids(client, batch.batch_id)
    if not _all_in(listed, ids):
        raise _conflict(record.name, f"({batch.batch_id}) holding requests this job never sent")
    return Claim(batch, listed)


def _all_in(listed: pa.ChunkedArray, ids: pa.ChunkedArray) -> bool:
    if len(listed) == 0:
        return True
    return bool(pc.all(pc.is_in(listed, value_set=ids)).as_py())


def _adopt_holding(
    client: Client, record: ShardRecord, ids: pa.ChunkedArray, holding: list[Batch]
) -> Claim:
    candidates: list[Claim] = []
    for batch in holding:
        listed = listed_request_ids(client, batch.batch_id)
        if not _all_in(listed, ids):
            raise _conflict(record.name, f"({batch.batch_id}) holding other request IDs")
        candidates.append(Claim(batch, listed, verify=True))
    if len(candidates) > 1:
        shown = ", ".join(c.batch.batch_id for c in candidates)
        raise _conflict(record.name, f"more than once ({shown})")
    claim = candidates[0]
    _usable(claim.batch, record.name)
    record.batch_id = claim.batch.batch_id
    logger.info(
        "found batch %s (%s) on the server; re-sending its %d listed requests to check them",
        claim.batch.batch_id,
        record.name,
        len(claim.listed) if claim.listed is not None else 0,
    )
    return claim


def _record_created(
    store: ManifestStore, manifest: Manifest, record: ShardRecord, batch: Batch
) -> Claim:
    record.batch_id = batch.batch_id
    record.creating = None
    store.write(manifest)
    return Claim(batch)


def _create(
    client: Client,
    store: ManifestStore,
    manifest: Manifest,
    record: ShardRecord,
    server: ServerBatches,
) -> Claim:
    server.refresh()  # the snapshot the note keeps must be current
    record.creating = sorted(b.batch_id for b in server.named(record.name))
    store.write(manifest)  # the note first: a crash after the create is adopted on rerun
    before = set(record.creating)
    batch = client.create_batch(record.name, recover=_recovery(client, record.name, before))
    return _record_created(store, manifest, record, batch)


def _recovery(client: Client, name: str, before: set[str]) -> Callable[[], Batch | None]:
    """After a lost create reply: the one empty batch of this name that appeared since."""

    def recover() -> Batch | None:
        fresh = [
            b
            for b in client.iter_batches(limit=100)
            if b.name == name
            and b.batch_id not in before
            and b.num_requests == 0
            and not b.is_cancelled
        ]
        if len(fresh) > 1:
            raise _conflict(name, f"{len(fresh)} times, all empty and all new")
        return fresh[0] if fresh else None

    return recover
