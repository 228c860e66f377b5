"""What the routes and the engine need from storage, in domain terms.

:class:`~batchframe.server.store.Store` (SQLite, one process per file) is the implementation;
this protocol is the seam for another one (PostgreSQL, several server processes). Nothing outside
the store speaks SQL.

A request's life: *pending* (added) -> *claimed* (handed to a worker under a lease that expires
unless renewed; the API still calls it pending) -> *done* (its result item is stored, once).
A lease that expires or is released puts its unfinished requests back in line, so a worker that
dies mid-run loses nothing: its requests run again (the model may see one twice), and each is
answered exactly once in the results.

>>> from batchframe.server.store import Store
>>> isinstance(Store(), BatchStore)
True
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

from batchframe.server.store import BatchRow, Claim, Done, NewRequest

__all__ = ["BatchStore"]


@runtime_checkable
class BatchStore(Protocol):
    """Batches, their requests, leases on work, and results."""

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
        """Admit every item or none (412 on an ID with other content); return how many are new."""
        ...

    def list_requests(
        self, pk: int, limit: int, after: str | None
    ) -> list[tuple[str, str, str, int, float, float | None]]:
        """A page of request metadata ordered by ID: (id, kind, model, state, created, finished)."""
        ...

    def list_results(self, pk: int, limit: int, after: str | None) -> list[tuple[str, bytes]]:
        """A page of stored results ordered by ID: (id, result item JSON)."""
        ...

    def stats(self) -> dict[str, int]:
        """Counters over every batch."""
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
