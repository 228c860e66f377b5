"""Regression tests for bugs found in review of the client-side data path."""

from __future__ import annotations

import pathlib
import warnings

import pandas as pd
import pytest
from pydantic import BaseModel

import batchframe as bf
from batchframe.client import Client


@pytest.mark.parametrize("index_name", ["state", "content", "batch_request_id"])
def test_to_parquet_with_an_index_named_like_a_result_column(
    client: Client, tmp_path: pathlib.Path, index_name: str
) -> None:
    # pyarrow stores such an index as __index_level_0__ in the output (the result column takes
    # the name) but under its own name in the input table; the two must line up.
    df = pd.DataFrame({"prompt": ["a", "b", "c"]}, index=pd.Index(["x", "y", "z"], name=index_name))
    job = bf.submit(df, prompt="prompt", model="grok-4.3", client=client, progress=False)
    job.wait(progress=False, sleep=lambda s: None)
    expected = job.results()
    back = pd.read_parquet(job.to_parquet(tmp_path / "out.parquet")).loc[expected.index]
    assert back.index.name == index_name
    assert back.index.tolist() == ["x", "y", "z"]
    pd.testing.assert_frame_equal(back, expected)


def test_a_multiindex_frame_round_trips_by_its_tuple_labels(client: Client) -> None:
    # pd.isna raised NotImplementedError on a MultiIndex before any ID was made
    index = pd.MultiIndex.from_tuples([("b", 2), ("a", 1), ("a", 2)], names=["g", "n"])
    df = pd.DataFrame({"p": ["x", "y", "z"]}, index=index)
    assert bf.to_requests(df, prompt="p", model="grok-4.3")["batch_request_id"].tolist() == [
        "('b', 2)",
        "('a', 1)",
        "('a', 2)",
    ]
    job = bf.submit(df, prompt="p", model="grok-4.3", client=client, progress=False)
    job.wait(progress=False, sleep=lambda s: None)
    out = job.results()
    assert out.index.equals(index)
    assert out["state"].tolist() == ["succeeded"] * 3
    assert out["batch_request_id"].tolist() == ["('b', 2)", "('a', 1)", "('a', 2)"]


def test_a_multiindex_with_a_null_part_is_a_value_error() -> None:
    index = pd.MultiIndex.from_tuples([("a", 1), ("a", None)])
    df = pd.DataFrame({"p": ["x", "y"]}, index=index)
    with pytest.raises(ValueError, match="must not be null"):
        bf.to_requests(df, prompt="p", model="grok-4.3")


class Count(BaseModel):
    n: int


def test_an_int_field_beyond_int64_is_a_parse_error_not_an_exception(
    client: Client, tmp_path: pathlib.Path
) -> None:
    # the local server echoes the prompt as the content, so the prompt is the model's answer
    df = pd.DataFrame({"p": ['{"n": 7}', '{"n": 123456789012345678901234}']}, index=["ok", "big"])
    sent = bf.submit(df, prompt="p", model="grok-4.3", client=client, progress=False)
    job = bf.attach(sent.batch_id, df, client=client, response_model=Count)
    job.wait(progress=False, sleep=lambda s: None)
    out = job.results()
    assert out["n"].dtype == "Int64"
    assert out.loc["ok", "n"] == 7
    assert pd.isna(out.loc["big", "n"])
    assert out.loc["big", "content"] == df.loc["big", "p"]
    assert "Int64" in out.loc["big", "parse_error"]
    back = pd.read_parquet(job.to_parquet(tmp_path / "out.parquet")).loc[out.index]
    pd.testing.assert_frame_equal(back, out)


@pytest.mark.parametrize(
    "change",
    [
        lambda df: df.sort_values("p", inplace=True),
        lambda df: df.drop(index="r1", inplace=True),
        lambda df: df.reset_index(drop=True, inplace=True),
    ],
    ids=["sort", "drop", "reset_index"],
)
def test_changing_the_frame_in_place_after_submit_does_not_mis_join(
    client: Client, change: object
) -> None:
    df = pd.DataFrame({"p": ["zeta", "alpha", "mid"]}, index=["r1", "r2", "r3"])
    job = bf.submit(df, prompt="p", model="grok-4.3", client=client, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas deprecates inplace=; users still write it
        change(df)  # type: ignore[operator]
    job.wait(progress=False, sleep=lambda s: None)
    out = job.results()
    assert out.index.tolist() == ["r1", "r2", "r3"]
    assert out["batch_request_id"].tolist() == ["r1", "r2", "r3"]
    assert out["content"].tolist() == out["p"].tolist() == ["zeta", "alpha", "mid"]
