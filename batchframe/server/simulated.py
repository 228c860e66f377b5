"""The simulator as a :class:`~batchframe.server.model_protocol.Model`: bulk, synchronous, fast.

It wraps :func:`batchframe.server.model.simulate` as it is (what the simulated model answers is
defined there): one claim is a chunk of up to :data:`CHUNK` requests, answered before
:meth:`SimulatedModel.submit` returns.

>>> answers = []
>>> SimulatedModel().submit([(1, 1, "r1", "chat_get_completion",
...     b'{"chat_get_completion": {"model": "m", "messages": [{"role": "user", "content": "hi"}]}}'
... )], answers.extend)
>>> answers[0][3]  # SUCCEEDED
2
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence

import orjson

from batchframe.server.model import simulate
from batchframe.server.model_protocol import Deliver
from batchframe.server.store_protocol import FAILED, SUCCEEDED, Done, Pending

__all__ = ["CHUNK", "SimulatedModel"]

#: Requests per claim: large enough that per-claim costs vanish, small enough to interleave
#: with API calls.
CHUNK = 2000


class SimulatedModel:
    """The built-in simulated model. ``fail_rate`` is read once per chunk (it can change live)."""

    concurrency = CHUNK
    claim_size = CHUNK

    def __init__(
        self, fail_rate: Callable[[], float] = lambda: 0.0, seed: int | None = None
    ) -> None:
        self._fail_rate = fail_rate
        self._rng = random.Random(seed)

    def submit(self, work: Sequence[Pending], deliver: Deliver) -> None:
        fail_rate = self._fail_rate()
        now = time.time()
        rng = self._rng
        done: list[Done] = []
        append = done.append
        for seq, pk, rid, kind, canon in work:
            try:
                body = orjson.loads(canon)[kind]
            except (orjson.JSONDecodeError, KeyError, TypeError):
                body = None  # admission let it through; fail the request, not the engine
            ok, result = simulate(rid, kind, body, fail_rate=fail_rate, rng=rng, now=now)
            append((seq, pk, rid, SUCCEEDED if ok else FAILED, result))
        deliver(done)

    def close(self) -> None:
        """Nothing to stop: every chunk is answered before ``submit`` returns."""
