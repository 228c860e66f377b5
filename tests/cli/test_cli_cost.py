"""``batchframe estimate``, ``cache info|clear`` and the cost options of ``run``/``submit``."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Callable

import pandas as pd
from cli_helpers import one_error_line
from click.testing import Result

from batchframe.client import Client
from batchframe.server.runner import ServerHandle


def write_input(folder: pathlib.Path, texts: list[str]) -> pathlib.Path:
    path = folder / "in.csv"
    pd.DataFrame({"text": texts}).to_csv(path, index=False)
    return path


def test_estimate_prints_figures_and_sends_nothing(
    cli: Callable[..., Result], tmp_path: pathlib.Path
) -> None:
    path = write_input(tmp_path, ["a b c", "d e", "a b c"])
    result = cli("estimate", path, "--prompt", "text", "--model", "grok-4.3", "--local",
                 "--param", "max_tokens=5", "--json")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["rows"], data["requests"], data["duplicates"]) == (3, 2, 1)
    assert data["prompt_tokens"] == 5 and data["cost_usd_max"] >= data["cost_usd"] > 0
    text = cli("estimate", path, "--prompt", "text", "--model", "grok-4.3", "--local")
    assert "2 requests to send of 3 rows" in text.stdout


def test_run_over_the_cap_refuses_in_flag_terms(
    cli: Callable[..., Result], tmp_path: pathlib.Path
) -> None:
    path = write_input(tmp_path, ["one", "two"])
    result = cli("run", path, "--prompt", "text", "--model", "grok-4.3", "--local",
                 "--max-cost-usd", "0.0000000001", "-o", "out.csv")  # fmt: skip
    assert result.exit_code == 2
    line = one_error_line(result.stderr)
    assert "--max-cost-usd" in line and "Nothing was sent" in line and "max_cost_usd=" not in line
    assert not (tmp_path / "out.csv").exists()
    bad = cli("run", path, "--prompt", "text", "--model", "grok-4.3", "--local",
              "--max-cost-usd", "-3")  # fmt: skip
    assert bad.exit_code == 2 and "max_cost_usd must be" in bad.stderr


def test_a_second_run_is_answered_by_the_cache_and_cache_verbs_work(
    cli: Callable[..., Result], tmp_path: pathlib.Path, loopback_server: ServerHandle
) -> None:
    path = write_input(tmp_path, [f"text {i}" for i in range(6)])
    where = ["--base-url", loopback_server.base_url, "--api-key", "xai-cli-test"]
    args = ["run", path, "--prompt", "text", "--model", "grok-4.3", *where]
    first = cli(*args, "--name", "one", "-o", "one.csv")
    assert first.exit_code == 0, first.stderr
    second = cli(*args, "--name", "two", "-o", "two.csv")
    assert second.exit_code == 0, second.stderr
    assert "6 answered without sending" in second.stderr
    out = pd.read_csv(tmp_path / "two.csv")
    assert out["origin"].tolist() == ["cache"] * 6 and (out["content"] == out["text"]).all()
    with Client(api_key="k", base_url=loopback_server.base_url) as client:
        assert [b.name for b in client.iter_batches()] == ["one"]
    info = cli("cache", "info")
    assert info.exit_code == 0 and "entries   6" in info.stdout
    off = cli(*args, "--name", "three", "--no-cache", "-o", "three.csv")
    assert off.exit_code == 0 and (pd.read_csv(tmp_path / "three.csv")["origin"] == "batch").all()
    cleared = cli("cache", "clear")
    assert cleared.exit_code == 0 and "removed 6" in cleared.stderr
    assert "entries   0" in cli("cache", "info").stdout


def test_no_dedup_and_conflicting_cache_flags(
    cli: Callable[..., Result], tmp_path: pathlib.Path
) -> None:
    path = write_input(tmp_path, ["same", "same", "same"])
    result = cli("run", path, "--prompt", "text", "--model", "grok-4.3", "--local", "--no-dedup",
                 "-o", "out.csv")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert (pd.read_csv(tmp_path / "out.csv")["origin"] == "batch").all()
    cli("run", path, "--prompt", "text", "--model", "grok-4.3", "--local",
                  "-o", "dedup.csv")  # fmt: skip
    assert pd.read_csv(tmp_path / "dedup.csv")["origin"].tolist() == ["batch"] + ["duplicate"] * 2
    both = cli("run", path, "--prompt", "text", "--model", "grok-4.3", "--local", "--no-cache",
               "--cache", "x.sqlite")  # fmt: skip
    assert both.exit_code == 2 and "not both" in both.stderr
