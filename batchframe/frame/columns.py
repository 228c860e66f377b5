"""Read request IDs and text columns out of a DataFrame as Arrow strings, validating in bulk.

Every check is vectorised; Python only walks the offending rows to name them in the message.
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
from batchframe.frame.escape import as_large_strings, string_buffers

__all__ = ["check_columns", "name_values", "request_ids", "text_array"]

_SHOW = 5


def name_values(values: Sequence[Any]) -> str:
    """The first few offending values, for an error message."""
    shown = ", ".join(repr(v) for v in list(values)[:_SHOW])
    more = len(values) - _SHOW
    return shown + (f" and {more} more" if more > 0 else "")


def check_columns(df: pd.DataFrame, names: Sequence[Any], what: str) -> None:
    """Raise a ValueError naming the missing columns and listing the available ones."""
    missing = [name for name in names if name not in df.columns]
    if missing:
        raise ValueError(
            f"{what} names column(s) not in the frame: {name_values(missing)}; "
            f"available columns: {list(df.columns)!r}"
        )


def _is_text_dtype(dtype: Any) -> bool:
    if isinstance(dtype, pd.StringDtype):
        return True
    if isinstance(dtype, pd.ArrowDtype):
        arrow_type = dtype.pyarrow_dtype
        return bool(pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type))
    return False


def _labels_to_strings(values: pd.Index | pd.Series) -> pa.LargeStringArray:
    if isinstance(values, pd.RangeIndex):
        return as_large_strings(pa.array(np.arange(values.start, values.stop, values.step)))
    dtype = values.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        return as_large_strings(pa.array(np.asarray(values)))  # Arrow writes ints as str() does
    if _is_text_dtype(dtype):
        return as_large_strings(pa.array(values))
    return as_large_strings(pa.array([str(v) for v in values.tolist()], type=pa.large_string()))


def request_ids(df: pd.DataFrame, id_column: Any = None) -> pa.LargeStringArray:
    """The request IDs (index labels or ``id_column`` values as strings), validated.

    >>> request_ids(pd.DataFrame({"x": [1, 2]}, index=["a", "b"])).to_pylist()
    ['a', 'b']
    """
    if id_column is None:
        source: pd.Index | pd.Series = df.index
        where = "the DataFrame index"
    else:
        check_columns(df, [id_column], "id_column")
        source = df[id_column]
        where = f"id_column {id_column!r}"
    null = _null_mask(source)
    if null is not None and null.any():
        rows = np.flatnonzero(null)
        raise ValueError(
            f"request IDs must not be null: {where} has {rows.size} null value(s) at row "
            f"position(s) {name_values(rows.tolist())}; fill them or pass another id_column"
        )
    ids = _labels_to_strings(source)
    _check_id_text(ids, where)
    if not _known_unique(source) and len(pc.unique(ids)) != len(ids):
        dup = pd.Series(ids.to_pylist())
        dups = dup[dup.duplicated()].unique().tolist()
        raise ValueError(
            f"request IDs must be unique: {where} repeats {name_values(dups)}; "
            "deduplicate the frame or pass a unique id_column"
        )
    return ids


def _null_mask(source: pd.Index | pd.Series) -> npt.NDArray[np.bool_] | None:
    """Which labels are null (``None`` for a RangeIndex); a MultiIndex label is null if any part is.

    ``pd.isna`` refuses a MultiIndex; its labels become IDs like ``"('a', 1)"``.
    """
    if isinstance(source, pd.RangeIndex):
        return None
    if isinstance(source, pd.MultiIndex):
        return np.asarray(source.to_frame(index=False).isna().any(axis=1), dtype=bool)
    return np.asarray(pd.isna(source), dtype=bool)


def _known_unique(source: pd.Index | pd.Series) -> bool:
    """True when the labels are unique and ``str`` cannot merge two of them (ints, strings).

    Saves hashing a million strings when pandas already knows (a RangeIndex, a cached index).
    """
    if isinstance(source, pd.RangeIndex):
        return True
    if not isinstance(source, pd.Index):
        return False
    dtype = source.dtype
    injective = pd.api.types.is_integer_dtype(dtype) or isinstance(dtype, pd.StringDtype)
    return bool(injective and source.is_unique)


def _bad_rows(ids: pa.LargeStringArray, mask: npt.NDArray[np.bool_]) -> list[str]:
    return [ids[int(i)].as_py() for i in np.flatnonzero(mask)[:_SHOW]]


def _check_id_text(ids: pa.LargeStringArray, where: str) -> None:
    offsets, data = string_buffers(ids)
    sizes = np.diff(offsets)
    bad_bytes = np.flatnonzero((data < 0x20) | (data > 0x7E))
    if bad_bytes.size:
        rows = np.unique(np.searchsorted(offsets, bad_bytes, side="right") - 1)
        shown = [ids[int(i)].as_py() for i in rows[:_SHOW]]
        raise ValueError(
            f"request IDs may only use printable ASCII (0x20-0x7E): {where} has "
            f"{rows.size} ID(s) that do not, e.g. {name_values(shown)}; map them to plain IDs"
        )
    if (sizes == 0).any():
        raise ValueError(f"request IDs must not be empty: {where} has {int((sizes == 0).sum())}")
    if (sizes > MAX_ID_LENGTH).any():
        raise ValueError(
            f"request IDs must be at most {MAX_ID_LENGTH} characters: {where} has "
            f"{name_values(_bad_rows(ids, sizes > MAX_ID_LENGTH))}"
        )
    padded = (data[offsets[:-1]] == 0x20) | (data[offsets[1:] - 1] == 0x20)
    if padded.any():
        raise ValueError(
            f"request IDs must not start or end with whitespace: {where} has "
            f"{name_values(_bad_rows(ids, padded))}; strip them"
        )


def text_array(series: pd.Series, ids: pa.LargeStringArray, column: Any) -> pa.LargeStringArray:
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
    not_text = np.array([not isinstance(v, str) for v in series.tolist()], dtype=bool)
    rows = np.flatnonzero(not_text)[:_SHOW]
    shown = [f"{ids[int(i)].as_py()}: {series.iloc[int(i)]!r}" for i in rows]
    raise ValueError(
        f"prompt column {column!r} must hold text, but rows have other values "
        f"({', '.join(shown)}); convert it with .astype(str) or use template="
    )
