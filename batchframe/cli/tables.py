"""Reading and writing tables for the command line, chosen by file extension.

``.csv``, ``.parquet`` and ``.jsonl`` (also ``.ndjson``) are understood; anything else is a
``ValueError`` that lists them. A CSV file is text: every cell is read as written, and only an
empty cell is null (``NA``, ``null``, ``None`` or ``nan`` are words like any other); ``--dtype``
reads chosen columns as numbers. JSON Lines and Parquet keep their own types.

>>> import pandas as pd, tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "sub" / "t.jsonl"
>>> _ = write_frame(pd.DataFrame({"a": [1, 2]}), path)
>>> read_frame(path)["a"].tolist()
[1, 2]
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DTYPES",
    "SUFFIXES",
    "Format",
    "default_output",
    "frame_format",
    "parse_dtype",
    "read_frame",
    "write_frame",
]

Format = Literal["csv", "parquet", "jsonl"]

SUFFIXES: dict[str, Format] = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}


def frame_format(path: str | pathlib.Path) -> Format:
    """The table format of ``path`` from its extension.

    >>> frame_format("out/x.results.parquet"), frame_format("in.JSONL")
    ('parquet', 'jsonl')
    """
    suffix = pathlib.Path(path).suffix.lower()
    fmt = SUFFIXES.get(suffix)
    if fmt is None:
        known = ", ".join(sorted(SUFFIXES))
        raise ValueError(f"{path}: unknown table format {suffix or '(none)'!r}; use one of {known}")
    return fmt


#: What ``--dtype COL=TYPE`` can read a CSV column as: text, or nullable numbers (Int64, Float64).
DTYPES = ("str", "int", "float")


def parse_dtype(text: str) -> tuple[str, str]:
    """``COL=TYPE`` of a ``--dtype`` option, TYPE one of :data:`DTYPES`.

    >>> parse_dtype("price=float")
    ('price', 'float')
    """
    column, sep, kind = text.rpartition("=")
    kind = kind.strip().lower()
    if not sep or not column:
        raise ValueError(f"--dtype {text!r} is not COL=TYPE (for example --dtype rank=int)")
    if kind not in DTYPES:
        raise ValueError(f"--dtype {text!r}: TYPE is one of {', '.join(DTYPES)}, not {kind!r}")
    return column, kind


def read_frame(path: str | pathlib.Path, dtypes: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Read a whole ``.csv``, ``.parquet`` or ``.jsonl`` file into a DataFrame.

    CSV cells are text and only empty cells are null; ``dtypes`` (column -> ``str``, ``int`` or
    ``float``) reads CSV columns as numbers, and is refused for the other formats, which keep
    their own types. CSV and JSON Lines get a fresh ``RangeIndex`` (row 0, 1, ...), so without
    an ID column the request IDs are row numbers.
    """
    import pandas as pd  # here, not at the top: `batchframe --help` and `serve` stay fast

    fmt = frame_format(path)
    if dtypes and fmt != "csv":
        raise ValueError(
            f"--dtype is for CSV input; {path} is {fmt}, which keeps its own column types"
        )
    if fmt == "parquet":
        return pd.read_parquet(path)
    if fmt == "jsonl":
        # dtype=False keeps JSON's own types; pandas < 3 also needs convert_dates=False, or a
        # column named like a date ("created_at", "date") is parsed (pandas 3 deprecates it).
        if int(pd.__version__.split(".")[0]) < 3:
            return pd.read_json(
                path, lines=True, dtype=False, precise_float=True, convert_dates=False
            )
        return pd.read_json(path, lines=True, dtype=False, precise_float=True)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    for column, kind in (dtypes or {}).items():
        frame[column] = _as_numbers(frame, column, kind, path)
    return frame


def _as_numbers(frame: pd.DataFrame, column: str, kind: str, path: object) -> pd.Series:
    """A CSV column read as ``kind``; a cell that is not such a number is a ValueError."""
    import pandas as pd

    if column not in frame.columns:
        known = ", ".join(map(repr, frame.columns))
        raise ValueError(f"--dtype {column}={kind}: {path} has no column {column!r} ({known})")
    text = frame[column]
    if kind == "str":
        return text
    numbers = pd.to_numeric(text, errors="coerce", dtype_backend="numpy_nullable")
    bad = text.notna() & numbers.isna()  # "nan" too: only an empty cell is null
    if kind == "int":
        bad |= numbers.notna() & (numbers.fillna(0) % 1 != 0)
    if bool(bad.any()):
        row = int(bad.to_numpy().argmax())
        noun = "an integer" if kind == "int" else "a number"
        raise ValueError(
            f"--dtype {column}={kind}: row {row} of {path} has {text.iloc[row]!r}, not {noun} "
            f"({int(bad.sum())} such row(s))"
        )
    return numbers.astype("Int64") if kind == "int" else numbers.astype("Float64")


def write_frame(frame: pd.DataFrame, path: str | pathlib.Path) -> pathlib.Path:
    """Write ``frame`` to ``path`` in the format its extension names; parent folders are created.

    CSV and JSON Lines drop the index (``batch_request_id`` already carries the request ID);
    Parquet keeps it.
    """
    out = pathlib.Path(path)
    fmt = frame_format(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        frame.to_parquet(out)
    elif fmt == "jsonl":
        frame.to_json(out, orient="records", lines=True, force_ascii=False, date_format="iso")
    else:
        frame.to_csv(out, index=False)
    return out


def default_output(input_path: str | pathlib.Path) -> pathlib.Path:
    """Where ``batchframe run`` writes when no ``-o`` is given: beside the input.

    >>> default_output("data/reviews.csv")
    PosixPath('data/reviews.results.parquet')
    """
    path = pathlib.Path(input_path)
    return path.with_name(f"{path.stem}.results.parquet")
