"""Reading back what a job did not send: duplicates and cached answers, row by row.

For each shard with a plan (:mod:`batchframe.frame.dedup`), the joined batch results are
completed: a ``duplicate`` row gets its source request's result (in this shard, or read from an
earlier shard's batch, filtered page by page, so memory stays one shard's), a ``cache`` row gets
the cached answer; both keep their own ``batch_request_id``, get their ``origin`` and
``cost_usd = 0.0``. The succeeded ``batch`` rows are written to the result cache as the shard is
read. A cached answer that is no longer in the cache (cleared since submit) is a ``not_sent``
row whose ``error`` says so, never an empty success.

>>> Filled(Ready(RESULT_SCHEMA.empty_table()), np.empty(0, np.int64),
...        RESULT_SCHEMA.empty_table(), 0.0).num_rows
0
"""

from __future__ import annotations

import pathlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from batchframe.frame.cache import STORED, ResultCache
from batchframe.frame.decode import RESULT_SCHEMA
from batchframe.frame.dedup import BATCH, CACHE, DUPLICATE, ORIGINS, PlanFiles
from batchframe.frame.join import NOT_SENT, PENDING, Joined, Ready, first_of_each, pending_rows
from batchframe.models import Batch

if TYPE_CHECKING:
    from batchframe.frame.job import Job
    from batchframe.frame.reading import Segment, Shard

__all__ = ["Filled", "Reuse", "fill_segment"]

_GONE = (
    "its answer was to come from the result cache, which no longer holds it (cleared since "
    "submit); submit these rows again under a new name= to send them"
)


@dataclass
class Reuse:
    """Where a job's plans are, the cache it used (``None``: off) and its canonical server."""

    plans: PlanFiles
    cache_path: str | None
    server: str
    #: The job's shard size: to encode a shard again for its cache keys (see ``cache_keys``).
    max_requests: int = 1_000_000
    _cache: ResultCache | None = field(default=None, init=False, repr=False)
    _parts: Any = field(default=None, init=False, repr=False)
    _carry: Any = field(default=None, init=False, repr=False)
    _next: int = field(default=0, init=False, repr=False)
    #: Shards whose succeeded answers this job has stored (once finished, they do not change).
    stored: set[int] = field(default_factory=set, init=False, repr=False)

    def cache_keys(
        self, job: Job, shard: Shard, plan: pa.Table | None
    ) -> tuple[list[Any], npt.NDArray[np.int64]] | None:
        """The cache keys and input rows of ``shard``'s sent requests: from its plan when submit
        computed them, else by encoding its rows again, a source batch at a time (the input is
        read in order; only 24 bytes a request are kept); ``None`` when the input cannot be
        read again."""
        sent = None if plan is None else plan["origin"].to_numpy() == BATCH
        if plan is not None and sent is not None:
            keys = plan["ckey"].filter(pa.array(sent))
            if not keys.null_count:
                rows = np.asarray(plan["row"].filter(pa.array(sent)).to_numpy(), dtype=np.int64)
                return list(keys.to_pylist()), rows
        source, spec = job.input.source, job.spec
        if source is None or spec is None or not source.rereadable:
            return None
        first, stop = int(shard.first_row or 0), int(shard.stop_row or 0)
        rows, keys = self._encoded(spec, source, first, stop)
        if sent is not None:
            if len(sent) != len(rows):
                return None  # not the requests the plan was made for: store nothing
            rows, keys = rows[sent], keys.filter(pa.array(sent))
        return list(keys.to_pylist()), rows

    def _encoded(
        self, spec: Any, source: Any, first: int, stop: int
    ) -> tuple[npt.NDArray[np.int64], pa.Array]:
        """Rows ``first:stop`` encoded again: their row numbers and cache keys, in order."""
        from batchframe.frame.dedup import request_keys
        from batchframe.frame.encode import encode_source

        if self._parts is None or first < self._next:  # a new read of the job: start over
            self._parts = ((p.rows, request_keys(p)) for p in encode_source(spec, source))
            self._carry = None
        self._next = stop
        rows_out: list[npt.NDArray[np.int64]] = []
        keys_out: list[pa.Array] = []
        while True:
            item = self._carry if self._carry is not None else next(self._parts, None)
            self._carry = None
            if item is None:
                break
            rows, keys = item
            inside = (rows >= first) & (rows < stop)
            rows_out.append(rows[inside])
            keys_out.append(keys.filter(pa.array(inside)))
            after = rows >= stop
            if after.any():  # the rest belongs to the next shard
                self._carry = (rows[after], keys.filter(pa.array(after)))
                break
        if not rows_out:
            return np.empty(0, np.int64), pa.array([], pa.binary(16))
        return np.concatenate(rows_out), pa.concat_arrays(keys_out)

    def cache(self) -> ResultCache | None:
        if self.cache_path is None:
            return None
        if self._cache is None:
            self._cache = ResultCache(pathlib.Path(self.cache_path))
        return self._cache


class Filled:
    """A segment's joined results with its reused rows put in place (same ``part``/``whole``)."""

    def __init__(
        self,
        inner: Joined | Ready,
        positions: npt.NDArray[np.int64],
        rows: pa.Table,
        saved_usd: float,
    ) -> None:
        self.inner, self.positions, self.rows, self.saved_usd = inner, positions, rows, saved_usd
        self.num_rows = inner.num_rows
        origin = rows["origin"]
        self.duplicates = int(pc.sum(pc.equal(origin, "duplicate")).as_py() or 0)
        self.cached = int(pc.sum(pc.equal(origin, "cache")).as_py() or 0)

    def _merge(self, base: pa.Table, start: int, stop: int) -> pa.Table:
        lo, hi = (int(i) for i in np.searchsorted(self.positions, [start, stop]))
        if lo == hi:
            return base
        n = base.num_rows
        if hi - lo == n:  # every row reused (a rerun the cache answers): no merge to do
            return self.rows.slice(lo, n)
        index = np.arange(n, dtype=np.int64)
        index[self.positions[lo:hi] - start] = n + np.arange(hi - lo)
        return pa.concat_tables([base, self.rows.slice(lo, hi - lo)]).take(pa.array(index))

    def part(self, start: int, stop: int) -> pa.Table:
        stop = min(stop, self.num_rows)
        return self._merge(self.inner.part(start, stop), start, stop)

    def whole(self) -> pa.Table:
        return self._merge(self.inner.whole(), 0, self.num_rows)


def fill_segment(
    job: Job, segment: Segment, joined: Joined | Ready, batches: dict[str, Batch]
) -> Joined | Ready | Filled:
    """``joined`` completed with the segment's duplicate and cached rows (see the module)."""
    reuse = job.reuse
    if reuse is None or len(segment.shards) != 1 or segment.rows is None:
        return joined
    shard = segment.shards[0]
    if shard.first_row is None:
        return joined
    plan = reuse.plans.read(shard.index)  # none: every request of the shard was sent
    cache = reuse.cache()
    if cache is not None and shard.batch_id and shard.index not in reuse.stored:
        found = reuse.cache_keys(job, shard, plan)
        if found is not None:
            keys, rows = found
            cache.store(reuse.server, keys, joined.rows_at(rows - shard.first_row))
        if found is None or batches[shard.batch_id].num_pending == 0:
            reuse.stored.add(shard.index)  # finished: its answers do not change any more
    if plan is None:
        return joined
    origin = plan["origin"].to_numpy()
    positions = np.asarray(plan["row"].to_numpy(), dtype=np.int64) - shard.first_row
    sent = origin == BATCH
    if sent.all():
        return joined
    reused = np.flatnonzero(~sent)
    rows, saved = _answers(job, shard.index, shard.first_row, plan.take(reused), joined, batches)
    return Filled(joined, positions[reused], rows, saved)


def _answers(
    job: Job,
    index: int,
    first_row: int,
    plan: pa.Table,
    joined: Joined | Ready,
    batches: dict[str, Batch],
) -> tuple[pa.Table, float]:
    """The result rows of ``plan``'s reused requests, in its order, and what they would cost."""
    origin = plan["origin"].to_numpy()
    source_shard = plan["source_shard"].fill_null(-1).to_numpy()
    pieces: list[tuple[npt.NDArray[np.int64], pa.Table]] = []
    same = np.flatnonzero((origin == DUPLICATE) & (source_shard == index))
    if same.size:
        rows = plan["source_row"].take(pa.array(same)).to_numpy() - first_row
        pieces.append((same, joined.rows_at(np.asarray(rows, dtype=np.int64))))
    earlier = (origin == DUPLICATE) & (source_shard != index)
    for other in np.unique(source_shard[earlier]):
        which = np.flatnonzero(earlier & (source_shard == other))
        ids = plan["source_id"].take(pa.array(which)).combine_chunks()
        pieces.append((which, _from_shard(job, int(other), ids, batches)))
    hit = np.flatnonzero(origin == CACHE)
    if hit.size:
        keys = plan["ckey"].take(pa.array(hit)).to_pylist()
        pieces.append((hit, _from_cache(job, keys)))
    where = np.empty(len(origin), dtype=np.int64)
    at = 0
    for positions, table in pieces:
        where[positions] = np.arange(at, at + table.num_rows)
        at += table.num_rows
    table = pa.concat_tables([t.select(RESULT_SCHEMA.names) for _, t in pieces])
    if len(pieces) > 1:  # one piece is already in plan order
        table = table.take(pa.array(where))
    saved = float(pc.sum(table["cost_usd"]).as_py() or 0.0)
    labels = pa.array(ORIGINS, pa.large_string()).take(pa.array(origin))
    table = table.set_column(0, "batch_request_id", plan["id"].cast(pa.large_string()))
    table = table.set_column(
        RESULT_SCHEMA.get_field_index("cost_usd"),
        "cost_usd",
        pa.repeat(pa.scalar(0.0), len(origin)),
    )
    table = table.set_column(RESULT_SCHEMA.get_field_index("origin"), "origin", labels)
    return table.cast(RESULT_SCHEMA), saved


def _from_shard(job: Job, index: int, ids: pa.Array, batches: dict[str, Batch]) -> pa.Table:
    """The results of ``ids`` in shard ``index``'s batch, in ``ids``' order (pending if none)."""
    from batchframe.frame.results import iter_result_pages

    batch_id = next((s.batch_id for s in job.shards if s.index == index), "")
    if not batch_id or batch_id not in batches:
        return pending_rows(ids, NOT_SENT)
    kept = [
        page.filter(pc.is_in(page["batch_request_id"], value_set=ids))
        for page in iter_result_pages(job.client, batch_id)
    ]
    found = first_of_each(pa.Table.from_batches(kept, RESULT_SCHEMA))
    where = pc.index_in(ids, value_set=found["batch_request_id"])
    table = found.take(where)
    missing = pc.is_null(where)
    state = pc.if_else(missing, pa.scalar(PENDING, pa.large_string()), table["state"])
    return table.set_column(1, "state", state)


def _from_cache(job: Job, keys: list[Any]) -> pa.Table:
    """Cached answers of ``keys`` as result rows; a key the cache lost is ``not_sent``."""
    reuse = job.reuse
    assert reuse is not None
    cache = reuse.cache()
    n = len(keys)
    if cache is None:
        stored, found = (
            pa.table({c: pa.nulls(n, RESULT_SCHEMA.field(c).type) for c in STORED}),
            pa.array(np.zeros(n, bool)),
        )
    else:
        stored, found = cache.fetch(reuse.server, keys)
    text = pa.large_string()
    columns: dict[str, Any] = {
        "batch_request_id": pa.nulls(n, text),
        "state": pc.if_else(found, pa.scalar("succeeded", text), pa.scalar(NOT_SENT, text)),
        **{c: stored[c] for c in STORED},
        "error": pc.if_else(found, pa.scalar(None, text), pa.scalar(_GONE, text)),
        "origin": pa.nulls(n, text),
    }
    return pa.table({f.name: columns[f.name] for f in RESULT_SCHEMA}).cast(RESULT_SCHEMA)
