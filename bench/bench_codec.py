"""Encode and decode throughput: the columnar codec against per-row baselines.

Run: ``.venv/bin/python bench/bench_codec.py [--rows N]``. Prints the median of 5 runs.
The encode baseline builds one dict per row and serialises it with ``json.dumps``; the decode
baseline validates one ``BatchResult`` pydantic model per row.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson
import pandas as pd

from batchframe.frame.decode import decode_results_page
from batchframe.frame.encode import encode_requests
from batchframe.models import BatchResult

WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "a",
    "lazy",
    "dog;",
    "she",
    "said",
    '"fine",',
    "then",
    "left\n",
]


def make_frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    picks = rng.integers(0, len(WORDS), size=(rows, 20))
    texts = [" ".join(WORDS[j] for j in row)[:100] for row in picks]
    return pd.DataFrame({"prompt": texts})


def baseline_encode(df: pd.DataFrame) -> bytes:
    items = []
    for rid, text in zip(df.index.astype(str), df["prompt"].tolist(), strict=True):
        body = {
            "model": "grok-4.3",
            "messages": [{"role": "user", "content": text}],
            "temperature": 0.2,
        }
        items.append(
            json.dumps({"batch_request_id": rid, "batch_request": {"chat_get_completion": body}})
        )
    return ",".join(items).encode()


def columnar_encode(df: pd.DataFrame) -> bytes:
    return (
        encode_requests(df, prompt="prompt", model="grok-4.3", temperature=0.2).payload()[19:-2]
        + b","
    )


def result_page(rows: int, start: int, failures: bool = True) -> bytes:
    results: list[dict[str, Any]] = []
    for i in range(start, start + rows):
        if failures and i % 10 == 9:
            results.append({"batch_request_id": f"r{i:08d}", "batch_result": {"error": "boom"}})
            continue
        completion = {
            "id": f"x{i}",
            "object": "chat.completion",
            "created": 1762801725,
            "model": "grok-4.3",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": f"answer {i} " * 10},
                }
            ],
            "usage": {
                "prompt_tokens": 30,
                "completion_tokens": 20,
                "total_tokens": 60,
                "prompt_tokens_details": {"cached_tokens": 5},
                "completion_tokens_details": {"reasoning_tokens": 10},
                "cost_in_usd_ticks": 123456,
            },
        }
        results.append(
            {
                "batch_request_id": f"r{i:08d}",
                "batch_result": {"response": {"chat_get_completion": completion}},
            }
        )
    return orjson.dumps({"results": results, "pagination_token": None})


def median_seconds(fn: Callable[[], Any], runs: int = 5) -> float:
    """Median wall time; with --cpu, median process CPU time (steadier on a shared machine)."""
    clock = time.process_time if CPU_CLOCK else time.perf_counter
    times = []
    for _ in range(runs):
        start = clock()
        fn()
        times.append(clock() - start)
    return statistics.median(times)


CPU_CLOCK = False


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--results", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cpu", action="store_true", help="time with process CPU time")
    args = parser.parse_args()
    global CPU_CLOCK
    CPU_CLOCK = args.cpu
    print(f"clock: {'process CPU time' if args.cpu else 'wall time'}, median of {args.runs}")

    df = make_frame(args.rows)
    assert json.loads(b"[" + columnar_encode(df.head(1000))[:-1] + b"]") == json.loads(
        b"[" + baseline_encode(df.head(1000)) + b"]"
    )
    fast = median_seconds(lambda: columnar_encode(df), args.runs)
    slow = median_seconds(lambda: baseline_encode(df), args.runs)
    print(f"encode {args.rows:,} rows x ~100 chars (pandas {df['prompt'].dtype} column):")
    print(f"  columnar  {args.rows / fast:>12,.0f} rows/s  ({fast:.3f} s)")
    print(f"  baseline  {args.rows / slow:>12,.0f} rows/s  ({slow:.3f} s)")
    print(f"  ratio     {slow / fast:>12.1f} x")

    pages = [result_page(1000, k * 1000) for k in range(args.results // 1000)]
    fast = median_seconds(lambda: [decode_results_page(p) for p in pages], args.runs)
    slow = median_seconds(
        lambda: [
            [BatchResult.model_validate(r) for r in orjson.loads(p)["results"]] for p in pages
        ],
        args.runs,
    )
    print(f"decode {args.results:,} results in pages of 1000:")
    print(f"  columnar  {args.results / fast:>12,.0f} results/s (10% failed: item by item)")
    plain = [result_page(1000, k * 1000, failures=False) for k in range(args.results // 1000)]
    quick = median_seconds(lambda: [decode_results_page(p) for p in plain], args.runs)
    print(f"  columnar  {args.results / quick:>12,.0f} results/s (all succeeded: by column)")
    print(f"  pydantic  {args.results / slow:>12,.0f} results/s (BatchResult per row, no columns)")


if __name__ == "__main__":
    main()
