"""The model seam: what the engine runs requests on.

A :class:`Model` takes claimed requests and hands back one answer for each, from any thread, in
its own time: the simulator answers a bulk chunk at once (:mod:`batchframe.server.simulated`),
an OpenAI-compatible upstream answers one by one as HTTP calls land
(:mod:`batchframe.server.upstream`). The engine never waits on a model while it holds a lock, so a
slow model never holds up a cancel, a pause or the API.

An answer is a :data:`~batchframe.server.store_protocol.Done` row: ``(seq, batch_pk, id, state,
result item JSON)`` with state ``SUCCEEDED`` or ``FAILED``, or :data:`RETRY_LATER` (and an empty
result) when the model could not try at all (its backend unreachable): the request goes back in
line.

>>> from batchframe.server.simulated import SimulatedModel
>>> isinstance(SimulatedModel(), Model)
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from batchframe.server.store_protocol import Done, Pending

__all__ = ["RETRY_LATER", "Deliver", "Model"]

#: The state of an answer that is not one: give the request back, try it again later.
RETRY_LATER = 0

#: Called by a model with answers (each request exactly once, in any grouping, from any thread).
Deliver = Callable[[Sequence[Done]], None]


@runtime_checkable
class Model(Protocol):
    """Answers requests for the engine."""

    #: The most requests in flight at once: the engine claims no more than the free slots.
    concurrency: int
    #: The most requests in one claim (one lease). An upstream claims one at a time, so one
    #: request can be given back alone and a cancel reaches every request not yet sent.
    claim_size: int

    def submit(self, work: Sequence[Pending], deliver: Deliver) -> None:
        """Start answering ``work``; call ``deliver`` with every answer. Must not block for
        long (a synchronous model may answer before returning)."""
        ...

    def close(self) -> None:
        """Stop: work not answered yet is dropped (the engine gives it back)."""
        ...
