"""Format a ``str.format`` template over DataFrame columns, column-wise.

The result equals ``template.format(**row)`` for every row, where ``row`` maps column names to
the values of ``series.tolist()``: NaN prints ``nan``, ``None`` prints ``None`` and ``pd.NA``
prints ``<NA>`` (a null in a template column is text, not a null prompt). Plain fields
(``{title}``) are formatted per column and joined by Arrow; fields with a format spec, a
conversion, an attribute or an index (``{price:.2f}``, ``{x!r}``, ``{d[k]}``) are formatted per
value for that column only; a spec that nests another field (``{x:{width}}``) falls back to
``str.format`` per row.

>>> import pandas as pd
>>> format_template(pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}), "{a}-{b!r}").to_pylist()
["1-'x'", "2-'y'"]
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from batchframe.frame.columns import check_columns
from batchframe.frame.escape import as_large_strings

__all__ = ["Field", "format_template", "parse_template"]


@dataclass(frozen=True)
class Field:
    """One replacement field: the column, the rest of the field name, conversion and spec."""

    column: str
    rest: str
    conversion: str | None
    spec: str

    @property
    def plain(self) -> bool:
        return not (self.rest or self.conversion or self.spec)

    def single(self) -> str:
        """The field as a one-argument format string, e.g. ``{0[k]!r:>4}``."""
        conv = f"!{self.conversion}" if self.conversion else ""
        spec = f":{self.spec}" if self.spec else ""
        return "{0" + self.rest + conv + spec + "}"


def parse_template(template: str) -> list[str | Field]:
    """Split a template into literal text and fields; a ValueError says what is malformed."""
    if not isinstance(template, str):
        raise ValueError(f"template must be a str, not {type(template).__name__}")
    pieces: list[str | Field] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"template {template!r} is malformed: {exc}") from None
    for literal, name, spec, conversion in parsed:
        if literal:
            pieces.append(literal)
        if name is None:
            continue
        column = name.split(".", 1)[0].split("[", 1)[0]
        if not column or column.isdigit():
            raise ValueError(
                f"template {template!r} has a positional field {{{name}}}; "
                "name a column instead, e.g. {title}"
            )
        if conversion not in (None, "r", "s", "a"):
            raise ValueError(f"template {template!r} has an unknown conversion !{conversion}")
        pieces.append(Field(column, name[len(column) :], conversion, spec or ""))
    return pieces


def _format_values(values: list[Any], fmt: str, column: str) -> list[str]:
    try:
        return [fmt.format(v) for v in values]
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise ValueError(f"template field {fmt!r} on column {column!r} failed: {exc}") from None


def _column_text(series: pd.Series, field: Field) -> pa.LargeStringArray:
    dtype = series.dtype
    numeric = hasattr(dtype, "kind") and dtype.kind in "iu"
    if field.plain and not series.hasnans and (isinstance(dtype, pd.StringDtype) or numeric):
        return as_large_strings(pa.array(series))  # Arrow writes ints exactly as str() does
    if field.plain:
        return as_large_strings(pa.array(list(map(format, series.tolist())), pa.large_string()))
    return as_large_strings(
        pa.array(_format_values(series.tolist(), field.single(), field.column), pa.large_string())
    )


def format_template(df: pd.DataFrame, template: str) -> pa.LargeStringArray:
    """The template formatted for every row of ``df``, as a ``large_string`` array."""
    pieces = parse_template(template)
    fields = [p for p in pieces if isinstance(p, Field)]
    check_columns(df, list(dict.fromkeys(f.column for f in fields)), f"template {template!r}")
    if any("{" in f.spec for f in fields):
        return _format_rows(df, template)
    if not fields:
        text = "".join(p for p in pieces if isinstance(p, str))
        return pa.array([text] * len(df), pa.large_string())
    parts: list[pa.Array | pa.Scalar] = []
    for piece in pieces:
        if isinstance(piece, str):
            parts.append(pa.scalar(piece, pa.large_string()))
        else:
            parts.append(_column_text(df[piece.column], piece))
    if len(parts) == 1:
        return parts[0]
    joined = pc.binary_join_element_wise(*parts, pa.scalar("", pa.large_string()))
    return as_large_strings(joined)


def _format_rows(df: pd.DataFrame, template: str) -> pa.LargeStringArray:
    # a nested spec may name any column, so every named column goes in
    names = [c for c in df.columns if isinstance(c, str)]
    columns = [df[name].tolist() for name in names]
    try:
        out = [
            template.format(**dict(zip(names, row, strict=True)))
            for row in zip(*columns, strict=True)
        ]
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise ValueError(f"template {template!r} failed: {exc}") from None
    return pa.array(out, pa.large_string())
