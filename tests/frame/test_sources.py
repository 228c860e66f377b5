"""Every input kind encodes the same requests: pandas, polars, Arrow, and files read as a stream."""

from __future__ import annotations

import json
import os
import pathlib

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import batchframe as bf
from batchframe.frame.encode import ENVELOPE, encode_requests
from batchframe.frame.files import FileSource, expand_paths
from batchframe.frame.sources import as_source

TEXTS = ["plain", 'quote " and \\ slash', "new\nline", "é ü 漢字 🎉", "", "x" * 300]


def bodies(data: object, **kwargs: object) -> list[str]:
    kwargs.setdefault("model", "grok-4.3")
    return bf.to_requests(data, **kwargs)["body"].tolist()  # type: ignore[arg-type]


@pytest.fixture
def table() -> pa.Table:
    n = 50
    return pa.table(
        {
            "prompt": [TEXTS[i % len(TEXTS)] + f" #{i}" for i in range(n)],
            "key": [f"k{i:03d}" for i in range(n)],
            "n": list(range(n)),
        }
    )


def test_every_kind_sends_the_same_bodies(table: pa.Table, tmp_path: pathlib.Path) -> None:
    expected = bodies(table.to_pandas(), prompt="prompt", template=None)
    pq.write_table(table.slice(0, 20), tmp_path / "a.parquet")
    pq.write_table(table.slice(20), tmp_path / "b.parquet", row_group_size=7)
    table.to_pandas().to_csv(tmp_path / "all.csv", index=False)
    with open(tmp_path / "all.jsonl", "w") as out:
        for row in table.to_pylist():
            out.write(json.dumps(row) + "\n")
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=9))
    kinds: dict[str, object] = {
        "arrow": table,
        "reader": reader,
        "polars": pl.from_arrow(table),
        "lazy": pl.from_arrow(table).lazy(),  # type: ignore[union-attr]
        "parquet list": [tmp_path / "a.parquet", str(tmp_path / "b.parquet")],
        "parquet glob": str(tmp_path / "*.parquet"),
        "csv": tmp_path / "all.csv",
        "jsonl": tmp_path / "all.jsonl",
    }
    for kind, data in kinds.items():
        assert bodies(data, prompt="prompt") == expected, kind


def test_id_column_and_templates_read_the_same_from_files(
    table: pa.Table, tmp_path: pathlib.Path
) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(table, path)
    arguments = {"template": "{n}: {prompt!r}", "id_column": "key"}
    assert bodies(path, **arguments) == bodies(table.to_pandas(), **arguments)
    out = bf.to_requests(path, prompt="prompt", model="grok-4.3", id_column="key")
    assert out["batch_request_id"].tolist()[:2] == ["k000", "k001"]


def test_csv_is_text_and_only_empty_cells_are_null(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text('id,prompt,score\n007,NA,1.50\n008,,2\n"009","null",\n')
    out = bf.to_requests(path, prompt="prompt", model="grok-4.3", id_column="id", on_null="skip")
    assert out["batch_request_id"].tolist() == ["007", "009"]  # not 7 and 9
    sent = [json.loads(b)["batch_request"]["chat_get_completion"] for b in out["body"]]
    assert [m["messages"][0]["content"] for m in sent] == ["NA", "null"]
    templated = bodies(path, template="{score}", on_null="skip", prompt=None)
    assert '"content":"1.50"' in templated[0]  # as written, not 1.5
    with pytest.raises(ValueError, match=r"'008'.*on_null"):
        bf.to_requests(path, prompt="prompt", model="grok-4.3", id_column="id")


def test_ids_default_to_the_row_number_across_every_file(tmp_path: pathlib.Path) -> None:
    for k in range(3):
        pq.write_table(pa.table({"q": [f"f{k}-{i}" for i in range(4)]}), tmp_path / f"p{k}.parquet")
    out = bf.to_requests(tmp_path, prompt="q", model="grok-4.3")  # a directory: its files by name
    assert out["batch_request_id"].tolist() == [str(i) for i in range(12)]
    assert out.index.tolist() == list(range(12))
    contents = [json.loads(b)["batch_request"]["chat_get_completion"] for b in out["body"]]
    assert contents[4]["messages"][0]["content"] == "f1-0"


def test_repeated_ids_in_a_file_column_are_refused_before_sending(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "dup.parquet"
    pq.write_table(pa.table({"q": ["a", "b", "c"], "key": ["x", "y", "x"]}), path)
    with pytest.raises(ValueError, match=r"unique.*'x'"):
        bf.to_requests(path, prompt="q", model="grok-4.3", id_column="key")


def test_bad_paths_and_kinds_are_value_errors(tmp_path: pathlib.Path) -> None:
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(ValueError, match="no such file"):
        as_source(str(tmp_path / "missing.parquet"))
    with pytest.raises(ValueError, match="no file matches"):
        as_source(str(tmp_path / "*.parquet"))
    with pytest.raises(ValueError, match="unknown file format"):
        as_source(tmp_path / "notes.txt")
    with pytest.raises(ValueError, match="expected a pandas DataFrame"):
        as_source({"q": ["a"]})
    pd.DataFrame({"q": ["a"]}).to_csv(tmp_path / "a.csv", index=False)
    pd.DataFrame({"q": ["a"]}).to_parquet(tmp_path / "b.parquet")
    with pytest.raises(ValueError, match="mix formats"):
        as_source([tmp_path / "a.csv", tmp_path / "b.parquet"])


def test_files_are_read_in_batches_never_whole(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "big.parquet"
    pq.write_table(pa.table({"q": [f"row {i}" for i in range(10_000)]}), path, row_group_size=1000)
    source = FileSource.open(path)
    batches = list(source.batches(["q"], batch_rows=1024))
    assert max(b.num_rows for b in batches) <= 1024 and len(batches) >= 10
    assert [b.first_row for b in batches] == list(
        np.cumsum([0] + [b.num_rows for b in batches[:-1]])
    )
    assert source.num_rows == 10_000


def test_a_file_changed_after_reading_is_refused(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"q": ["a", "b"]}), path)
    source = FileSource.open(path)
    list(source.batches())
    pq.write_table(pa.table({"q": ["b", "a", "c"]}), path)
    os.utime(path, ns=(1, 1))
    with pytest.raises(ValueError, match="changed since"):
        list(source.batches())


def test_glob_order_is_by_name(tmp_path: pathlib.Path) -> None:
    for name in ("b", "a", "c"):
        pq.write_table(pa.table({"q": [name]}), tmp_path / f"{name}.parquet")
    assert [pathlib.Path(p).stem for p in expand_paths(str(tmp_path / "*.parquet"))] == list("abc")


def test_arrow_nulls_in_templates_and_prompts_are_skipped_never_sent() -> None:
    data = pa.table({"a": ["x", None], "p": ["one", None]})
    with pytest.raises(ValueError, match=r"\{a\}"):
        bodies(data, template="<{a}>")
    contents = [
        json.loads(b)["batch_request"]["chat_get_completion"]["messages"][0]["content"]
        for b in bodies(data, template="<{a}>", on_null="skip")
    ]
    assert contents == ["<x>"]
    out = bf.to_requests(data, prompt="p", model="grok-4.3", on_null="skip")
    assert out["batch_request_id"].tolist() == ["0"]


def test_the_envelope_counts_in_the_size_limit() -> None:
    # issue 13 item 14: an item just under the limit passed, then its add call got a 413
    df = pd.DataFrame({"p": ["y" * 1000]})
    size = len(encode_requests(df, prompt="p", model="grok-4.3").item(0))
    encode_requests(df, prompt="p", model="grok-4.3", max_request_bytes=size + ENVELOPE)
    with pytest.raises(ValueError, match="envelope"):
        encode_requests(df, prompt="p", model="grok-4.3", max_request_bytes=size + ENVELOPE - 1)


def test_to_requests_on_arrow_indexes_by_row_number() -> None:
    out = bf.to_requests(
        pa.table({"p": ["a", None, "c"]}), prompt="p", model="grok-4.3", on_null="skip"
    )
    assert out.index.tolist() == [0, 2]
    assert str(out["body"].dtype) == "string"
