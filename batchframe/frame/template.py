"""Format a ``str.format`` template over the columns of a source batch, column-wise.

The result equals ``template.format(**row)`` for every row, where ``row`` maps column names to
the source's own Python values (:meth:`SourceBatch.values`): for pandas that is
``series.tolist()`` (NaN prints ``nan``, ``None`` prints ``None``, ``pd.NA`` prints ``<NA>``);
for Arrow, polars and files a null is ``None``. Plain fields (``{title}``) over text or integer
columns are joined by Arrow; fields with a format spec, a conversion, an attribute or an index
(``{price:.2f}``, ``{x!r}``, ``{d[k]}``) are formatted per value for that column only; a spec that
nests another field (``{x:{width}}``) falls back to ``str.format`` per row.

>>> import pyarrow as pa
>>> from batchframe.frame.sources import ArrowBatch
>>> batch = ArrowBatch(pa.record_batch({"a": [1, 2], "b": ["x", "y"]}), 0)
>>> format_template(batch, "{a}-{b!r}").to_pylist()
["1-'x'", "2-'y'"]
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from batchframe._hints import Term, say
from batchframe.frame.escape import as_large_strings

if TYPE_CHECKING:
    from batchframe.frame.sources import SourceBatch

__all__ = ["Field", "format_template", "parse_template", "template_columns"]


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

    def written(self) -> str:
        """The field as the template writes it, e.g. ``{rank:d}``."""
        conv = f"!{self.conversion}" if self.conversion else ""
        spec = f":{self.spec}" if self.spec else ""
        return "{" + self.column + self.rest + conv + spec + "}"

    def number_kind(self) -> str | None:
        """``int`` or ``float`` when the format spec's type needs a number, else None."""
        kind = self.spec[-1:] if self.spec and "{" not in self.spec else ""
        if kind and kind in "bcdoxXn":
            return "int"
        if kind and kind in "eEfFgG%":
            return "float"
        return None


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


def template_columns(template: str) -> list[str]:
    """Every column the template reads, nested format specs included, in order of use.

    >>> template_columns("{price:{width}.2f} {name}")
    ['price', 'width', 'name']
    """
    names: list[str] = []
    for piece in parse_template(template):
        if isinstance(piece, Field):
            names.append(piece.column)
            if "{" in piece.spec:
                names.extend(template_columns(piece.spec))
    return list(dict.fromkeys(names))


_FORMAT_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError)


def _format_values(values: list[Any], field: Field, ids: pa.Array | None) -> list[str]:
    fmt = field.single()
    try:
        return [fmt.format(v) for v in values]
    except _FORMAT_ERRORS:
        pass
    for row, value in enumerate(values):  # only on a failure: find the first row that fails
        try:
            fmt.format(value)
        except _FORMAT_ERRORS as exc:
            raise format_error(field, row, value, exc, ids) from None
    raise AssertionError("unreachable")  # pragma: no cover


def format_error(
    field: Field, row: int, value: Any, exc: Exception, ids: pa.Array | None
) -> ValueError:
    """A template field that cannot format a row's value: the field as written, the row, why."""
    where = f"row {ids[row].as_py()!r}" if ids is not None else f"the row at position {row}"
    message = (
        f"template field {field.written()} cannot format the value {value!r} "
        f"({type(value).__name__}) of {where}: {exc}"
    )
    kind = field.number_kind()
    if kind is None or (isinstance(value, int | float) and kind == "float"):
        return ValueError(message)
    column = field.column
    return ValueError(
        say(
            message + f"; the spec needs {'an integer' if kind == 'int' else 'a number'}: ",
            Term(
                f"convert the column first, e.g. df[{column!r}].astype({kind!r})",
                f"read the column as numbers (--dtype {column}={kind} for a CSV INPUT)",
            ),
        )
    )


def _column_text(
    batch: SourceBatch, field: Field, ids: pa.Array | None = None
) -> pa.LargeStringArray:
    if field.plain:
        fast = batch.plain_text(field.column)
        if fast is not None:
            return fast
        return pa.array(list(map(format, batch.values(field.column))), pa.large_string())
    values = _format_values(batch.values(field.column), field, ids)
    return pa.array(values, pa.large_string())


def format_template(
    batch: SourceBatch, template: str, ids: pa.Array | None = None
) -> pa.LargeStringArray:
    """The template formatted for every row of ``batch``, as a ``large_string`` array.

    ``ids`` (the rows' request IDs) name the row in a format error.
    """
    pieces = parse_template(template)
    fields = [p for p in pieces if isinstance(p, Field)]
    if any("{" in f.spec for f in fields):
        return _format_rows(batch, template, ids)
    if not fields:
        text = "".join(p for p in pieces if isinstance(p, str))
        return pa.array([text] * batch.num_rows, pa.large_string())
    parts: list[pa.Array | pa.Scalar] = []
    for piece in pieces:
        if isinstance(piece, str):
            parts.append(pa.scalar(piece, pa.large_string()))
        else:
            parts.append(_column_text(batch, piece, ids))
    if len(parts) == 1:
        return as_large_strings(parts[0])
    joined = pc.binary_join_element_wise(*parts, pa.scalar("", pa.large_string()))
    return as_large_strings(joined)


def _format_rows(
    batch: SourceBatch, template: str, ids: pa.Array | None = None
) -> pa.LargeStringArray:
    names = template_columns(template)
    columns = [batch.values(name) for name in names]
    out: list[str] = []
    for position, row in enumerate(zip(*columns, strict=True)):
        values = dict(zip(names, row, strict=True))
        try:
            out.append(template.format(**values))
        except _FORMAT_ERRORS as exc:
            raise _row_error(template, values, position, exc, ids) from None
    return pa.array(out, pa.large_string())


def _row_error(
    template: str, values: dict[str, Any], row: int, exc: Exception, ids: pa.Array | None
) -> ValueError:
    """Which field of a nested-spec template failed on this row, named as written."""
    for piece in parse_template(template):
        if isinstance(piece, Field):
            try:
                piece.written().format(**values)
            except _FORMAT_ERRORS as field_exc:
                return format_error(piece, row, values[piece.column], field_exc, ids)
    where = f"row {ids[row].as_py()!r}" if ids is not None else f"row position {row}"
    return ValueError(f"template {template!r} cannot format {where}: {exc}")
