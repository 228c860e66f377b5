"""A retry's answers over its parent's: every row of the first input, retried rows replaced.

``job.retry_failed()`` submits only the failed rows, under their own request IDs. Its
``results()`` and ``to_parquet()`` read the parent job's rows (all of them, in their order, with
their own ``origin`` and ``cost_usd``) and replace, by request ID, the result columns of the rows
the retry sent with the retry's. A retry of a retry does the same one level up. Memory holds
the retries' result columns (the failed rows only) beside one segment of the parent's.

>>> from batchframe.frame.join import pending_rows
>>> base = Ready(pending_rows(pa.array(["a", "b"], pa.large_string()), "failed"))
>>> patch = pending_rows(pa.array(["b"], pa.large_string()), "succeeded")
>>> Patched(base, patch).whole()["state"].to_pylist()
['failed', 'succeeded']
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from batchframe._hints import Term, render, say
from batchframe.frame.decode import RESULT_SCHEMA
from batchframe.frame.join import NOT_SENT, Joined, Ready
from batchframe.frame.reading import iter_segments, segment_results
from batchframe.frame.reuse import Filled, fill_segment
from batchframe.models import Batch

if TYPE_CHECKING:
    from batchframe.frame.job import Job

__all__ = ["Patched", "own_results", "patched", "warn_not_sent"]

logger = logging.getLogger("batchframe")


class Patched:
    """A segment's result columns, the rows ``patch`` answers replaced by its (same IDs)."""

    def __init__(self, results: Joined | Ready | Filled, patch: pa.Table) -> None:
        self.results, self.patch = results, patch
        self.num_rows = results.num_rows
        inner = results.inner if isinstance(results, Filled) else results  # same rows, same IDs
        ids = inner.rows.ids if isinstance(inner, Joined) else inner.table["batch_request_id"]
        self.index = pc.index_in(ids, value_set=patch["batch_request_id"])

    def _apply(self, base: pa.Table, index: pa.Array | pa.ChunkedArray) -> pa.Table:
        if index.null_count == len(index):
            return base
        replaced = pc.is_valid(index)
        columns = [
            base[name]
            if name == "batch_request_id"
            else pc.if_else(replaced, self.patch[name].take(index), base[name])
            for name in RESULT_SCHEMA.names
        ]
        return pa.Table.from_arrays(columns, schema=RESULT_SCHEMA)

    def part(self, start: int, stop: int) -> pa.Table:
        stop = min(stop, self.num_rows)
        return self._apply(self.results.part(start, stop), self.index.slice(start, stop - start))

    def whole(self) -> pa.Table:
        return self._apply(self.results.whole(), self.index)


def patched(
    results: Joined | Ready | Filled, patch: pa.Table | None
) -> Joined | Ready | Filled | Patched:
    """``results``, with ``patch``'s rows replaced when there is a patch."""
    return results if patch is None or patch.num_rows == 0 else Patched(results, patch)


def own_results(job: Job, batches: dict[str, Batch], patch: pa.Table | None) -> pa.Table:
    """The result columns of a retry's own rows (its own retries' answers over them)."""
    tables = [
        patched(
            fill_segment(
                job, s, segment_results(job.client, s, batches, check_ids=job.checks_ids), batches
            ),
            patch,
        ).whole()
        for s in iter_segments(job.input, list(job.shards), inputs=False)
    ]
    return pa.concat_tables(tables) if tables else RESULT_SCHEMA.empty_table()


def count_not_sent(results: pa.Table) -> int:
    """How many rows of a result table are ``not_sent``."""
    if results.num_rows == 0:
        return 0
    return int(pc.sum(pc.equal(results["state"], NOT_SENT)).as_py() or 0)


def warn_not_sent(job: Job, count: int) -> None:
    """Say how to finish an upload that stopped part-way, when rows came back ``not_sent``."""
    if count:
        logger.warning(render(not_sent_message(job, count)))


def not_sent_message(job: Job, count: int, lead: str = "") -> str:
    """``count`` rows never reached a batch: how to send them (after ``lead``)."""
    target = job.name or job.batch_id
    return say(
        lead
        + f"{count} row(s) of job {target} were never sent (its upload stopped part-way), so they "
        "come back as 'not_sent'. To send them, ",
        Term(
            "call job.resume_upload(), or rerun the same submit (same input, arguments and name)",
            "run the same `batchframe submit ...` (or `batchframe run ...`) again, with the same "
            "INPUT, options and --name",
        ),
        "; what the batches hold is not sent twice.",
    )
