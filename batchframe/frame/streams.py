"""Sources that stream: a ``pyarrow.RecordBatchReader`` (read once) and a polars LazyFrame
(executed as a stream of batches each time it is read).

>>> import pyarrow as pa
>>> table = pa.table({"q": ["a", "b"]})
>>> src = ReaderSource(pa.RecordBatchReader.from_batches(table.schema, table.to_batches()))
>>> [b.num_rows for b in src.batches()], src.rereadable
([2], False)
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from typing import Any

import pyarrow as pa

from batchframe.frame.sources import BATCH_ROWS, ArrowBatch, Source

__all__ = ["LazySource", "ReaderSource"]


class ReaderSource(Source):
    """A ``pyarrow.RecordBatchReader``: read once, as it streams."""

    kind = "reader"
    rereadable = False

    def __init__(self, reader: pa.RecordBatchReader) -> None:
        self.reader = reader
        self._used = False

    @property
    def column_names(self) -> list[Any]:
        return list(self.reader.schema.names)

    def batches(
        self, columns: Sequence[Hashable] | None = None, batch_rows: int = BATCH_ROWS
    ) -> Iterator[ArrowBatch]:
        if self._used:
            raise ValueError(
                "a RecordBatchReader can be read only once; pass a pyarrow Table or files "
                "to read the input again"
            )
        self._used = True
        first = 0
        for batch in self.reader:
            for start in range(0, batch.num_rows, batch_rows):
                part = batch.slice(start, batch_rows)
                yield ArrowBatch(part, first)
                first += part.num_rows

    def id_values(self, id_column: Hashable) -> None:
        return None  # checked shard by shard as the stream goes by


class LazySource(Source):
    """A polars LazyFrame, executed as a stream of batches each time it is read."""

    kind = "polars"

    def __init__(self, frame: Any) -> None:
        self.frame = frame

    @property
    def column_names(self) -> list[Any]:
        return list(self.frame.collect_schema().names())

    def batches(
        self, columns: Sequence[Hashable] | None = None, batch_rows: int = BATCH_ROWS
    ) -> Iterator[ArrowBatch]:
        if columns is None:
            frame = self.frame
        elif columns:
            frame = self.frame.select([str(c) for c in columns])
        else:  # no column at all would give no rows: keep the cheapest one for the count
            import polars as pl

            frame = self.frame.select(pl.first())
        first = 0
        stream = getattr(frame, "collect_batches", None)  # polars >= 1.3x streams batches
        chunks = (
            stream(chunk_size=batch_rows, maintain_order=True)
            if stream is not None
            else [frame.collect(engine="streaming")]
        )
        for chunk in chunks:
            for batch in chunk.to_arrow().to_batches(max_chunksize=batch_rows):
                if batch.num_rows:
                    yield ArrowBatch(batch, first)
                    first += batch.num_rows

    def id_values(self, id_column: Hashable) -> pa.ChunkedArray:
        return self.frame.select(str(id_column)).collect().to_arrow().column(0)

    def arrow_schema(self) -> pa.Schema:
        import polars as pl

        return pl.DataFrame(schema=self.frame.collect_schema()).to_arrow().schema

    def describe(self) -> str:
        return "polars LazyFrame"
