"""``batchframe run`` end to end with ``--local``: no key, no network, real files."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest
from cli_helpers import PROMPTS
from click.testing import Result


def test_run_local_in_a_real_process_writes_parquet(
    run_process: Callable[..., Any], reviews_csv: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    proc = run_process(
        "run",
        reviews_csv,
        "--prompt",
        "text",
        "--model",
        "grok-4.3",
        "--local",
        "--id-column",
        "review_id",
        "-o",
        "out/results.parquet",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    out = pd.read_parquet(tmp_path / "out" / "results.parquet")
    assert out["text"].tolist() == PROMPTS
    assert out["state"].tolist() == ["succeeded"] * len(PROMPTS)
    # The simulated model answers with the prompt, verbatim: the join is checkable row by row.
    assert (out["content"] == out["text"]).all()
    assert (out["batch_request_id"] == out["review_id"]).all()
    summary = proc.stderr.strip().splitlines()[-1]
    assert summary.startswith("5 rows: 5 succeeded, 0 failed; cost $")
    assert summary.endswith("wrote out/results.parquet")


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_run_writes_csv_and_jsonl_by_extension(
    cli: Callable[..., Result], reviews_csv: pathlib.Path, tmp_path: pathlib.Path, suffix: str
) -> None:
    result = cli(
        "run",
        reviews_csv,
        "--template",
        "Review: {text}",
        "--model",
        "grok-4.3",
        "--local",
        "-o",
        f"out/r{suffix}",
    )
    assert result.exit_code == 0, result.stderr
    path = tmp_path / "out" / f"r{suffix}"
    if suffix == ".csv":
        out = pd.read_csv(path, dtype={"batch_request_id": str})
    else:
        out = pd.DataFrame([json.loads(line) for line in path.read_text("utf-8").splitlines()])
    assert out["content"].tolist() == [f"Review: {p}" for p in PROMPTS]
    assert out["batch_request_id"].tolist() == [str(i) for i in range(len(PROMPTS))]
    assert set(out["state"]) == {"succeeded"}


def test_run_default_output_is_beside_the_input(
    cli: Callable[..., Result], reviews: pd.DataFrame, tmp_path: pathlib.Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    reviews.to_json(data / "in.jsonl", orient="records", lines=True)
    result = cli("run", data / "in.jsonl", "--prompt", "text", "--model", "grok-4.3", "--local")
    assert result.exit_code == 0, result.stderr
    out = pd.read_parquet(data / "in.results.parquet")
    assert (out["content"] == out["text"]).all()


def test_run_params_system_and_skipped_rows(
    cli: Callable[..., Result], tmp_path: pathlib.Path
) -> None:
    frame = pd.DataFrame({"id": ["a", "b", "c"], "q": ["one", None, "three"]})
    frame.to_parquet(tmp_path / "in.parquet")
    result = cli(
        "run",
        "in.parquet",
        "--prompt",
        "q",
        "--model",
        "grok-4.3",
        "--local",
        "--id-column",
        "id",
        "--on-null",
        "skip",
        "--system",
        "Be brief.",
        "--param",
        "temperature=0.2",
        "--param",
        'stop=["END"]',
        "-o",
        "out.parquet",
    )
    assert result.exit_code == 0, result.stderr
    out = pd.read_parquet(tmp_path / "out.parquet").set_index("id")
    assert out.loc["a", "content"] == "one"
    assert out.loc["b", "state"] == "skipped"
    assert out.loc["c", "content"] == "three"
    assert "3 rows: 2 succeeded, 0 failed, 1 skipped" in result.stderr


def test_run_messages_column_as_json_text_in_csv(
    cli: Callable[..., Result], tmp_path: pathlib.Path
) -> None:
    conversations = [
        [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": f"question {i}"},
        ]
        for i in range(3)
    ]
    pd.DataFrame({"chat": [json.dumps(c) for c in conversations]}).to_csv(
        tmp_path / "chats.csv", index=False
    )
    result = cli(
        "run", "chats.csv", "--messages", "chat", "--model", "grok-4.3", "--local", "-o", "o.csv"
    )
    assert result.exit_code == 0, result.stderr
    out = pd.read_csv(tmp_path / "o.csv")
    assert out["content"].tolist() == ["question 0", "question 1", "question 2"]


def test_local_db_keeps_batches_across_commands(
    cli: Callable[..., Result], reviews_csv: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    db = tmp_path / "state" / "batches.sqlite"
    submitted = cli(
        "submit",
        reviews_csv,
        "--prompt",
        "text",
        "--model",
        "grok-4.3",
        "--local-db",
        db,
        "--id-column",
        "review_id",
    )
    assert submitted.exit_code == 0, submitted.stderr
    batch_id = submitted.stdout.strip()
    assert cli("wait", batch_id, "--local-db", db).exit_code == 0
    got = cli(
        "results",
        batch_id,
        "--local-db",
        db,
        "--input",
        reviews_csv,
        "--id-column",
        "review_id",
        "-o",
        "joined.parquet",
    )
    assert got.exit_code == 0, got.stderr
    out = pd.read_parquet(tmp_path / "joined.parquet")
    assert (out["content"] == out["text"]).all()
    listed = cli("ls", "--json", "--local-db", db)
    assert [b["batch_id"] for b in json.loads(listed.stdout)] == [batch_id]


def test_failed_rows_are_data_and_exit_0(
    cli: Callable[..., Result], reviews_csv: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    # max_tokens=0 reaches the server as the integer 0 (JSON), which it fails at run time.
    result = cli(
        "run", reviews_csv, "--prompt", "text", "--model", "grok-4.3", "--local",
        "--param", "max_tokens=0", "-o", "failed.parquet",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    out = pd.read_parquet(tmp_path / "failed.parquet")
    assert set(out["state"]) == {"failed"}
    assert out["error"].notna().all()
    assert f"{len(PROMPTS)} rows: 0 succeeded, {len(PROMPTS)} failed" in result.stderr
