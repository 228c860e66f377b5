"""Tables by extension, --param parsing and the exception -> exit code map (no server)."""

from __future__ import annotations

import pathlib

import click
import pandas as pd
import pytest
from click.testing import CliRunner

from batchframe.cli.session import CommandGroup, exit_code_for, one_line_message, parse_param
from batchframe.cli.tables import default_output, frame_format, read_frame, write_frame
from batchframe.errors import (
    APIConnectionError,
    NotFinishedError,
    NotFoundError,
    WaitTimeoutError,
)


@pytest.mark.parametrize("name", ["t.csv", "t.parquet", "t.jsonl", "T.NDJSON", "t.pq"])
def test_round_trip_by_extension(tmp_path: pathlib.Path, name: str) -> None:
    frame = pd.DataFrame({"id": ["007", "b"], "text": ['a, "quoted"\nline', "café"], "n": [1, 2]})
    path = write_frame(frame, tmp_path / "deep" / name)
    back = read_frame(path)
    assert back["text"].tolist() == frame["text"].tolist()
    assert back["id"].tolist() == ["007", "b"]  # CSV is text: "007" stays "007"
    # CSV has no types (--dtype n=int reads numbers); JSON Lines and Parquet keep theirs.
    assert back["n"].tolist() == (["1", "2"] if frame_format(name) == "csv" else [1, 2])
    if frame_format(name) == "csv":
        assert read_frame(path, {"n": "int"})["n"].tolist() == [1, 2]


def test_unknown_extension_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"\.csv.*\.jsonl.*\.parquet"):
        frame_format("data.xlsx")


def test_default_output_is_beside_the_input() -> None:
    assert default_output("a/b/reviews.csv") == pathlib.Path("a/b/reviews.results.parquet")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("temperature=0.2", ("temperature", 0.2)),
        ("max_tokens=64", ("max_tokens", 64)),
        ('stop=["a","b"]', ("stop", ["a", "b"])),
        ("logprobs=true", ("logprobs", True)),
        ("reasoning_effort=low", ("reasoning_effort", "low")),
        ("user=a=b", ("user", "a=b")),
        ("seed=", ("seed", "")),
    ],
)
def test_param_values_are_json_when_they_parse(text: str, expected: tuple[str, object]) -> None:
    assert parse_param(text) == expected


@pytest.mark.parametrize("text", ["temperature", "=0.2"])
def test_param_without_a_key_is_bad(text: str) -> None:
    with pytest.raises(click.BadParameter):
        parse_param(text)


def test_exit_codes() -> None:
    assert exit_code_for(ValueError("bad")) == 2
    assert exit_code_for(NotFoundError(status_code=404)) == 3
    assert exit_code_for(APIConnectionError("refused")) == 3
    assert exit_code_for(WaitTimeoutError("late")) == 4
    assert exit_code_for(NotFinishedError("pending")) == 4
    assert exit_code_for(KeyboardInterrupt()) == 130
    assert exit_code_for(RuntimeError("bug")) == 1
    # An internal lookup that failed is a bug, not bad input (it was exit 2).
    assert exit_code_for(KeyError("num_pending")) == 1
    assert exit_code_for(LookupError("x")) == 1


def test_an_internal_bug_is_exit_1_with_a_debug_hint() -> None:
    """The real boundary (CommandGroup) around a command that fails the way a bug does."""

    @click.group(cls=CommandGroup)
    @click.option("--debug", is_flag=True)
    def group(debug: bool) -> None:
        pass

    @group.command()
    def lookup() -> None:
        {"state": 1}["num_pending"]

    @group.command()
    def bad_input() -> None:
        raise ValueError("missing column 'text'")

    runner = CliRunner()
    bug = runner.invoke(group, ["lookup"])
    assert bug.exit_code == 1
    assert bug.stderr.strip() == (
        "Error: KeyError: num_pending (run with --debug for the traceback)"
    )
    assert runner.invoke(group, ["bad_input"]).exit_code == 2
    debug = runner.invoke(group, ["--debug", "lookup"])
    assert isinstance(debug.exception, KeyError)  # --debug: the exception itself, not a summary


def test_messages_are_short_and_scrubbed() -> None:
    long = ValueError("first line\nsecond line\nthird line")
    assert one_line_message(long) == "first line\nsecond line ..."
    keyed = ValueError("rejected key xai-abcdefgh12345678 and my-secret-value")
    text = one_line_message(keyed, "my-secret-value")
    assert "xai-abcdefgh" not in text and "my-secret-value" not in text
    assert "--debug" in one_line_message(RuntimeError("bug"))


def test_csv_cells_are_text_and_only_empty_ones_are_null(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text('a,b\nNA,null\nNone,nan\n,""\n007,1.50\n', encoding="utf-8")
    frame = read_frame(path)
    assert frame["a"].tolist()[:2] == ["NA", "None"] and frame["b"].tolist()[:2] == ["null", "nan"]
    assert frame.iloc[2].isna().all()  # an empty cell, quoted or not
    assert frame.iloc[3].tolist() == ["007", "1.50"]  # as written, not 7 and 1.5


def test_jsonl_keeps_its_own_types(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(
        '{"text": "NA", "created_at": "2024-01-01", "n": 0.1, "x": null}\n'
        '{"text": "None", "created_at": "soon", "n": 2, "x": "null"}\n',
        encoding="utf-8",
    )
    frame = read_frame(path)
    assert frame["text"].tolist() == ["NA", "None"]
    assert frame["created_at"].tolist() == ["2024-01-01", "soon"]  # a string, not a date
    assert frame["n"].tolist() == [0.1, 2.0]
    assert frame["x"].isna().tolist() == [True, False] and frame["x"].iloc[1] == "null"


def test_ls_paging_stops_on_a_repeated_token() -> None:
    """A server that hands out the same pagination token again would make `ls --all` loop."""
    import httpx

    from batchframe.cli.listing import iter_listed
    from batchframe.client import Client
    from batchframe.errors import PaginationError

    def looping(request: httpx.Request) -> httpx.Response:
        page = {"batches": [{"batch_id": "b1", "name": "n"}], "pagination_token": "again"}
        return httpx.Response(200, json=page)

    with Client(
        api_key="k", base_url="http://localhost/v1", transport=httpx.MockTransport(looping)
    ) as client:
        listed = iter_listed(client)
        with pytest.raises(PaginationError, match="repeated pagination token 'again'"):
            list(listed)
    assert exit_code_for(PaginationError("x")) == 3


def test_ls_refuses_a_page_that_is_not_an_object() -> None:
    import httpx

    from batchframe.cli.listing import iter_listed
    from batchframe.client import Client
    from batchframe.errors import UnexpectedResponseError

    transport = httpx.MockTransport(lambda r: httpx.Response(200, json=[{"batch_id": "b"}]))
    client = Client(api_key="k", base_url="http://localhost/v1", transport=transport)
    with client, pytest.raises(UnexpectedResponseError, match="not a JSON object"):
        list(iter_listed(client))
