"""Put result columns beside input rows, in the kind of table that went in.

pandas in, pandas out (same index, same row order); polars in, polars out; Arrow in, an Arrow
table out; files in, pandas out. With a ``response_model`` each field becomes a column parsed
from ``content``, plus ``parse_error``; in Arrow (and Parquet) a field without a scalar type
(a list, a dict, a nested model) is its JSON text.

>>> import pyarrow as pa
>>> from batchframe.frame.join import pending_rows
>>> with_results(pa.table({"q": ["a"]}), pending_rows(pa.array(["0"]))).column_names[:3]
['q', 'batch_request_id', 'state']
"""

from __future__ import annotations

import enum
import logging
from typing import Any

import orjson
import pandas as pd
import pyarrow as pa
from pydantic import BaseModel

from batchframe.frame.decode import RESULT_SCHEMA, to_pandas

__all__ = ["json_fields", "json_text", "result_columns", "with_results", "with_results_pandas"]

logger = logging.getLogger("batchframe")


def result_columns(results: pa.Table, response_model: Any) -> pd.DataFrame:
    """The result columns as pandas, plus the structured columns of ``response_model``."""
    added = to_pandas(results)
    if response_model is not None:
        from batchframe.frame.structured import parse_structured

        parsed = parse_structured(added["content"].reset_index(drop=True), response_model)
        for column in parsed.columns:
            added[column] = parsed[column].array
    return added


def with_results_pandas(
    part: pd.DataFrame | None, results: pa.Table, response_model: Any
) -> pd.DataFrame:
    """``part`` (rows aligned with ``results``) plus the result and structured columns."""
    added = result_columns(results, response_model)
    if part is None:
        return added
    clash = [c for c in added.columns if c in part.columns]
    if clash:
        logger.warning("input columns %s are replaced by result columns of the same name", clash)
        part = part.drop(columns=clash)
    added.index = part.index
    return part.assign(**{str(c): added[c].array for c in added.columns})


def json_fields(response_model: Any) -> list[str]:
    """Structured fields without a scalar column type (lists, dicts, nested models)."""
    if response_model is None:
        return []
    from batchframe.frame.structured import column_dtype

    return [
        name
        for name, field in response_model.model_fields.items()
        if column_dtype(field.annotation) == "object"
    ]


def json_text(value: Any) -> str:
    """A structured value as JSON text (pydantic models and enums included)."""
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    return orjson.dumps(value, default=_plain).decode()


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, enum.Enum):
        return value.value
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def structured_arrow(results: pa.Table, response_model: Any) -> list[tuple[str, pa.Array]]:
    """The structured columns as Arrow arrays (non-scalar fields as JSON text)."""
    if response_model is None:
        return []
    from batchframe.frame.structured import column_dtype, parse_structured

    content = to_pandas(results.select(["content"]))["content"]
    parsed = parse_structured(content.reset_index(drop=True), response_model)
    out: list[tuple[str, pa.Array]] = []
    for name in parsed.columns:
        series = parsed[name]
        if (
            name != "parse_error"
            and column_dtype(response_model.model_fields[name].annotation) == "object"
        ):
            series = series.map(json_text, na_action="ignore").astype(pd.StringDtype())
        array = pa.array(series, from_pandas=True)
        if pa.types.is_string(array.type):
            array = array.cast(pa.large_string())
        out.append((str(name), array))
    return out


def with_results(
    inputs: pa.Table | None, results: pa.Table, response_model: Any = None
) -> pa.Table:
    """``inputs`` (rows aligned with ``results``) plus the result and structured columns."""
    columns = [*zip(results.column_names, results.columns, strict=True)]
    columns += structured_arrow(results, response_model)
    if inputs is None:
        return pa.table(dict(columns))
    names = {name for name, _ in columns}
    clash = [c for c in inputs.column_names if c in names]
    if clash:
        logger.warning("input columns %s are replaced by result columns of the same name", clash)
        inputs = inputs.drop_columns(clash)
    for name, column in columns:
        inputs = inputs.append_column(name, column)
    return inputs.replace_schema_metadata(None)


def empty_results() -> pa.Table:
    return RESULT_SCHEMA.empty_table()
