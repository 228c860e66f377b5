"""The single-step commands against a real local server on loopback, with --base-url/--api-key."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pandas as pd
import pytest
from cli_helpers import PROMPTS
from click.testing import Result

from batchframe.server import ServerHandle, serve
from batchframe.testing import free_port

KEY = "xai-cli-test-key-0123456789"


@pytest.fixture
def slow_server() -> Iterator[ServerHandle]:
    """A server that finishes one request a second, so batches stay pending for a while."""
    with serve(speed=1) as handle:
        yield handle


def _api(server: ServerHandle) -> list[str]:
    return ["--base-url", server.base_url, "--api-key", KEY]


def _submit(cli: Callable[..., Result], server: ServerHandle, csv: pathlib.Path) -> str:
    result = cli("submit", csv, "--prompt", "text", "--model", "grok-4.3", *_api(server))
    assert result.exit_code == 0, result.stderr
    batch_id = result.stdout.strip()
    assert result.stdout == batch_id + "\n"  # the ID and nothing else on stdout
    return batch_id


def test_submit_status_wait_results_ls(
    cli: Callable[..., Result],
    loopback_server: ServerHandle,
    reviews_csv: pathlib.Path,
    tmp_path: pathlib.Path,
) -> None:
    api = _api(loopback_server)
    batch_id = _submit(cli, loopback_server, reviews_csv)
    assert batch_id.startswith("batch_")

    waited = cli("wait", batch_id, "--timeout", "30", *api)
    assert waited.exit_code == 0, waited.stderr
    assert f"{len(PROMPTS)} succeeded, 0 failed" in waited.stderr

    status = cli("status", batch_id, "--json", *api)
    assert status.exit_code == 0, status.stderr
    batch = json.loads(status.stdout)
    assert batch["batch_id"] == batch_id
    assert batch["state"]["num_success"] == len(PROMPTS)
    human = cli("status", batch_id, *api)
    assert "state     done" in human.stdout

    joined = cli("results", batch_id, "--input", reviews_csv, "-o", "out/j.csv", *api)
    assert joined.exit_code == 0, joined.stderr
    out = pd.read_csv(tmp_path / "out" / "j.csv")
    assert out["review_id"].tolist() == [f"r{i}" for i in range(len(PROMPTS))]
    assert (out["content"] == out["text"]).all()

    bare = cli("results", batch_id, "-o", "bare.parquet", *api)
    assert bare.exit_code == 0, bare.stderr
    alone = pd.read_parquet(tmp_path / "bare.parquet")
    assert sorted(alone["content"]) == sorted(PROMPTS)

    listed = cli("ls", "--json", *api)
    assert listed.exit_code == 0, listed.stderr
    assert batch_id in [b["batch_id"] for b in json.loads(listed.stdout)]
    assert batch_id in cli("ls", *api).stdout


def test_cancel_wait_timeout_and_partial_results(
    cli: Callable[..., Result],
    slow_server: ServerHandle,
    reviews_csv: pathlib.Path,
    tmp_path: pathlib.Path,
) -> None:
    api = _api(slow_server)
    batch_id = _submit(cli, slow_server, reviews_csv)

    timed_out = cli("wait", batch_id, "--timeout", "0.2", *api)
    assert timed_out.exit_code == 4, timed_out.stderr

    unfinished = cli("results", batch_id, "-o", "r.parquet", *api)
    assert unfinished.exit_code == 4
    assert "--partial" in unfinished.stderr

    cancelled = cli("cancel", batch_id, *api)
    assert cancelled.exit_code == 0, cancelled.stderr
    batch = json.loads(cli("status", batch_id, "--json", *api).stdout)
    n = batch["state"]["num_cancelled"]
    assert n >= 1 and batch["state"]["num_pending"] == 0
    noun = "request" if n == 1 else "requests"
    assert cancelled.stderr.startswith(f"cancelled {n} pending {noun} of {batch_id}: ")
    again = cli("cancel", batch_id, *api)  # nothing left to cancel
    assert again.exit_code == 0, again.stderr
    assert again.stderr.startswith(f"nothing was pending in {batch_id}, so nothing was cancelled")

    partial = cli("results", batch_id, "--input", reviews_csv, "--partial", "-o", "p.jsonl", *api)
    assert partial.exit_code == 0, partial.stderr
    rows = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text("utf-8").splitlines()]
    assert {row["state"] for row in rows} <= {"succeeded", "cancelled"}
    assert any(row["state"] == "cancelled" for row in rows)


def _start_serve(port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "batchframe", "serve", "--port", str(port)],
        stderr=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1)
            return proc
        except httpx.TransportError:
            assert proc.poll() is None, "batchframe serve exited"
            assert time.monotonic() < deadline, "batchframe serve did not come up"
            time.sleep(0.1)


def test_real_processes_against_batchframe_serve(
    run_process: Callable[..., Any],
    clean_env: dict[str, str],
    reviews_csv: pathlib.Path,
    tmp_path: pathlib.Path,
) -> None:
    port = free_port()
    server = _start_serve(port, clean_env)
    try:
        env = {"XAI_BASE_URL": f"http://127.0.0.1:{port}/v1", "XAI_API_KEY": KEY}
        submitted = run_process(
            "submit",
            reviews_csv,
            "--template",
            "Q: {text}",
            "--model",
            "grok-4.3",
            "--id-column",
            "review_id",
            env=env,
        )
        assert submitted.returncode == 0, submitted.stderr
        batch_id = submitted.stdout.strip()
        assert run_process("wait", batch_id, env=env).returncode == 0
        got = run_process(
            "results",
            batch_id,
            "--input",
            reviews_csv,
            "--id-column",
            "review_id",
            "-o",
            "out.parquet",
            env=env,
        )
        assert got.returncode == 0, got.stderr
    finally:
        server.terminate()
        server.wait(timeout=10)
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert out["content"].tolist() == [f"Q: {p}" for p in PROMPTS]
    for proc in (submitted, got):
        assert KEY not in proc.stdout + proc.stderr


def test_cancel_of_a_finished_batch_says_nothing_was_cancelled(
    cli: Callable[..., Result], loopback_server: ServerHandle, reviews_csv: pathlib.Path
) -> None:
    api = _api(loopback_server)
    batch_id = _submit(cli, loopback_server, reviews_csv)
    assert cli("wait", batch_id, *api).exit_code == 0
    cancelled = cli("cancel", batch_id, *api)
    assert cancelled.exit_code == 0, cancelled.stderr
    assert cancelled.stderr == (
        f"nothing was pending in {batch_id}, so nothing was cancelled: "
        f"{len(PROMPTS)} succeeded, 0 failed\n"
    )


def _make_batches(server: ServerHandle, names: list[str]) -> list[str]:
    """Batches named ``names``, created in that order; their IDs newest first (as `ls` lists)."""
    import batchframe as bf

    with bf.Client(api_key=KEY, base_url=server.base_url) as client:
        ids = [client.create_batch(name).batch_id for name in names]
    return ids[::-1]


@pytest.fixture
def many(loopback_server: ServerHandle) -> list[str]:
    names = [f"reviews-{i:02d}" for i in range(22)] + ["other-a", "other-b", "other-c"]
    return _make_batches(loopback_server, names)


def _rows(stdout: str) -> list[list[str]]:
    lines = stdout.splitlines()
    assert lines[0].split() == [
        "BATCH_ID", "CREATED", "REQUESTS", "SUCCEEDED", "FAILED", "CANCELLED", "PENDING", "NAME",
    ]  # fmt: skip
    return [line.split() for line in lines[1:]]


def test_ls_has_a_header_a_limit_and_says_when_more_exist(
    cli: Callable[..., Result], loopback_server: ServerHandle, many: list[str]
) -> None:
    api = _api(loopback_server)
    default = cli("ls", *api)
    assert default.exit_code == 0, default.stderr
    rows = _rows(default.stdout)
    assert [r[0] for r in rows] == many[:20]  # 20 by default, newest first
    assert default.stderr == "more: showing the first 20; use --all, or --limit N\n"

    everything = cli("ls", "--all", *api)
    assert [r[0] for r in _rows(everything.stdout)] == many
    assert everything.stderr == ""

    three = cli("ls", "--limit", "3", *api)
    assert [r[0] for r in _rows(three.stdout)] == many[:3]
    assert "more: showing the first 3; use --all" in three.stderr
    exact = cli("ls", "--limit", "25", *api)
    assert len(_rows(exact.stdout)) == 25 and exact.stderr == ""  # no more past the last one

    both = cli("ls", "--limit", "3", "--all", *api)
    assert both.exit_code == 2 and "--limit N or --all" in both.stderr


def test_ls_name_is_a_glob_over_the_whole_name(
    cli: Callable[..., Result], loopback_server: ServerHandle, many: list[str]
) -> None:
    api = _api(loopback_server)
    other = cli("ls", "--name", "other-*", *api)
    assert [r[-1] for r in _rows(other.stdout)] == ["other-c", "other-b", "other-a"]
    assert other.stderr == ""
    assert [r[-1] for r in _rows(cli("ls", "--name", "other-[ab]", *api).stdout)] == [
        "other-b",
        "other-a",
    ]
    assert cli("ls", "--name", "other", *api).stderr == "no batches whose name matches 'other'\n"
    assert cli("ls", "--name", "OTHER-*", *api).stdout == ""  # case-sensitive
    reviews = cli("ls", "--name", "reviews-*", "--limit", "21", *api)
    assert len(_rows(reviews.stdout)) == 21 and "more:" in reviews.stderr  # 22 match
    assert "more:" not in cli("ls", "--name", "reviews-*", "--limit", "22", *api).stderr
    as_json = cli("ls", "--name", "reviews-0?", "--json", "--all", *api)
    assert [b["name"] for b in json.loads(as_json.stdout)] == [
        f"reviews-0{i}" for i in range(9, -1, -1)
    ]


def test_ls_and_status_show_times_as_the_api_sent_them(
    cli: Callable[..., Result], loopback_server: ServerHandle
) -> None:
    api = _api(loopback_server)
    (batch_id,) = _make_batches(loopback_server, ["dated"])
    listed = json.loads(cli("ls", "--json", *api).stdout)
    sent = listed[0]["create_time"]
    assert len(sent) == 10  # the REST API sends a date: YYYY-MM-DD
    table = cli("ls", *api).stdout
    assert _rows(table)[0][1] == sent and "00:00" not in table
    human = cli("status", batch_id, *api).stdout
    assert f"created   {sent}\n" in human and "00:00" not in human
    assert json.loads(cli("status", batch_id, "--json", *api).stdout)["create_time"] == sent

    with serve(time_format="rfc3339") as rfc:
        (other,) = _make_batches(rfc, ["timed"])
        full = json.loads(cli("status", other, "--json", *_api(rfc)).stdout)["create_time"]
        assert "T" in full and full.endswith("Z")
        assert _rows(cli("ls", *_api(rfc)).stdout)[0][1] == full
