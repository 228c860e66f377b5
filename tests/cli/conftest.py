"""Fixtures for the command-line tests: a clean environment, a small input file, a runner."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
import pytest
from cli_helpers import PROMPTS
from click.testing import CliRunner, Result

from batchframe.cli import main

#: Environment variables a test must not inherit from the developer's shell.
_SCRUBBED = ("XAI_API_KEY", "XAI_BASE_URL", "BATCHFRAME_ALLOW_INSECURE")


@pytest.fixture
def reviews() -> pd.DataFrame:
    return pd.DataFrame({"review_id": [f"r{i}" for i in range(len(PROMPTS))], "text": PROMPTS})


@pytest.fixture
def reviews_csv(tmp_path: pathlib.Path, reviews: pd.DataFrame) -> pathlib.Path:
    path = tmp_path / "reviews.csv"
    reviews.to_csv(path, index=False)
    return path


@pytest.fixture
def clean_env(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """No key, no base URL, manifests and files under tmp_path, no progress bars."""
    for name in _SCRUBBED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BATCHFRAME_HOME", str(tmp_path / ".batchframe"))
    monkeypatch.setenv("BATCHFRAME_DISABLE_PROGRESS", "1")
    monkeypatch.chdir(tmp_path)
    return {k: v for k, v in os.environ.items() if k not in _SCRUBBED}


@pytest.fixture
def cli(clean_env: dict[str, str]) -> Callable[..., Result]:
    """Run ``batchframe ARGS`` in-process (click's runner); stdout and stderr kept apart."""
    runner = CliRunner()

    def invoke(*args: Any, env: Mapping[str, str | None] | None = None) -> Result:
        return runner.invoke(main, [str(a) for a in args], env=env, catch_exceptions=True)

    return invoke


@pytest.fixture
def run_process(clean_env: dict[str, str], tmp_path: pathlib.Path) -> Callable[..., Any]:
    """Run ``python -m batchframe ARGS`` as a real process in tmp_path."""

    def run(*args: Any, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "batchframe", *map(str, args)],
            cwd=tmp_path,
            env={**clean_env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=60,
        )

    return run
