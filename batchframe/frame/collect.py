"""``Job.results()``: every segment's result columns, beside the input, as the kind that went in.

Each segment (a shard's rows) is joined on its own and only its reordered result columns are
kept, so the decoded pages of one shard are the only second copy ever held.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

from batchframe.frame.decode import RESULT_SCHEMA
from batchframe.frame.output import with_results, with_results_pandas
from batchframe.frame.reading import iter_segments, segment_results
from batchframe.frame.reuse import fill_segment
from batchframe.frame.sources import PandasSource, SourceBatch, TableSource
from batchframe.models import Batch

if TYPE_CHECKING:
    from batchframe.frame.job import Job

__all__ = ["collect_results", "input_table"]


def input_table(batches: list[SourceBatch]) -> pa.Table:
    """The input rows of ``batches`` as one Arrow table."""
    tables = [b.to_arrow() for b in batches]
    return pa.concat_tables(tables) if tables else pa.table({})


def collect_results(job: Job, batches: dict[str, Batch], patch: pa.Table | None = None) -> Any:
    """The job's output table (see :meth:`Job.results`), ``patch``'s rows replaced by ID.

    A retry's output is its parent's, its own rows replaced (:mod:`batchframe.frame.merge`).
    """
    from batchframe.frame.merge import count_not_sent, own_results, patched, warn_not_sent

    parent = job.retry_of
    if parent is not None:
        own = own_results(job, batches, patch)
        return collect_results(parent, parent.batches_to_read(partial=True), own)
    source = job.input.source
    rereads = source is not None and not isinstance(source, PandasSource | TableSource)
    keep = rereads and source is not None and source.rereadable
    tables: list[pa.Table] = []
    kept: list[SourceBatch] = []
    for segment in iter_segments(job.input, list(job.shards), inputs=keep):
        joined = fill_segment(
            job,
            segment,
            segment_results(job.client, segment, batches, check_ids=job.checks_ids),
            batches,
        )
        tables.append(patched(joined, patch).whole())
        del joined
        kept.extend(segment.inputs or [])
        del segment  # its decoded pages are gone; only the reordered columns stay
    results = pa.concat_tables(tables) if tables else RESULT_SCHEMA.empty_table()
    warn_not_sent(job, count_not_sent(results))
    model = job.response_model
    if source is None:
        return with_results_pandas(None, results, model)
    if isinstance(source, PandasSource):
        return with_results_pandas(source.frame, results, model)
    if isinstance(source, TableSource):
        table = with_results(source.table, results, model)
        return _polars(table) if source.kind == "polars" else table
    if not source.rereadable:  # a RecordBatchReader: its rows went by once
        return with_results(None, results, model)
    inputs = input_table(kept)
    if source.kind == "polars":
        return _polars(with_results(inputs, results, model))
    return with_results_pandas(inputs.to_pandas(), results, model)


def _polars(table: pa.Table) -> Any:
    import polars as pl

    return pl.from_arrow(table)
