"""Read a job's results segment by segment: each shard's rows, joined with its batch's results.

A *segment* is a run of input rows and the batches that answer them: one per shard when the job
knows each shard's rows (from ``submit`` or its manifest), else one for the whole input and every
batch (attached without a manifest). The input is read once, in order, and cut at segment
bounds, so memory holds one segment's rows and results at a time; rows past the last shard
(a submit that stopped before creating every shard) are ``not_sent``.

>>> list(cut_batches(iter([]), [3]))
[[]]
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from batchframe._hints import Term, arg, say
from batchframe.frame.columns import check_unique, is_text_type
from batchframe.frame.join import (
    NOT_SENT,
    Joined,
    Ready,
    Rows,
    join_batches,
    join_error,
    pending_rows,
    read_results,
)
from batchframe.frame.join import results_by_id as results_by_id
from batchframe.frame.sources import PandasSource, Source, SourceBatch
from batchframe.frame.spec import RequestSpec
from batchframe.models import Batch

if TYPE_CHECKING:
    from batchframe.client import Client

__all__ = ["Segment", "Shard", "cut_batches", "iter_segments", "segment_results"]


@dataclass(frozen=True)
class Shard:
    """One batch of a job and, when known, the input rows ``first_row:stop_row`` it answers."""

    index: int
    batch_id: str
    name: str = ""
    first_row: int | None = None
    stop_row: int | None = None
    requests: int | None = None


@dataclass
class Segment:
    """Input rows and the shards answering them (none: rows no batch was created for)."""

    shards: list[Shard]
    rows: Rows | None
    inputs: list[SourceBatch] | None = None


@dataclass(frozen=True)
class JobInput:
    """What a job knows about its input: the source, the spec, how IDs are made."""

    source: Source | None
    spec: RequestSpec | None
    id_column: Hashable | None
    #: IDs per shard of a source that cannot be read again (a RecordBatchReader's id_column).
    kept_ids: dict[int, pa.ChunkedArray] | None = None


def cut_batches(
    batches: Iterator[SourceBatch], stops: Sequence[int | None]
) -> Iterator[list[SourceBatch]]:
    """For each stop, the batches (sliced) of the rows up to it; then any rows left, if some."""
    carry: SourceBatch | None = None
    for stop in stops:
        taken: list[SourceBatch] = []
        while True:
            batch = carry if carry is not None else next(batches, None)
            carry = None
            if batch is None:
                break
            end = batch.first_row + batch.num_rows
            if stop is not None and end > stop:
                keep = stop - batch.first_row
                if keep > 0:
                    taken.append(batch.slice(0, keep))
                carry = batch.slice(keep, batch.num_rows - keep)
                break
            taken.append(batch)
            if stop is not None and end == stop:
                break
        yield taken
    rest = [carry] if carry is not None and carry.num_rows else []
    rest += list(batches)
    if rest:
        yield rest


def _rows(job_input: JobInput, batches: list[SourceBatch]) -> Rows:
    ids = pa.chunked_array([b.ids(job_input.id_column) for b in batches], pa.large_string())
    skipped = None
    spec = job_input.spec
    if spec is not None and spec.on_null == "skip" and batches:
        skipped = np.concatenate(
            [np.logical_or.reduce([b.is_null(c) for c in spec.null_columns]) for b in batches]
        )
    return Rows(ids, skipped, _hinter(job_input))


def iter_segments(job_input: JobInput, shards: list[Shard], *, inputs: bool) -> Iterator[Segment]:
    """The job's segments in row order; ``inputs``: keep every input column of their rows."""
    source = job_input.source
    if source is None:
        yield Segment(shards, None)
        return
    known = all(s.first_row is not None and s.stop_row is not None for s in shards)
    groups = [[s] for s in shards] if known else [shards]
    stops: list[int | None] = [s.stop_row for s in shards] if known else [None]
    if not source.rereadable:
        yield from _kept_segments(job_input, shards, known)
        return
    spec = job_input.spec
    columns = None if inputs else _id_columns(job_input, spec)
    cuts = cut_batches(source.batches(columns), stops)
    for k, batches in enumerate(cuts):
        group = groups[k] if k < len(groups) else []
        yield Segment(group, _rows(job_input, batches), batches if inputs else None)


def _id_columns(job_input: JobInput, spec: RequestSpec | None) -> list[Hashable]:
    names: list[Hashable] = []
    if job_input.id_column is not None:
        names.append(job_input.id_column)
    if spec is not None and spec.on_null == "skip":
        names.extend(spec.null_columns)
    return list(dict.fromkeys(names))


def _kept_segments(job_input: JobInput, shards: list[Shard], known: bool) -> Iterator[Segment]:
    """Segments of a one-shot source: row-number IDs, or the IDs kept at submit."""
    for shard in shards:
        kept = (job_input.kept_ids or {}).get(shard.index)
        if kept is None and known:
            first, stop = int(shard.first_row or 0), int(shard.stop_row or 0)
            kept = pa.chunked_array([pa.array(np.arange(first, stop)).cast(pa.large_string())])
        yield Segment([shard], None if kept is None else Rows(kept))


def segment_results(
    client: Client, segment: Segment, batches: dict[str, Batch], *, check_ids: bool
) -> Joined | Ready:
    """The result columns of ``segment``'s rows in their order (or by ID without rows).

    ``check_ids``: every request ID the batches list must be a row's ID (a job attached without
    its manifest); otherwise rows the batch does not hold are found from its request listing
    only when its request count says some are missing.
    """
    from batchframe.frame.results import fetch_request_states

    rows = segment.rows
    shards = [s for s in segment.shards if s.batch_id]  # a shard dedup/cache answered has none
    if not shards:
        if rows is None:
            return Ready(pending_rows(pa.array([], pa.large_string())).slice(0, 0))
        table = pending_rows(rows.ids, NOT_SENT)
        if rows.skipped is not None and rows.skipped.any():
            state = np.where(rows.skipped, "skipped", NOT_SENT)
            table = table.set_column(1, "state", pa.array(state, pa.large_string()))
        return Ready(table)
    seen = [batches[s.batch_id] for s in shards]
    counted = sum(b.num_requests for b in seen)
    expected = sum(int(s.requests or 0) for s in shards) if _known(shards) else None
    skipped = 0 if rows is None or rows.skipped is None else int(rows.skipped.sum())
    sent = None if rows is None else len(rows.ids) - skipped
    listings: list[pa.Table] = []
    if rows is None or check_ids or counted != (expected if expected is not None else sent):
        listings = [fetch_request_states(client, s.batch_id) for s in shards]
    if rows is None:
        results = pa.concat_tables([read_results(client, b) for b in seen])
        listed = pa.concat_tables(listings) if listings else None
        return Ready(results_by_id(results, listed))
    if check_ids:
        check_unique(rows.ids, "the input's request IDs")
    in_batch = None
    if listings:
        in_batch = pa.chunked_array(
            [c for t in listings for c in t["batch_request_id"].chunks], pa.large_string()
        )
        if check_ids:
            _check_listed(in_batch, rows)
    return join_batches(client, seen, rows, in_batch)


def _known(shards: list[Shard]) -> bool:
    return all(s.requests is not None for s in shards)


def _check_listed(listed: pa.ChunkedArray, rows: Rows) -> None:
    """Every request the server lists must be one of the rows (else results would be lost)."""
    unknown = listed.filter(pc.invert(pc.is_in(listed, value_set=rows.ids)))
    if len(unknown):
        raise join_error(unknown.to_pylist(), len(listed), rows.hint)


def _hinter(job_input: JobInput) -> Callable[[list[str]], str]:
    source = job_input.source

    def hint(sample: list[str]) -> str:
        if source is None or not source.rereadable:
            return ""
        return id_hint(source, sample, job_input.id_column)

    return hint


def id_hint(source: Source, sample: list[str], current: Hashable | None) -> str:
    """Which column (or the index) holds the batch's request IDs, said as what to pass."""
    wanted = pa.array(sample, pa.large_string())
    matches: list[str | Term] = []
    if isinstance(source, PandasSource):
        index = pa.array([str(v) for v in source.frame.index.tolist()], pa.large_string())
        if current is not None and _covers(index, wanted):
            matches.append(Term("the DataFrame index (pass id_column=None)", "the row numbers"))
    for name in source.column_names:
        if name == current:
            continue
        values = pa.chunked_array(
            [c for b in source.batches([name]) for c in _as_text(b.to_arrow().column(str(name)))],
            pa.large_string(),
        )
        if _covers(values, wanted):
            matches.append(f"column {name!r} (pass ")
            matches.extend((arg("id_column", name), ")"))
    if not matches:
        return "No column of the frame holds them either: was this batch submitted from it?"
    joined: list[str | Term] = []
    for part in matches:
        if joined and isinstance(part, str) and part.startswith(("column", "the")):
            joined.append(" or ")
        joined.append(part)
    return say("They look like the values of ", *joined, ".")


def _as_text(column: pa.ChunkedArray) -> list[pa.Array]:
    if is_text_type(column.type) or pa.types.is_integer(column.type):
        return [c.cast(pa.large_string()) for c in column.chunks]
    return []


def _covers(values: pa.ChunkedArray | pa.Array, wanted: pa.Array) -> bool:
    if len(values) == 0:
        return False
    return bool(pc.all(pc.is_in(wanted, value_set=values)).as_py())
