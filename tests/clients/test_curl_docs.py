"""The curl walk-through of docs/guides/other-clients.md, run as written against a real server,
so the page cannot drift from what the server does."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from batchframe.server import serve

PAGE = Path(__file__).resolve().parents[2] / "docs" / "guides" / "other-clients.md"


def curl_block() -> str:
    section = PAGE.read_text(encoding="utf-8").split("## curl with JSONL files", 1)[1]
    match = re.search(r"```bash\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs the curl command")
def test_the_documented_curl_flow_runs(tmp_path: Path) -> None:
    with serve() as handle:
        env = {**os.environ, "BASE": handle.base_url}
        proc = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", curl_block()],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert handle.server.internal_errors == 0
    results = json.loads((tmp_path / "results.json").read_text())["results"]
    answers = {
        r["batch_request_id"]: r["batch_result"]["response"]["chat_get_completion"]["choices"][0][
            "message"
        ]["content"]
        for r in results
    }
    assert answers == {"q1": "What is 2 + 2?", "q2": "Name a prime."}
    assert (tmp_path / "roundtrip.jsonl").read_bytes() == (tmp_path / "requests.jsonl").read_bytes()
    assert json.loads((tmp_path / "deleted.json").read_text())["deleted"] is True
    assert len(json.loads((tmp_path / "files.json").read_text())["data"]) == 1
