"""Stream a job's results to one Parquet file, in the input's row order, shard by shard.

The file holds the same rows and columns as ``Job.results()`` (the input's columns, a pandas
input's index, the result columns and any structured columns); for a pandas input it carries the
pandas metadata that makes ``pd.read_parquet`` give back the same index and dtypes. Memory is
bounded by one shard's results and one row group, not by the job: the input is read again in
order, a segment at a time, beside its joined results.

>>> write_parquet(job, batches, "out/reviews.parquet")         # doctest: +SKIP
PosixPath('out/reviews.parquet')
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from batchframe.frame.atomic import replaced_atomically
from batchframe.frame.collect import input_table
from batchframe.frame.decode import RESULT_SCHEMA
from batchframe.frame.heap import release_freed_memory
from batchframe.frame.output import json_fields, json_text, with_results, with_results_pandas
from batchframe.frame.reading import iter_segments, segment_results
from batchframe.frame.reuse import fill_segment
from batchframe.frame.sources import PandasSource, Source, SourceBatch
from batchframe.models import Batch

if TYPE_CHECKING:
    from batchframe.frame.job import Job

__all__ = ["ROW_GROUP_ROWS", "write_parquet"]

#: Rows per row group: bounded memory, and files that read fast.
ROW_GROUP_ROWS = 65_536

Renderer = Callable[[pa.Table | None, pd.DataFrame | None, pa.Table], pa.Table]


def write_parquet(
    job: Job, batches: dict[str, Batch], path: str | os.PathLike[str], patch: pa.Table | None = None
) -> pathlib.Path:
    """Write the job's results to ``path`` and return it (see ``Job.to_parquet``).

    Parent folders are created. The file is written under a temporary name in the same folder
    and renamed at the end, so a crash never leaves a half-written file under ``path``. The
    input is read twice, both times in order: the ID columns to join each segment, then every
    column a row group at a time beside the joined results. A retry writes its parent's rows,
    its own answers over theirs (``patch``: result columns replacing rows by ID).
    """
    from batchframe.frame.merge import count_not_sent, own_results, patched, warn_not_sent

    parent = job.retry_of
    if parent is not None:
        own = own_results(job, batches, patch)
        return write_parquet(parent, parent.batches_to_read(partial=True), path, own)
    target = pathlib.Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    source = job.input.source
    schema, render = _plan(source, job.response_model)
    frame = source.frame if isinstance(source, PandasSource) else None
    stream = None
    if source is not None and source.rereadable and frame is None:
        stream = RowStream(source.batches())
    done = unsent = 0
    with replaced_atomically(target) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        for segment in iter_segments(job.input, list(job.shards), inputs=False):
            joined = fill_segment(
                job,
                segment,
                segment_results(job.client, segment, batches, check_ids=job.checks_ids),
                batches,
            )
            results = patched(joined, patch)
            del segment, joined  # one segment in memory at a time
            for start in range(0, results.num_rows, ROW_GROUP_ROWS):
                part = results.part(start, start + ROW_GROUP_ROWS)  # a row group's copy only
                rows = part.num_rows
                unsent += count_not_sent(part)
                table = None if stream is None else stream.take(rows)
                piece = None if frame is None else frame.iloc[done : done + rows]
                writer.write_table(render(table, piece, part))
                done += rows
                del part, table, piece
            del results
            release_freed_memory()
    warn_not_sent(job, unsent)
    return target


class RowStream:
    """Rows of a source read in order, handed out ``n`` at a time as Arrow tables."""

    def __init__(self, batches: Iterator[SourceBatch]) -> None:
        self._batches = batches
        self._carry: SourceBatch | None = None

    def take(self, n: int) -> pa.Table:
        pieces: list[SourceBatch] = []
        while n > 0:
            batch = self._carry if self._carry is not None else next(self._batches, None)
            self._carry = None
            if batch is None:
                break
            if batch.num_rows > n:
                self._carry = batch.slice(n, batch.num_rows - n)
                batch = batch.slice(0, n)
            pieces.append(batch)
            n -= batch.num_rows
        return input_table(pieces)


def _plan(source: Source | None, model: Any) -> tuple[pa.Schema, Renderer]:
    """The output schema, fixed before the first row, and how each piece becomes a table."""
    if isinstance(source, PandasSource):
        return _pandas_plan(source.frame, model)
    if source is None:
        return _results_plan(model)
    if not source.rereadable:
        empty = with_results(None, RESULT_SCHEMA.empty_table(), model)
        return empty.schema, lambda _t, _f, results: with_results(None, results, model).cast(
            empty.schema
        )
    inputs = source.arrow_schema().empty_table()
    schema = with_results(inputs, RESULT_SCHEMA.empty_table(), model).schema

    def render(table: pa.Table | None, _frame: pd.DataFrame | None, results: pa.Table) -> pa.Table:
        return with_results(table, results, model).cast(schema)

    return schema, render


def _results_plan(model: Any) -> tuple[pa.Schema, Renderer]:
    """Result columns alone, with the pandas metadata ``results()`` gives them."""
    as_json = json_fields(model)

    def frame(results: pa.Table) -> pd.DataFrame:
        out = with_results_pandas(None, results, model)
        for name in as_json:
            out[name] = out[name].map(json_text, na_action="ignore").astype(pd.StringDtype())
        return out

    schema = pa.Schema.from_pandas(frame(RESULT_SCHEMA.empty_table()), preserve_index=False)

    def render(_t: pa.Table | None, _f: pd.DataFrame | None, results: pa.Table) -> pa.Table:
        return pa.Table.from_pandas(frame(results), schema=schema, preserve_index=False)

    return schema, render


def _pandas_plan(df: pd.DataFrame, model: Any) -> tuple[pa.Schema, Renderer]:
    schema = output_schema(df, model)
    if model is not None:
        as_json = json_fields(model)

        def via_pandas(
            _t: pa.Table | None, part: pd.DataFrame | None, results: pa.Table
        ) -> pa.Table:
            frame = with_results_pandas(part, results, model)
            for name in as_json:
                frame[name] = frame[name].map(json_text, na_action="ignore")
            return pa.Table.from_pandas(frame, schema=schema, preserve_index=True)

        return schema, via_pandas
    result_names = set(RESULT_SCHEMA.names)

    def via_arrow(_t: pa.Table | None, part: pd.DataFrame | None, results: pa.Table) -> pa.Table:
        assert part is not None
        inputs = part.drop(columns=[c for c in part.columns if c in result_names])
        table = _with_index_names(pa.Table.from_pandas(inputs, preserve_index=True), schema)
        columns = [
            (results if field.name in result_names else table)[field.name].cast(field.type)
            for field in schema
        ]
        return pa.Table.from_arrays(columns, schema=schema)

    return schema, via_arrow


def _index_names(schema: pa.Schema) -> list[str]:
    """The names of the index columns in ``schema``'s pandas metadata."""
    meta = orjson.loads(schema.metadata[b"pandas"])
    return [name for name in meta["index_columns"] if isinstance(name, str)]


def _with_index_names(inputs: pa.Table, schema: pa.Schema) -> pa.Table:
    """``inputs`` with its index columns named as in ``schema``.

    An index named like a result column (``state``) is ``__index_level_0__`` in the output,
    where the column ``state`` is taken, but keeps its own name in the inputs alone.
    """
    names = dict(zip(_index_names(inputs.schema), _index_names(schema), strict=True))
    return inputs.rename_columns([names.get(name, name) for name in inputs.column_names])


def output_schema(df: pd.DataFrame, model: Any) -> pa.Schema:
    """The Arrow schema (with pandas metadata) of a pandas input's output.

    Types come from an empty output frame; input columns of ``object`` dtype (whose type an
    empty frame cannot tell) are inferred from the whole input column once.
    """
    template = with_results_pandas(df.iloc[:0], RESULT_SCHEMA.empty_table(), model)
    for name in json_fields(model):
        template[name] = template[name].astype(pd.StringDtype())
    schema = pa.Schema.from_pandas(template, preserve_index=True)
    unknown = [f.name for f in schema if pa.types.is_null(f.type)]
    known = [c for c in unknown if c in df.columns]
    if known:
        inferred = pa.Schema.from_pandas(df[known], preserve_index=False)
        for field in inferred:
            schema = schema.set(schema.get_field_index(field.name), field)
    for name in [f.name for f in schema if pa.types.is_null(f.type)]:
        schema = schema.set(schema.get_field_index(name), pa.field(name, pa.large_string()))
    return schema
