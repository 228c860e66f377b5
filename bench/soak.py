"""Soak the client and the local server under faults; print what was injected and what was lost.

Run: ``.venv/bin/python bench/soak.py --scenarios 200 --rows 5000 --seed 1``

Each scenario (the seeded matrix of ``tests/reliability/fault_scenarios.py``: 500/503 answers,
dropped connections, add-call rate limits, failing requests, in-process or over loopback)
submits a frame with ``bf.submit``, waits, reads ``job.results()`` and checks every input row
exactly once with its own answer. ``--rows`` is the largest frame in the matrix. Exit status 1
if any row was lost, duplicated or wrong, or the server held a second batch.
"""

from __future__ import annotations

import argparse
import logging
import pathlib
import sys
import tempfile
import time
from collections import Counter

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests" / "reliability"))

from fault_scenarios import Outcome, make_matrix, run_scenario


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2000, help="largest frame (rows)")
    parser.add_argument("--scenarios", type=int, default=100, help="how many scenarios")
    parser.add_argument("--seed", type=int, default=1, help="seed of the matrix")
    args = parser.parse_args(argv)
    logging.getLogger("batchframe").setLevel(logging.ERROR)  # retries are expected here

    matrix = make_matrix(args.scenarios, args.seed, max_rows=args.rows)
    totals: Counter[str] = Counter()
    faults: Counter[str] = Counter()
    bad: list[Outcome] = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as workdir:
        for number, scenario in enumerate(matrix):
            outcome = run_scenario(scenario, pathlib.Path(workdir) / str(number))
            faults.update(outcome.faults)
            totals["rows checked"] += outcome.rows_checked
            totals["rows lost"] += outcome.lost
            totals["rows duplicated"] += outcome.duplicated
            totals["rows wrong"] += outcome.wrong
            totals["rows failed (fail_rate)"] += outcome.failed_rows
            totals["loopback scenarios"] += scenario.loopback
            extra_batches = outcome.server_batches - 1
            extra_requests = outcome.server_requests - scenario.rows
            totals["extra batches"] += extra_batches
            totals["requests != rows"] += extra_requests != 0
            if outcome.lost or outcome.duplicated or outcome.wrong or extra_batches:
                bad.append(outcome)
    elapsed = time.perf_counter() - start

    print(f"scenarios run: {len(matrix)} (seed {args.seed}, up to {args.rows} rows)")
    for name in sorted(faults):
        print(f"faults injected, {name}: {faults[name]}")
    for name, value in totals.items():
        print(f"{name}: {value}")
    print(f"elapsed: {elapsed:.1f} s")
    for outcome in bad[:10]:
        print(f"FAILED: {outcome}", file=sys.stderr)
    return 1 if bad or totals["requests != rows"] else 0


if __name__ == "__main__":
    sys.exit(main())
