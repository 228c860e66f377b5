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


def test_progress_in_a_log_is_one_final_frame_without_unknown_rates(
    run_process: Callable[..., Any], reviews_csv: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    """stderr is a pipe here, as in CI or `2> log.txt`: nothing is redrawn."""
    db = tmp_path / "b.sqlite"
    shown = {"BATCHFRAME_DISABLE_PROGRESS": "0"}
    run = run_process(
        "run", reviews_csv, "--prompt", "text", "--model", "grok-4.3", "--local-db", db, "-o", "o.parquet",
        env=shown,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    batch_id = run.stderr.splitlines()[0].removeprefix("batch ")
    waited = run_process("wait", batch_id, "--local-db", db, env=shown)  # already finished
    assert waited.returncode == 0, waited.stderr
    n = len(PROMPTS)
    for proc in (run, waited):
        assert "\r" not in proc.stderr
        bars = [line for line in proc.stderr.splitlines() if f"{n}/{n}" in line]
        assert len(bars) == 1, proc.stderr
        assert bars[0].endswith(f"ok={n} failed=0 cancelled=0]"), bars[0]
        assert "?" not in bars[0] and "<" not in bars[0], bars[0]


#: Words pandas' CSV reader used to turn into nulls (package names that failed as "null IDs",
#: texts sent as "nan"): in a CSV file they are text like any other.
NA_WORDS = ["null", "nan", "na", "none", "NULL", "NaN", "NA", "None", "N/A", "n/a", "#N/A",
            "<NA>", "-nan", "1.#QNAN", "True", "007", "1e3"]  # fmt: skip


def test_csv_is_text_so_csv_and_parquet_runs_send_the_same_prompts(
    cli: Callable[..., Result], tmp_path: pathlib.Path
) -> None:
    texts = ["None", "NA", "nan", "null", "N/A"]
    frame = pd.DataFrame(
        {"package": NA_WORDS, "text": [texts[i % len(texts)] for i in range(len(NA_WORDS))]}
    )
    frame.to_csv(tmp_path / "in.csv", index=False)
    frame.to_parquet(tmp_path / "in.parquet")
    sent = {}
    for name in ("in.csv", "in.parquet"):
        result = cli(
            "run", name, "--template", "Package {package}: {text}", "--id-column", "package",
            "--model", "grok-4.3", "--local", "-o", f"{name}.out.parquet",
        )  # fmt: skip
        assert result.exit_code == 0, result.stderr
        out = pd.read_parquet(tmp_path / f"{name}.out.parquet")
        assert out["state"].tolist() == ["succeeded"] * len(NA_WORDS)
        sent[name] = dict(zip(out["batch_request_id"], out["content"], strict=True))
    expected = {
        p: f"Package {p}: {t}" for p, t in zip(frame["package"], frame["text"], strict=True)
    }
    assert sent["in.csv"] == sent["in.parquet"] == expected


def test_only_an_empty_csv_cell_is_null(cli: Callable[..., Result], tmp_path: pathlib.Path) -> None:
    (tmp_path / "in.csv").write_text('id,text\na,NA\nb,\nc,""\nd,None\n', encoding="utf-8")
    result = cli(
        "run", "in.csv", "--prompt", "text", "--id-column", "id", "--on-null", "skip",
        "--model", "grok-4.3", "--local", "-o", "out.parquet",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    out = pd.read_parquet(tmp_path / "out.parquet").set_index("id")
    assert out["state"].to_dict() == {
        "a": "succeeded", "b": "skipped", "c": "skipped", "d": "succeeded",
    }  # fmt: skip
    assert out.loc["a", "content"] == "NA" and out.loc["d", "content"] == "None"
    refused = cli("run", "in.csv", "--prompt", "text", "--model", "grok-4.3", "--local")
    assert refused.exit_code == 2 and "null" in refused.stderr


def test_dtype_reads_csv_columns_as_numbers_for_format_specs(
    cli: Callable[..., Result], tmp_path: pathlib.Path
) -> None:
    (tmp_path / "in.csv").write_text(
        "item,price,rank\nkettle,3.5,1\nmug,12,2\nplate,0.125,3\n", encoding="utf-8"
    )
    template = "{item}: ${price:.2f}, rank {rank:d}"
    run = cli(
        "run", "in.csv", "--template", template, "--dtype", "price=float", "--dtype", "rank=int",
        "--model", "grok-4.3", "--local", "-o", "out.parquet",
    )  # fmt: skip
    assert run.exit_code == 0, run.stderr
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert out["content"].tolist() == [
        "kettle: $3.50, rank 1",
        "mug: $12.00, rank 2",
        "plate: $0.12, rank 3",
    ]
    assert str(out["rank"].dtype) == "Int64" and str(out["price"].dtype) == "Float64"
    # Without --dtype the cells are text, as written.
    plain = cli(
        "run", "in.csv", "--template", "{price}", "--model", "grok-4.3", "--local", "-o", "p.csv"
    )
    assert plain.exit_code == 0, plain.stderr
    assert pd.read_csv(tmp_path / "p.csv", dtype=str)["content"].tolist() == ["3.5", "12", "0.125"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--dtype", "price=int"], "row 1 of in.csv has '2.5', not an integer"),
        (["--dtype", "rank=float"], "row 2 of in.csv has 'nan', not a number"),
        (["--dtype", "rank=date"], "TYPE is one of str, int, float"),
        (["--dtype", "rank"], "not COL=TYPE"),
        (["--dtype", "nosuch=int"], "no column 'nosuch'"),
        (["--dtype", "rank=int", "--dtype", "rank=float"], "given twice"),
    ],
)
def test_dtype_mistakes_are_exit_2_before_anything_is_sent(
    cli: Callable[..., Result], tmp_path: pathlib.Path, args: list[str], needle: str
) -> None:
    (tmp_path / "in.csv").write_text("q,price,rank\na,1,1\nb,2.5,2\nc,3,nan\n", encoding="utf-8")
    result = cli("run", "in.csv", "--prompt", "q", "--model", "grok-4.3", "--local", *args)
    assert result.exit_code == 2, result.stderr
    assert needle in result.stderr


def test_dtype_is_for_csv_only(cli: Callable[..., Result], tmp_path: pathlib.Path) -> None:
    pd.DataFrame({"q": ["a"], "n": [1]}).to_parquet(tmp_path / "in.parquet")
    result = cli(
        "run", "in.parquet", "--prompt", "q", "--dtype", "n=int", "--model", "grok-4.3", "--local"
    )
    assert result.exit_code == 2
    assert "--dtype is for CSV input" in result.stderr
    no_input = cli(
        "results", "batch_x", "-o", "o.parquet", "--dtype", "n=int", "--local-db", "x.db"
    )
    assert no_input.exit_code == 2 and "give --input too" in no_input.stderr
