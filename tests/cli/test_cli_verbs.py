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
    assert "cancelled" in cancelled.stderr
    batch = json.loads(cli("status", batch_id, "--json", *api).stdout)
    assert batch["state"]["num_cancelled"] >= 1
    assert batch["state"]["num_pending"] == 0

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
