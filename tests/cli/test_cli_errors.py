"""Errors: one or two lines on stderr, the documented exit code, no traceback, never the key."""

from __future__ import annotations

import pathlib
import signal
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cli_helpers import one_error_line
from click.testing import Result

from batchframe.errors import NotFoundError
from batchframe.server import ServerHandle, serve

SECRET = "xai-this-key-must-never-show-0123456789"


def test_missing_column_is_exit_2_in_one_line(
    run_process: Callable[..., Any], reviews_csv: pathlib.Path
) -> None:
    proc = run_process("run", reviews_csv, "--prompt", "nosuch", "--model", "grok-4.3", "--local")
    assert proc.returncode == 2
    assert "nosuch" in one_error_line(proc.stderr)


def test_missing_key_mentions_local(cli: Callable[..., Result], reviews_csv: pathlib.Path) -> None:
    result = cli("run", reviews_csv, "--prompt", "text", "--model", "grok-4.3")
    assert result.exit_code == 2
    assert "--local" in one_error_line(result.stderr)
    assert "XAI_API_KEY" in result.stderr


def test_unknown_batch_id_is_an_api_error(
    cli: Callable[..., Result], loopback_server: ServerHandle
) -> None:
    api = ["--base-url", loopback_server.base_url, "--api-key", SECRET]
    for command in (["status", "batch_nope"], ["cancel", "batch_nope"], ["wait", "batch_nope"]):
        result = cli(*command, *api)
        assert result.exit_code == 3, result.stderr
        assert "404" in one_error_line(result.stderr)
        assert SECRET not in result.stderr + result.stdout


@pytest.fixture
def strict_server() -> Iterator[ServerHandle]:
    """A server that knows one key only: any other is rejected (400, as xAI answers)."""
    with serve(keys={"xai-known-key-000000": "team-a"}) as handle:
        yield handle


def test_a_rejected_key_is_never_printed(
    cli: Callable[..., Result], strict_server: ServerHandle, reviews_csv: pathlib.Path
) -> None:
    result = cli(
        "submit", reviews_csv, "--prompt", "text", "--model", "grok-4.3",
        "--base-url", strict_server.base_url, "--api-key", SECRET,
    )  # fmt: skip
    assert result.exit_code == 3
    one_error_line(result.stderr)
    assert SECRET not in result.stderr + result.stdout
    debug = cli(
        "--debug", "status", "batch_x", "--base-url", strict_server.base_url, "--api-key", SECRET
    )
    assert SECRET not in debug.stderr + debug.stdout + repr(debug.exception)


def test_a_key_with_a_newline_is_exit_2_and_never_printed(
    cli: Callable[..., Result], loopback_server: ServerHandle
) -> None:
    """A key read from a file keeps its newline; the message says so in CLI terms."""
    api = ["--base-url", loopback_server.base_url]
    from_env = cli("status", "batch_x", *api, env={"XAI_API_KEY": SECRET + "\n"})
    assert from_env.exit_code == 2, from_env.stderr
    assert one_error_line(from_env.stderr).startswith("Error: XAI_API_KEY ends with a newline")
    from_flag = cli("status", "batch_x", *api, "--api-key", "xai-" + " " + SECRET[4:])
    assert from_flag.exit_code == 2
    assert one_error_line(from_flag.stderr).startswith("Error: --api-key contains a space")
    debug = cli("--debug", "status", "batch_x", *api, env={"XAI_API_KEY": SECRET + "\n"})
    assert isinstance(debug.exception, ValueError)
    printed = "".join(traceback.format_exception(debug.exception))
    for result, text in ((from_env, printed), (from_flag, ""), (debug, "")):
        assert SECRET[4:20] not in result.stdout + result.stderr + text


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--prompt", "text", "--template", "{text}"], "exactly one of"),
        (["--model", "grok-4.3", "--local"], "exactly one of"),
        (["--prompt", "text", "--param", "temperature"], "key=value"),
        (["--prompt", "text", "--param", "model=x"], "--param model"),
        (["--prompt", "text", "-o", "out.xlsx"], "unknown table format"),
    ],
)
def test_bad_usage_is_exit_2(
    cli: Callable[..., Result], reviews_csv: pathlib.Path, args: list[str], needle: str
) -> None:
    base = [
        "run",
        reviews_csv,
        *(["--model", "grok-4.3", "--local"] if "--model" not in args else []),
    ]
    result = cli(*base, *args)
    assert result.exit_code == 2, result.stderr
    assert needle in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_input_format_and_missing_file(
    cli: Callable[..., Result], tmp_path: pathlib.Path
) -> None:
    (tmp_path / "in.txt").write_text("a\n", encoding="utf-8")
    bad = cli("run", "in.txt", "--prompt", "a", "--model", "grok-4.3", "--local")
    assert bad.exit_code == 2
    assert "unknown table format" in one_error_line(bad.stderr)
    missing = cli("run", "nothere.csv", "--prompt", "a", "--model", "grok-4.3", "--local")
    assert missing.exit_code == 2
    assert "nothere.csv" in missing.stderr


def test_local_without_db_refused_where_batches_must_outlive_the_command(
    cli: Callable[..., Result],
) -> None:
    result = cli("status", "batch_x", "--local")
    assert result.exit_code == 2
    assert "--local-db" in one_error_line(result.stderr)


def test_debug_shows_the_exception(
    cli: Callable[..., Result], loopback_server: ServerHandle
) -> None:
    result = cli(
        "--debug", "status", "batch_nope", "--base-url", loopback_server.base_url, "--api-key", "k"
    )
    assert isinstance(result.exception, NotFoundError)


def test_ctrl_c_exits_130_without_a_traceback(
    clean_env: dict[str, str], reviews_csv: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    with serve(speed=0.5) as slow:
        api = ["--base-url", slow.base_url, "--api-key", "k"]
        env = {**clean_env, "BATCHFRAME_DISABLE_PROGRESS": "0", "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "batchframe", "run", str(reviews_csv), "--prompt", "text",
             "--model", "grok-4.3", *api],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert proc.stderr is not None
        first = proc.stderr.readline()  # "batch ..." once submitted: it is waiting now
        assert first.startswith("batch "), first + proc.stderr.read()
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "Interrupted." in err
    assert "batchframe results batch_" in err  # how to fetch the results later
    assert "bf.attach" not in err  # issue 13 item 1: the hint names commands
