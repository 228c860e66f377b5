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


def test_cli_results_with_the_wrong_ids_fails_instead_of_joining_by_row_number(
    loopback_server: object, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # issue 9 item 1: `batchframe results ... --input` exited 0 with one warning per page
    from click.testing import CliRunner

    from batchframe.cli import main

    names = ["58", "0", "ada", "bob"]
    source = tmp_path / "in.csv"
    pd.DataFrame({"name": names, "text": [f"about {n}" for n in names]}).to_csv(source, index=False)
    base_url = loopback_server.base_url  # type: ignore[attr-defined]
    api = ["--base-url", base_url, "--api-key", "k"]
    monkeypatch.setenv("BATCHFRAME_DISABLE_PROGRESS", "1")
    runner = CliRunner()
    submitted = runner.invoke(
        main,
        [
            "submit",
            str(source),
            "--prompt",
            "text",
            "--model",
            "grok-4.3",
            "--id-column",
            "name",
            *api,
        ],
    )
    assert submitted.exit_code == 0, submitted.output
    batch_id = submitted.stdout.strip()
    assert runner.invoke(main, ["wait", batch_id, *api]).exit_code == 0
    monkeypatch.setenv("BATCHFRAME_HOME", str(tmp_path / "another-machine"))  # no manifest
    out = tmp_path / "out.csv"
    wrong = runner.invoke(main, ["results", batch_id, "--input", str(source), "-o", str(out), *api])
    assert wrong.exit_code != 0
    assert "--id-column name" in wrong.stderr and not out.exists()
    right = runner.invoke(
        main,
        ["results", batch_id, "--input", str(source), "--id-column", "name", "-o", str(out), *api],
    )
    assert right.exit_code == 0, right.stderr
    back = pd.read_csv(out, dtype=str)
    assert back["content"].tolist() == back["text"].tolist()
