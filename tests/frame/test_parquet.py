"""to_parquet: the same rows and values as results(), streamed, atomic, real files."""

from __future__ import annotations

import pathlib
from typing import Any, Literal

import httpx
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from pydantic import BaseModel

import batchframe as bf
from batchframe.client import Client
from batchframe.errors import APIConnectionError
from batchframe.frame.attach import attach
from batchframe.frame.job import Job
from batchframe.frame.spec import RequestSpec
from batchframe.server.app import BatchServer

MODEL = "grok-4.3"


def item(rid: str, text: str, **body: Any) -> dict[str, Any]:
    request = {"model": MODEL, "messages": [{"role": "user", "content": text}], **body}
    return {"batch_request_id": rid, "batch_request": {"chat_get_completion": request}}


def add_frame(client: Client, df: pd.DataFrame, **body: Any) -> str:
    batch = client.create_batch("parquet")
    ids = [str(i) for i in df.index]
    client.add_requests(
        batch.batch_id, [item(i, t, **body) for i, t in zip(ids, df["prompt"], strict=True)]
    )
    return batch.batch_id


def by_id(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values("batch_request_id", kind="stable")


def assert_same_table(path: pathlib.Path, expected: pd.DataFrame) -> None:
    back = pd.read_parquet(path)
    pd.testing.assert_frame_equal(back, expected)  # the same rows in the same order, dtypes too


@pytest.fixture
def frame() -> pd.DataFrame:
    n = 2500  # three result pages
    order = np.random.default_rng(9).permutation(n)
    return pd.DataFrame(
        {
            "prompt": [f"Grüße {i} — ✓ {'x' * (i % 7)}" for i in order],
            "group": pd.array(order % 3, dtype="Int64"),
            "weight": order / 10,
        },
        index=pd.Index([f"k{i:05d}" for i in order], name="key"),
    )


def test_round_trip_equals_results_with_pending_rows(
    batch_server: BatchServer, client: Client, frame: pd.DataFrame, tmp_path: pathlib.Path
) -> None:
    batch_server.engine.pause()
    job = attach(add_frame(client, frame), frame, client=client)
    batch_server.engine.step(1700)
    path = job.to_parquet(tmp_path / "deep" / "dir" / "out.parquet")
    assert path == tmp_path / "deep" / "dir" / "out.parquet"
    expected = job.results(partial=True)
    assert (expected["state"] == "pending").sum() == 800
    assert_same_table(path, expected)
    assert pq.ParquetFile(path).metadata.num_rows == len(frame)
    assert [p.name for p in path.parent.iterdir()] == ["out.parquet"]  # no temp file left


def test_round_trip_with_failed_cancelled_and_skipped_rows(tmp_path: pathlib.Path) -> None:
    df = pd.DataFrame({"prompt": [f"p{i}" for i in range(40)] + [None]}, index=range(100, 141))
    with (
        BatchServer(fail_rate=0.3, seed=2) as server,
        Client(
            api_key="test-key", base_url="http://localhost/v1", transport=server.transport()
        ) as client,
    ):
        server.engine.pause()
        spec = RequestSpec.build(prompt="prompt", model=MODEL, on_null="skip")
        job = Job(add_frame(client, df.iloc[:40]), client=client, data=df, spec=spec)
        server.engine.step(30)
        job.cancel()
        path = job.to_parquet(tmp_path / "mixed.parquet")
        expected = job.results()
    assert set(expected["state"]) == {"succeeded", "failed", "cancelled", "skipped"}
    assert_same_table(path, expected)


def test_without_a_frame_the_file_has_the_result_columns(
    batch_server: BatchServer, client: Client, frame: pd.DataFrame, tmp_path: pathlib.Path
) -> None:
    batch_server.engine.pause()
    batch_id = add_frame(client, frame.iloc[:300])
    batch_server.engine.step(120)
    job = attach(batch_id, client=client)
    path = job.to_parquet(tmp_path / "ids.parquet")
    expected = job.results(partial=True)
    back = pd.read_parquet(path)
    pd.testing.assert_frame_equal(back, expected)


class Label(BaseModel):
    label: Literal["spam", "ham"]
    score: int


def test_structured_columns_round_trip(
    batch_server: BatchServer, client: Client, tmp_path: pathlib.Path
) -> None:
    schema = {"name": "Label", "schema": Label.model_json_schema(), "strict": True}
    df = pd.DataFrame({"prompt": ["buy now", "hi mum"]}, index=["s", "h"])
    batch_id = add_frame(client, df, response_format={"type": "json_schema", "json_schema": schema})
    job = attach(batch_id, df, client=client, response_model=Label)
    job.wait(progress=False)
    path = job.to_parquet(tmp_path / "labels.parquet")
    expected = job.results()
    assert expected["score"].dtype == "Int64"
    assert_same_table(path, expected)


class FailSecondResultsPage(httpx.BaseTransport):
    """The server's own transport, except that a second results page never arrives."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/results") and "pagination_token" in request.url.params:
            raise httpx.ConnectError("connection lost", request=request)
        return self.inner.handle_request(request)


def test_a_failed_write_leaves_no_file(
    batch_server: BatchServer, frame: pd.DataFrame, tmp_path: pathlib.Path
) -> None:
    transport = FailSecondResultsPage(batch_server.transport())
    with Client(
        api_key="test-key", base_url="http://localhost/v1", transport=transport, max_retries=0
    ) as client:
        job = attach(add_frame(client, frame), frame, client=client)
        job.wait(progress=False)
        with pytest.raises(APIConnectionError):
            job.to_parquet(tmp_path / "out.parquet")
    assert list(tmp_path.iterdir()) == []


def test_over_a_real_loopback_server(loopback_server: Any, tmp_path: pathlib.Path) -> None:
    df = pd.DataFrame({"prompt": [f"wire {i} ☃" for i in range(1200)]}).sample(
        frac=1, random_state=1
    )
    with Client(api_key="test-key", base_url=loopback_server.base_url) as client:
        job = attach(add_frame(client, df), df, client=client)
        job.wait(progress=False)
        path = job.to_parquet(tmp_path / "wire.parquet")
        expected = job.results()
    assert (expected["content"] == df["prompt"]).all() and expected.index.equals(df.index)
    assert_same_table(path, expected)


def test_parquet_file_gets_normal_permissions(client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The export is written via a private temp file, but must not stay private (0600)."""
    import os
    import stat

    import pandas as pd

    import batchframe as bf

    df = pd.DataFrame({"text": ["a", "b"]})
    job = bf.submit(df, prompt="text", model="grok-4.3", client=client, progress=False)
    job.wait(progress=False)
    old = os.umask(0o022)
    try:
        path = job.to_parquet(tmp_path / "out.parquet")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_awkward_input_columns_round_trip(client: Client, tmp_path: pathlib.Path) -> None:
    """Object, categorical, datetime, boolean columns and an input column named like a result."""
    n = 1200
    df = pd.DataFrame(
        {
            "prompt": [f"p{i}" for i in range(n)],
            "note": [None if i % 3 else f"n{i}" for i in range(n)],  # object with nulls
            "cat": pd.Categorical([("a", "b", "c")[i % 3] for i in range(n)]),
            "when": pd.date_range("2026-01-01", periods=n, freq="h"),
            "flag": [i % 2 == 0 for i in range(n)],
            "content": ["old"] * n,  # replaced by the result column of the same name
        }
    )
    job = attach(add_frame(client, df), df, client=client)
    job.wait(progress=False, sleep=lambda s: None)
    path = job.to_parquet(tmp_path / "awkward.parquet")
    expected = job.results()
    assert (expected["content"] == expected["prompt"]).all()
    assert_same_table(path, expected)


class _Span(BaseModel):
    start: int
    end: int


class _Rich(BaseModel):
    tags: list[str]
    meta: dict[str, int]
    span: _Span


def test_structured_lists_dicts_and_models_are_json_text_in_parquet(
    client: Client, tmp_path: pathlib.Path
) -> None:
    """results() keeps Python values; the file stores the same values as JSON text."""
    import json

    answers = [
        {"tags": ["a", "b"], "meta": {"n": 1}, "span": {"start": 0, "end": 3}},
        {"tags": [], "meta": {}, "span": {"start": 5, "end": 5}},
    ]
    df = pd.DataFrame({"prompt": [json.dumps(a) for a in answers] + ["not json"]})
    job = attach(add_frame(client, df), df, client=client, response_model=_Rich)
    job.wait(progress=False, sleep=lambda s: None)
    out = job.results()
    assert out.loc[0, "tags"] == ["a", "b"] and out.loc[1, "meta"] == {}
    assert out.loc[2, "parse_error"] and pd.isna(out.loc[2, "tags"])
    back = pd.read_parquet(job.to_parquet(tmp_path / "rich.parquet")).sort_index()
    for row, answer in enumerate(answers):
        assert {name: json.loads(back.loc[row, name]) for name in answer} == answer
    assert pd.isna(back.loc[2, "tags"]) and back.loc[2, "parse_error"] == out.loc[2, "parse_error"]
    assert (back["content"] == out["content"]).all()


def test_rows_come_in_the_input_order_not_the_id_order(
    client: Client, tmp_path: pathlib.Path
) -> None:
    # issue 9 item 8: to_parquet wrote 0, 1, 10, 100, ... (the ID string order)
    df = pd.DataFrame({"prompt": [f"row {i}" for i in range(1500)]})
    job = bf.submit(df, prompt="prompt", model=MODEL, client=client, progress=False)
    job.wait(progress=False, sleep=lambda s: None)
    back = pd.read_parquet(job.to_parquet(tmp_path / "ordered.parquet"))
    assert back.index.tolist() == list(range(1500))
    assert back["batch_request_id"].tolist() == [str(i) for i in range(1500)]
    assert (back["content"] == df["prompt"]).all()


def test_shards_are_written_in_order_from_a_file_input(
    client: Client, tmp_path: pathlib.Path
) -> None:
    import pyarrow as pa

    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"prompt": [f"line {i}" for i in range(2500)]}), source)
    job = bf.submit(source, prompt="prompt", model=MODEL, client=client, progress=False,
                    max_batch_requests=1000)  # fmt: skip
    assert len(job.batch_ids) == 3
    job.wait(progress=False, sleep=lambda s: None)
    table = pq.read_table(job.to_parquet(tmp_path / "out.parquet"))
    assert table.column_names[:2] == ["prompt", "batch_request_id"]
    assert table["batch_request_id"].to_pylist() == [str(i) for i in range(2500)]
    assert table["content"].to_pylist() == table["prompt"].to_pylist()
    assert pq.ParquetFile(tmp_path / "out.parquet").metadata.num_row_groups >= 3
