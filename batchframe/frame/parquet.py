"""Stream a batch's results to a Parquet file, one results page at a time.

The file holds the same rows and columns as ``Job.results()`` (the input frame's columns, its
index, the result columns and any structured columns), with the pandas metadata that makes
``pd.read_parquet`` give back the same dtypes. Memory is bounded by a page, not by the job: only
the input frame (which the caller holds anyway) and a per-row "written" mask stay resident.

Row order follows the result pages (the server returns them by ``batch_request_id``), then the
rows without a result (pending, skipped) in frame order. Sort or re-index after reading if the
frame's order matters; ``results()`` keeps the frame's order.

>>> write_parquet(source, batch, "out/reviews.parquet")         # doctest: +SKIP
PosixPath('out/reviews.parquet')
"""

from __future__ import annotations

import enum
import logging
import os
import pathlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel

from batchframe._config import PAGE_LIMIT
from batchframe.frame.atomic import replaced_atomically
from batchframe.frame.decode import RESULT_SCHEMA
from batchframe.frame.results import (
    ResultSource,
    attach_columns,
    fetch_request_states,
    fill_state,
    iter_result_pages,
    pending_rows,
    positions_in_frame,
)
from batchframe.models import Batch

__all__ = ["write_parquet"]

logger = logging.getLogger("batchframe")


def write_parquet(source: ResultSource, batch: Batch, path: str | os.PathLike[str]) -> pathlib.Path:
    """Write the results of ``source``'s batch to ``path`` and return it (see ``Job.to_parquet``).

    Parent folders are created. The file is written under a temporary name in the same folder
    and renamed at the end, so a crash never leaves a half-written file under ``path``.
    """
    target = pathlib.Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    states = (
        fetch_request_states(source.client, source.batch_id)
        if source.needs_request_states(batch)
        else None
    )
    schema = output_schema(source)
    to_arrow = _arrow_renderer(source, schema)
    with replaced_atomically(target) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        pending: list[pa.Table] = []
        size = 0
        for rows, taken in _output_pieces(source, states):
            pending.append(to_arrow(rows, taken))
            size += taken.num_rows
            if size >= ROW_GROUP_ROWS:  # a few dozen pages per row group, not one each
                writer.write_table(pa.concat_tables(pending))
                pending, size = [], 0
        if pending:
            writer.write_table(pa.concat_tables(pending))
    return target


#: Rows buffered before a row group is written: bounded memory, and files that read fast.
ROW_GROUP_ROWS = 50_000


def _arrow_renderer(
    source: ResultSource, schema: pa.Schema
) -> Callable[[np.ndarray | None, pa.Table], pa.Table]:
    """How a piece (input rows + their result columns) becomes a table of ``schema``.

    Without structured output the input frame is converted to Arrow once and each piece is a
    ``take`` of it beside the result columns: no pandas round trip per page. With a
    ``response_model`` the parsed columns come from pandas (``attach_columns``).
    """
    keep_index = source.df is not None  # without a frame the index is just 0..n-1
    if source.df is None or source.response_model is not None:
        as_json = _json_fields(source.response_model)

        def via_pandas(rows: np.ndarray | None, taken: pa.Table) -> pa.Table:
            part = None if rows is None or source.df is None else source.df.iloc[rows]
            frame = attach_columns(part, taken, source.response_model)
            for name in as_json:
                frame[name] = frame[name].map(_json_text, na_action="ignore")
            return pa.Table.from_pandas(frame, schema=schema, preserve_index=keep_index)

        return via_pandas
    result_names = set(RESULT_SCHEMA.names)
    inputs = source.df.drop(columns=[c for c in source.df.columns if c in result_names])
    input_table = _with_index_names(pa.Table.from_pandas(inputs, preserve_index=True), schema)

    def via_arrow(rows: np.ndarray | None, taken: pa.Table) -> pa.Table:
        assert rows is not None
        part = input_table.take(pa.array(rows, pa.int64()))
        columns = [
            (taken if field.name in result_names else part)[field.name].cast(field.type)
            for field in schema
        ]
        return pa.Table.from_arrays(columns, schema=schema)

    return via_arrow


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


def _json_fields(response_model: Any) -> list[str]:
    """Structured fields without a scalar column type (lists, dicts, nested models).

    ``results()`` keeps their Python values; Parquet stores them as JSON text, one string per
    row, because their Arrow type cannot be fixed before the first page.
    """
    if response_model is None:
        return []
    from batchframe.frame.structured import column_dtype

    return [
        name
        for name, field in response_model.model_fields.items()
        if column_dtype(field.annotation) == "object"
    ]


def _json_text(value: Any) -> str:
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    return orjson.dumps(value, default=_plain).decode()


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, enum.Enum):
        return value.value
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def output_schema(source: ResultSource) -> pa.Schema:
    """The Arrow schema of the output (with pandas metadata), fixed before the first page.

    Types come from an empty output frame; input columns of ``object`` dtype (whose type an
    empty frame cannot tell) are inferred from the whole input column once.
    """
    head = None if source.df is None else source.df.iloc[:0]
    template = attach_columns(head, RESULT_SCHEMA.empty_table(), source.response_model)
    schema = pa.Schema.from_pandas(template, preserve_index=source.df is not None)
    unknown = [f.name for f in schema if pa.types.is_null(f.type)]
    if unknown and source.df is not None:
        known = [c for c in unknown if c in source.df.columns]
        inferred = pa.Schema.from_pandas(source.df[known], preserve_index=False)
        for field in inferred:
            schema = schema.set(schema.get_field_index(field.name), field)
    for name in [f.name for f in schema if pa.types.is_null(f.type)]:
        # Nothing to infer from (an all-null object column): store text.
        index = schema.get_field_index(name)
        schema = schema.set(index, pa.field(name, pa.string()))
    return schema


Piece = tuple[np.ndarray | None, pa.Table]  # input row positions (None: no frame), result rows


def _output_pieces(source: ResultSource, states: pa.Table | None) -> Iterator[Piece]:
    if source.df is None or source.ids is None:
        yield from _pieces_without_frame(source, states)
        return
    ids = source.ids
    written = np.zeros(len(ids), dtype=bool)
    for page in iter_result_pages(source.client, source.batch_id):
        table = pa.Table.from_batches([page])
        positions = positions_in_frame(ids, table["batch_request_id"])
        keep = positions >= 0
        keep[keep] = _first_time(positions[keep], written)
        rows = positions[keep]
        written[rows] = True
        if len(rows):
            taken = fill_state(table.filter(pa.array(keep)), ids[rows], source.skipped_ids, None)
            yield rows, taken
    yield from _rows_without_result(source, np.flatnonzero(~written), states)


def _first_time(positions: np.ndarray, written: np.ndarray) -> np.ndarray:
    """Which of ``positions`` get written now (not written before, first in this page)."""
    fresh = ~written[positions] & ~pd.Index(positions).duplicated(keep="first")
    if not fresh.all():
        logger.warning("%d duplicate results (kept the first of each)", int((~fresh).sum()))
    return np.asarray(fresh, dtype=bool)


def _rows_without_result(
    source: ResultSource, rows: np.ndarray, states: pa.Table | None
) -> Iterator[Piece]:
    """The frame's rows that have no result, a page at a time, with their fallback state."""
    assert source.df is not None and source.ids is not None
    in_batch_ids = None if states is None else states["batch_request_id"].to_pylist()
    for start in range(0, len(rows), PAGE_LIMIT):
        part = rows[start : start + PAGE_LIMIT]
        ids = source.ids[part]
        id_array = pa.array(np.asarray(ids, dtype=object), pa.string())
        empty = pending_rows(RESULT_SCHEMA, id_array, state=None)
        in_batch = None if in_batch_ids is None else ids.isin(in_batch_ids)
        taken = fill_state(empty, ids, source.skipped_ids, in_batch)
        yield part, taken


def _pieces_without_frame(source: ResultSource, states: pa.Table | None) -> Iterator[Piece]:
    """Result columns alone: every result page, then requests still pending."""
    seen: set[str] = set()
    for page in iter_result_pages(source.client, source.batch_id):
        ids = page.column("batch_request_id").to_pylist()
        fresh = np.fromiter((i not in seen for i in ids), dtype=bool, count=len(ids))
        fresh &= ~pd.Index(ids).duplicated(keep="first")
        if not fresh.all():
            logger.warning("%d duplicate results (kept the first of each)", int((~fresh).sum()))
        seen.update(ids)
        table = pa.Table.from_batches([page]).filter(pa.array(fresh))
        if table.num_rows:
            yield None, table
    if states is not None and states.num_rows:
        rest = states.filter(
            pc.invert(
                pc.is_in(states["batch_request_id"], value_set=pa.array(list(seen), pa.string()))
            )
        )
        for start in range(0, rest.num_rows, PAGE_LIMIT):
            chunk = rest.slice(start, PAGE_LIMIT)
            yield None, pending_rows(RESULT_SCHEMA, chunk["batch_request_id"])
