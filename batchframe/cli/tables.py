"""Reading and writing tables for the command line, chosen by file extension.

``.csv``, ``.parquet`` and ``.jsonl`` (also ``.ndjson``) are understood; anything else is a
``ValueError`` that lists them.

>>> import pandas as pd, tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "sub" / "t.jsonl"
>>> _ = write_frame(pd.DataFrame({"a": [1, 2]}), path)
>>> read_frame(path)["a"].tolist()
[1, 2]
"""

from __future__ import annotations

import pathlib
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SUFFIXES", "Format", "default_output", "frame_format", "read_frame", "write_frame"]

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


def read_frame(path: str | pathlib.Path) -> pd.DataFrame:
    """Read a whole ``.csv``, ``.parquet`` or ``.jsonl`` file into a DataFrame.

    CSV and JSON Lines get a fresh ``RangeIndex`` (row 0, 1, ...), so without an ID column the
    request IDs are row numbers.
    """
    import pandas as pd  # here, not at the top: `batchframe --help` and `serve` stay fast

    fmt = frame_format(path)
    if fmt == "parquet":
        return pd.read_parquet(path)
    if fmt == "jsonl":
        return pd.read_json(path, lines=True, dtype=False)
    return pd.read_csv(path)


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
