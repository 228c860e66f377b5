"""Inputs as a stream of batches: pandas, polars, Arrow, and Parquet / CSV / JSON Lines files.

:func:`as_source` turns whatever the user passed into a :class:`Source`; its :meth:`batches`
yield :class:`SourceBatch` es of consecutive rows, each knowing its first row number in the whole
input. The encoder, the join and the Parquet writer see only these: pandas and polars are thin
adapters at the edge (a pandas batch keeps ``str.format`` semantics for template values and
the index labels as IDs), the middle is Arrow.

>>> src = as_source(pa.table({"q": ["a", "b", "c"]}))
>>> [(b.first_row, b.num_rows) for b in src.batches(batch_rows=2)]
[(0, 2), (2, 1)]
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Hashable, Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from batchframe._hints import id_column_named
from batchframe.frame.columns import (
    arrow_ids,
    arrow_text,
    check_ids,
    check_unique,
    is_text_type,
    pandas_ids,
    pandas_text,
    row_number_ids,
)
from batchframe.frame.escape import as_large_strings

__all__ = ["BATCH_ROWS", "ArrowBatch", "PandasBatch", "Source", "SourceBatch", "as_source"]

#: Rows per batch read from a source: big enough that per-batch costs vanish, small enough
#: that a batch of 100-character prompts is a few tens of MB.
BATCH_ROWS = 131_072


class SourceBatch(ABC):
    """Consecutive input rows: ``num_rows`` of them, the first being row ``first_row``."""

    first_row: int
    num_rows: int

    @abstractmethod
    def ids(self, id_column: Hashable | None) -> pa.LargeStringArray:
        """The request IDs of these rows (checked for text rules, not for uniqueness)."""

    @abstractmethod
    def is_null(self, name: Hashable) -> npt.NDArray[np.bool_]:
        """Which cells of the column are null."""

    @abstractmethod
    def text(self, name: Hashable, ids: pa.LargeStringArray) -> pa.LargeStringArray:
        """A prompt column (no nulls) as text; anything but text is a ValueError."""

    @abstractmethod
    def plain_text(self, name: Hashable) -> pa.LargeStringArray | None:
        """The column as text when that is exactly ``str(value)`` for every row, else None."""

    @abstractmethod
    def values(self, name: Hashable) -> list[Any]:
        """The column's values as Python objects (what ``str.format`` sees)."""

    @abstractmethod
    def take(self, positions: npt.NDArray[np.int64]) -> SourceBatch:
        """The rows at ``positions`` (relative to this batch)."""

    @abstractmethod
    def slice(self, offset: int, length: int) -> SourceBatch:
        """Rows ``offset:offset+length`` as a batch of their own (row numbers kept)."""

    @abstractmethod
    def to_arrow(self) -> pa.Table:
        """All columns as an Arrow table (the pandas index too, as pandas stores it)."""


class PandasBatch(SourceBatch):
    """A slice of a pandas DataFrame."""

    def __init__(self, frame: pd.DataFrame, first_row: int) -> None:
        self.frame = frame
        self.first_row = first_row
        self.num_rows = len(frame)

    def ids(self, id_column: Hashable | None) -> pa.LargeStringArray:
        if id_column is None:
            return check_ids(pandas_ids(self.frame.index, "the DataFrame index"), "the index")
        where = id_column_named(id_column)
        return check_ids(pandas_ids(self.frame[id_column], where), where)

    def is_null(self, name: Hashable) -> npt.NDArray[np.bool_]:
        return np.asarray(self.frame[name].isna(), dtype=bool)

    def text(self, name: Hashable, ids: pa.LargeStringArray) -> pa.LargeStringArray:
        return pandas_text(self.frame[name], ids, name)

    def plain_text(self, name: Hashable) -> pa.LargeStringArray | None:
        series = self.frame[name]
        dtype = series.dtype
        numeric = hasattr(dtype, "kind") and dtype.kind in "iu"
        if not series.hasnans and (isinstance(dtype, pd.StringDtype) or numeric):
            return as_large_strings(pa.array(series))  # Arrow writes ints exactly as str() does
        return None

    def values(self, name: Hashable) -> list[Any]:
        return list(self.frame[name].tolist())

    def take(self, positions: npt.NDArray[np.int64]) -> PandasBatch:
        return PandasBatch(self.frame.iloc[positions], self.first_row)

    def slice(self, offset: int, length: int) -> PandasBatch:
        return PandasBatch(self.frame.iloc[offset : offset + length], self.first_row + offset)

    def to_arrow(self) -> pa.Table:
        return pa.Table.from_pandas(self.frame, preserve_index=True)


class ArrowBatch(SourceBatch):
    """An Arrow record batch; IDs are row numbers unless ``explicit_ids`` says otherwise."""

    def __init__(
        self,
        batch: pa.RecordBatch,
        first_row: int,
        explicit_ids: pa.LargeStringArray | None = None,
    ) -> None:
        self.batch = batch
        self.first_row = first_row
        self.num_rows = batch.num_rows
        self.explicit_ids = explicit_ids

    def _column(self, name: Hashable) -> pa.Array:
        return self.batch.column(str(name))

    def ids(self, id_column: Hashable | None) -> pa.LargeStringArray:
        if id_column is not None:
            where = id_column_named(id_column)
            return check_ids(arrow_ids(self._column(id_column), where), where)
        if self.explicit_ids is not None:
            return self.explicit_ids
        return row_number_ids(self.first_row, self.num_rows)

    def is_null(self, name: Hashable) -> npt.NDArray[np.bool_]:
        column = self._column(name)
        if pa.types.is_floating(column.type):  # NaN too, as pandas counts it: never sent as "nan"
            return np.asarray(column.is_null(nan_is_null=True).to_numpy(zero_copy_only=False))
        if not column.null_count:
            return np.zeros(len(column), dtype=bool)
        return np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)

    def text(self, name: Hashable, ids: pa.LargeStringArray) -> pa.LargeStringArray:
        return arrow_text(self._column(name), ids, name)

    def plain_text(self, name: Hashable) -> pa.LargeStringArray | None:
        column = self._column(name)
        kind = column.type
        if column.null_count or not (is_text_type(kind) or pa.types.is_integer(kind)):
            return None
        return as_large_strings(column)

    def values(self, name: Hashable) -> list[Any]:
        return list(self._column(name).to_pylist())

    def take(self, positions: npt.NDArray[np.int64]) -> ArrowBatch:
        picked = pa.array(positions, pa.int64())
        ids = None if self.explicit_ids is None else self.explicit_ids.take(picked)
        return ArrowBatch(self.batch.take(picked), self.first_row, ids)

    def slice(self, offset: int, length: int) -> ArrowBatch:
        ids = None if self.explicit_ids is None else self.explicit_ids.slice(offset, length)
        return ArrowBatch(self.batch.slice(offset, length), self.first_row + offset, ids)

    def to_arrow(self) -> pa.Table:
        return pa.Table.from_batches([self.batch])


class Source(ABC):
    """An input: its kind, its columns, and a way to read its rows in order, batch by batch."""

    #: ``pandas``, ``polars``, ``arrow``, ``reader`` or ``files``: what ``results()`` returns.
    kind: str = "arrow"
    #: False for a one-shot stream (a RecordBatchReader): it can be read only once.
    rereadable: bool = True

    @property
    @abstractmethod
    def column_names(self) -> list[Any]: ...

    @property
    def num_rows(self) -> int | None:
        """The number of rows when known without reading them all."""
        return None

    @abstractmethod
    def batches(
        self, columns: Sequence[Hashable] | None = None, batch_rows: int = BATCH_ROWS
    ) -> Iterator[SourceBatch]:
        """The rows in order (only ``columns`` where the source can read fewer)."""

    def check_ids(self, id_column: Hashable | None) -> None:
        """Check every ID up front (text rules, unique) where that is possible before sending."""
        if id_column is None:
            return  # row numbers: unique by construction
        values = self.id_values(id_column)
        if values is not None:
            where = id_column_named(id_column)
            check_unique(check_ids(arrow_ids(values, where), where), where)

    def id_values(self, id_column: Hashable) -> pa.Array | pa.ChunkedArray | None:
        """The whole ID column, or None when the source can only be read once."""
        chunks = [c for b in self.batches([id_column]) for c in b.to_arrow().column(0).chunks]
        return pa.chunked_array(chunks) if chunks else pa.chunked_array([], pa.string())

    def arrow_schema(self) -> pa.Schema:
        """The Arrow schema of the rows :meth:`batches` yields."""
        head = next(iter(self.batches(batch_rows=1)), None)
        return head.to_arrow().schema if head is not None else pa.schema([])

    def describe(self) -> str:
        return self.kind


class PandasSource(Source):
    """A pandas DataFrame (a shallow snapshot: later in-place edits cannot shift rows)."""

    kind = "pandas"

    def __init__(self, frame: pd.DataFrame) -> None:
        check_columns_unique(frame)
        self.frame = frame.copy(deep=False)

    @property
    def column_names(self) -> list[Any]:
        return list(self.frame.columns)

    @property
    def num_rows(self) -> int:
        return len(self.frame)

    def batches(
        self, columns: Sequence[Hashable] | None = None, batch_rows: int = BATCH_ROWS
    ) -> Iterator[PandasBatch]:
        frame = self.frame if columns is None else self.frame[list(columns)]
        for start in range(0, len(frame), batch_rows):
            yield PandasBatch(frame.iloc[start : start + batch_rows], start)

    def check_ids(self, id_column: Hashable | None) -> None:
        if id_column is None:
            ids = check_ids(pandas_ids(self.frame.index, "the DataFrame index"), "the index")
            if not _known_unique(self.frame.index):
                check_unique(ids, "the DataFrame index")
            check_index_writable(self.frame.index)
            return
        where = id_column_named(id_column)
        check_unique(check_ids(pandas_ids(self.frame[id_column], where), where), where)
        check_index_writable(self.frame.index)


def check_columns_unique(frame: pd.DataFrame) -> None:
    """Refuse duplicate column names: a result row could not say which one it read."""
    check_names_unique(list(frame.columns), "df.loc[:, ~df.columns.duplicated()]")


def check_names_unique(names: Sequence[Any], fix: str) -> None:
    """A ValueError naming the column names ``names`` repeats, with ``fix`` as the example."""
    counts = Counter(names)
    repeated = [name for name, count in counts.items() if count > 1]
    if repeated:
        raise ValueError(
            f"the input has duplicate column names: {', '.join(map(repr, repeated[:5]))}; a "
            f"request or a result could not say which one it read. Rename or drop them first, "
            f"e.g. {fix}"
        )


def check_index_writable(index: pd.Index) -> None:
    """Refuse, before anything is sent, an index level Parquet cannot store (mixed kinds of
    values): ``to_parquet`` would fail after the job ran."""
    levels = index.levels if isinstance(index, pd.MultiIndex) else [index]
    for number, level in enumerate(levels):
        if level.dtype != object or pd.api.types.infer_dtype(level, skipna=True) in _ONE_KIND:
            continue
        try:
            pa.array(level, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            multi = isinstance(index, pd.MultiIndex)
            name = f" level {level.name or number!r}" if multi else ""
            fix = (
                f"df.index = df.index.set_levels(df.index.levels[{number}].astype(str), "
                f"level={number})"
                if multi
                else "df.index = df.index.astype(str)"
            )
            raise ValueError(
                f"the index{name} mixes kinds of values ({exc}), which Parquet cannot store: "
                f"to_parquet would fail after the job ran. Make it one kind first, e.g. {fix}"
            ) from None


#: ``infer_dtype`` kinds that Arrow stores as one column type.
_ONE_KIND = frozenset({"string", "integer", "floating", "boolean", "bytes", "empty"})


def _known_unique(index: pd.Index) -> bool:
    """True when pandas already knows the labels are unique and ``str`` cannot merge two."""
    if isinstance(index, pd.RangeIndex):
        return True
    dtype = index.dtype
    injective = pd.api.types.is_integer_dtype(dtype) or isinstance(dtype, pd.StringDtype)
    return bool(injective and index.is_unique)


class TableSource(Source):
    """An Arrow table (also what a polars DataFrame becomes); IDs default to row numbers."""

    def __init__(
        self, table: pa.Table, kind: str = "arrow", ids: pa.LargeStringArray | None = None
    ) -> None:
        check_names_unique(table.column_names, "table.rename_columns([...])")
        self.table = table
        self.kind = kind
        self.explicit_ids = ids

    @property
    def column_names(self) -> list[Any]:
        return list(self.table.column_names)

    @property
    def num_rows(self) -> int:
        return int(self.table.num_rows)

    def batches(
        self, columns: Sequence[Hashable] | None = None, batch_rows: int = BATCH_ROWS
    ) -> Iterator[ArrowBatch]:
        table = self.table if columns is None else self.table.select([str(c) for c in columns])
        first = 0
        for batch in table.to_batches(max_chunksize=batch_rows):
            if batch.num_rows:
                ids = self.explicit_ids
                part = None if ids is None else ids.slice(first, batch.num_rows)
                yield ArrowBatch(batch, first, part)
                first += batch.num_rows

    def id_values(self, id_column: Hashable) -> pa.ChunkedArray:
        return self.table.column(str(id_column))

    def arrow_schema(self) -> pa.Schema:
        return self.table.schema


def as_source(data: Any) -> Source:
    """The :class:`Source` for ``data`` (a ValueError for anything else).

    >>> as_source(pd.DataFrame({"q": ["hi"]})).kind
    'pandas'
    """
    if isinstance(data, Source):
        return data
    if isinstance(data, pd.DataFrame):
        return PandasSource(data)
    if isinstance(data, pa.Table):
        return TableSource(data)
    if isinstance(data, pa.RecordBatch):
        return TableSource(pa.Table.from_batches([data]))
    if isinstance(data, pa.RecordBatchReader):
        from batchframe.frame.streams import ReaderSource

        return ReaderSource(data)
    module = type(data).__module__ or ""
    if module.startswith("polars"):
        import polars as pl

        if isinstance(data, pl.LazyFrame):
            from batchframe.frame.streams import LazySource

            return LazySource(data)
        if isinstance(data, pl.DataFrame):
            return TableSource(data.to_arrow(), kind="polars")
    if isinstance(data, str | os.PathLike) or (
        isinstance(data, list | tuple)
        and data
        and all(isinstance(p, str | os.PathLike) for p in data)
    ):
        from batchframe.frame.files import FileSource

        return FileSource.open(data)
    raise ValueError(
        "expected a pandas DataFrame, a polars DataFrame or LazyFrame, a pyarrow Table or "
        "RecordBatchReader, or a path, glob or list of paths of .parquet, .csv or .jsonl "
        f"files; got {type(data).__name__}"
    )
