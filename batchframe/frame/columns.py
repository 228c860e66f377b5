"""Request IDs and text columns as Arrow strings, validated in bulk.

Every check is vectorised; Python only walks the offending rows to name them in the message.
IDs come from pandas labels (:func:`pandas_ids`), from any Arrow column (:func:`arrow_ids`) or
from row numbers (:func:`row_number_ids`); :func:`check_ids` applies the rules every ID obeys.

>>> check_ids(arrow_ids(pa.array(["a", "b"])), "id_column 'k'").to_pylist()
['a', 'b']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from batchframe._config import MAX_ID_LENGTH
from batchframe._hints import Term, arg, say
from batchframe.frame.escape import as_large_strings, string_buffers

__all__ = [
    "arrow_ids",
    "arrow_text",
    "check_ids",
    "check_unique",
    "is_text_type",
    "name_values",
    "pandas_ids",
    "pandas_text",
    "row_number_ids",
]

_SHOW = 5


def name_values(values: Sequence[Any]) -> str:
    """The first few offending values, for an error message."""
    shown = ", ".join(repr(v) for v in list(values)[:_SHOW])
    more = len(values) - _SHOW
    return shown + (f" and {more} more" if more > 0 else "")


def is_text_type(arrow_type: pa.DataType) -> bool:
    """A string type (or a dictionary of strings) Arrow can cast to ``large_string``."""
    if pa.types.is_dictionary(arrow_type):
        return is_text_type(arrow_type.value_type)
    return bool(
        pa.types.is_string(arrow_type)
        or pa.types.is_large_string(arrow_type)
        or pa.types.is_string_view(arrow_type)
    )


def _is_text_dtype(dtype: Any) -> bool:
    if isinstance(dtype, pd.StringDtype):
        return True
    if isinstance(dtype, pd.ArrowDtype):
        return is_text_type(dtype.pyarrow_dtype)
    return False


def row_number_ids(first: int, count: int) -> pa.LargeStringArray:
    """``"first"``, ``"first+1"``, ... as request IDs.

    >>> row_number_ids(9, 2).to_pylist()
    ['9', '10']
    """
    return as_large_strings(pa.array(np.arange(first, first + count, dtype=np.int64)))


def pandas_ids(source: pd.Index | pd.Series, where: str) -> pa.LargeStringArray:
    """Index labels or column values as strings (``str(label)``), null ones refused."""
    null = _null_mask(source)
    if null is not None and null.any():
        rows = np.flatnonzero(null)
        raise _null_ids(where, rows)
    if isinstance(source, pd.RangeIndex):
        return as_large_strings(pa.array(np.arange(source.start, source.stop, source.step)))
    dtype = source.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        return as_large_strings(pa.array(np.asarray(source)))  # Arrow writes ints as str() does
    if _is_text_dtype(dtype):
        return as_large_strings(pa.array(source))
    return as_large_strings(pa.array([str(v) for v in source.tolist()], type=pa.large_string()))


def arrow_ids(values: pa.Array | pa.ChunkedArray, where: str = "id_column") -> pa.LargeStringArray:
    """An Arrow column as request IDs: text as is, integers as digits, others as ``str()``."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if values.null_count:
        rows = np.flatnonzero(values.is_null().to_numpy(zero_copy_only=False))
        raise _null_ids(where, rows)
    if is_text_type(values.type) or pa.types.is_integer(values.type):
        return as_large_strings(values)
    return as_large_strings(pa.array([str(v) for v in values.to_pylist()], pa.large_string()))


def _null_ids(where: str, rows: npt.NDArray[np.intp]) -> ValueError:
    return ValueError(
        say(
            "request IDs must not be null: ",
            where,
            f" has {rows.size} null value(s) at row position(s) {name_values(rows.tolist())}; "
            "fill them or pass another ",
            arg("id_column"),
        )
    )


def _null_mask(source: pd.Index | pd.Series) -> npt.NDArray[np.bool_] | None:
    """Which labels are null (``None`` for a RangeIndex); a MultiIndex label is null if any part is.

    ``pd.isna`` refuses a MultiIndex; its labels become IDs like ``"('a', 1)"``.
    """
    if isinstance(source, pd.RangeIndex):
        return None
    if isinstance(source, pd.MultiIndex):
        return np.asarray(source.to_frame(index=False).isna().any(axis=1), dtype=bool)
    return np.asarray(pd.isna(source), dtype=bool)


def _bad_rows(ids: pa.LargeStringArray, mask: npt.NDArray[np.bool_]) -> list[str]:
    return [ids[int(i)].as_py() for i in np.flatnonzero(mask)[:_SHOW]]


def check_ids(ids: pa.LargeStringArray, where: str) -> pa.LargeStringArray:
    """``ids`` if each is printable ASCII, non-empty, unpadded and short enough; else ValueError."""
    offsets, data = string_buffers(ids)
    sizes = np.diff(offsets)
    bad_bytes = np.flatnonzero((data < 0x20) | (data > 0x7E))
    if bad_bytes.size:
        rows = np.unique(np.searchsorted(offsets, bad_bytes, side="right") - 1)
        shown = [ids[int(i)].as_py() for i in rows[:_SHOW]]
        raise ValueError(
            say("request IDs may only use printable ASCII (0x20-0x7E): ", where)
            + f" has {rows.size} ID(s) that do not, e.g. {name_values(shown)}; map them to "
            "plain IDs"
        )
    if (sizes == 0).any():
        raise ValueError(
            say("request IDs must not be empty: ", where) + f" has {int((sizes == 0).sum())}"
        )
    if (sizes > MAX_ID_LENGTH).any():
        raise ValueError(
            say(f"request IDs must be at most {MAX_ID_LENGTH} characters: ", where)
            + f" has {name_values(_bad_rows(ids, sizes > MAX_ID_LENGTH))}"
        )
    if len(ids):
        padded = (data[offsets[:-1]] == 0x20) | (data[offsets[1:] - 1] == 0x20)
        if padded.any():
            raise ValueError(
                say("request IDs must not start or end with whitespace: ", where)
                + f" has {name_values(_bad_rows(ids, padded))}; strip them"
            )
    return ids


def check_unique(ids: pa.Array | pa.ChunkedArray, where: str) -> None:
    """Raise a ValueError naming repeated IDs (one hash pass; Python only on a failure)."""
    if len(pc.unique(ids)) == len(ids):
        return
    counts = pc.value_counts(ids)
    repeated = counts.filter(pc.greater(counts.field("counts"), 1)).field("values")
    raise ValueError(
        say(
            "request IDs must be unique: ",
            where,
            f" repeats {name_values(repeated.to_pylist())}; deduplicate the rows or pass a unique ",
            arg("id_column"),
        )
    )


def pandas_text(series: pd.Series, ids: pa.LargeStringArray, column: Any) -> pa.LargeStringArray:
    """A null-free text column as Arrow strings; non-text values are a ValueError naming rows."""
    dtype = series.dtype
    if len(series) == 0:
        return pa.array([], pa.large_string())
    if _is_text_dtype(dtype) or getattr(dtype, "name", "") == "str":
        return as_large_strings(pa.array(series, from_pandas=True))
    if isinstance(dtype, pd.CategoricalDtype):
        if pd.api.types.infer_dtype(dtype.categories, skipna=True) == "string":
            return as_large_strings(pa.array(series.astype(object), type=pa.large_string()))
    elif dtype.kind == "O" and pd.api.types.infer_dtype(series, skipna=True) == "string":
        return as_large_strings(pa.array(series.to_numpy(), type=pa.large_string()))
    _not_text(series.tolist(), ids, column)
    raise AssertionError("unreachable")  # pragma: no cover


def arrow_text(values: pa.Array, ids: pa.LargeStringArray, column: Any) -> pa.LargeStringArray:
    """A null-free Arrow text column as ``large_string``; other types are a ValueError."""
    if is_text_type(values.type):
        return as_large_strings(values)
    _not_text(values.to_pylist(), ids, column)
    raise AssertionError("unreachable")  # pragma: no cover


def _not_text(values: list[Any], ids: pa.LargeStringArray, column: Any) -> None:
    rows = [i for i, v in enumerate(values) if not isinstance(v, str)][:_SHOW]
    shown = [f"{ids[i].as_py()}: {values[i]!r}" for i in rows]
    raise ValueError(
        say(
            f"prompt column {column!r} must hold text, but rows have other values "
            f"({', '.join(shown)}); ",
            Term("convert it with .astype(str) or use template=", "use --template"),
        )
    )
