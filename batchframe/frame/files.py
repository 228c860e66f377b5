"""Parquet, CSV and JSON Lines files as a source: read as a stream with ``pyarrow.dataset``.

A path, a glob (``"data/part-*.parquet"``), a directory (every file of a known format under it)
or a list of any of these; files are read in the order given (a glob's or a directory's matches
sorted by name), one record batch at a time, never whole. CSV is read as text, where only an
empty cell is null: IDs like ``007`` and values like ``NA`` stay as written. Request IDs default
to the 0-based row number across all the files.

>>> import pathlib, tempfile
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "a.csv").write_text("id,q\\n007,NA\\n008,\\n")
>>> src = FileSource.open(d / "a.csv")
>>> [b.to_arrow().to_pylist() for b in src.batches()]
[[{'id': '007', 'q': 'NA'}, {'id': '008', 'q': None}]]
"""

from __future__ import annotations

import glob
import os
import pathlib
from collections.abc import Hashable, Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.dataset as ds

from batchframe.frame.sources import BATCH_ROWS, ArrowBatch, Source

__all__ = ["FORMATS", "FileSource", "expand_paths", "file_format"]

#: File suffix -> format (a trailing .gz/.bz2 on CSV and JSON Lines is read compressed).
FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".jsonl": "json",
    ".ndjson": "json",
}
_COMPRESSED = (".gz", ".bz2")
#: Batches read ahead of the one being used: enough to overlap reading, few enough that a
#: file much bigger than memory costs a couple of batches (the default is 16).
_READAHEAD = 2
_GLOB = set("*?[")


def file_format(path: str | os.PathLike[str]) -> str | None:
    """``parquet``, ``csv`` or ``json`` from the file name, or None.

    >>> file_format("a/b.csv.gz"), file_format("x.PARQUET"), file_format("notes.txt")
    ('csv', 'parquet', None)
    """
    suffixes = [s.lower() for s in pathlib.Path(path).suffixes]
    if len(suffixes) >= 2 and suffixes[-1] in _COMPRESSED:
        fmt = FORMATS.get(suffixes[-2])
        return fmt if fmt in ("csv", "json") else None
    return FORMATS.get(suffixes[-1]) if suffixes else None


def expand_paths(data: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[str]:
    """Every file ``data`` names, in order; a ValueError when one is missing or unknown."""
    items = [data] if isinstance(data, str | os.PathLike) else list(data)
    files: list[str] = []
    for item in items:
        text = os.fspath(item)
        if _GLOB & set(text):
            matches = sorted(p for p in glob.glob(text, recursive=True) if os.path.isfile(p))
            if not matches:
                raise ValueError(f"no file matches {text!r}")
            files.extend(matches)
        elif os.path.isdir(text):
            found = sorted(
                str(p) for p in pathlib.Path(text).rglob("*") if p.is_file() and file_format(p)
            )
            if not found:
                raise ValueError(f"no .parquet, .csv or .jsonl file under {text!r}")
            files.extend(found)
        elif os.path.isfile(text):
            files.append(text)
        else:
            raise ValueError(f"no such file: {text!r}")
    unknown = [f for f in files if file_format(f) is None]
    if unknown:
        raise ValueError(
            f"unknown file format for {unknown[0]!r}: use .parquet, .csv or .jsonl "
            "(.ndjson, and .csv.gz / .jsonl.gz also work)"
        )
    return files


def _csv_as_text(first: str) -> ds.CsvFileFormat:
    """A CSV format reading every column of ``first``'s header as text; only "" is null."""
    with pcsv.open_csv(first) as reader:
        names = reader.schema.names
    convert = pcsv.ConvertOptions(
        column_types=dict.fromkeys(names, pa.large_string()),
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    return ds.CsvFileFormat(convert_options=convert)


class FileSource(Source):
    """Files of one format, read in order as record batches (see the module docstring)."""

    kind = "files"

    def __init__(self, files: list[str], fmt: str) -> None:
        self.files = files
        self.format = fmt
        file_format_: Any = _csv_as_text(files[0]) if fmt == "csv" else fmt
        self.dataset = ds.dataset(files, format=file_format_)
        self._stamps = [_stamp(f) for f in files]
        # Parquet pre-buffering reads a file's row groups ahead of use: a whole file in memory.
        self._scan_options = (
            ds.ParquetFragmentScanOptions(pre_buffer=False) if fmt == "parquet" else None
        )

    @classmethod
    def open(cls, data: Any) -> FileSource:
        files = expand_paths(data)
        formats = sorted({str(file_format(f)) for f in files})
        if len(formats) > 1:
            raise ValueError(f"the input files mix formats ({', '.join(formats)}); pass one kind")
        return cls(files, formats[0])

    @property
    def column_names(self) -> list[Any]:
        return list(self.dataset.schema.names)

    @property
    def num_rows(self) -> int | None:
        if self.format != "parquet":
            return None
        return int(sum(f.count_rows() for f in self.dataset.get_fragments()))

    def batches(
        self, columns: Sequence[Hashable] | None = None, batch_rows: int = BATCH_ROWS
    ) -> Iterator[ArrowBatch]:
        self._check_unchanged()
        names = None if columns is None else [str(c) for c in columns]
        first = 0
        for fragment in self.dataset.get_fragments():
            batches = fragment.to_batches(
                columns=names,
                batch_size=batch_rows,
                batch_readahead=_READAHEAD,
                fragment_scan_options=self._scan_options,
            )
            for batch in batches:
                if batch.num_rows:
                    yield ArrowBatch(batch, first)
                    first += batch.num_rows

    def arrow_schema(self) -> pa.Schema:
        return self.dataset.schema

    def _check_unchanged(self) -> None:
        for path, stamp in zip(self.files, self._stamps, strict=True):
            if _stamp(path) != stamp:
                raise ValueError(
                    f"the input file {path} changed since it was first read; its rows would "
                    "no longer match the requests sent. Pass the file as it was submitted."
                )

    def describe(self) -> str:
        suffix = "" if len(self.files) == 1 else "s"
        return f"{len(self.files)} {self.format} file{suffix}"


def _stamp(path: str) -> tuple[int, int]:
    stat = os.stat(path)
    return stat.st_size, stat.st_mtime_ns
