"""Cut a job's encoded requests into shards: at most ``max_requests`` each, one batch each.

Shards are consecutive input rows. Shard ``k`` ends right after its last request (a skipped row
after it belongs to the next shard, and the last shard runs to the end of the input), so the cut
does not depend on how the source was read in batches, and neither does any shard's fingerprint.
Only one shard is encoded at a time: memory is bounded by a shard, not by the job.

>>> import pandas as pd
>>> from batchframe.frame.sources import as_source
>>> spec = RequestSpec.build(prompt="q", model="m")
>>> [(s.index, s.first_row, s.stop_row, s.requests)
...  for s in iter_shards(spec, as_source(pd.DataFrame({"q": list("abcde")})), 2)]
[(1, 0, 2, 2), (2, 2, 4, 2), (3, 4, 5, 1)]
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from batchframe._hints import id_column_named
from batchframe.frame.columns import check_unique
from batchframe.frame.encode import EncodedPart, EncodedRequests, encode_source
from batchframe.frame.sources import BATCH_ROWS, Source
from batchframe.frame.spec import RequestSpec

__all__ = ["EncodedShard", "iter_shards", "split_part"]


@dataclass(eq=False)
class EncodedShard:
    """Shard ``index`` (1-based): input rows ``first_row:stop_row`` and their requests."""

    index: int
    first_row: int
    stop_row: int
    encoded: EncodedRequests
    spec: RequestSpec
    #: Requests of the shard answered without sending (dedup, cache): see frame/dedup.py.
    reused: int = 0

    @property
    def requests(self) -> int:
        return len(self.encoded)

    @property
    def ids(self) -> pa.ChunkedArray:
        return self.encoded.id_array

    @cached_property
    def fingerprint(self) -> str:
        return self.encoded.fingerprint(self.spec)


def split_part(part: EncodedPart, count: int) -> tuple[EncodedPart, EncodedPart]:
    """``part``'s first ``count`` requests (and the rows skipped before the last of them), and
    the rest."""
    cut = int(part.rows[count - 1]) if count else -1
    early = part.skipped_rows < cut
    keep, rest = np.flatnonzero(early), np.flatnonzero(~early)

    def piece(lo: int, hi: int, skipped: np.ndarray) -> EncodedPart:
        return EncodedPart(
            part.ids.slice(lo, hi - lo),
            part.items.slice(lo, hi - lo),
            part.rows[lo:hi],
            part.skipped_ids.take(pa.array(skipped, pa.int64())),
            part.skipped_rows[skipped],
            part.separated,
            None if part.keys is None else part.keys[lo:hi],
        )

    return piece(0, count, keep), piece(count, len(part), rest)


def iter_shards(
    spec: RequestSpec,
    source: Source,
    max_requests: int,
    *,
    batch_rows: int = BATCH_ROWS,
    with_keys: bool = False,
) -> Iterator[EncodedShard]:
    """Encode ``source`` and yield its shards in order, each as soon as it is complete
    (``with_keys``: with each request's dedup key, for :mod:`batchframe.frame.dedup`).

    A source that can only be read once (a RecordBatchReader) has its ID column checked for
    repeats shard by shard, against every shard before it.
    """
    if max_requests < 1:
        raise ValueError(f"max_batch_requests must be a positive integer, got {max_requests!r}")
    seen = _SeenIds(spec, source)
    parts: list[EncodedPart] = []
    trailing: list[EncodedPart] = []  # rows skipped after a full shard's last request
    count, first_row, index, next_row, full = 0, 0, 1, 0, False
    head: EncodedPart | None = None
    for part in encode_source(spec, source, batch_rows=batch_rows, with_keys=with_keys):
        next_row = _end_row(part, next_row)
        while True:
            if full:
                if not len(part):
                    trailing.append(part)
                    break
                stop = int(parts[-1].rows[-1]) + 1  # a request follows: the full shard ends
                done = [EncodedShard(index, first_row, stop, EncodedRequests(parts), spec)]
                # Hold nothing of the shard while it is away, so it is freed once sent.
                parts, trailing, count, first_row, index = trailing, [], 0, stop, index + 1
                full, head = False, None
                yield seen.checked(done.pop())
                continue
            room = max_requests - count
            if len(part) < room:
                parts.append(part)
                count += len(part)
                break
            head, part = split_part(part, room)
            parts.append(head)
            count, full = max_requests, True
    parts += trailing  # rows skipped at the very end belong to the last shard
    done = [EncodedShard(index, first_row, next_row, EncodedRequests(parts), spec)]
    parts = trailing = []
    yield seen.checked(done.pop())


def _end_row(part: EncodedPart, previous: int) -> int:
    """One past the last input row ``part`` covers (encoded or skipped)."""
    last = [int(part.rows[-1])] if len(part.rows) else []
    last += [int(part.skipped_rows[-1])] if len(part.skipped_rows) else []
    return max([previous - 1, *last]) + 1


class _SeenIds:
    """IDs of earlier shards of a one-shot source, to refuse a repeat before it is sent."""

    def __init__(self, spec: RequestSpec, source: Source) -> None:
        self.active = not source.rereadable and spec.id_column is not None
        self.where = id_column_named(spec.id_column)
        self.chunks: list[pa.Array] = []

    def checked(self, shard: EncodedShard) -> EncodedShard:
        if not self.active:
            return shard
        ids = pa.chunked_array(
            [*shard.ids.chunks, *(p.skipped_ids for p in shard.encoded.parts)], pa.large_string()
        )
        check_unique(ids, self.where)
        if self.chunks:
            earlier = pa.chunked_array(self.chunks, pa.large_string())
            again = ids.filter(pc.is_in(ids, value_set=earlier))
            if len(again):
                check_unique(pa.chunked_array([again, again]), self.where)  # names them
        self.chunks.extend(ids.chunks)
        return shard
