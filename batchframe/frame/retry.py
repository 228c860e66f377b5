"""``Job.retry_failed``: the failed rows of every shard, submitted again under their own IDs.

The retry's input is the failed rows only, each keeping its request ID: a pandas frame keeps its
index labels; other inputs keep their ``id_column``, or carry their original row numbers as IDs.
So the retry's results join on the same IDs as the first job's.

>>> retry_name("reviews"), retry_name("reviews-retry-1")
('reviews-retry-1', 'reviews-retry-2')
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from batchframe._config import DEFAULT_MAX_BATCH_REQUESTS
from batchframe.frame.join import read_results
from batchframe.frame.merge import not_sent_message
from batchframe.frame.sources import ArrowBatch, PandasSource, TableSource
from batchframe.models import Batch

if TYPE_CHECKING:
    from batchframe.frame.job import Job

__all__ = ["retry_failed", "retry_name"]

_RETRY_NAME = re.compile(r"^(?P<base>.*)-retry-(?P<n>\d+)$")
#: ``retry_failed`` overrides that are submit options, not what is sent.
_SUBMIT_OPTIONS = (
    "name",
    "client",
    "progress",
    "chunk_rows",
    "chunk_bytes",
    "calls_per_30s",
    "concurrency",
    "max_batch_requests",
    "manifest_dir",
    "dedup",
    "cache",
    "max_cost_usd",
    "prices",
)


def retry_name(name: str) -> str:
    """The next retry's job name."""
    match = _RETRY_NAME.match(name)
    if match is None:
        return f"{name}-retry-1"
    return f"{match['base']}-retry-{int(match['n']) + 1}"


def _failed_ids(job: Job, batches: dict[str, Batch]) -> pa.ChunkedArray:
    if job.reuse is not None:  # a duplicate of a failed request failed too: retry it as well
        from batchframe.frame.merge import own_results

        table = own_results(job, batches, None)
        return table.filter(pc.equal(table["state"], "failed"))["batch_request_id"]
    chunks: list[pa.Array] = []
    for batch_id in job.batch_ids:
        table = read_results(job.client, batches[batch_id])
        chunks.extend(table.filter(pc.equal(table["state"], "failed"))["batch_request_id"].chunks)
    return pa.chunked_array(chunks, pa.large_string())


def _failed_rows(job: Job, failed: pa.ChunkedArray) -> Any:
    """The input rows whose IDs failed, in input order, each keeping its ID."""
    source = job.input.source
    column = job.input.id_column
    assert source is not None
    if isinstance(source, PandasSource):
        wanted = [column] if column is not None else []
        ids = pa.chunked_array([b.ids(column) for b in source.batches(wanted)], pa.large_string())
        mask = pc.is_in(ids, value_set=failed).to_numpy(zero_copy_only=False)
        return source.frame[np.asarray(mask, dtype=bool)]
    tables: list[pa.Table] = []
    id_chunks: list[pa.Array] = []
    for batch in source.batches():
        ids = batch.ids(column)
        mask = pc.is_in(ids, value_set=failed)
        if pc.any(mask).as_py():
            assert isinstance(batch, ArrowBatch)
            tables.append(pa.Table.from_batches([batch.batch.filter(mask)]))
            id_chunks.append(ids.filter(mask))
    table = pa.concat_tables(tables)
    if source.kind == "files":
        frame = table.to_pandas()
        if column is None:
            frame.index = pd.Index([int(i) for i in pa.chunked_array(id_chunks).to_pylist()])
        return frame
    kind = "polars" if source.kind == "polars" else "arrow"
    ids = None if column is not None else pa.concat_arrays(id_chunks)
    return TableSource(table, kind=kind, ids=ids)


def retry_failed(job: Job, batches: dict[str, Batch], overrides: dict[str, Any]) -> Job:
    """A new job for ``job``'s failed rows (see :meth:`Job.retry_failed`)."""
    from batchframe.frame.submit import SendOptions, submit_spec

    spec = job.spec
    source = job.input.source
    if spec is None or source is None or not source.rereadable:
        raise ValueError(
            f"retry_failed needs the input and what was sent; job {job.name or job.batch_id} "
            "has no manifest with its settings, or was attached without its input. Submit the "
            "failed rows yourself: bf.submit(failed_rows, ...)."
        )
    failed = _failed_ids(job, batches)
    if len(failed) == 0:
        unsent = _not_sent(job, batches)
        if unsent:
            lead = f"Job {job.name or job.batch_id} has no failed rows to retry, but "
            raise ValueError(not_sent_message(job, unsent, lead))
        raise ValueError(f"Job {job.name or job.batch_id} has no failed rows to retry.")
    options = {k: overrides.pop(k) for k in list(overrides) if k in _SUBMIT_OPTIONS}
    spec = spec.replace(**overrides) if overrides else spec
    send = SendOptions(
        options.get("chunk_rows"),
        options.get("chunk_bytes"),
        options.get("calls_per_30s"),
        options.get("concurrency"),
        options.get("progress", True),
        options.get("max_batch_requests", DEFAULT_MAX_BATCH_REQUESTS),
    )
    retry = submit_spec(
        _failed_rows(job, failed),
        spec,
        send,
        name=options.get("name") or retry_name(job.name or job.batch_id),
        client=options.get("client", job.client),
        manifest_dir=options.get("manifest_dir", job.manifest_dir),
        # dedup and the cache as the job used them, unless overridden
        dedup=options.get("dedup", job.reuse is not None),
        cache=options.get("cache", job.reuse.cache_path or False if job.reuse else False),
        max_cost_usd=options.get("max_cost_usd"),
        prices=options.get("prices"),
    )
    retry._merge_into(job)  # its results are every row of job's, the retried ones replaced
    return retry


def _not_sent(job: Job, batches: dict[str, Batch]) -> int:
    """How many of the job's rows never reached a batch (an upload that stopped part-way)."""
    from batchframe.frame.merge import count_not_sent, own_results

    return count_not_sent(own_results(job, batches, None))
