"""The benchmark suite runs end to end in a tiny mode and prints its one table.

No assertion on any time or ratio: only that every figure shows up in the Markdown table.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIGURES = [
    "encode 2k rows (rows/s)",
    "submit 2k: client CPU (s)",
    "results() 2k: wall (s)",
    "results() 2k: client CPU (s)",
    "to_parquet 2k: peak RSS growth",
    "pacing: 2,000 rows, 2 add calls",
    "server 2k: ingest (req/s)",
    "server 2k: serve results (req/s)",
    "server 2k: process (simulated model) (req/s)",
    "end to end 2k, Python API (s)",
    "`batchframe run --local` 2k",
]


@pytest.mark.slow
def test_bench_quick_prints_every_figure(tmp_path: pathlib.Path) -> None:
    command = [
        sys.executable,
        str(ROOT / "bench" / "run.py"),
        "--quick",
        "--rows",
        "2000",
        "--pacing-rows",
        "2000",
        "--pacing-budget",
        "60",
    ]
    proc = subprocess.run(
        command, capture_output=True, text=True, cwd=tmp_path, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == "| figure | batchframe | baseline | ratio | target | met? |"
    for figure in FIGURES:
        matching = [line for line in lines if line.startswith(f"| {figure}")]
        assert matching, f"{figure!r} missing from:\n{proc.stdout}"
        assert "not measured" not in matching[0], matching[0]
