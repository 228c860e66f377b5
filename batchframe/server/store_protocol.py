"""What the routes, the engine and the file flow need from storage, in domain terms.

:class:`~batchframe.server.store.Store` (SQLite, one process per file) is the implementation;
this protocol and the plain values below are the seam for another one (PostgreSQL, several
server processes). Nothing outside the store speaks SQL, and nothing outside it depends on
``Store`` itself: the service, the engine and the file ingest take a :class:`BatchStore`.

A request's life: *pending* (added) -> *claimed* (handed to a worker under a lease that expires
unless renewed; the API still calls it pending) -> *done* (its result item is stored, once).
A lease that expires or is released puts its unfinished requests back in line, so a worker that
dies mid-run loses nothing: its requests run again (the model may see one twice), and each is
answered exactly once in the results.

A file batch is a batch with an input file: sealed (it takes no inline requests) and filled
once, when its file is parsed, or cancelled by the server with a ``cancel_by_xai_message``.

>>> from batchframe.server.store import Store
>>> isinstance(Store(), BatchStore)
True
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol, runtime_checkable

__all__ = [
    "CANCELLED",
    "DEFAULT_EXPIRE_AFTER",
    "FAILED",
    "LEASE_SECONDS",
    "PENDING",
    "STATE_NAMES",
    "SUCCEEDED",
    "BatchRow",
    "BatchStore",
    "Claim",
    "Done",
    "FileRow",
    "NewFile",
    "NewRequest",
    "Pending",
    "RequestRow",
    "StoredRequest",
]

#: A request's state: pending (claimed or not), succeeded, failed, cancelled (or expired).
PENDING, SUCCEEDED, FAILED, CANCELLED = 1, 2, 3, 4
STATE_NAMES = {
    0: "unknown",
    PENDING: "pending",
    SUCCEEDED: "succeeded",
    FAILED: "failed",
    CANCELLED: "cancelled",
}
#: A batch expires this many seconds after it was created (xAI: 30 days).
DEFAULT_EXPIRE_AFTER = 30 * 86400.0
#: How long a claim stays live without being renewed.
LEASE_SECONDS = 60.0

#: (batch_request_id, kind, model, canonical request JSON)
NewRequest = tuple[str, str, str, bytes]
#: (seq, batch_pk, batch_request_id, kind, canonical request JSON): claimed work
Pending = tuple[int, int, str, str, bytes]
#: (seq, batch_pk, batch_request_id, state, result item JSON): an answer
Done = tuple[int, int, str, int, bytes]
#: (batch_request_id, kind, model, state, create_ts, finish_ts or None): request metadata
RequestRow = tuple[str, str, str, int, float, float | None]


@dataclass(frozen=True)
class Claim:
    """Requests handed to one worker under one lease, until it finishes or releases them."""

    lease: int
    items: list[Pending]


@dataclass(frozen=True)
class BatchRow:
    """One batch with its counters; a file batch also has its input file and, if the server
    refused that file, the message it cancelled the batch with."""

    pk: int
    batch_id: str
    name: str
    key_id: str
    create_ts: float
    cancel_ts: float | None
    num_requests: int
    num_pending: int
    num_success: int
    num_error: int
    num_cancelled: int
    expire_ts: float
    input_file_id: str | None = None
    cancel_by_xai_message: str | None = None

    @property
    def sealed(self) -> bool:
        """A file batch takes no inline requests."""
        return self.input_file_id is not None

    def closed_at(self, now: float) -> str | None:
        """Why the batch takes no more requests at ``now`` (``"cancelled"``, ``"expired"``), or
        None while it is open."""
        if self.cancel_ts is not None:
            return "cancelled"
        return "expired" if self.expire_ts <= now else None


class StoredRequest(NamedTuple):
    """One request as it was added, and its result item once it has one."""

    kind: str
    model: str
    request: bytes
    state: int
    result: bytes | None


@dataclass(frozen=True)
class NewFile:
    """An upload to store: its ID, metadata and content."""

    file_id: str
    filename: str
    purpose: str
    created_at: int
    expires_at: int | None
    content: bytes


@dataclass(frozen=True)
class FileRow:
    """A stored file's metadata (its content is read with :meth:`BatchStore.file_content`)."""

    pk: int
    file_id: str
    filename: str
    purpose: str
    bytes: int
    created_at: int
    expires_at: int | None


@runtime_checkable
class BatchStore(Protocol):
    """Batches, their requests, leases on work, results, and the files batches are made from."""

    # -- batches (the routes) ------------------------------------------------------------------

    def create_batch(
        self, team: str, name: str, *, key_id: str, now: float, input_file_id: str | None = None
    ) -> BatchRow:
        """A new empty batch whose ``expire_ts`` is ``now`` plus the store's expiry; with
        ``input_file_id``, a sealed file batch filled once its file is parsed."""
        ...

    def get_batch(self, team: str, batch_id: str) -> BatchRow | None: ...

    def require_batch(self, team: str, batch_id: str) -> BatchRow:
        """The batch, or :class:`~batchframe.server.errors.NotFound`."""
        ...

    def list_batches(self, team: str, limit: int, before_pk: int | None) -> list[BatchRow]:
        """A page of the team's batches, newest first."""
        ...

    def cancel_batch(
        self, team: str, batch_id: str, *, now: float, xai_message: str | None = None
    ) -> BatchRow:
        """Stop the batch: no request of it is claimed again; pending ones become cancelled;
        claimed ones finish and keep their answer. Idempotent. ``xai_message``: the server
        refused the file batch's file, with this ``cancel_by_xai_message``."""
        ...

    def add_requests(
        self, team: str, batch_id: str, items: Sequence[NewRequest], *, now: float
    ) -> int:
        """Admit every item or none (412 on an ID with other content, 403 once the batch is
        cancelled or expired); return how many are new."""
        ...

    def list_requests(
        self, pk: int, limit: int, after: str | None, states: Sequence[int] = ()
    ) -> list[RequestRow]:
        """A page of request metadata ordered by ID; only requests in ``states`` if given."""
        ...

    def get_request(self, pk: int, batch_request_id: str) -> StoredRequest | None:
        """One request of the batch, with its result if it has one."""
        ...

    def list_results(self, pk: int, limit: int, after: str | None) -> list[tuple[str, bytes]]:
        """A page of stored results ordered by ID: (id, result item JSON)."""
        ...

    def batch_costs(self, pk: int) -> list[tuple[str, int, int]]:
        """(request kind, succeeded requests, their summed ``cost_in_usd_ticks``) by kind."""
        ...

    def stats(self) -> dict[str, int]:
        """Counters over every batch."""
        ...

    # -- files and file batches (the file flow) ------------------------------------------------

    def add_file(self, team: str, file: NewFile) -> FileRow: ...

    def get_file(self, team: str, file_id: str) -> FileRow | None: ...

    def file_content(self, team: str, file_id: str) -> bytes | None: ...

    def list_files(self, team: str, limit: int, before_pk: int | None) -> list[FileRow]:
        """A page of the team's files, newest first."""
        ...

    def delete_file(self, team: str, file_id: str) -> bool: ...

    def unparsed_file_batches(self) -> list[tuple[str, str, str]]:
        """(team, batch_id, input_file_id) of the file batches whose file awaits its parse."""
        ...

    def fill_file_batch(
        self, team: str, batch_id: str, items: Sequence[NewRequest], *, now: float
    ) -> int:
        """Admit a file batch's parsed requests and mark its file parsed, in one step (a batch
        cancelled or expired meanwhile takes none); return how many were admitted."""
        ...

    # -- work (the engine) ---------------------------------------------------------------------

    def claim(self, limit: int, *, now: float, lease_seconds: float = ...) -> Claim | None:
        """Lease up to ``limit`` pending requests (None: nothing pending)."""
        ...

    def finish(self, done: Sequence[Done], *, now: float, close: Iterable[int] = ()) -> int:
        """Store answers (each at most once) and end the finished leases in ``close``."""
        ...

    def renew(self, leases: Sequence[int], *, now: float, lease_seconds: float = ...) -> None:
        """Extend leases whose holder is still working on them."""
        ...

    def release(self, leases: Sequence[int], *, now: float) -> None:
        """Give leases back: their unfinished requests are pending again (cancelled, in a batch
        cancelled or expired meanwhile)."""
        ...

    def expire(self, now: float) -> int:
        """Cancel what is unfinished in batches past their expiry; return how many requests."""
        ...

    def close(self) -> None: ...
