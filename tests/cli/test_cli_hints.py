"""Issue 13 item 1: every hint the command line shows names a flag or a command, never Python.

Each test runs a real ``batchframe`` command (against a local server) down a path whose message
used to say ``on_null='skip'``, ``name=``, ``id_column``, ``wait()``, ``results(partial=True)``
or ``bf.attach(...)``, and checks the flag is named and nothing Pythonic leaks through.
"""

from __future__ import annotations

import pathlib
import re
from collections.abc import Callable, Iterator

import pandas as pd
import pytest
from click.testing import Result

from batchframe.server import ServerHandle, serve

#: A Python keyword argument (``name=``, ``on_null='skip'``) not preceded by a dash: a flag's
#: own ``--extra-body KEY=VALUE`` is command-line syntax.
PYTHON_ARG = re.compile(
    r"(?<![-\w])(on_null|name|id_column|partial|prompt|template|messages|model|extra_body|"
    r"allow_insecure|max_batch_requests|response_model)="
)


def no_python(text: str) -> str:
    """``text``, asserting it names no Python argument, ``bf.`` call or method call."""
    assert not PYTHON_ARG.search(text), text
    assert "bf." not in text and "()" not in text and ".batch " not in text, text
    assert ".astype" not in text and ".fillna" not in text, text
    return text


def failed(result: Result, code: int = 2) -> str:
    assert result.exit_code == code, (result.exit_code, result.stderr)
    return no_python(result.stderr)


@pytest.fixture
def csv(tmp_path: pathlib.Path) -> Callable[..., pathlib.Path]:
    def write(name: str = "in.csv", **columns: list[str]) -> pathlib.Path:
        path = tmp_path / name
        pd.DataFrame(columns).to_csv(path, index=False)
        return path

    return write


LOCAL = ["--model", "grok-4.3", "--local"]


def test_a_null_prompt_names_on_null_skip(
    cli: Callable[..., Result], csv: Callable[..., pathlib.Path]
) -> None:
    path = csv(text=["a", ""])
    assert "--on-null skip" in failed(cli("run", path, "--prompt", "text", *LOCAL))


def test_a_null_template_field_names_on_null_skip_and_the_rows(
    cli: Callable[..., Result], csv: Callable[..., pathlib.Path]
) -> None:
    path = csv(id=["r0", "r1", "r2"], pkg=["mxr", "", "zz"])
    text = failed(
        cli("run", path, "--template", "Package {pkg}: what is it for?", "--id-column", "id",
            *LOCAL)
    )  # fmt: skip
    assert "{pkg}" in text and "'r1'" in text and "--on-null skip" in text
    assert "'r0'" not in text
    out = path.with_name("out.csv")
    ok = cli("run", path, "--template", "Package {pkg}: what is it for?", "--id-column", "id",
             "--on-null", "skip", "-o", out, *LOCAL)  # fmt: skip
    assert ok.exit_code == 0, ok.stderr
    rows = pd.read_csv(out, keep_default_na=False)
    assert rows.set_index("id")["state"].to_dict() == {
        "r0": "succeeded", "r1": "skipped", "r2": "succeeded"
    }  # fmt: skip
    assert "nan" not in " ".join(rows["content"])


def test_duplicate_and_null_ids_name_id_column(
    cli: Callable[..., Result], csv: Callable[..., pathlib.Path]
) -> None:
    repeated = csv("dup.csv", id=["a", "a"], text=["x", "y"])
    text = failed(cli("run", repeated, "--prompt", "text", "--id-column", "id", *LOCAL))
    assert "--id-column" in text and "unique" in text
    null = csv("null.csv", id=["a", ""], text=["x", "y"])
    assert "--id-column" in failed(
        cli("run", null, "--prompt", "text", "--id-column", "id", *LOCAL)
    )
    missing = failed(cli("run", null, "--prompt", "nosuch", *LOCAL))
    assert "--prompt names column(s)" in missing


def test_a_name_conflict_names_the_name_flag(
    cli: Callable[..., Result], csv: Callable[..., pathlib.Path], tmp_path: pathlib.Path
) -> None:
    db = ["--model", "grok-4.3", "--local-db", tmp_path / "b.sqlite", "--name", "job-a"]
    first = cli("submit", csv("one.csv", text=["a", "b"]), "--prompt", "text", *db)
    assert first.exit_code == 0, first.stderr
    other = csv("two.csv", text=["c", "d"])
    assert "--name" in failed(cli("submit", other, "--prompt", "text", *db))


def test_an_unknown_param_and_model_name_the_flags(
    cli: Callable[..., Result], csv: Callable[..., pathlib.Path]
) -> None:
    path = csv(text=["a"])
    typo = failed(cli("run", path, "--prompt", "text", "--param", "temprature=0", *LOCAL))
    assert "'temperature'" in typo and "--extra-body temprature=VALUE" in typo
    extra = cli("run", path, "--prompt", "text", "--extra-body", "temprature=0", *LOCAL)
    assert extra.exit_code == 0, extra.stderr  # passed through unchecked
    model = cli("run", path, "--prompt", "text", "--model", "grok-nonexistent", "--local")
    text = failed(model)
    assert "--model" in text and "grok-4.3" in text and "grok-nonexistent" in text


def test_a_numeric_format_spec_over_text_names_dtype(
    cli: Callable[..., Result], csv: Callable[..., pathlib.Path]
) -> None:
    path = csv(rank=["1", "x"])
    text = failed(cli("run", path, "--template", "Rank {rank:d}", *LOCAL))
    assert "{rank:d}" in text and "{0" not in text and "--dtype rank=int for a CSV" in text
    assert "'1'" in text  # the first offending row: row number 1


@pytest.fixture
def slow_server() -> Iterator[ServerHandle]:
    with serve(speed=1) as handle:
        yield handle


def test_wait_timeout_and_wrong_id_column_name_commands(
    cli: Callable[..., Result],
    slow_server: ServerHandle,
    csv: Callable[..., pathlib.Path],
    tmp_path: pathlib.Path,
) -> None:
    api = ["--base-url", slow_server.base_url, "--api-key", "xai-hints-0123456789"]
    path = csv(id=[f"r{i}" for i in range(4)], text=list("abcd"))
    submitted = cli("submit", path, "--prompt", "text", "--model", "grok-4.3", *api)
    assert submitted.exit_code == 0, submitted.stderr
    batch_id = submitted.stdout.strip()
    timed_out = failed(cli("wait", batch_id, "--timeout", "0.1", *api), code=4)
    assert f"batchframe wait {batch_id}" in timed_out
    assert f"batchframe results {batch_id} --partial" in timed_out
    edited = csv("edited.csv", id=[f"r{i}" for i in range(4)], text=list("abcx"))
    joined = cli("results", batch_id, "--input", edited, "--partial", "-o", tmp_path / "o.csv",
                 *api)  # fmt: skip
    assert "The --input file" in failed(joined, code=3)  # not the rows that were submitted
